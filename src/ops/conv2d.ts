/**
 * 2-D convolution (cross-correlation, as in PyTorch), NHWC: x [B, H, W, Cin], w [kh, kw, Cin, Cout]
 * (HWIO), optional bias [Cout]; output [B, Ho, Wo, Cout] with
 *   Ho = floor((H + 2·ph − dh·(kh − 1) − 1) / sh) + 1   (and likewise Wo).
 *
 * Forward: an im2col kernel (kernels/conv2d.wgsl) lays the receptive fields out as the rows of
 * cols [B·Ho·Wo, kh·kw·Cin] (zeros for the padding), the tuned matmul computes
 * cols · w[kh·kw·Cin, Cout], which is already NHWC, and an epilogue kernel adds the bias.
 * A 1×1 convolution with stride 1 and no padding skips im2col: x viewed as [B·H·W, Cin] is cols.
 *
 * Every matmul operand is padded with zeros to multiples of 4 (cols rows and columns, w's rows
 * and columns, dY's rows and columns), so that all three products take the matmul's vec4
 * `tiled4` path, many times faster than the scalar one (docs/measurements.md). im2col writes the padding for free; w and dY get a `padTo` copy when
 * needed, and the epilogue drops the padded rows and columns of the product in the same pass that
 * adds the bias. (A 1×1 convolution whose Cin is not a multiple of 4 goes through im2col, which is
 * then a padded copy of x.)
 *
 * Backward (one tape node for the whole op):
 *   dW = colsᵀ · dY (matmul with transA, no transposed copy),
 *   dX = col2im(dY · Wᵀ), col2im being a gather (each input element sums the entries of dcols that
 *        read it; no atomics); or, where src/kernels/conv2d.ts's convInputGradPath says so (a CPU
 *        driver, stride 1, Cin a multiple of 4), the same sum as one product over K = kh·kw·Cout
 *        (dx_direct), without the [M, kh·kw·Cin] dcols;
 *   dbias = Σ of dY over B, Ho, Wo.
 * cols is KEPT from the forward for dW when it is at most KEEP_COLS_BYTES, and RECOMPUTED in the
 * backward otherwise. Keeping holds kh·kw times the input's memory per layer from the forward
 * until the output is freed (9× for 3×3 convolutions, the bulk of a large CNN's activation
 * memory); recomputing costs one im2col dispatch per layer and step, about 5 % of the demo's
 * step kernel time on SwiftShader (docs/measurements.md). Small layers keep, large ones
 * recompute. Only when W needs a gradient and gradients are being recorded.
 *
 * Direct convolution in the forward: not written. im2col + matmul reuses the matmul's tuned vec4
 * kernel (the project's fastest on SwiftShader and on GPUs), and the kept cols serve dW too. The
 * input gradient is different: dY · Wᵀ's inner dimension is only Cout, where the matmul runs
 * slowly on a CPU driver, which is why dx_direct exists (docs/measurements.md).
 */
import { isGradEnabled, noGrad, record } from '../autograd/tape.ts';
import { col2im, convEpilogue, convInputGrad, convInputGradPath, im2col, type ConvGeometry } from '../kernels/conv2d.ts';
import { ceil4 } from '../kernels/dispatch.ts';
import { fmt } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkTensor, pair, type Pair } from './check.ts';
import { padTo, sliceTo } from './layout.ts';
import { matmul } from './matmul.ts';
import { sum } from './reduce.ts';
import { checkOptions } from '../tensor/options.ts';

export interface Conv2dOptions {
  /** Step between output pixels, a number or [h, w]. Default 1. */
  stride?: Pair;
  /** Zero padding on each side, a number or [h, w]. Default 0. */
  padding?: Pair;
  /** Spacing between kernel taps, a number or [h, w]. Default 1. */
  dilation?: Pair;
  /** Optional bias [Cout], added to every output pixel. */
  bias?: Tensor;
}

