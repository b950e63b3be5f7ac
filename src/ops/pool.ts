/**
 * 2-D max and average pooling of NHWC images, [B, H, W, C] → [B, OH, OW, C], with PyTorch's
 * semantics (F.max_pool2d / F.avg_pool2d with ceil_mode = false, dilation 1):
 *   OH = floor((H + 2·ph − kh) / sh) + 1 (likewise OW), stride defaulting to the kernel, padding
 *   at most half the kernel. Max pooling pads with −∞ and takes the first maximum in window order
 *   (row-major) on ties; average pooling divides by kh·kw (countIncludePad, the default) or by the
 *   number of image pixels in the window.
 *
 * One kernel each way (kernels/pool.wgsl). Max pooling saves the argmax of every output (an i32
 * tensor, h·W + w as PyTorch) for its backward; both backwards are gathers over the output windows
 * covering each input pixel (no atomics, deterministic).
 */
import { record } from '../autograd/tape.ts';
import { defineKernel } from '../kernels/registry.ts';
import { fmt } from '../tensor/shape.ts';
import { Tensor } from '../tensor/tensor.ts';
import poolWgsl from '../../kernels/pool.wgsl';
import { checkTensor } from './elementwise.ts';
import { groupsFor, uniform } from './util.ts';

const K = {
  maxForward: defineKernel('maxpool2d', poolWgsl, 'max_forward'),
  maxBackward: defineKernel('maxpool2d_backward', poolWgsl, 'max_backward'),
  avgForward: defineKernel('avgpool2d', poolWgsl, 'avg_forward'),
  avgBackward: defineKernel('avgpool2d_backward', poolWgsl, 'avg_backward'),
};

const WG = 256;

/** A size per spatial axis: one number for both, or [h, w]. */
export type Size2 = number | readonly [number, number];

export interface Pool2dOptions {
  /** Window size. */
  kernel: Size2;
  /** Step between windows. Default: the kernel (PyTorch). */
  stride?: Size2;
  /** Implicit padding on each side, at most half the kernel. Default 0. */
  padding?: Size2;
}

export interface AvgPool2dOptions extends Pool2dOptions {
  /** Divide by kh·kw including padded positions (true, PyTorch's default) or by the image pixels only. */
  countIncludePad?: boolean;
}

function show(v: unknown): string {
  return Array.isArray(v) ? `[${v.map(String).join(', ')}]` : String(v);
}

function pair(op: string, name: string, v: unknown, min: number): [number, number] {
  const ok = (d: unknown): d is number => typeof d === 'number' && Number.isInteger(d) && d >= min;
  if (ok(v)) return [v, v];
  if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1])) return [v[0], v[1]];
  throw new Error(`${op}: ${name} must be an integer ≥ ${min} or a pair [h, w] of them, got ${show(v)}.`);
}

interface Geometry {
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

function geometry(op: string, x: Tensor, options: Pool2dOptions): Geometry {
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
    throw new Error(
      `${op}: kernel ${show(options.kernel)} is larger than the padded image (${H + 2 * ph} × ${W + 2 * pw}) of x ${fmt(x.shape)}; ` +
        'the output would be empty.',
    );
  }
  const OH = Math.floor((H + 2 * ph - kh) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - kw) / sw) + 1;
  return { B, H, W, C, OH, OW, kh, kw, sh, sw, ph, pw };
}

function params(g: Geometry, n: number, includePad: boolean) {
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
    include_pad: includePad ? 1 : 0,
  });
}

/** Max pooling of NHWC x [B, H, W, C] → [B, OH, OW, C]. */
export function maxPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  const op = 'maxPool2d';
  const g = geometry(op, x, options);
  const outShape = [g.B, g.OH, g.OW, g.C];
  const y = Tensor.empty(outShape, op);
  const idx = Tensor.empty(outShape, `${op} argmax`, 'i32');
  K.maxForward.dispatch({
    bindings: { x: x.bind(op), y: y.bind(op, 'read_write'), idx: idx.bind(op, 'read_write'), p: params(g, y.size, false) },
    overrides: { WG },
    workgroups: groupsFor(y.size, WG),
  });
  // y_o = x_{argmax(o)}: adjoint dx_i = Σ over outputs o with argmax(o) = i of dy_o.
  record(op, y, [x], (dy) => {
    const bop = `${op} backward`;
    const dx = Tensor.empty(x.shape, bop);
    K.maxBackward.dispatch({
      bindings: { dy: dy.bind(bop), ridx: idx.bind(bop), dx: dx.bind(bop, 'read_write'), p: params(g, dx.size, false) },
      overrides: { WG },
      workgroups: groupsFor(dx.size, WG),
    });
    return [dx];
  });
  if (y.gradNode) y.own(idx);
  else idx.dispose();
  return y;
}

/** Average pooling of NHWC x [B, H, W, C] → [B, OH, OW, C]. */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  const op = 'avgPool2d';
  const g = geometry(op, x, options);
  const includePad = options.countIncludePad ?? true;
  if (typeof includePad !== 'boolean') throw new Error(`${op}: countIncludePad must be true or false, got ${show(includePad)}.`);
  const y = Tensor.empty([g.B, g.OH, g.OW, g.C], op);
  K.avgForward.dispatch({
    bindings: { x: x.bind(op), y: y.bind(op, 'read_write'), p: params(g, y.size, includePad) },
    overrides: { WG },
    workgroups: groupsFor(y.size, WG),
  });
  // y_o = Σ_{i ∈ window(o)} x_i / d_o: adjoint dx_i = Σ over outputs o whose window holds i of dy_o / d_o.
  return record(op, y, [x], (dy) => {
    const bop = `${op} backward`;
    const dx = Tensor.empty(x.shape, bop);
    K.avgBackward.dispatch({
      bindings: { dy: dy.bind(bop), dx: dx.bind(bop, 'read_write'), p: params(g, dx.size, includePad) },
      overrides: { WG },
      workgroups: groupsFor(dx.size, WG),
    });
    return [dx];
  });
}
