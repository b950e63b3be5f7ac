/**
 * Launchers for kernels/pool.wgsl: 2-D max pooling (with its argmax) and average pooling of NHWC
 * images, and their backward gathers. Forward only (no autograd): src/ops/pool.ts checks the
 * options, computes the geometry and records the gradients.
 */
import poolWgsl from '../../kernels/pool.wgsl';
import { Tensor } from '../tensor/tensor.ts';
import { groupsFor, overrideSets, uniform } from './dispatch.ts';
import { defineKernel } from '../gpu/registry.ts';

const K = {
  maxForward: /* @__PURE__ */ defineKernel('maxpool2d', poolWgsl, 'max_forward', { variants: () => overrideSets({ WG }) }),
  maxBackward: /* @__PURE__ */ defineKernel('maxpool2d_backward', poolWgsl, 'max_backward', { variants: () => overrideSets({ WG }) }),
  avgForward: /* @__PURE__ */ defineKernel('avgpool2d', poolWgsl, 'avg_forward', { variants: () => overrideSets({ WG }, { INCLUDE_PAD: [false, true] }) }),
  avgBackward: /* @__PURE__ */ defineKernel('avgpool2d_backward', poolWgsl, 'avg_backward', { variants: () => overrideSets({ WG }, { INCLUDE_PAD: [false, true] }) }),
};

const WG = 256;

/** One pooling's geometry: input [B, H, W, C], output [B, OH, OW, C], window, stride, padding. */
export interface PoolGeometry {
  B: number;
  H: number;
  W: number;
  C: number;
  OH: number;
  OW: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
}

/** The WGSL's `Pool` uniform: the geometry and `n`, the elements of the dispatch's output. */
function params(g: PoolGeometry, n: number) {
  return uniform({
    n,
    C: g.C,
    H: g.H,
    W: g.W,
    OH: g.OH,
    OW: g.OW,
    kh: g.kh,
    kw: g.kw,
    sh: g.sh,
    sw: g.sw,
    ph: g.ph,
    pw: g.pw,
  });
}

const outShape = (g: PoolGeometry): number[] => [g.B, g.OH, g.OW, g.C];
const inShape = (g: PoolGeometry): number[] => [g.B, g.H, g.W, g.C];

/** y = the window maxima of x, and idx (i32) = h·W + w of each maximum. */
export function maxPoolForward(op: string, x: Tensor, g: PoolGeometry): { y: Tensor; idx: Tensor } {
  const y = Tensor.empty(outShape(g), op);
  const idx = Tensor.empty(outShape(g), `${op} argmax`, 'i32');
  K.maxForward.dispatch({
    bindings: { mx: x.bind(op), my: y.bind(op, 'read_write'), midx: idx.bind(op, 'read_write'), mp: params(g, y.size) },
    overrides: { WG },
    workgroups: groupsFor(y.size, WG),
  });
  return { y, idx };
}

/** dx_i = Σ over outputs o with argmax(o) = i of dy_o. */
export function maxPoolBackward(op: string, dy: Tensor, idx: Tensor, g: PoolGeometry): Tensor {
  const dx = Tensor.empty(inShape(g), op);
  K.maxBackward.dispatch({
    bindings: { ndy: dy.bind(op), nidx: idx.bind(op), ndx: dx.bind(op, 'read_write'), np: params(g, dx.size) },
    overrides: { WG },
    workgroups: groupsFor(dx.size, WG),
  });
  return dx;
}

/** y = the window means of x (divided by kh·kw with includePad, else by the image pixels). */
export function avgPoolForward(op: string, x: Tensor, g: PoolGeometry, includePad: boolean): Tensor {
  const y = Tensor.empty(outShape(g), op);
  K.avgForward.dispatch({
    bindings: { ax: x.bind(op), ay: y.bind(op, 'read_write'), ap: params(g, y.size) },
    overrides: { WG, INCLUDE_PAD: includePad },
    workgroups: groupsFor(y.size, WG),
  });
  return y;
}

/** dx_i = Σ over outputs o whose window holds i of dy_o / d_o. */
export function avgPoolBackward(op: string, dy: Tensor, g: PoolGeometry, includePad: boolean): Tensor {
  const dx = Tensor.empty(inShape(g), op);
  K.avgBackward.dispatch({
    bindings: { bdy: dy.bind(op), bdx: dx.bind(op, 'read_write'), bp: params(g, dx.size) },
    overrides: { WG, INCLUDE_PAD: includePad },
    workgroups: groupsFor(dx.size, WG),
  });
  return dx;
}
