/**
 * Tile shapes for the matmul kernels, per engine: a default, replaced by `setMatmulConfig` or by
 * `tuneMatmul` (src/ops/matmul-tune.ts), which times candidates on the adapter in use. A config
 * names one of two kernels: `register` (kernels/matmul.wgsl: register tiling only, no workgroup
 * memory or barrier; the winner on CPU drivers) or `shared` (kernels/matmul-shared.wgsl: A and B
 * tiles staged in workgroup memory per step of k).
 */
import { engine } from '../device/engine.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

/** Register tiling (kernels/matmul.wgsl). `kind` may be left out (configs saved before there were two kinds). */
export interface RegisterMatmulConfig {
  kind?: 'register';
  /** 4×4 blocks of C per invocation along M (1, 2 or 4): 4·BM rows (the scalar path caps it at 2). */
  BM: number;
  /** 4×4 blocks of C per invocation along N (1, 2 or 4): 4·BN columns (the scalar path caps it at 2). */
  BN: number;
  /** Invocations per workgroup along N and M. */
  WG_X: number;
  WG_Y: number;
}

/** Workgroup-memory block tiling (kernels/matmul-shared.wgsl): a (WG_Y·TM) × (WG_X·TN) tile of C per workgroup. */
export interface SharedMatmulConfig {
  kind: 'shared';
  /** Rows of C per invocation: 4 or 8. */
  TM: number;
  /** Columns of C per invocation: 4 or 8. */
  TN: number;
  /** Steps of k per staged tile: 4, 8, 16 or 32. */
  TK: number;
  /** Invocations per workgroup along N and M. */
  WG_X: number;
  WG_Y: number;
}

export type MatmulConfig = RegisterMatmulConfig | SharedMatmulConfig;

/**
 * The default: register tiling, 16×8 outputs per invocation in 8×8 workgroups, the tuner's winner
 * on SwiftShader and on an H100 (bench/matmul.bench.ts --tune; docs/measurements.md). Other
 * adapters can differ: `tuneMatmul()` picks per engine.
 */
export const DEFAULT_MATMUL_CONFIG: MatmulConfig = { kind: 'register', BM: 4, BN: 2, WG_X: 8, WG_Y: 8 };

/**
 * CPU drivers, products with N ≥ 256 under the default config: 16 × 16 outputs per invocation in
 * 4 × 8 workgroups. On SwiftShader a load costs about four multiply-adds whatever its address
 * pattern, so loads per multiply-add decide (0.125 here against 0.19 for 16 × 8): 1024³ at 5.2
 * against 4.0 GFLOPS, 512³ transposed 6.1 against 3.7 (docs/measurements.md, issue 24). Narrow
 * products take NARROW_MATMUL_CONFIG instead, whose 1-wide workgroups leave no invocation past N.
 * GPUs keep the default: nobody here has measured this shape on one.
 */
export const WIDE_MATMUL_CONFIG: RegisterMatmulConfig = { kind: 'register', BM: 4, BN: 4, WG_X: 4, WG_Y: 8 };

/** Products with N below this are narrow (NARROW_MATMUL_CONFIG on a CPU driver); from it on, wide. */
export const NARROW_BELOW_N = 256;

/**
 * CPU drivers, narrow products (N < 256: the demo's convolutions and their weight gradients,
 * Cout = 12–48, and col2im's dcols at N = 144) under the default config: 16 × 16 outputs per
 * invocation in 1 × 16 workgroups, so that no invocation of a SIMD group idles past N (the
 * default's 8 columns per invocation in 8-wide rows leave half of them idle at N = 16) and each
 * loads 8 blocks per 64 multiply-adds. The demo's 16 products with N ≤ 64: 28.4 → 21.7 ms in all;
 * with 64 < N < 256 1.2–1.9× the default's speed (512 × 144 × 32, 1024 × 96 × 96, 256 × 80 × 576;
 * docs/measurements.md, issue 24).
 */
export const NARROW_MATMUL_CONFIG: RegisterMatmulConfig = { kind: 'register', BM: 4, BN: 4, WG_X: 1, WG_Y: 16 };

/**
 * CPU drivers, small outputs (at most 64 × 64) that still hold 8 or more 16 × 16 blocks: a block
 * per invocation, 4 invocations (one SIMD group) per workgroup so that the few workgroups spread
 * over the cores. Weight gradients of 1 × 1 convolutions and γᵀX (48 × 48 × 512, 64 × 64 × 512,
 * 64 × 64 × 4096) run 1.4–1.7× faster than in SMALL_MATMUL_CONFIG's 4 × 4 tiles, which keep
 * smaller outputs (16 × 48, 12 × 16) busy better (docs/measurements.md, issue 24).
 */
export const SMALL_BLOCKED_MATMUL_CONFIG: RegisterMatmulConfig = { kind: 'register', BM: 4, BN: 4, WG_X: 1, WG_Y: 4 };

