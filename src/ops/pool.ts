/**
 * 2-D max and average pooling of NHWC images, [B, H, W, C] → [B, OH, OW, C], with PyTorch's
 * semantics (F.max_pool2d / F.avg_pool2d with ceil_mode = false, dilation 1):
 *   OH = floor((H + 2·ph − kh) / sh) + 1 (likewise OW), stride defaulting to the kernel, padding
 *   at most half the kernel. Max pooling pads with −∞ and takes the first maximum in window order
 *   (row-major) on ties; average pooling divides by kh·kw (countIncludePad, the default) or by the
 *   number of image pixels in the window.
 *
 * One kernel each way (src/kernels/pool.ts). Max pooling saves the argmax of every output (an i32
 * tensor, h·W + w as PyTorch) for its backward; both backwards are gathers over the output windows
 * covering each input pixel (no atomics, deterministic).
 */
import { record } from '../autograd/tape.ts';
import { avgPoolBackward, avgPoolForward, maxPoolBackward, maxPoolForward, type PoolGeometry } from '../kernels/pool.ts';
import { fmt } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkTensor, pair, show, type Pair } from './check.ts';
import { checkOptions } from '../tensor/options.ts';

export interface Pool2dOptions {
  /** Window size. */
  kernel: Pair;
  /** Step between windows. Default: the kernel (PyTorch). */
  stride?: Pair;
  /** Implicit padding on each side, at most half the kernel. Default 0. */
  padding?: Pair;
}

export interface AvgPool2dOptions extends Pool2dOptions {
  /** Divide by kh·kw including padded positions (true, PyTorch's default) or by the image pixels only. */
  countIncludePad?: boolean;
}

function geometry(op: string, x: Tensor, options: Pool2dOptions): PoolGeometry {
  checkTensor(op, x, 'x');
  if (x.rank !== 4) throw new Error(`${op}: x must be [B, H, W, C] (NHWC, rank 4), got ${fmt(x.shape)} (rank ${x.rank}).`);
  if (!options || typeof options !== 'object') throw new Error(`${op}: options { kernel, stride?, padding? } are required.`);
  const [B, H, W, C] = x.shape as [number, number, number, number];
  const [kh, kw] = pair(op, 'kernel', options.kernel, 1);
  const [sh, sw] = options.stride === undefined ? [kh, kw] : pair(op, 'stride', options.stride, 1);
  const [ph, pw] = options.padding === undefined ? [0, 0] : pair(op, 'padding', options.padding, 0);
  if (2 * ph > kh || 2 * pw > kw) {
    throw new Error(`${op}: padding ${show(options.padding)} is more than half the kernel ${show(options.kernel)}; padding must be ≤ kernel / 2 (PyTorch's rule).`);
  }
  if (H + 2 * ph < kh || W + 2 * pw < kw) {
    throw new Error(`${op}: kernel ${show(options.kernel)} is larger than the padded image (${H + 2 * ph} × ${W + 2 * pw}) of x ${fmt(x.shape)}; ` + 'the output would be empty.');
  }
  const OH = Math.floor((H + 2 * ph - kh) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - kw) / sw) + 1;
  return { B, H, W, C, OH, OW, kh, kw, sh, sw, ph, pw };
}

/** Max pooling of NHWC x [B, H, W, C] → [B, OH, OW, C]. */
export function maxPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  const op = 'maxPool2d';
  if (options && typeof options === 'object') checkOptions(op, options, ['kernel', 'stride', 'padding']);
  const g = geometry(op, x, options);
  const { y, idx } = maxPoolForward(op, x, g);
  // y_o = x_{argmax(o)}: adjoint dx_i = Σ over outputs o with argmax(o) = i of dy_o.
  record(op, y, [x], (dy) => [maxPoolBackward(`${op} backward`, dy, idx, g)]);
  if (y.gradNode) y.own(idx);
  else idx.dispose();
  return y;
}

/** Average pooling of NHWC x [B, H, W, C] → [B, OH, OW, C]. */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  const op = 'avgPool2d';
  if (options && typeof options === 'object') checkOptions(op, options, ['kernel', 'stride', 'padding', 'countIncludePad']);
  const g = geometry(op, x, options);
  const includePad = options.countIncludePad ?? true;
  if (typeof includePad !== 'boolean') throw new Error(`${op}: countIncludePad must be true or false, got ${show(includePad)}.`);
  const y = avgPoolForward(op, x, g, includePad);
  // y_o = Σ_{i ∈ window(o)} x_i / d_o: adjoint dx_i = Σ over outputs o whose window holds i of dy_o / d_o.
  return record(op, y, [x], (dy) => [avgPoolBackward(`${op} backward`, dy, g, includePad)]);
}
