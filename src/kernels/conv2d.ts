/**
 * Launchers for kernels/conv2d.wgsl: im2col (the receptive fields of NHWC x as the rows of a
 * zero-padded matrix), col2im (its adjoint, as a gather), the direct input gradient (dx_direct:
 * col2im(dY · Wᵀ) as one product) and the epilogue (bias, and cutting the padded product back to
 * NHWC). Forward only (no autograd): src/ops/conv2d.ts checks the arguments, computes the
 * geometry, runs the matmuls and records the gradient.
 */
import convWgsl from '../../kernels/conv2d.wgsl';
import { adapterInfo } from '../device/engine.ts';
import { Tensor } from '../tensor/tensor.ts';
import { groupsFor, overrideSets, uniform } from './dispatch.ts';
import { defineKernel } from '../gpu/registry.ts';

const K = {
  im2col: /* @__PURE__ */ defineKernel('conv2d_im2col', convWgsl, 'im2col', { variants: () => overrideSets({ WG }) }),
  im2colC4: /* @__PURE__ */ defineKernel('conv2d_im2col_c4', convWgsl, 'im2col_c4', { variants: () => overrideSets({ WG }) }),
  col2im: /* @__PURE__ */ defineKernel('conv2d_col2im', convWgsl, 'col2im', { variants: () => overrideSets({ WG }) }),
  col2imC4: /* @__PURE__ */ defineKernel('conv2d_col2im_c4', convWgsl, 'col2im_c4', { variants: () => overrideSets({ WG }) }),
  dxDirect: /* @__PURE__ */ defineKernel('conv2d_dx_direct', convWgsl, 'dx_direct', { variants: () => overrideSets({ WG: directWg(), BLK: DIRECT_BLK, STRIDED: false }) }),
  epilogue: /* @__PURE__ */ defineKernel('conv2d_epilogue', convWgsl, 'epilogue', { variants: () => overrideSets({ WG }, { HAS_BIAS: [false, true] }) }),
};

const WG = 256;
/** col2im_c4's bound on kh·kw (the WGSL's MAX_TAPS): larger kernels take col2im. */
const COL2IM_MAX_TAPS = 16;