function geometry(x: Tensor, w: Tensor, options: Conv2dOptions): ConvGeometry {
  const op = 'conv2d';
  if (x.rank !== 4) {
    throw new Error(`${op}: x must be [B, H, W, Cin] (NHWC, rank 4), got ${fmt(x.shape)} (rank ${x.rank}).`);
  }
  if (w.rank !== 4) {
    throw new Error(`${op}: w must be [kh, kw, Cin, Cout] (HWIO, rank 4), got ${fmt(w.shape)} (rank ${w.rank}).`);
  }
  const [B, H, W, Cin] = x.shape as [number, number, number, number];
  const [kh, kw, wc, Cout] = w.shape as [number, number, number, number];
  if (wc !== Cin) {
    throw new Error(`${op}: x ${fmt(x.shape)} has Cin = ${Cin} channels but w ${fmt(w.shape)} is for Cin = ${wc} ` + '(w is [kh, kw, Cin, Cout]); they must match.');
  }
  const [sh, sw] = pair(op, 'stride', options.stride ?? 1, 1, 'a positive integer');
  const [ph, pw] = pair(op, 'padding', options.padding ?? 0, 0, 'a non-negative integer');
  const [dh, dw] = pair(op, 'dilation', options.dilation ?? 1, 1, 'a positive integer');
  const ekh = dh * (kh - 1) + 1;
  const ekw = dw * (kw - 1) + 1;
  if (ekh > H + 2 * ph || ekw > W + 2 * pw) {
    const axis = ekh > H + 2 * ph ? 'h' : 'w';
    const [ek, n, p, d, k] = axis === 'h' ? [ekh, H, ph, dh, kh] : [ekw, W, pw, dw, kw];
    throw new Error(
      `${op}: the kernel spans ${ek} pixels along ${axis} (dilation·(k − 1) + 1 = ${d}·(${k} − 1) + 1) but the padded ` +
        `input has only ${n + 2 * p} (${axis === 'h' ? 'H' : 'W'} + 2·padding = ${n} + 2·${p}); x ${fmt(x.shape)}, w ${fmt(w.shape)}. ` +
        'Use a smaller kernel or dilation, or more padding.',
    );
  }
  const bias = options.bias;
  if (bias !== undefined) {
    checkTensor(op, bias, 'bias');
    if (bias.rank !== 1 || bias.shape[0] !== Cout) {
      throw new Error(`${op}: bias must be [Cout] = [${Cout}] (w ${fmt(w.shape)} has Cout = ${Cout}), got ${fmt(bias.shape)}.`);
    }
  }
  const Ho = Math.floor((H + 2 * ph - ekh) / sh) + 1;
  const Wo = Math.floor((W + 2 * pw - ekw) / sw) + 1;
  const M = B * Ho * Wo;
  const kc = kh * kw * Cin;
  // With Cin not a multiple of 4 the rows of x cannot serve as vec4 matmul rows; im2col then
  // makes the zero-padded copy (one pass over x, far cheaper than the scalar matmul).
  const pointwise = kh === 1 && kw === 1 && sh === 1 && sw === 1 && ph === 0 && pw === 0 && Cin % 4 === 0;
  return { B, H, W, Cin, kh, kw, Cout, sh, sw, ph, pw, dh, dw, Ho, Wo, M, mp: ceil4(M), kc, kp: ceil4(kc), cp: ceil4(Cout), pointwise };
}

/** w as the [kp, cp] matrix the matmul takes: a view, or a zero-padded copy (forward only). */
function weightMatrix(w: Tensor, g: ConvGeometry, op: string): Tensor {
  const w2 = w.view([g.kc, g.Cout], op);
  if (g.kp === g.kc && g.cp === g.Cout) return w2;
  const wp = padTo(w2, [g.kp, g.cp]);
  w2.dispose();
  return wp;
}

/** The cols matrix of x with `rows` rows: a view of x (pointwise) or im2col (forward only). */
function colsOf(x: Tensor, g: ConvGeometry, op: string, rows: number): Tensor {
  if (!g.pointwise) return im2col(op, x, g);
  const v = x.view([g.M, g.Cin], op);
  if (rows === g.M) return v;
  const padded = padTo(v, [rows, g.Cin]);
  v.dispose();
  return padded;
}

/**
 * dX [B, H, W, Cin] from dY padded to gp [rows, cp]: dx_direct, or dcols = dY · Wᵀ then col2im
 * (a pointwise convolution's dcols is dX itself).
 */
