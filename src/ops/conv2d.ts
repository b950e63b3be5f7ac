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
 * `tiled4` path: on SwiftShader its scalar path ran a [2048, 64]·[64, 11] product at 0.08 GFLOPS
 * against ~3 for tiled4. im2col writes the padding for free; w and dY get a `padTo` copy when
 * needed, and the epilogue drops the padded rows and columns of the product in the same pass that
 * adds the bias. (A 1×1 convolution whose Cin is not a multiple of 4 goes through im2col, which is
 * then a padded copy of x.)
 *
 * Backward (one tape node for the whole op):
 *   dW = colsᵀ · dY (matmul with transA, no transposed copy),
 *   dX = col2im(dY · Wᵀ), col2im being a gather (each input element sums the entries of dcols that
 *        read it; no atomics),
 *   dbias = Σ of dY over B, Ho, Wo.
 * cols is RECOMPUTED in the backward rather than kept: keeping it would hold kh·kw times the
 * input's memory per layer from the forward until the backward (9× for 3×3 convolutions, the bulk
 * of a CNN's activation memory), while recomputing costs one copy dispatch — about 1/Cout of the
 * work of the matmul that consumes it — and only when W needs a gradient.
 *
 * Direct convolution: not written. im2col + matmul reuses the matmul's tuned vec4 kernel (the
 * project's fastest on SwiftShader and on GPUs). Measured on SwiftShader (2 cores, GPU timestamps,
 * B = 8, forward + backward): im2col (×2) and col2im took 12 % of the kernel time for a 3×3
 * 64 → 64 layer at 16×16, 16 % for 32 → 64 at 16×16 and 42 % for a stride-2 16 → 32 layer at
 * 32×32 (25 ms in all); that share is the most a direct kernel could save, and only if it matched
 * the tuned matmul per FLOP in all three products, which the scalar kernels here do not come near.
 */
import { record, noGrad } from '../autograd/tape.ts';
import { defineKernel } from '../kernels/registry.ts';
import { fmt } from '../tensor/shape.ts';
import { Tensor } from '../tensor/tensor.ts';
import convWgsl from '../../kernels/conv2d.wgsl';
import { checkTensor } from './elementwise.ts';
import { padTo, sliceTo } from './layout.ts';
import { matmul } from './matmul.ts';
import { sum } from './reduce.ts';
import { groupsFor, uniform } from './util.ts';

const K = {
  im2col: defineKernel('conv2d_im2col', convWgsl, 'im2col'),
  im2colC4: defineKernel('conv2d_im2col_c4', convWgsl, 'im2col_c4'),
  col2im: defineKernel('conv2d_col2im', convWgsl, 'col2im'),
  col2imC4: defineKernel('conv2d_col2im_c4', convWgsl, 'col2im_c4'),
  epilogue: defineKernel('conv2d_epilogue', convWgsl, 'epilogue'),
};

const WG = 256;

export type Pair = number | readonly [number, number];

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

/** Everything about one convolution's geometry. */
interface Geometry {
  B: number;
  H: number;
  W: number;
  Cin: number;
  kh: number;
  kw: number;
  Cout: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
  Ho: number;
  Wo: number;
  /** B·Ho·Wo output pixels: the rows of cols. */
  M: number;
  /** Rows of the matmul operands: M rounded up to a multiple of 4 (extra rows are 0). */
  mp: number;
  /** kh·kw·Cin: the matmul's inner dimension. */
  kc: number;
  /** Columns of cols: kc rounded up to a multiple of 4 (extra columns are 0). */
  kp: number;
  /** Columns of the product: Cout rounded up to a multiple of 4 (w gets zero columns). */
  cp: number;
  /** 1×1, stride 1, no padding, Cin a multiple of 4: x itself is the cols matrix, no im2col. */
  pointwise: boolean;
}

const up4 = (n: number): number => Math.ceil(n / 4) * 4;

function pair(name: string, v: Pair | undefined, dflt: number, min: number): [number, number] {
  const what = min === 0 ? 'a non-negative integer' : 'a positive integer';
  const bad = (): never => {
    const shown = Array.isArray(v) ? `[${(v as readonly unknown[]).map(String).join(', ')}]` : String(v);
    throw new Error(`conv2d: ${name} must be ${what} or a pair [h, w] of them, got ${shown}.`);
  };
  if (v === undefined) return [dflt, dflt];
  const arr = typeof v === 'number' ? [v, v] : Array.isArray(v) && v.length === 2 ? v : bad();
  for (const d of arr as unknown[]) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < min) bad();
  }
  return [arr[0]!, arr[1]!];
}

function geometry(x: Tensor, w: Tensor, options: Conv2dOptions): Geometry {
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
    throw new Error(
      `${op}: x ${fmt(x.shape)} has Cin = ${Cin} channels but w ${fmt(w.shape)} is for Cin = ${wc} ` +
        '(w is [kh, kw, Cin, Cout]); they must match.',
    );
  }
  const [sh, sw] = pair('stride', options.stride, 1, 1);
  const [ph, pw] = pair('padding', options.padding, 0, 0);
  const [dh, dw] = pair('dilation', options.dilation, 1, 1);
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
  return { B, H, W, Cin, kh, kw, Cout, sh, sw, ph, pw, dh, dw, Ho, Wo, M, mp: up4(M), kc, kp: up4(kc), cp: up4(Cout), pointwise };
}

function params(g: Geometry, n: number) {
  return uniform({
    n,
    m: g.M,
    h: g.H,
    w: g.W,
    c: g.Cin,
    ho: g.Ho,
    wo: g.Wo,
    kh: g.kh,
    kw: g.kw,
    sh: g.sh,
    sw: g.sw,
    ph: g.ph,
    pw: g.pw,
    dh: g.dh,
    dw: g.dw,
    kp: g.kp,
  });
}

