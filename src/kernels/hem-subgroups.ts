/**
 * Launchers for kernels/hem-subgroups.wgsl: the E-step and its adjoint on subgroup operations, in
 * one of two lane mappings — 'bases' (one subgroup per 8 rows, the lanes splitting the bases, the
 * softmax reductions as subgroup operations) or 'rows' (one 4-lane subgroup per 16 rows, the lanes
 * splitting the rows and sharing the bases by broadcast). src/kernels/hem-kernels.ts uses them in
 * place of the path's own E-step kernels when the engine's HEM kernel configuration sets
 * `subgroups` (src/kernels/hem-config.ts, which checks the engine's subgroup size and resolves
 * `true` to a mapping); arguments, outputs and padding rules are the same.
 */
import hemSubgroupsWgsl from '../../kernels/hem-subgroups.wgsl';
import { engine } from '../device/engine.ts';
import { Tensor } from '../tensor/tensor.ts';
import { grid, overrideSets, uniform } from './dispatch.ts';
import { getHemKernelConfig, subgroupMapping, type HemSubgroupMapping } from './hem-config.ts';
import { defineKernel } from '../gpu/registry.ts';

/** The variants of one mapping's kernels while the configuration uses that mapping, else none. */
function sized(mapping: HemSubgroupMapping, axes: Record<string, readonly boolean[]>): Record<string, number | boolean>[] {
  const sg = engine().adapterInfo.subgroupSize;
  if (sg === null || subgroupMapping(getHemKernelConfig()) !== mapping) return [];
  return mapping === 'bases' ? overrideSets({ SG: sg }, axes) : overrideSets({}, axes);
}

const K = {
  estep: /* @__PURE__ */ defineKernel('hem_estep_sg', hemSubgroupsWgsl, 'estep_sg', { variants: () => sized('bases', { RBF: [false, true] }) }),
  estepGrad: /* @__PURE__ */ defineKernel('hem_estep_grad_sg', hemSubgroupsWgsl, 'estep_grad_sg', { variants: () => sized('bases', { DGAMMA_IN: [false, true] }) }),
  estepRows: /* @__PURE__ */ defineKernel('hem_estep_rows', hemSubgroupsWgsl, 'estep_rows', { variants: () => sized('rows', { RBF: [false, true] }) }),
  estepGradRows: /* @__PURE__ */ defineKernel('hem_estep_grad_rows', hemSubgroupsWgsl, 'estep_grad_rows', {
    variants: () => sized('rows', { DGAMMA_IN: [false, true] }),
  }),
} as const;

/** One workgroup (one subgroup) per `rows` rows. */
function rowGroups(N: number, B: number, rows: number): [number, number, number] {
  const [gx, gy] = grid(Math.ceil(N / rows));
  return [gx, gy, B];
}

function subgroupSize(): number {
  const sg = engine().adapterInfo.subgroupSize;
  if (sg === null) throw new Error('hem: the subgroup kernels need an engine with a fixed subgroup size (setHemKernelConfig checks this).');
  return sg;
}

export function launchEstepSubgroups(
  mapping: HemSubgroupMapping,
  op: string,
  x: Tensor,
  mu: Tensor,
  p: { bases: number; invTau: number; rbf: boolean; muStride: number },
): Tensor {
  const [B, N, C] = x.shape as [number, number, number];
  const K4 = mu.shape[mu.rank - 2]!;
  const gamma = Tensor.empty([B, N, K4], op);
  const sep = uniform({ N, C, K: p.bases, K4, mu_stride: p.muStride, inv_tau: p.invTau });
  if (mapping === 'rows') {
    K.estepRows.dispatch({
      bindings: { sx: x.bind(op), sm: mu.bind(op), re_gamma: gamma.bind(op, 'read_write'), rep: sep },
      overrides: { RBF: p.rbf },
      workgroups: rowGroups(N, B, 16),
    });
    return gamma;
  }
  K.estep.dispatch({
    bindings: { sx: x.bind(op), sm: mu.bind(op), se_gamma: gamma.bind(op, 'read_write'), sep },
    overrides: { SG: subgroupSize(), RBF: p.rbf },
    workgroups: rowGroups(N, B, 8),
  });
  return gamma;
}

export function launchEstepGradSubgroups(
  mapping: HemSubgroupMapping,
  op: string,
  x: Tensor,
  dA: Tensor,
  dN: Tensor,
  gamma: Tensor,
  dgammaIn: Tensor | null,
): Tensor {
  const [B, N, C] = x.shape as [number, number, number];
  const K4 = gamma.shape[2]!;
  const dS = dgammaIn ?? Tensor.empty([B, N, K4], op);
  const sgp = uniform({ N, C, K4 });
  if (mapping === 'rows') {
    K.estepGradRows.dispatch({
      bindings: { sx: x.bind(op), sm: dA.bind(op), rg_dn: dN.bind(op), rg_gamma: gamma.bind(op), rg_ds: dS.bind(op, 'read_write'), rgp: sgp },
      overrides: { DGAMMA_IN: dgammaIn !== null },
      workgroups: rowGroups(N, B, 16),
    });
    return dS;
  }
  K.estepGrad.dispatch({
    bindings: { sx: x.bind(op), sm: dA.bind(op), sg_dn: dN.bind(op), sg_gamma: gamma.bind(op), sg_ds: dS.bind(op, 'read_write'), sgp },
    overrides: { SG: subgroupSize(), DGAMMA_IN: dgammaIn !== null },
    workgroups: rowGroups(N, B, 8),
  });
  return dS;
}
