/**
 * Which kernels the HEM layer's heavy products run on, per engine: 'register' (kernels/hem.wgsl:
 * each invocation owns 8 rows and reads global memory directly, no barriers, which suits CPU
 * drivers) or 'tiled' (kernels/hem-tiled.wgsl: workgroup-memory tiles of TA = 4·TY rows by
 * TB = 8·TX columns, RT reduction steps per staged chunk, which suits GPUs). The default follows
 * the adapter; `setHemKernelConfig` or `tuneHem` (src/ops/hem-tune.ts) replace it. Either path can
 * run its E-step and the E-step's adjoint on subgroup kernels instead (`subgroups`).
 */
import { adapterInfo, engine } from '../device/engine.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

/** How the subgroup E-step kernels map a subgroup's lanes (HemKernelConfig.subgroups). */
export type HemSubgroupMapping = 'rows' | 'bases';

/** The one subgroup size the 'rows' mapping runs at (kernels/hem-subgroups.wgsl: a CPU driver's SIMD width). */
const ROWS_SUBGROUP_SIZE = 4;

export interface HemKernelConfig {
  path: 'register' | 'tiled';
  /** tiled: invocations along the tile's columns (bases or channels), each owning 8. */
  TX: number;
  /** tiled: invocations along the tile's rows, each owning 4. */
  TY: number;
  /** tiled: reduction steps staged per chunk (a multiple of 4). */
  RT: number;
  /**
   * The E-step and its adjoint on subgroup operations (kernels/hem-subgroups.wgsl) instead of the
   * path's own kernels; needs an engine with a fixed subgroup size (`adapterInfo.subgroupSize`).
   * 'bases': the lanes split the bases and read the rows at one address (made for GPUs);
   * 'rows': the lanes split the rows and share the bases by broadcast (made for a CPU driver's
   * 4-lane SIMD groups; needs subgroup size 4); true: 'rows' at subgroup size 4, else 'bases'.
   * Default false.
   */
  subgroups?: boolean | HemSubgroupMapping;
  /**
   * register: 4 × 4 blocks per side that each invocation of the products over N and over K
   * (kernels/hem.wgsl wsum and dx) owns: 2 (8 × 8 outputs) or 4 (16 × 16, fewer loads per FMA,
   * more accumulators). Default 2.
   */
  blocks?: 2 | 4;
}

/** The tiled shape used on GPUs: 32 × 64 tiles, 64 invocations, 16-step chunks. */
export const TILED_HEM_CONFIG: HemKernelConfig = { path: 'tiled', TX: 8, TY: 8, RT: 16 };

/**
 * CPU drivers (SwiftShader): the register-tiled kernels (tile fields unused), their products over
 * N and K in 16 × 16 blocks (1.1–1.2× the 8 × 8 blocks' layer on SwiftShader: docs/measurements.md).
 */
export const REGISTER_HEM_CONFIG: HemKernelConfig = { path: 'register', TX: 8, TY: 8, RT: 16, blocks: 4 };

/**
 * CPU drivers whose subgroups have 4 lanes (SwiftShader with the 'subgroups' feature): the
 * register path with the 'rows' subgroup E-step and its adjoint (1.1–1.7× the register path's
 * own on SwiftShader: docs/measurements.md). The default there.
 */
export const REGISTER_ROWS_HEM_CONFIG: HemKernelConfig = { ...REGISTER_HEM_CONFIG, subgroups: 'rows' };

/** The current engine's default: tiles on a GPU, registers on a CPU driver (with the 'rows' E-step where it can run). */
function defaultHemKernelConfig(): HemKernelConfig {
  const a = adapterInfo();
  if (!a.software) return TILED_HEM_CONFIG;
  return a.subgroupSize === ROWS_SUBGROUP_SIZE ? REGISTER_ROWS_HEM_CONFIG : REGISTER_HEM_CONFIG;
}

const configs = new WeakMap<object, HemKernelConfig>();

function checkHemKernelConfig(c: HemKernelConfig): void {
  checkOptions('hem kernel config', c, optionKeys<HemKernelConfig>({ path: true, TX: true, TY: true, RT: true, subgroups: true, blocks: true }), 'field');
  if (c.path !== 'register' && c.path !== 'tiled') throw new Error(`hem kernel config: path must be 'register' or 'tiled', got ${JSON.stringify(c.path)}.`);
  if (c.blocks !== undefined && c.blocks !== 2 && c.blocks !== 4) throw new Error(`hem kernel config: blocks must be 2 or 4, got ${JSON.stringify(c.blocks)}.`);
  if (c.subgroups !== undefined && typeof c.subgroups !== 'boolean' && c.subgroups !== 'rows' && c.subgroups !== 'bases') {
    throw new Error(`hem kernel config: subgroups must be true, false, 'rows' or 'bases', got ${JSON.stringify(c.subgroups)}.`);
  }
  const sg = engine().adapterInfo.subgroupSize;
  if (c.subgroups && sg === null) {
    throw new Error(
      `hem kernel config: subgroups: ${JSON.stringify(c.subgroups)} needs the adapter's 'subgroups' feature with a fixed subgroup size, which this engine lacks ` +
        `(${engine().adapterInfo.description || engine().adapterInfo.name}); use subgroups: false.`,
    );
  }
  if (c.subgroups === 'rows' && sg !== ROWS_SUBGROUP_SIZE) {
    throw new Error(`hem kernel config: subgroups: 'rows' needs a subgroup size of ${ROWS_SUBGROUP_SIZE} (a CPU driver's), this adapter's is ${sg}; use subgroups: 'bases' or true.`);
  }
  const lim = engine().limits;
  const pos = (v: number): boolean => Number.isInteger(v) && v >= 1;
  if (!pos(c.TX) || !pos(c.TY) || c.TX * c.TY > lim.maxComputeInvocationsPerWorkgroup) {
    throw new Error(`hem kernel config: TX × TY = ${c.TX} × ${c.TY} must be positive integers with at most ${lim.maxComputeInvocationsPerWorkgroup} invocations.`);
  }
  if (!pos(c.RT) || c.RT % 4 !== 0) throw new Error(`hem kernel config: RT must be a positive multiple of 4, got ${c.RT}.`);
  const bytes = 4 * (c.RT * 4 * c.TY + c.RT * 8 * c.TX + 4 * c.TY * c.TX);
  if (bytes > lim.maxComputeWorkgroupStorageSize) {
    throw new Error(
      `hem kernel config: TX ${c.TX}, TY ${c.TY}, RT ${c.RT} need ${bytes} bytes of workgroup memory, above this adapter's ${lim.maxComputeWorkgroupStorageSize}; use smaller tiles.`,
    );
  }
}

/** The lane mapping a configuration's subgroup E-step uses on the current engine, or null without one. */
export function subgroupMapping(c: HemKernelConfig): HemSubgroupMapping | null {
  if (!c.subgroups) return null;
  if (c.subgroups !== true) return c.subgroups;
  return engine().adapterInfo.subgroupSize === ROWS_SUBGROUP_SIZE ? 'rows' : 'bases';
}

/** Use `c` for the HEM layer's kernels on the current engine. */
export function setHemKernelConfig(c: HemKernelConfig): void {
  checkHemKernelConfig(c);
  configs.set(engine(), { ...c });
}

/** The current engine's HEM kernel configuration (the adapter's default unless set). */
export function getHemKernelConfig(): HemKernelConfig {
  return configs.get(engine()) ?? defaultHemKernelConfig();
}