/** Per-invocation tiles a small output must hold to take the small-output config (SMALL_BLOCKED_MATMUL_CONFIG on a CPU driver, or the tuner's); else SMALL_MATMUL_CONFIG. */
const SMALL_BLOCKED_MIN_BLOCKS = 8;

/** Products with at most this many outputs (64²) are small: SMALL_MATMUL_CONFIG, or a blocked tile where 8 of its tiles fit. */
export const SMALL_OUTPUTS_AT_MOST = 64 * 64;

/** The tile shape of products with at most 64 × 64 outputs, whatever the config (small tiles: more invocations work). */
export const SMALL_MATMUL_CONFIG: RegisterMatmulConfig = { kind: 'register', BM: 1, BN: 1, WG_X: 8, WG_Y: 8 };

const configs = new WeakMap<object, MatmulConfig>();

/** Bytes of workgroup memory the shared kernel stages per workgroup: an A and a B tile of TK rows. */
function sharedTileBytes(c: SharedMatmulConfig): number {
  return 4 * c.TK * (c.WG_Y * c.TM + c.WG_X * c.TN);
}

function checkWorkgroup(c: MatmulConfig): void {
  const inv = c.WG_X * c.WG_Y;
  const max = engine().limits.maxComputeInvocationsPerWorkgroup;
  if (!Number.isInteger(c.WG_X) || !Number.isInteger(c.WG_Y) || c.WG_X < 1 || c.WG_Y < 1 || inv > max) {
    throw new Error(`matmul config: workgroup ${c.WG_X}×${c.WG_Y} must be positive integers with at most ${max} invocations.`);
  }
}

export function checkMatmulConfig(c: MatmulConfig): void {
  const kind = (c as { kind?: unknown } | null)?.kind;
  if (kind === 'shared') {
    const s = c as SharedMatmulConfig;
    checkOptions('matmul config (kind shared)', s, optionKeys<SharedMatmulConfig>({ kind: true, TM: true, TN: true, TK: true, WG_X: true, WG_Y: true }), 'field');
    if (s.TM !== 4 && s.TM !== 8) throw new Error(`matmul config (kind shared): TM must be 4 or 8, got ${s.TM}.`);
    if (s.TN !== 4 && s.TN !== 8) throw new Error(`matmul config (kind shared): TN must be 4 or 8, got ${s.TN}.`);
    if (![4, 8, 16, 32].includes(s.TK)) throw new Error(`matmul config (kind shared): TK must be 4, 8, 16 or 32, got ${s.TK}.`);
    checkWorkgroup(s);
    const bytes = sharedTileBytes(s);
    const max = engine().limits.maxComputeWorkgroupStorageSize;
    if (bytes > max) {
      throw new Error(
        `matmul config (kind shared): a ${s.WG_Y * s.TM}×${s.WG_X * s.TN} tile with TK = ${s.TK} stages ${bytes} bytes of workgroup memory, ` +
          `above this device's maxComputeWorkgroupStorageSize of ${max}; use a smaller TK, TM, TN or workgroup.`,
      );
    }
    return;
  }
  if (kind !== undefined && kind !== 'register') {
    throw new Error(`matmul config: kind must be 'register' or 'shared', got ${JSON.stringify(kind)}.`);
  }
  checkOptions('matmul config', c, optionKeys<RegisterMatmulConfig>({ kind: true, BM: true, BN: true, WG_X: true, WG_Y: true }), 'field');
  const r = c as RegisterMatmulConfig;
  if (r.BM !== 1 && r.BM !== 2 && r.BM !== 4) throw new Error(`matmul config: BM must be 1, 2 or 4, got ${r.BM}.`);
  if (r.BN !== 1 && r.BN !== 2 && r.BN !== 4) throw new Error(`matmul config: BN must be 1, 2 or 4, got ${r.BN}.`);
  checkWorkgroup(r);
}

/**
 * The tuner's winners for the two product classes it times besides square ones (tune():
 * narrow products, N < NARROW_BELOW_N, and small outputs of at most 64²). Each replaces the
 * class's default where given.
 */
export interface TunedShapeConfigs {
  narrow?: MatmulConfig;
  small?: MatmulConfig;
}

/** Engines whose config the tuner installed (setTunedMatmulConfig) rather than a caller, with its per-class winners. */
const tuned = new WeakMap<object, TunedShapeConfigs>();

const stored = (c: MatmulConfig): MatmulConfig => (c.kind === 'shared' ? { ...c } : { ...c, kind: 'register' });

/** Use tile shape `c` for every matmul on the current engine (a register config without `kind` is stored with it). */
export function setMatmulConfig(c: MatmulConfig): void {
  checkMatmulConfig(c);
  configs.set(engine(), stored(c));
  tuned.delete(engine());
}

