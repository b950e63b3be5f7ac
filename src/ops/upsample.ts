/**
 * Bilinear resampling of NHWC images, [B, H, W, C] → [B, Ho, Wo, C], with PyTorch's
 * align_corners = false semantics (F.interpolate(..., mode='bilinear', align_corners=False)):
 * along each axis the output pixel o samples the source coordinate
 *   s = max((o + 0.5)·r − 0.5, 0),   r = in/out for `{ size }`,
 * reading pixels floor(s) and floor(s) + 1 (both clamped to the last pixel) with weights
 * 1 − frac and frac. `{ scale }` follows PyTorch's default (recompute_scale_factor unset):
 * out = floor(in·scale) and r = 1/scale, which differs from in/out when in·scale is not an integer
 * (in = 5, scale = 1.5: out = 7, r = 0.667, not 0.714). Works for up- and down-sampling.
 *
 * The forward is one kernel (src/kernels/upsample.ts). The backward is the exact adjoint of the
 * forward's f32 weights, separable: two dispatches of a 1-D gather, each input pixel summing the
 * outputs whose sample touches it along one axis (no atomics).
 */
import { record } from '../autograd/tape.ts';
import { upsampleAxisAdjoint, upsampleForward } from '../kernels/upsample.ts';
import { fmt } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkTensor, show } from './check.ts';
import { checkOptions } from '../tensor/options.ts';

/** Either the output size [Ho, Wo] or a scale factor (a number, or [h, w]). */
export type UpsampleOptions = { size: readonly [number, number]; scale?: undefined } | { scale: number | readonly [number, number]; size?: undefined };

/** Output size and the f32 source step per output pixel along h and w. */
function plan(x: Tensor, options: UpsampleOptions): { Ho: number; Wo: number; ry: number; rx: number } {
  const op = 'upsampleBilinear';
  if (x.rank !== 4) throw new Error(`${op}: x must be [B, H, W, C] (NHWC, rank 4), got ${fmt(x.shape)} (rank ${x.rank}).`);
  const [, H, W] = x.shape as [number, number, number, number];
  if (options === null || typeof options !== 'object') {
    throw new Error(`${op}: options must be { size: [Ho, Wo] } or { scale }, got ${String(options)}.`);
  }
  checkOptions(op, options, ['size', 'scale']);
  const hasSize = options.size !== undefined;
  const hasScale = options.scale !== undefined;
  if (hasSize === hasScale) {
    throw new Error(`${op}: give exactly one of size ([Ho, Wo]) and scale (a number or [h, w]); got ${hasSize ? 'both' : 'neither'}.`);
  }
  if (hasSize) {
    const s = options.size as unknown;
    if (!Array.isArray(s) || s.length !== 2 || s.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 1)) {
      throw new Error(`${op}: size must be [Ho, Wo] with positive integers, got ${show(s)}.`);
    }
    const [Ho, Wo] = s as [number, number];
    return { Ho, Wo, ry: H / Ho, rx: W / Wo };
  }
  const sc = options.scale as unknown;
  const pairOk = Array.isArray(sc) && sc.length === 2;
  const [fh, fw] = (typeof sc === 'number' ? [sc, sc] : pairOk ? sc : [NaN, NaN]) as [number, number];
  if (![fh, fw].every((f) => typeof f === 'number' && Number.isFinite(f) && f > 0)) {
    throw new Error(`${op}: scale must be a positive finite number or a pair [h, w] of them, got ${show(sc)}.`);
  }
  const Ho = Math.floor(H * fh);
  const Wo = Math.floor(W * fw);
  if (Ho < 1 || Wo < 1) {
    throw new Error(`${op}: scale ${show(sc)} gives an empty output [${Ho}, ${Wo}] for H, W = ${H}, ${W}; each output side must be ≥ 1.`);
  }
  return { Ho, Wo, ry: 1 / fh, rx: 1 / fw };
}

/** Bilinear resize of NHWC x, align_corners = false (see the file comment). */
export function upsampleBilinear(x: Tensor, options: UpsampleOptions): Tensor {
  const op = 'upsampleBilinear';
  checkTensor(op, x, 'x');
  const { Ho, Wo, ry, rx } = plan(x, options);
  const [B, H, W, C] = x.shape as [number, number, number, number];
  const y = upsampleForward(op, x, Ho, Wo, ry, rx);
  // y = (A_y ⊗ A_x)·x with per-axis interpolation matrices: adjoint dx = A_yᵀ (A_xᵀ dy), one gather per axis.
  return record(op, y, [x], (g) => {
    const bop = `${op} backward`;
    // One axis: t [outer, nOut, inner] → [outer, nIn, inner] (outer = what is left of the shape). An axis that is an exact copy
    // (same length, r = 1: s = o exactly, weight 1) is skipped.
    const pass = (t: Tensor, shape: number[], nIn: number, nOut: number, inner: number, r: number): Tensor => {
      if (nIn === nOut && r === 1) return t.alias();
      return upsampleAxisAdjoint(bop, t, shape, nIn, nOut, inner, r);
    };
    // Whichever axis goes first, the intermediate is [B, H, Wo, C] or [B, Ho, W, C]: take the smaller.
    let mid: Tensor;
    let dx: Tensor;
    if (Ho * W <= H * Wo) {
      mid = pass(g, [B, Ho, W, C], W, Wo, C, rx);
      dx = pass(mid, [B, H, W, C], H, Ho, W * C, ry);
    } else {
      mid = pass(g, [B, H, Wo, C], H, Ho, Wo * C, ry);
      dx = pass(mid, [B, H, W, C], W, Wo, C, rx);
    }
    mid.dispose();
    return [dx];
  });
}
