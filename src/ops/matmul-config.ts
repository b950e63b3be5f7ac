/**
 * Tile shapes for kernels/matmul.wgsl, per engine. Defaults suit both CPU drivers and GPUs
 * reasonably; `setMatmulConfig` (or the tuner in bench/) can replace them per adapter.
 */
import { engine } from '../device/engine.ts';

export interface MatmulConfig {
  /** Rows of C per invocation (1..8). */
  TM: number;
  /** Columns of C per invocation (4 or 8). */
  TN: number;
  /** Invocations per workgroup along N and M. */
  WG_X: number;
  WG_Y: number;
}

export const DEFAULT_MATMUL_CONFIG: MatmulConfig = { TM: 4, TN: 4, WG_X: 8, WG_Y: 8 };

const configs = new WeakMap<object, MatmulConfig>();

export function checkMatmulConfig(c: MatmulConfig): void {
  if (!Number.isInteger(c.TM) || c.TM < 1 || c.TM > 8) throw new Error(`matmul config: TM must be 1..8, got ${c.TM}.`);
  if (c.TN !== 4 && c.TN !== 8) throw new Error(`matmul config: TN must be 4 or 8, got ${c.TN}.`);
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

/** The tile shape for one product (small matrices get small tiles so more invocations work). */
export function matmulConfig(M: number, N: number, _K: number): MatmulConfig {
  const c = getMatmulConfig();
  if (M * N <= 64 * 64) return { TM: Math.min(c.TM, 2), TN: 4, WG_X: 8, WG_Y: 8 };
  return c;
}