/**
 * Install the tuner's choice (tuneMatmul, tune(), a stored tuning): `c` replaces the default,
 * and on a CPU driver the wide-product one (the tuner times it on square products); null keeps
 * the defaults for those. `shapes` holds the winners for narrow and small products, timed at
 * shapes of their own; a class left out keeps its default (on a CPU driver NARROW_ and
 * SMALL_BLOCKED_MATMUL_CONFIG).
 */
export function setTunedMatmulConfig(c: MatmulConfig | null, shapes: TunedShapeConfigs = {}): void {
  checkOptions('tuned matmul configs', shapes, optionKeys<TunedShapeConfigs>({ narrow: true, small: true }), 'class');
  if (shapes.narrow) checkMatmulConfig(shapes.narrow);
  if (shapes.small) checkMatmulConfig(shapes.small);
  if (c) setMatmulConfig(c);
  else configs.delete(engine());
  tuned.set(engine(), {
    ...(shapes.narrow ? { narrow: stored(shapes.narrow) } : {}),
    ...(shapes.small ? { small: stored(shapes.small) } : {}),
  });
}

/** The tuner's per-class winners installed on the current engine (empty when none; null when the tuner installed nothing). */
export function tunedShapeConfigs(): TunedShapeConfigs | null {
  return tuned.get(engine()) ?? null;
}

/** The current engine's configs, as a tuner saves them before timing candidates and restores them after. */
export interface MatmulConfigState {
  config: MatmulConfig | undefined;
  tuned: TunedShapeConfigs | undefined;
}

export function saveMatmulConfigState(): MatmulConfigState {
  return { config: configs.get(engine()), tuned: tuned.get(engine()) };
}

export function restoreMatmulConfigState(s: MatmulConfigState): void {
  const e = engine();
  if (s.config) configs.set(e, s.config);
  else configs.delete(e);
  if (s.tuned) tuned.set(e, s.tuned);
  else tuned.delete(e);
}

/** Back to the defaults on the current engine (DEFAULT_MATMUL_CONFIG; on a CPU driver WIDE_, NARROW_ and SMALL_BLOCKED_MATMUL_CONFIG for wide, narrow and small products). */
export function resetMatmulConfig(): void {
  configs.delete(engine());
  tuned.delete(engine());
}

export function getMatmulConfig(): MatmulConfig {
  return configs.get(engine()) ?? DEFAULT_MATMUL_CONFIG;
}

/** How many of a config's per-invocation tiles an M × N output holds. */
function invocationTiles(c: MatmulConfig, M: number, N: number): number {
  const [tm, tn] = c.kind === 'shared' ? [c.TM, c.TN] : [4 * c.BM, 4 * c.BN];
  return Math.ceil(M / tm) * Math.ceil(N / tn);
}

/** The tile shape for one product (small outputs get small register tiles so more invocations work). */
export function matmulConfig(M: number, N: number): MatmulConfig {
  const t = tuned.get(engine());
  if (M * N <= SMALL_OUTPUTS_AT_MOST) {
    // A large tile for small outputs only where it still gives 8 invocations work.
    const blocked = t?.small ?? (usesNarrowDefault() ? SMALL_BLOCKED_MATMUL_CONFIG : null);
    return blocked && invocationTiles(blocked, M, N) >= SMALL_BLOCKED_MIN_BLOCKS ? blocked : SMALL_MATMUL_CONFIG;
  }
  if (N < NARROW_BELOW_N) {
    if (t?.narrow) return t.narrow;
    if (usesNarrowDefault()) return NARROW_MATMUL_CONFIG;
  } else if (usesWideDefault()) {
    return WIDE_MATMUL_CONFIG;
  }
  return getMatmulConfig();
}

/** Every config matmulConfig can return on the current engine (the kernels' variants compile these ahead). */
export function matmulConfigsInUse(): MatmulConfig[] {
  const t = tuned.get(engine());
  const out: MatmulConfig[] = [getMatmulConfig(), SMALL_MATMUL_CONFIG];
  if (usesWideDefault()) out.push(WIDE_MATMUL_CONFIG);
  if (usesNarrowDefault()) out.push(NARROW_MATMUL_CONFIG, SMALL_BLOCKED_MATMUL_CONFIG);
  if (t?.narrow) out.push(t.narrow);
  if (t?.small) out.push(t.small);
  return out;
}

/** Whether narrow and small products get NARROW_ and SMALL_BLOCKED_MATMUL_CONFIG: a CPU driver whose config no caller set (the tuner's choice keeps them unless it timed a class). */
export function usesNarrowDefault(): boolean {
  const e = engine();
  return e.adapterInfo.software && (!configs.has(e) || tuned.has(e));
}

/** Whether wide products get WIDE_MATMUL_CONFIG: a CPU driver whose config nobody set (setMatmulConfig, tuneMatmul, tune). */
export function usesWideDefault(): boolean {
  return !configs.has(engine()) && engine().adapterInfo.software;
}