function inputGrad(x: Tensor, w: Tensor, gp: Tensor, rows: number, g: ConvGeometry, op: string): Tensor {
  const wm = weightMatrix(w, g, op);
  if (!g.pointwise && convInputGradPath(g) === 'direct') {
    const dx = convInputGrad(op, gp, wm, g);
    wm.dispose();
    return dx;
  }
  const dcols = matmul(gp, wm, { transB: true }); // [rows, kp]
  wm.dispose();
  let dx: Tensor;
  if (!g.pointwise) dx = col2im(op, dcols, g);
  else if (rows === g.M) dx = dcols.view(x.shape, op);
  else {
    const top = sliceTo(dcols, [g.M, g.Cin]);
    dx = top.view(x.shape, op);
    top.dispose();
  }
  dcols.dispose();
  return dx;
}

/** dW [kh, kw, Cin, Cout] = colsᵀ · dY, with cols kept from the forward or recomputed. */
function weightGrad(x: Tensor, w: Tensor, gp: Tensor, savedCols: Tensor | null, g: ConvGeometry, op: string): Tensor {
  const cols = savedCols ?? colsOf(x, g, op, g.mp); // kept, or recomputed (see the file comment)
  const dwp = matmul(cols, gp, { transA: true }); // [kp, cp]
  if (cols !== savedCols) cols.dispose();
  const dwk = g.kp === g.kc && g.cp === g.Cout ? dwp : sliceTo(dwp, [g.kc, g.Cout]);
  if (dwk !== dwp) dwp.dispose();
  const dw = dwk.view(w.shape, op);
  dwk.dispose();
  return dw;
}

/**
 * The largest cols matrix the forward keeps for the backward's dW instead of recomputing it
 * (see the file comment): 8 MiB, e.g. a 3×3 convolution over 16 K pixels of 32 channels.
 */
export const KEEP_COLS_BYTES = 8 * 1024 * 1024;

/** 2-D convolution of NHWC x with HWIO w (see the file comment). */
export function conv2d(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  checkTensor('conv2d', x, 'x');
  checkTensor('conv2d', w, 'w');
  if (options === null || typeof options !== 'object') {
    throw new Error(`conv2d: options must be an object { stride, padding, dilation, bias }, got ${String(options)}.`);
  }
  checkOptions('conv2d', options, ['stride', 'padding', 'dilation', 'bias']);
  const g = geometry(x, w, options);
  const bias = options.bias;

  // cols from the forward, for dW: only an im2col copy (a pointwise view of x costs nothing to remake).
  const keepCols = !g.pointwise && w.requiresGrad && isGradEnabled() && g.mp * g.kp * 4 <= KEEP_COLS_BYTES;
  let kept = null as Tensor | null;
  const y = noGrad(() => {
    const cols = colsOf(x, g, 'conv2d', g.pointwise ? g.M : g.mp);
    const wm = weightMatrix(w, g, 'conv2d');
    const prod = matmul(cols, wm);
    if (keepCols) kept = cols;
    else cols.dispose();
    wm.dispose();
    const out = convEpilogue('conv2d', prod, bias, g);
    prod.dispose();
    return out;
  });

  const inputs = bias ? [x, w, bias] : [x, w];
  // dY = cols·dW + dcols·W + 1·dbiasᵀ: adjoints dW = colsᵀ·dY, dX = col2im(dY·Wᵀ), dbias = Σ_{B,Ho,Wo} dY.
  const savedCols: Tensor | null = kept;
  record('conv2d', y, inputs, (dy) => {
    const op = 'conv2d backward';
    const g2 = dy.view([g.M, g.Cout], op);
    const needX = x.requiresGrad;
    const needW = w.requiresGrad;
    // dY with zero rows and columns up to [mp, cp] (rows only matter for dW's inner dimension).
    const rows = needW ? g.mp : g.M;
    let gp = g2;
    if (needX || needW) {
      if (rows !== g.M || g.cp !== g.Cout) gp = padTo(g2, [rows, g.cp]);
    }
    const dx = needX ? inputGrad(x, w, gp, rows, g, op) : null;
    const dw = needW ? weightGrad(x, w, gp, savedCols, g, op) : null;
    const db = bias?.requiresGrad ? sum(g2, 0) : null;
    if (gp !== g2) gp.dispose();
    g2.dispose();
    return bias ? [dx, dw, db] : [dx, dw];
  });
  // The kept cols live as long as the backward rule that reads them.
  if (savedCols) {
    if (y.gradNode) y.own(savedCols);
    else savedCols.dispose();
  }
  return y;
}
