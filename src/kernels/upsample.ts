/**
 * Launchers for kernels/upsample.wgsl: the bilinear resize of NHWC images (align_corners =
 * false) and the 1-D adjoint gather along one axis that its backward runs twice. Forward only
 * (no autograd): src/ops/upsample.ts records the gradient.
 */
import upsampleWgsl from '../../kernels/upsample.wgsl';
import type { Shape } from '../tensor/shape.ts';
import { adapterInfo } from '../device/engine.ts';
import { Tensor } from '../tensor/tensor.ts';
import { groupsFor, overrideSets, uniform } from './dispatch.ts';
import { defineKernel } from '../gpu/registry.ts';

const K = {
  forward: /* @__PURE__ */ defineKernel('upsample_bilinear', upsampleWgsl, 'forward', { variants: () => overrideSets({ WG }) }),
  axisAdjoint: /* @__PURE__ */ defineKernel('upsample_bilinear_backward', upsampleWgsl, 'axis_adjoint', { variants: () => overrideSets({ WG, RUN: adjointRun() }) }),
};

const WG = 256;
/**
 * axis_adjoint's inner elements per invocation (its RUN): 4 on a CPU driver (2× faster there,
 * docs/measurements.md), 1 on a GPU as before (unmeasured there).
 */
function adjointRun(): number {
  return adapterInfo().software ? 4 : 1;
}

/** x [B, H, W, C] → [B, Ho, Wo, C], sampling source step ry, rx per output pixel. */
export function upsampleForward(op: string, x: Tensor, Ho: number, Wo: number, ry: number, rx: number): Tensor {
  const [B, H, W, C] = x.shape as [number, number, number, number];
  const y = Tensor.empty([B, Ho, Wo, C], op);
  K.forward.dispatch({
    // One invocation per output pixel, over its C channels.
    bindings: { x: x.bind(op), y: y.bind(op, 'read_write'), p: uniform({ n: B * Ho * Wo, h: H, w: W, c: C, ho: Ho, wo: Wo, ry, rx }) },
    overrides: { WG },
    workgroups: groupsFor(B * Ho * Wo, WG),
  });
  return y;
}

/**
 * The adjoint of the interpolation along one axis: g [outer, nOut, inner] → `shape` =
 * [outer, nIn, inner], each input pixel summing the outputs whose sample touches it.
 */
export function upsampleAxisAdjoint(op: string, g: Tensor, shape: Shape, nIn: number, nOut: number, inner: number, r: number): Tensor {
  const out = Tensor.empty(shape, op);
  // RUN consecutive inner elements per invocation: the weights once per run (fewer for a short inner axis).
  const run = Math.min(adjointRun(), inner);
  const n = (out.size / inner) * Math.ceil(inner / run);
  K.axisAdjoint.dispatch({
    bindings: { g: g.bind(op), dx: out.bind(op, 'read_write'), a: uniform({ n, n_in: nIn, n_out: nOut, inner, r }) },
    overrides: { WG, RUN: run },
    workgroups: groupsFor(n, WG),
  });
  return out;
}
