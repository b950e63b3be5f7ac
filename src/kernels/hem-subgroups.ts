/**
 * Launchers for kernels/hem-subgroups.wgsl: the E-step and its adjoint with one subgroup per
 * 8 rows and the softmax reductions as subgroup operations. src/kernels/hem-kernels.ts uses them in
 * place of the path's own E-step kernels when the engine's HEM kernel configuration sets
 * `subgroups` (src/kernels/hem-config.ts, which checks that the engine has a fixed subgroup size);
 * arguments, outputs and padding rules are the same.
 */
import hemSubgroupsWgsl from '../../kernels/hem-subgroups.wgsl';
import { engine } from '../device/engine.ts';
import { Tensor } from '../tensor/tensor.ts';
import { grid, overrideSets, uniform } from './dispatch.ts';
import { getHemKernelConfig } from './hem-config.ts';
import { defineKernel } from '../gpu/registry.ts';

/** The subgroup size as the workgroup size, or no variant while the subgroup kernels are off. */
function sized(axes: Record<string, readonly boolean[]>): Record<string, number | boolean>[] {
  const sg = engine().adapterInfo.subgroupSize;
  return getHemKernelConfig().subgroups && sg !== null ? overrideSets({ SG: sg }, axes) : [];
}

const K = {
  estep: /* @__PURE__ */ defineKernel('hem_estep_sg', hemSubgroupsWgsl, 'estep_sg', { variants: () => sized({ RBF: [false, true] }) }),
  estepGrad: /* @__PURE__ */ defineKernel('hem_estep_grad_sg', hemSubgroupsWgsl, 'estep_grad_sg', { variants: () => sized({ DGAMMA_IN: [false, true] }) }),
} as const;

/** One workgroup (one subgroup) per 8 rows. */
function rowGroups(N: number, B: number): [number, number, number] {
  const [gx, gy] = grid(Math.ceil(N / 8));
  return [gx, gy, B];
}

function subgroupSize(): number {
  const sg = engine().adapterInfo.subgroupSize;
  if (sg === null) throw new Error('hem: the subgroup kernels need an engine with a fixed subgroup size (setHemKernelConfig checks this).');
  return sg;
}

export function launchEstepSubgroups(op: string, x: Tensor, mu: Tensor, p: { bases: number; invTau: number; rbf: boolean; muStride: number }): Tensor {
  const [B, N, C] = x.shape as [number, number, number];
  const K4 = mu.shape[mu.rank - 2]!;
  const gamma = Tensor.empty([B, N, K4], op);
  K.estep.dispatch({
    bindings: {
      sx: x.bind(op),
      sm: mu.bind(op),
      se_gamma: gamma.bind(op, 'read_write'),
      sep: uniform({ N, C, K: p.bases, K4, mu_stride: p.muStride, inv_tau: p.invTau }),
    },
    overrides: { SG: subgroupSize(), RBF: p.rbf },
    workgroups: rowGroups(N, B),
  });
  return gamma;
}

export function launchEstepGradSubgroups(op: string, x: Tensor, dA: Tensor, dN: Tensor, gamma: Tensor, dgammaIn: Tensor | null): Tensor {
  const [B, N, C] = x.shape as [number, number, number];
  const K4 = gamma.shape[2]!;
  const dS = dgammaIn ?? Tensor.empty([B, N, K4], op);
  K.estepGrad.dispatch({
    bindings: {
      sx: x.bind(op),
      sm: dA.bind(op),
      sg_dn: dN.bind(op),
      sg_gamma: gamma.bind(op),
      sg_ds: dS.bind(op, 'read_write'),
      sgp: uniform({ N, C, K4 }),
    },
    overrides: { SG: subgroupSize(), DGAMMA_IN: dgammaIn !== null },
    workgroups: rowGroups(N, B),
  });
  return dS;
}