/** Everything about one convolution's geometry. */
export interface ConvGeometry {
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

/** The convolution's geometry as the uniforms spell it. */
function geometryFields(g: ConvGeometry) {
  return { h: g.H, w: g.W, c: g.Cin, ho: g.Ho, wo: g.Wo, kh: g.kh, kw: g.kw, sh: g.sh, sw: g.sw, ph: g.ph, pw: g.pw, dh: g.dh, dw: g.dw };
}

/** col2im's `Col2imParams`: the geometry and dcols' row length, for `n` invocations. */
function col2imParams(g: ConvGeometry, n: number) {
  return uniform({ n, ...geometryFields(g), kp: g.kp });
}

/**
 * im2col's and dx_direct's `RowsParams`: the geometry, the `m` rows that hold data and the row
 * length of the matrix they write or read, for `n` invocations.
 */
function rowsParams(g: ConvGeometry, n: number, m: number, row: number) {
  return uniform({ n, m, ...geometryFields(g), row });
}

/**
 * How conv2d's backward computes dX: 'direct' (one dx_direct product over K = kh·kw·cp, no
 * dcols) or 'col2im' (dcols = dY · Wᵀ by the matmul, then col2im). 'direct' needs Cin a multiple
 * of 4.
 */
export type ConvInputGradPath = 'direct' | 'col2im';

let forcedPath: ConvInputGradPath | null = null;

/** @internal Tests: run every convolution's dX through one path where it applies (null: the default). */
export function setConvInputGradPath(path: ConvInputGradPath | null): void {
  forcedPath = path;
}

/**
 * The path for this geometry: 'direct' on a CPU driver for stride 1, where dY · Wᵀ's short inner
 * dimension (Cout) leaves the matmul at 2.3–2.5 GFLOPS against about 4 for the forward's products:
 * the demo's stride-1 input gradients, col2im included, ran 1.1–1.5× faster direct. With a
 * stride, the direct product walks every tap for every pixel although only 1/(sh·sw) of them read
 * it, and was 1.3–2.7× slower (docs/measurements.md). 'col2im' on GPUs, where nobody here has
 * measured the direct kernel.
 */
export function convInputGradPath(g: ConvGeometry): ConvInputGradPath {
  if (g.Cin % 4 !== 0) return 'col2im';
  return forcedPath ?? (adapterInfo().software && g.sh === 1 && g.sw === 1 ? 'direct' : 'col2im');
}

/** dx_direct's invocations per workgroup: 16 on a CPU driver (as the narrow matmul's 1 × 16), 64 on a GPU. */
function directWg(): number {
  return adapterInfo().software ? 16 : 64;
}

/** dx_direct's 4 × 4 blocks per side (its BLK): 16 pixels × 16 channels per invocation. */
const DIRECT_BLK = 4;

/**
 * dx [B, H, W, Cin] = col2im(dY · Wᵀ) in one product: dy [rows ≥ M, cp] (zero columns past
 * Cout), wm the weight matrix [kp, cp]. Cin must be a multiple of 4.
 */
export function convInputGrad(op: string, dy: Tensor, wm: Tensor, g: ConvGeometry): Tensor {
  const dx = Tensor.empty([g.B, g.H, g.W, g.Cin], op);
  const m = g.B * g.H * g.W;
  const side = 4 * DIRECT_BLK;
  const n = Math.ceil(m / side) * Math.ceil(g.Cin / side);
  K.dxDirect.dispatch({
    bindings: { ddy: dy.bind(op), dw4: wm.bind(op), ddx: dx.bind(op, 'read_write'), r: rowsParams(g, n, m, g.cp) },
    overrides: { WG: directWg(), BLK: DIRECT_BLK, STRIDED: g.sh > 1 || g.sw > 1 },
    workgroups: groupsFor(n, directWg()),
  });
  return dx;
}

/** cols [mp, kp] of x, zero rows and columns past [M, kc] */
export function im2col(op: string, x: Tensor, g: ConvGeometry): Tensor {
  const cols = Tensor.empty([g.mp, g.kp], op);
  const c4 = g.Cin % 4 === 0;
  // im2col_c4: one invocation per (row, tap); im2col: one per vec4 of cols.
  const n = c4 ? g.mp * g.kh * g.kw : cols.size / 4;
  (c4 ? K.im2colC4 : K.im2col).dispatch({
    bindings: c4
      ? { x4: x.bind(op), cols: cols.bind(op, 'read_write'), p: rowsParams(g, n, g.M, g.kp) }
      : { x: x.bind(op), cols: cols.bind(op, 'read_write'), p: rowsParams(g, n, g.M, g.kp) },
    overrides: { WG },
    workgroups: groupsFor(n, WG),
  });
  return cols;
}

/** dx [B, H, W, Cin] from dcols [mp, kp]: the adjoint of im2col, as a gather */
export function col2im(op: string, dcols: Tensor, g: ConvGeometry): Tensor {
  const dx = Tensor.empty([g.B, g.H, g.W, g.Cin], op);
  if (g.Cin % 4 === 0 && g.kh * g.kw <= COL2IM_MAX_TAPS) {
    const n = g.B * g.H * g.W; // one invocation per input pixel
    K.col2imC4.dispatch({
      bindings: { dcols4: dcols.bind(op), dx4: dx.bind(op, 'read_write'), q: col2imParams(g, n) },
      overrides: { WG },
      workgroups: groupsFor(n, WG),
    });
  } else {
    K.col2im.dispatch({
      bindings: { dcols: dcols.bind(op), dx: dx.bind(op, 'read_write'), q: col2imParams(g, dx.size) },
      overrides: { WG },
      workgroups: groupsFor(dx.size, WG),
    });
  }
  return dx;
}

/** y [B, Ho, Wo, Cout] from the padded product [rows, cp], plus the bias */
export function convEpilogue(op: string, prod: Tensor, bias: Tensor | undefined, g: ConvGeometry): Tensor {
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
