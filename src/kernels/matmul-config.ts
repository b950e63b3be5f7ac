/**
 * Tile shapes for kernels/matmul.wgsl, per engine: a default, replaced by `setMatmulConfig` or by
 * `tuneMatmul` (src/ops/matmul-tune.ts), which times candidates on the adapter in use.
 */
import { engine } from '../device/engine.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

export interface MatmulConfig {
  /** 4×4 blocks of C per invocation along M (1, 2 or 4): 4·BM rows (the scalar path caps it at 2). */
  BM: number;
  /** 4×4 blocks of C per invocation along N (1 or 2): 4·BN columns. */
  BN: number;
  /** Invocations per workgroup along N and M. */
  WG_X: number;
  WG_Y: number;
}

/**
 * The default tile shape: 16×8 outputs per invocation in 8×8 workgroups, the tuner's winner on
 * SwiftShader and on an H100 (bench/matmul.bench.ts --tune; docs/measurements.md). Other adapters
 * can differ: `tuneMatmul()` picks per engine.
 */
export const DEFAULT_MATMUL_CONFIG: MatmulConfig = { BM: 4, BN: 2, WG_X: 8, WG_Y: 8 };

/** The tile shape of products with at most 64 × 64 outputs (small tiles: more invocations work). */
export const SMALL_MATMUL_CONFIG: MatmulConfig = { BM: 1, BN: 1, WG_X: 8, WG_Y: 8 };

const configs = new WeakMap<object, MatmulConfig>();

export function checkMatmulConfig(c: MatmulConfig): void {
  checkOptions('matmul config', c, optionKeys<MatmulConfig>({ BM: true, BN: true, WG_X: true, WG_Y: true }), 'field');
  if (c.BM !== 1 && c.BM !== 2 && c.BM !== 4) throw new Error(`matmul config: BM must be 1, 2 or 4, got ${c.BM}.`);
  if (c.BN !== 1 && c.BN !== 2) throw new Error(`matmul config: BN must be 1 or 2, got ${c.BN}.`);
  const inv = c.WG_X * c.WG_Y;
  const max = engine().limits.maxComputeInvocationsPerWorkgroup;
  if (!Number.isInteger(c.WG_X) || !Number.isInteger(c.WG_Y) || c.WG_X < 1 || c.WG_Y < 1 || inv > max) {
    throw new Error(`matmul config: workgroup ${c.WG_X}×${c.WG_Y} must be positive integers with at most ${max} invocations.`);
  }
}

/** Use tile shape `c` for every matmul on the current engine. */
export function setMatmulConfig(c: MatmulConfig): void {
  checkMatmulConfig(c);
  configs.set(engine(), { ...c });
}

export function getMatmulConfig(): MatmulConfig {
  return configs.get(engine()) ?? DEFAULT_MATMUL_CONFIG;
}

/** The tile shape for one product (small outputs get small tiles so more invocations work). */
export function matmulConfig(M: number, N: number): MatmulConfig {
  const c = getMatmulConfig();
  if (M * N <= 64 * 64) return SMALL_MATMUL_CONFIG;
  return c;
}
