/**
 * Which kernels the HEM layer's heavy products run on, per engine: 'register' (kernels/hem.wgsl:
 * each invocation owns 8 rows and reads global memory directly, no barriers, which suits CPU
 * drivers) or 'tiled' (kernels/hem-tiled.wgsl: workgroup-memory tiles of TA = 4·TY rows by
 * TB = 8·TX columns, RT reduction steps per staged chunk, which suits GPUs). The default follows
 * the adapter; `setHemKernelConfig` or `tuneHem` (src/ops/hem-tune.ts) replace it.
 */
import { adapterInfo, engine } from '../device/engine.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

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
   * Default false.
   */
  subgroups?: boolean;
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

const configs = new WeakMap<object, HemKernelConfig>();

function checkHemKernelConfig(c: HemKernelConfig): void {
  checkOptions('hem kernel config', c, optionKeys<HemKernelConfig>({ path: true, TX: true, TY: true, RT: true, subgroups: true, blocks: true }), 'field');
  if (c.path !== 'register' && c.path !== 'tiled') throw new Error(`hem kernel config: path must be 'register' or 'tiled', got ${JSON.stringify(c.path)}.`);
  if (c.blocks !== undefined && c.blocks !== 2 && c.blocks !== 4) throw new Error(`hem kernel config: blocks must be 2 or 4, got ${JSON.stringify(c.blocks)}.`);
  if (c.subgroups !== undefined && typeof c.subgroups !== 'boolean') throw new Error(`hem kernel config: subgroups must be true or false, got ${JSON.stringify(c.subgroups)}.`);
  if (c.subgroups && engine().adapterInfo.subgroupSize === null) {
    throw new Error(
      "hem kernel config: subgroups: true needs the adapter's 'subgroups' feature with a fixed subgroup size, which this engine lacks " +
        `(${engine().adapterInfo.description || engine().adapterInfo.name}); use subgroups: false.`,
    );
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

/** Use `c` for the HEM layer's kernels on the current engine. */
export function setHemKernelConfig(c: HemKernelConfig): void {
  checkHemKernelConfig(c);
  configs.set(engine(), { ...c });
}

/** The current engine's HEM kernel configuration (the adapter's default unless set). */
export function getHemKernelConfig(): HemKernelConfig {
  return configs.get(engine()) ?? (adapterInfo().software ? REGISTER_HEM_CONFIG : TILED_HEM_CONFIG);
}
