/**
 * Launchers for kernels/hem-tiled.wgsl: the workgroup-memory tiled versions of the HEM layer's
 * four heavy products (E-step, its adjoint, the split-N reduction, dX), as `tiledPath(config)`,
 * which src/kernels/hem-kernels.ts uses in place of the register path's when the engine's HEM
 * kernel configuration says 'tiled' (src/kernels/hem-config.ts); arguments, outputs and padding
 * rules are the same.
 */
import hemTiledWgsl from '../../kernels/hem-tiled.wgsl';
import { Tensor } from '../tensor/tensor.ts';
import { grid, overrideSets, uniform } from './dispatch.ts';
import { getHemKernelConfig, type HemKernelConfig } from './hem-config.ts';
import type { DxPart, PathKernels, WeightedSums } from './hem-kernels.ts';
import { defineKernel } from '../gpu/registry.ts';

/**
 * The tile overrides of the current configuration, or no variant when the path is 'register' (nor,
 * for the E-step kernels, when the subgroup ones replace them).
 */
function tiles(axes: Record<string, readonly (number | boolean)[]> = {}, estep = false): Record<string, number | boolean>[] {
  const c = getHemKernelConfig();
  return c.path === 'tiled' && !(estep && c.subgroups) ? overrideSets({ TX: c.TX, TY: c.TY, RT: c.RT }, axes) : [];
}

const K = {
  estep: /* @__PURE__ */ defineKernel('hem_estep_tiled', hemTiledWgsl, 'estep_tiled', { variants: () => tiles({ RBF: [false, true] }, true) }),
  estepGrad: /* @__PURE__ */ defineKernel('hem_estep_grad_tiled', hemTiledWgsl, 'estep_grad_tiled', { variants: () => tiles({ DGAMMA_IN: [false, true] }, true) }),
  wsum: /* @__PURE__ */ defineKernel('hem_wsum_tiled', hemTiledWgsl, 'wsum_tiled', { variants: () => tiles() }),
  dx: /* @__PURE__ */ defineKernel('hem_dx_tiled', hemTiledWgsl, 'dx_tiled', { variants: () => tiles({ PART: [0, 1, 2] }) }),
} as const;

function overrides(c: HemKernelConfig): { TX: number; TY: number; RT: number } {
  return { TX: c.TX, TY: c.TY, RT: c.RT };
}

/** Rows per workgroup (TA) and columns per workgroup (TB) of configuration c. */
function tileShape(c: HemKernelConfig): { TA: number; TB: number } {
  return { TA: 4 * c.TY, TB: 8 * c.TX };
}

/**
 * How the reduction over N is split: enough workgroups of (chunk, TA bases, TB channels) to fill
 * a large GPU (~512 workgroups), with at least 64 rows per chunk.
 */
function tiledChunking(N: number, K4: number, C: number, c: HemKernelConfig): { chunks: number; rows: number } {
  const { TA, TB } = tileShape(c);
  const tilesPer = Math.ceil(K4 / TA) * Math.ceil(C / TB);
  const want = Math.max(1, Math.min(Math.ceil(512 / tilesPer), Math.ceil(N / 64)));
  const rows = Math.ceil(N / want);
  return { chunks: Math.ceil(N / rows), rows };
}

function rowBlocks(N: number, B: number, c: HemKernelConfig): [number, number, number] {
  const [gx, gy] = grid(Math.ceil(N / tileShape(c).TA));
  return [gx, gy, B];
}

function launchEstepTiled(c: HemKernelConfig, op: string, x: Tensor, mu: Tensor, p: { bases: number; invTau: number; rbf: boolean; muStride: number }): Tensor {
  const [B, N, C] = x.shape as [number, number, number];
  const K4 = mu.shape[mu.rank - 2]!;
  const gamma = Tensor.empty([B, N, K4], op);
  K.estep.dispatch({
    bindings: {
      tx_x: x.bind(op),
      tx_m: mu.bind(op),
      te_gamma: gamma.bind(op, 'read_write'),
      te: uniform({ N, C, K: p.bases, K4, mu_stride: p.muStride, inv_tau: p.invTau }),
    },
    overrides: { ...overrides(c), RBF: p.rbf },
    workgroups: rowBlocks(N, B, c),
  });
  return gamma;
}

function launchEstepGradTiled(c: HemKernelConfig, op: string, x: Tensor, dA: Tensor, dN: Tensor, gamma: Tensor, dgammaIn: Tensor | null): Tensor {
  const [B, N, C] = x.shape as [number, number, number];
  const K4 = gamma.shape[2]!;
  const dS = dgammaIn ?? Tensor.empty([B, N, K4], op);
  K.estepGrad.dispatch({
    bindings: {
      tx_x: x.bind(op),
      tx_m: dA.bind(op),
      tg_dn: dN.bind(op),
      tg_gamma: gamma.bind(op),
      tg_ds: dS.bind(op, 'read_write'),
      tgp: uniform({ N, C, K4 }),
    },
    overrides: { ...overrides(c), DGAMMA_IN: dgammaIn !== null },
    workgroups: rowBlocks(N, B, c),
  });
  return dS;
}

function launchWsumTiled(c: HemKernelConfig, op: string, x: Tensor, w: Tensor): WeightedSums {
  const [B, N, C] = x.shape as [number, number, number];
  const K4 = w.shape[2]!;
  const { TA, TB } = tileShape(c);
  const ch = tiledChunking(N, K4, C, c);
  const part = Tensor.empty([B, ch.chunks, K4, C], op);
  const sums = Tensor.empty([B, ch.chunks, K4], op);
  const [gx, gy] = grid(ch.chunks * Math.ceil(K4 / TA) * Math.ceil(C / TB));
  K.wsum.dispatch({
    bindings: {
      tw_x: x.bind(op),
      tw_w: w.bind(op),
      tw_part: part.bind(op, 'read_write'),
      tw_sum: sums.bind(op, 'read_write'),
      twp: uniform({ N, C, K4, chunks: ch.chunks, rows_per_chunk: ch.rows }),
    },
    overrides: overrides(c),
    workgroups: [gx, gy, B],
  });
  return { part, sums };
}

function launchDxTiled(c: HemKernelConfig, op: string, d: DxPart, out: Tensor, part: 0 | 1 | 2): void {
  const [B, N, K4] = d.gamma.shape as [number, number, number];
  const C = d.dA.shape[2]!;
  const { TA, TB } = tileShape(c);
  const [gx, gy] = grid(Math.ceil(N / TA) * Math.ceil(C / TB));
  K.dx.dispatch({
    bindings: {
      td_gamma: d.gamma.bind(op),
      td_ds: d.dS.bind(op),
      td_da: d.dA.bind(op),
      td_mu: d.mu.bind(op),
      td_dx: out.bind(op, 'read_write'),
      tdp: uniform({ N, C, K4, mu_stride: d.muStride, scale: d.scale }),
    },
    overrides: { ...overrides(c), PART: part },
    workgroups: [gx, gy, B],
  });
}

/** The tiled path's heavy products, with configuration c's tiles. */
export function tiledPath(c: HemKernelConfig): PathKernels {
  return {
    estep: (op, x, mu, p) => launchEstepTiled(c, op, x, mu, p),
    estepGrad: (op, x, dA, dN, gamma, dgammaIn) => launchEstepGradTiled(c, op, x, dA, dN, gamma, dgammaIn),
    wsum: (op, x, w) => launchWsumTiled(c, op, x, w),
    dx: (op, d, out, part) => launchDxTiled(c, op, d, out, part),
    chunking: (N, K4, C) => tiledChunking(N, K4, C, c),
  };
}
