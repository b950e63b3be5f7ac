/**
 * Launchers for kernels/elementwise.wgsl: unary maps, broadcasting binary maps, strided gathers
 * and zero-padding copies. Forward only (no autograd): src/ops/ records the gradients.
 */
import elementwiseWgsl from '../../kernels/elementwise.wgsl';
import { broadcastShapes, broadcastStrides, sameShape, type Shape } from '../tensor/shape.ts';
import { Tensor } from '../tensor/tensor.ts';
import { coalesce, groupsFor, overrideSets, pad8, RANK_OVERRIDES, rankOverride, stridesOf, uniform } from './dispatch.ts';
import { defineKernel } from '../gpu/registry.ts';

const K = {
  unary: /* @__PURE__ */ defineKernel('unary', elementwiseWgsl, 'unary', { variants: () => overrideSets({ WG }, { OP: Object.values(UNARY) }) }),
  binary: /* @__PURE__ */ defineKernel('binary', elementwiseWgsl, 'binary', {
    variants: () => [
      ...overrideSets({ WG, BROADCAST: false, B_RANK: 8 }, { OP: Object.values(BINARY) }),
      ...overrideSets({ WG, BROADCAST: true }, { OP: Object.values(BINARY), B_RANK: [...RANK_OVERRIDES] }),
    ],
  }),
  gather: /* @__PURE__ */ defineKernel('gather', elementwiseWgsl, 'gather', { variants: () => overrideSets({ WG }, { G_RANK: [1, 2, 3, 4, 5, 6, 7, 8] }) }),
  pad: /* @__PURE__ */ defineKernel('pad', elementwiseWgsl, 'pad', { variants: () => overrideSets({ WG }, { P_RANK: [1, 2, 3, 4, 5, 6, 7, 8] }) }),
};

/** Unary op codes of kernels/elementwise.wgsl (keep in sync with its constants). */
export const UNARY = { affine: 0, exp: 1, log: 2, sqrt: 3, relu: 4, pow: 5, rdiv: 6, abs: 7 } as const;
/** Binary op codes of kernels/elementwise.wgsl. */
export const BINARY = { add: 0, sub: 1, mul: 2, div: 3, reluGrad: 4, signMul: 5 } as const;

const WG = 256;

/** y = f(x) for a unary op code; p0, p1 are the code's parameters (affine: p0·x + p1). */
export function unary(op: string, x: Tensor, code: number, p0 = 0, p1 = 0): Tensor {
  const y = Tensor.empty(x.shape, op);
  K.unary.dispatch({
    bindings: { ux: x.bind(op), uy: y.bind(op, 'read_write'), up: uniform({ n: x.size, p0, p1 }) },
    overrides: { OP: code, WG },
    workgroups: groupsFor(x.size, WG),
  });
  return y;
}

/** z = g(a, b) for a binary op code, with NumPy broadcasting. */
export function binary(op: string, a: Tensor, b: Tensor, code: number): Tensor {
  const shape = broadcastShapes(op, a.shape, b.shape);
  const z = Tensor.empty(shape, op);
  const plain = sameShape(a.shape, shape) && sameShape(b.shape, shape);
  const c = coalesce(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)]);
  K.binary.dispatch({
    bindings: {
      ba: a.bind(op),
      bb: b.bind(op),
      bz: z.bind(op, 'read_write'),
      bp: uniform({
        n: z.size,
        shape: pad8(c.shape, 1),
        stride_a: pad8(c.strides[0]!),
        stride_b: pad8(c.strides[1]!),
      }),
    },
    overrides: { OP: code, WG, BROADCAST: !plain, B_RANK: plain ? 8 : rankOverride(c.shape.length) },
    workgroups: groupsFor(z.size, WG),
  });
  return z;
}

/** y[i] = x[offset(i)] for an output of `shape` read through `strides` of x. */
export function gather(op: string, x: Tensor, shape: Shape, strides: readonly number[]): Tensor {
  const y = Tensor.empty(shape, op);
  const c = coalesce(shape, [[...strides]]);
  K.gather.dispatch({
    bindings: {
      gx: x.bind(op),
      gy: y.bind(op, 'read_write'),
      gp: uniform({ n: y.size, shape: pad8(c.shape), stride: pad8(c.strides[0]!) }),
    },
    overrides: { WG, G_RANK: c.shape.length },
    workgroups: groupsFor(y.size, WG),
  });
  return y;
}

/** x zero-padded at the end of each dimension up to `shape` (same rank, each dim ≥ x's). */
export function padZeros(op: string, x: Tensor, shape: Shape): Tensor {
  const y = Tensor.empty(shape, op);
  // The kernel's rank is an override (P_RANK ≥ 1): a scalar is padded as a 1-element vector.
  const out = shape.length ? shape : [1];
  const src = x.shape.length ? x.shape : [1];
  K.pad.dispatch({
    bindings: {
      px: x.bind(op),
      py: y.bind(op, 'read_write'),
      pp: uniform({ n: y.size, shape: pad8(out), src_stride: pad8(stridesOf(src)), src_shape: pad8(src) }),
    },
    overrides: { WG, P_RANK: out.length },
    workgroups: groupsFor(y.size, WG),
  });
  return y;
}

/** The leading block of x of `shape` (same rank, each dim ≤ x's): x[:s0, :s1, ...]. */
export function sliceLeading(op: string, x: Tensor, shape: Shape): Tensor {
  return gather(op, x, shape, stridesOf(x.shape));
}
