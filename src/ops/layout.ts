/**
 * Layout ops: reshape (a view, no copy), permute/transpose, expand, padTo and sliceTo (strided
 * copies through the gather and pad launchers of src/kernels/elementwise.ts).
 */
import { record } from '../autograd/tape.ts';
import { stridesOf } from '../kernels/dispatch.ts';
import { gather, padZeros, sliceLeading } from '../kernels/elementwise.ts';
import { sumToShape } from '../kernels/reduce.ts';
import { broadcastStrides, checkShape, fmt, sizeOf, type Shape } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkTensor } from './check.ts';

/** The same data with another shape (one dimension may be −1 and is inferred). No copy. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  checkTensor('reshape', x, 'the input');
  const dims = [...shape];
  const infer = dims.indexOf(-1);
  if (infer >= 0) {
    if (dims.lastIndexOf(-1) !== infer) throw new Error(`reshape: at most one dimension may be −1, got ${fmt(shape)}.`);
    const known = dims.filter((d) => d !== -1).reduce((a, d) => a * d, 1);
    if (known <= 0 || x.size % known !== 0) {
      throw new Error(`reshape: cannot infer −1 in ${fmt(shape)} for a tensor of ${x.size} elements ${fmt(x.shape)}.`);
    }
    dims[infer] = x.size / known;
  }
  checkShape('reshape', dims, 'target shape');
  if (sizeOf(dims) !== x.size) {
    throw new Error(`reshape: cannot reshape ${fmt(x.shape)} (${x.size} elements) to ${fmt(dims)} (${sizeOf(dims)} elements); the element counts must match.`);
  }
  const y = x.view(dims, 'reshape');
  // A reshape is linear and invertible: its adjoint reshapes the gradient back.
  return record('reshape', y, [x], (g) => [g.view(x.shape, 'reshape backward')]);
}

/** Reorder dimensions: y.shape[i] = x.shape[perm[i]]. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  checkTensor('permute', x, 'the input');
  const r = x.rank;
  if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new Error(`permute: ${fmt(perm)} is not a permutation of the ${r} dimensions of ${fmt(x.shape)}.`);
  }
  const xs = stridesOf(x.shape);
  const shape = perm.map((p) => x.shape[p]!);
  const y = gather(
    'permute',
    x,
    shape,
    perm.map((p) => xs[p]!),
  );
  const inverse = new Array<number>(r);
  perm.forEach((p, i) => (inverse[p] = i));
  // A permutation's adjoint is the inverse permutation.
  return record('permute', y, [x], (g) => [permute(g, inverse)]);
}

/** Swap the last two axes (a matrix transpose, batched over leading axes). */
export function transpose(x: Tensor): Tensor {
  checkTensor('transpose', x, 'the input');
  if (x.rank < 2) throw new Error(`transpose: needs a tensor of rank ≥ 2 (swaps the last two axes), got ${fmt(x.shape)}.`);
  const perm = x.shape.map((_, i) => i);
  perm[x.rank - 1] = x.rank - 2;
  perm[x.rank - 2] = x.rank - 1;
  return permute(x, perm);
}

/** Broadcast x up to `shape` (NumPy rules), materialised. */
export function expand(x: Tensor, shape: Shape): Tensor {
  checkTensor('expand', x, 'the input');
  checkShape('expand', shape, 'target shape');
  const ok = shape.length >= x.rank && x.shape.every((d, i) => d === 1 || d === shape[shape.length - x.rank + i]);
  if (!ok) throw new Error(`expand: cannot broadcast ${fmt(x.shape)} to ${fmt(shape)}; each dimension must match or be 1.`);
  const y = gather('expand', x, shape, broadcastStrides(x.shape, shape));
  // Broadcasting copies each element; its adjoint sums the copies.
  return record('expand', y, [x], (g) => [sumToShape(g, x.shape)]);
}

/** Zero-pad x at the end of each dimension up to `shape` (same rank, each dim ≥ x's). */
export function padTo(x: Tensor, shape: Shape): Tensor {
  checkTensor('padTo', x, 'the input');
  checkShape('padTo', shape, 'target shape');
  if (shape.length !== x.rank || shape.some((d, i) => d < x.shape[i]!)) {
    throw new Error(`padTo: cannot pad ${fmt(x.shape)} to ${fmt(shape)}; same rank and every dimension at least as large.`);
  }
  const y = padZeros('padTo', x, shape);
  // Padding embeds x; its adjoint takes the leading block back out.
  return record('padTo', y, [x], (g) => [sliceTo(g, x.shape)]);
}

/** The leading block of x of `shape` (same rank, each dim ≤ x's): x[:s0, :s1, ...]. */
export function sliceTo(x: Tensor, shape: Shape): Tensor {
  checkTensor('sliceTo', x, 'the input');
  checkShape('sliceTo', shape, 'target shape');
  if (shape.length !== x.rank || shape.some((d, i) => d > x.shape[i]!)) {
    throw new Error(`sliceTo: cannot take ${fmt(shape)} from ${fmt(x.shape)}; same rank and every dimension at most as large.`);
  }
  const y = sliceLeading('sliceTo', x, shape);
  // Slicing's adjoint zero-pads the gradient back to the full shape.
  return record('sliceTo', y, [x], (g) => [padTo(g, x.shape)]);
}