/** cols [mp, kp] of x, zero rows and columns past [M, kc] (forward only). */
function im2col(op: string, x: Tensor, g: Geometry): Tensor {
  const cols = Tensor.empty([g.mp, g.kp], op);
  const n = cols.size / 4;
  const c4 = g.Cin % 4 === 0;
  (c4 ? K.im2colC4 : K.im2col).dispatch({
    bindings: c4
      ? { x4: x.bind(op), cols: cols.bind(op, 'read_write'), p: params(g, n) }
      : { x: x.bind(op), cols: cols.bind(op, 'read_write'), p: params(g, n) },
    overrides: { WG },
    workgroups: groupsFor(n, WG),
  });
  return cols;
}

/** dx [B, H, W, Cin] from dcols [mp, kp]: the adjoint of im2col, as a gather (forward only). */
function col2im(op: string, dcols: Tensor, g: Geometry): Tensor {
  const dx = Tensor.empty([g.B, g.H, g.W, g.Cin], op);
  if (g.Cin % 4 === 0) {
    const n = dx.size / 4;
    K.col2imC4.dispatch({
      bindings: { dcols4: dcols.bind(op), dx4: dx.bind(op, 'read_write'), q: params(g, n) },
      overrides: { WG },
      workgroups: groupsFor(n, WG),
    });
  } else {
    K.col2im.dispatch({
      bindings: { dcols: dcols.bind(op), dx: dx.bind(op, 'read_write'), q: params(g, dx.size) },
      overrides: { WG },
      workgroups: groupsFor(dx.size, WG),
    });
  }
  return dx;
}

/** w as the [kp, cp] matrix the matmul takes: a view, or a zero-padded copy (forward only). */
function weightMatrix(w: Tensor, g: Geometry, op: string): Tensor {
  const w2 = w.view([g.kc, g.Cout], op);
  if (g.kp === g.kc && g.cp === g.Cout) return w2;
  const wp = padTo(w2, [g.kp, g.cp]);
  w2.dispose();
  return wp;
}

/** The cols matrix of x with `rows` rows: a view of x (pointwise) or im2col (forward only). */
function colsOf(x: Tensor, g: Geometry, op: string, rows: number): Tensor {
  if (!g.pointwise) return im2col(op, x, g);
  const v = x.view([g.M, g.Cin], op);
  if (rows === g.M) return v;
  const padded = padTo(v, [rows, g.Cin]);
  v.dispose();
  return padded;
}

/** y [B, Ho, Wo, Cout] from the padded product [rows, cp], plus the bias (forward only). */
function epilogue(op: string, prod: Tensor, bias: Tensor | undefined, g: Geometry): Tensor {
  const shape = [g.B, g.Ho, g.Wo, g.Cout];
  if (!bias && prod.size === g.M * g.Cout) return prod.view(shape, op);
  const y = Tensor.empty(shape, op);
  K.epilogue.dispatch({
    bindings: {
      prod: prod.bind(op),
      bias: (bias ?? prod).bind(op), // unread without a bias
      y: y.bind(op, 'read_write'),
      e: uniform({ n: y.size, cout: g.Cout, cp: g.cp }),
    },
    overrides: { WG, HAS_BIAS: bias !== undefined },
    workgroups: groupsFor(y.size, WG),
  });
  return y;
}

/** 2-D convolution of NHWC x with HWIO w (see the file comment). */
export function conv2d(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  checkTensor('conv2d', x, 'x');
  checkTensor('conv2d', w, 'w');
  if (options === null || typeof options !== 'object') {
    throw new Error(`conv2d: options must be an object { stride, padding, dilation, bias }, got ${String(options)}.`);
  }
  const g = geometry(x, w, options);
  const bias = options.bias;

  const y = noGrad(() => {
    const cols = colsOf(x, g, 'conv2d', g.pointwise ? g.M : g.mp);
    const wm = weightMatrix(w, g, 'conv2d');
    const prod = matmul(cols, wm);
    cols.dispose();
    wm.dispose();
    const out = epilogue('conv2d', prod, bias, g);
    prod.dispose();
    return out;
  });

  const inputs = bias ? [x, w, bias] : [x, w];
  // dY = cols·dW + dcols·W + 1·dbiasᵀ: adjoints dW = colsᵀ·dY, dX = col2im(dY·Wᵀ), dbias = Σ_{B,Ho,Wo} dY.
  return record('conv2d', y, inputs, (dy) => {
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
    let dx: Tensor | null = null;
    let dw: Tensor | null = null;
    let db: Tensor | null = null;
    if (needX) {
      const wm = weightMatrix(w, g, op);
      const dcols = matmul(gp, wm, { transB: true }); // [rows, kp]
      wm.dispose();
      if (g.pointwise) {
        if (rows === g.M) dx = dcols.view(x.shape, op);
        else {
          const top = sliceTo(dcols, [g.M, g.Cin]);
          dx = top.view(x.shape, op);
          top.dispose();
        }
      } else {
        dx = col2im(op, dcols, g);
      }
      dcols.dispose();
    }
    if (needW) {
      const cols = colsOf(x, g, op, g.mp); // recomputed (see the file comment)
      const dwp = matmul(cols, gp, { transA: true }); // [kp, cp]
      cols.dispose();
      const dwk = g.kp === g.kc && g.cp === g.Cout ? dwp : sliceTo(dwp, [g.kc, g.Cout]);
      if (dwk !== dwp) dwp.dispose();
      dw = dwk.view(w.shape, op);
      dwk.dispose();
    }
    if (gp !== g2) gp.dispose();
    if (bias?.requiresGrad) db = sum(g2, 0);
    g2.dispose();
    return bias ? [dx, dw, db] : [dx, dw];
  });
}
