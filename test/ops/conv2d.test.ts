/**
 * hg.conv2d(x, w, { stride, padding, dilation, bias }), NHWC x [B, H, W, Cin], HWIO w [kh, kw, Cin,
 * Cout]: forward and all three gradients against a float64 reference written from the definition
 * (a direct 7-loop convolution; its gradient scatters each output's gradient, independent of the
 * engine's im2col / col2im / matmul formulation), central finite differences, and every bad-input
 * message. Cases cover kernels 1, 3, 5 and 1×3; strides 1, 2 and [2, 1]; padding 0, 1, 2 and
 * [0, 1]; dilation 2 and [1, 2]; batch 1 and 3; channels 1, 3, 5, 8; bias and no bias; odd sizes;
 * the pointwise path (1×1, stride 1, no padding: no im2col), the padded-row path (kh·kw·Cin not a
 * multiple of 4, Cout a multiple of 4) and split-K weight gradients (B·Ho·Wo ≥ 1024).
 *
 * Error bounds (helpers.ts has the model). Every output is a sum of products of f32 inputs,
 * summed in some order by the matmul (possibly in split-K partials) and, for dX, by col2im:
 *   y      = Σ_{kh·kw·Cin taps} x·w + b                 → γ_{kh·kw·Cin + 1} · (Σ|x||w| + |b|)
 *   dX     = Σ_{taps} (Σ_{Cout} dY·w)                  → γ_{Cout + kh·kw} · Σ|dY||w|
 *   dW     = Σ_{B·Ho·Wo} x·dY                          → γ_{B·Ho·Wo + 1} · Σ|x||dY|
 *   dbias  = Σ_{B·Ho·Wo} dY                            → γ_{B·Ho·Wo} · Σ|dY|
 * where the Σ|·| are the reference run on absolute values. Padding contributes exact zeros.
 * The worst case γ_n is ~1e3 times what an indexing error would produce at these sizes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { KEEP_COLS_BYTES } from '../../src/ops/conv2d.ts';
import { setConvInputGradPath } from '../../src/kernels/conv2d.ts';
import { Rng, expectClose, gamma, numericGrad, read, readGrad, upload } from '../helpers.ts';

let engine: hg.Engine;
beforeAll(async () => {
  engine = await hg.init();
});

type P = number | [number, number];
const two = (v: P | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);

interface Case {
  x: [number, number, number, number];
  k: [number, number];
  cout: number;
  stride?: P;
  padding?: P;
  dilation?: P;
  bias: boolean;
}

interface Geo {
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
}

function geo(c: Case): Geo {
  const [B, H, W, Cin] = c.x;
  const [kh, kw] = c.k;
  const [sh, sw] = two(c.stride, 1);
  const [ph, pw] = two(c.padding, 0);
  const [dh, dw] = two(c.dilation, 1);
  const Ho = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const Wo = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  return { B, H, W, Cin, kh, kw, Cout: c.cout, sh, sw, ph, pw, dh, dw, Ho, Wo };
}

/** Calls f(yIndex, xIndex, wIndex, co) for every (output, tap) pair that reads inside x. */
function forEachTap(g: Geo, f: (yi: number, xi: number, wi: number, co: number) => void): void {
  for (let b = 0; b < g.B; b++)
    for (let oy = 0; oy < g.Ho; oy++)
      for (let ox = 0; ox < g.Wo; ox++)
        for (let ky = 0; ky < g.kh; ky++) {
          const iy = oy * g.sh - g.ph + ky * g.dh;
          if (iy < 0 || iy >= g.H) continue;
          for (let kx = 0; kx < g.kw; kx++) {
            const ix = ox * g.sw - g.pw + kx * g.dw;
            if (ix < 0 || ix >= g.W) continue;
            for (let ci = 0; ci < g.Cin; ci++) {
              const xi = ((b * g.H + iy) * g.W + ix) * g.Cin + ci;
              for (let co = 0; co < g.Cout; co++) {
                const yi = ((b * g.Ho + oy) * g.Wo + ox) * g.Cout + co;
                f(yi, xi, ((ky * g.kw + kx) * g.Cin + ci) * g.Cout + co, co);
              }
            }
          }
        }
}

/** y[b, oy, ox, co] = b[co] + Σ_{ky, kx, ci} x[b, oy·sh − ph + ky·dh, ox·sw − pw + kx·dw, ci] · w[ky, kx, ci, co]. */
function refConv(g: Geo, x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null): Float64Array {
  const y = new Float64Array(g.B * g.Ho * g.Wo * g.Cout);
  if (bias) for (let i = 0; i < y.length; i++) y[i] = bias[i % g.Cout]!;
  forEachTap(g, (yi, xi, wi) => (y[yi]! += x[xi]! * w[wi]!));
  return y;
}

/** Gradients of L = Σ G ⊙ y: each output's G scatters G·w to x, G·x to w and G to the bias. */
function refConvGrad(g: Geo, x: ArrayLike<number>, w: ArrayLike<number>, G: ArrayLike<number>) {
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  const db = new Float64Array(g.Cout);
  for (let i = 0; i < G.length; i++) db[i % g.Cout]! += G[i]!;
  forEachTap(g, (yi, xi, wi) => {
    dx[xi]! += G[yi]! * w[wi]!;
    dw[wi]! += G[yi]! * x[xi]!;
  });
  return { dx, dw, db };
}

const absArr = (a: ArrayLike<number>) => Float64Array.from(a, Math.abs);

function options(c: Case): hg.Conv2dOptions {
  const o: hg.Conv2dOptions = {};
  if (c.stride !== undefined) o.stride = c.stride;
  if (c.padding !== undefined) o.padding = c.padding;
  if (c.dilation !== undefined) o.dilation = c.dilation;
  return o;
}

function label(c: Case): string {
  const o = [`x[${c.x.join(',')}]`, `k${c.k[0]}x${c.k[1]}`, `cout${c.cout}`];
  if (c.stride !== undefined) o.push(`s${String(c.stride)}`);
  if (c.padding !== undefined) o.push(`p${String(c.padding)}`);
  if (c.dilation !== undefined) o.push(`d${String(c.dilation)}`);
  o.push(c.bias ? 'bias' : 'no bias');
  return o.join(' ');
}

const CASES: Case[] = [
  { x: [1, 1, 1, 1], k: [1, 1], cout: 1, bias: false }, // pointwise, 1 element
  { x: [1, 1, 1, 1], k: [3, 3], cout: 1, padding: 1, bias: true }, // kernel = padded input
  { x: [3, 7, 9, 3], k: [3, 3], cout: 8, stride: 2, padding: 1, bias: true }, // kc 27 → padded to 28
  { x: [1, 9, 6, 5], k: [5, 5], cout: 3, padding: 2, bias: false },
  { x: [1, 7, 7, 1], k: [5, 5], cout: 1, stride: 2, bias: true }, // padding 0, stride 2
  { x: [3, 11, 10, 8], k: [3, 3], cout: 5, dilation: 2, padding: 2, bias: true },
  { x: [1, 9, 9, 3], k: [3, 3], cout: 3, dilation: [1, 2], stride: [2, 1], padding: [0, 1], bias: false },
  { x: [3, 7, 5, 5], k: [1, 1], cout: 8, bias: true }, // pointwise
  { x: [1, 6, 4, 8], k: [1, 1], cout: 8, bias: false }, // pointwise, nothing padded
  { x: [1, 5, 5, 8], k: [1, 1], cout: 3, bias: true }, // pointwise; rows 25 → 28, Cout 3 → 4
  { x: [1, 7, 7, 3], k: [1, 1], cout: 4, stride: 2, bias: true }, // 1×1 with stride: im2col
  { x: [3, 5, 5, 3], k: [1, 1], cout: 5, padding: 1, bias: false }, // 1×1 with padding: im2col
  { x: [3, 5, 8, 3], k: [1, 3], cout: 4, stride: [1, 2], padding: [0, 1], bias: true }, // 1×3
  { x: [1, 33, 17, 3], k: [3, 3], cout: 4, stride: 2, bias: false }, // odd H, W; padded rows
  { x: [1, 33, 33, 8], k: [3, 3], cout: 8, padding: 1, bias: true }, // M = 1089: split-K dW, vec4
  { x: [3, 8, 8, 5], k: [5, 5], cout: 1, stride: 2, padding: 2, bias: true },
  // Cin a multiple of 4: im2col_c4 (one invocation per row and tap) and col2im_c4 (one per pixel,
  // up to 16 taps), with strides, padding, 16 taps exactly, and 25 taps (col2im's scalar path).
  { x: [2, 9, 7, 4], k: [3, 3], cout: 6, stride: 2, padding: 1, bias: true },
  { x: [2, 7, 6, 4], k: [4, 4], cout: 3, padding: 1, bias: false },
  { x: [1, 8, 9, 8], k: [5, 5], cout: 4, stride: [2, 1], padding: 2, bias: true },
  { x: [2, 5, 7, 48], k: [3, 3], cout: 8, padding: 1, bias: true }, // Cin = 48: three 16-channel blocks of dx_direct
  { x: [1, 6, 5, 20], k: [3, 3], cout: 12, stride: 2, padding: 1, bias: false }, // Cin = 20: a clamped channel block
];

async function checkCase(c: Case, rng: Rng): Promise<void> {
  const g = geo(c);
  const xs = rng.f32(c.x.reduce((a, d) => a * d, 1));
  const ws = rng.f32(g.kh * g.kw * g.Cin * g.Cout);
  const bs = c.bias ? rng.f32(g.Cout) : null;
  const G = rng.f32(g.B * g.Ho * g.Wo * g.Cout);
  const tx = hg.tensor(xs, c.x, { requiresGrad: true });
  const tw = hg.tensor(ws, [g.kh, g.kw, g.Cin, g.Cout], { requiresGrad: true });
  const tb = bs ? hg.tensor(bs, [g.Cout], { requiresGrad: true }) : null;
  const y = hg.conv2d(tx, tw, { ...options(c), ...(tb ? { bias: tb } : {}) });
  const L = label(c);
  expect(y.shape, `${L}: output shape`).toEqual([g.B, g.Ho, g.Wo, g.Cout]);

  const kc = g.kh * g.kw * g.Cin;
  const M = g.B * g.Ho * g.Wo;
  const yBound = refConv(g, absArr(xs), absArr(ws), bs ? absArr(bs) : null).map((v) => gamma(kc + 1) * v);
  expectClose(await read(y), refConv(g, xs, ws, bs), { atol: 0, rtol: 0, bound: yBound, shape: y.shape, label: `${L} forward` });

  y.backward(upload(G, y.shape));
  const ref = refConvGrad(g, xs, ws, G);
  const mag = refConvGrad(g, absArr(xs), absArr(ws), absArr(G));
  expectClose(await readGrad(tx), ref.dx, {
    atol: 0,
    rtol: 0,
    bound: mag.dx.map((v) => gamma(g.Cout + g.kh * g.kw) * v),
    shape: c.x,
    label: `${L} dX`,
  });
  expectClose(await readGrad(tw), ref.dw, {
    atol: 0,
    rtol: 0,
    bound: mag.dw.map((v) => gamma(M + 1) * v),
    shape: tw.shape,
    label: `${L} dW`,
  });
  if (tb) {
    expectClose(await readGrad(tb), ref.db, { atol: 0, rtol: 0, bound: mag.db.map((v) => gamma(M) * v), label: `${L} dbias` });
  }
  for (const t of [tx, tw, tb, y]) {
    t?.zeroGrad();
    t?.dispose();
  }
}

// dX by both paths wherever Cin allows the direct one (elsewhere both runs take col2im).
describe.each(['direct', 'col2im'] as const)('conv2d forward and backward vs the float64 reference, dX by %s', (path) => {
  beforeAll(() => setConvInputGradPath(path));
  afterAll(() => setConvInputGradPath(null));
  for (const [i, c] of CASES.entries()) {
    test(label(c), async () => {
      await checkCase(c, new Rng(100 + i));
    });
  }
});

describe.each(['direct', 'col2im'] as const)('conv2d gradients vs central finite differences, dX by %s', (path) => {
  beforeAll(() => setConvInputGradPath(path));
  afterAll(() => setConvInputGradPath(null));
  const FD_CASES: Case[] = [
    { x: [2, 5, 4, 3], k: [3, 3], cout: 2, stride: 2, padding: 1, bias: true },
    { x: [1, 6, 7, 2], k: [3, 1], cout: 3, dilation: 2, padding: [2, 0], bias: true },
    { x: [2, 5, 6, 4], k: [3, 3], cout: 3, stride: [2, 1], padding: 1, dilation: [1, 2], bias: true },
  ];
  for (const c of FD_CASES) {
    test(label(c), async () => {
      const rng = new Rng(7);
      const g = geo(c);
      const xs = rng.f32(c.x.reduce((a, d) => a * d, 1));
      const ws = rng.f32(g.kh * g.kw * g.Cin * g.Cout);
      const bs = rng.f32(g.Cout);
      const G = rng.f32(g.B * g.Ho * g.Wo * g.Cout);
      const loss = (x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>) => refConv(g, x, w, b).reduce((s, v, i) => s + v * G[i]!, 0);
      // L is linear in each argument: central differences are exact up to float64 roundoff
      // (≈ 1e-16·|L|/h ≈ 1e-12 here), so 1e-9 covers the estimate's own error.
      const fdX = numericGrad((x) => loss(x, ws, bs), xs);
      const fdW = numericGrad((w) => loss(xs, w, bs), ws);
      const fdB = numericGrad((b) => loss(xs, ws, b), bs);
      const ref = refConvGrad(g, xs, ws, G);
      expectClose(ref.dx, fdX, { atol: 1e-9, rtol: 1e-9, label: 'reference dX vs FD' });
      expectClose(ref.dw, fdW, { atol: 1e-9, rtol: 1e-9, label: 'reference dW vs FD' });
      expectClose(ref.db, fdB, { atol: 1e-9, rtol: 1e-9, label: 'reference dbias vs FD' });

      const tx = hg.tensor(xs, c.x, { requiresGrad: true });
      const tw = hg.tensor(ws, [g.kh, g.kw, g.Cin, g.Cout], { requiresGrad: true });
      const tb = hg.tensor(bs, [g.Cout], { requiresGrad: true });
      hg.sum(hg.mul(hg.conv2d(tx, tw, { ...options(c), bias: tb }), upload(G, [g.B, g.Ho, g.Wo, g.Cout]))).backward();
      const mag = refConvGrad(g, absArr(xs), absArr(ws), absArr(G));
      const M = g.B * g.Ho * g.Wo;
      // The mul and the sum over the output add no error to dY = G (exact copies of G).
      expectClose(await readGrad(tx), fdX, { atol: 1e-9, rtol: 0, bound: mag.dx.map((v) => gamma(g.Cout + g.kh * g.kw) * v), label: 'GPU dX vs FD' });
      expectClose(await readGrad(tw), fdW, { atol: 1e-9, rtol: 0, bound: mag.dw.map((v) => gamma(M + 1) * v), label: 'GPU dW vs FD' });
      expectClose(await readGrad(tb), fdB, { atol: 1e-9, rtol: 0, bound: mag.db.map((v) => gamma(M) * v), label: 'GPU dbias vs FD' });
    });
  }
});

describe('conv2d gradient subsets, autograd and memory', () => {
  const c: Case = { x: [2, 6, 5, 3], k: [3, 3], cout: 4, stride: 1, padding: 1, bias: true };
  const g = geo(c);
  const rng = new Rng(11);
  const xs = rng.f32(2 * 6 * 5 * 3);
  const ws = rng.f32(3 * 3 * 3 * 4);
  const bs = rng.f32(4);
  const G = rng.f32(g.B * g.Ho * g.Wo * g.Cout);
  const ref = refConvGrad(g, xs, ws, G);
  const mag = refConvGrad(g, absArr(xs), absArr(ws), absArr(G));
  const M = g.B * g.Ho * g.Wo;

  test('only w requires grad (cols recomputed from a constant x); only x; only the bias', async () => {
    for (const which of ['x', 'w', 'b'] as const) {
      const tx = hg.tensor(xs, c.x, { requiresGrad: which === 'x' });
      const tw = hg.tensor(ws, [3, 3, 3, 4], { requiresGrad: which === 'w' });
      const tb = hg.tensor(bs, [4], { requiresGrad: which === 'b' });
      hg.conv2d(tx, tw, { padding: 1, bias: tb }).backward(upload(G, [g.B, g.Ho, g.Wo, g.Cout]));
      expect(tx.grad === null, `${which}: x.grad`).toBe(which !== 'x');
      expect(tw.grad === null, `${which}: w.grad`).toBe(which !== 'w');
      expect(tb.grad === null, `${which}: bias.grad`).toBe(which !== 'b');
      if (which === 'x') expectClose(await readGrad(tx), ref.dx, { atol: 0, rtol: 0, bound: mag.dx.map((v) => gamma(4 + 9) * v), label: 'dX alone' });
      if (which === 'w') expectClose(await readGrad(tw), ref.dw, { atol: 0, rtol: 0, bound: mag.dw.map((v) => gamma(M + 1) * v), label: 'dW alone' });
      if (which === 'b') expectClose(await readGrad(tb), ref.db, { atol: 0, rtol: 0, bound: mag.db.map((v) => gamma(M) * v), label: 'dbias alone' });
      for (const t of [tx, tw, tb]) {
        t.zeroGrad();
        t.dispose();
      }
    }
  });

  test('under noGrad nothing is recorded; the result equals the recorded forward', async () => {
    const tx = hg.tensor(xs, c.x, { requiresGrad: true });
    const tw = hg.tensor(ws, [3, 3, 3, 4], { requiresGrad: true });
    const y1 = hg.noGrad(() => hg.conv2d(tx, tw, { padding: 1 }));
    const y2 = hg.conv2d(tx, tw, { padding: 1 });
    expect(y1.requiresGrad).toBe(false);
    expect(y2.requiresGrad).toBe(true);
    expect(Array.from(await y1.read())).toEqual(Array.from(await y2.read()));
    for (const t of [tx, tw, y1, y2]) t.dispose();
  });

  test('forward + backward inside tidy leaves only the gradients; no new buffers on repeat', async () => {
    const tx = hg.tensor(xs, c.x, { requiresGrad: true });
    const tw = hg.tensor(ws, [3, 3, 3, 4], { requiresGrad: true });
    const tb = hg.tensor(bs, [4], { requiresGrad: true });
    const seed = upload(G, [g.B, g.Ho, g.Wo, g.Cout]);
    const step = () => {
      hg.tidy(() => hg.conv2d(tx, tw, { padding: 1, bias: tb }).backward(seed));
      for (const t of [tx, tw, tb]) t.zeroGrad();
    };
    step();
    await hg.sync();
    const before = hg.memoryStats();
    for (let i = 0; i < 3; i++) step();
    await hg.sync();
    const after = hg.memoryStats();
    expect(after.liveTensors).toBe(before.liveTensors);
    expect(after.liveBytes).toBe(before.liveBytes);
    expect(after.buffersCreated).toBe(before.buffersCreated);
    for (const t of [tx, tw, tb, seed]) t.dispose();
  });

  test('dispatches: pointwise skips im2col; every product takes the vec4 matmul (odd Cin, Cout, B·Ho·Wo)', async () => {
    if (!engine.device.features.has('timestamp-query')) {
      // The profiler needs timestamps (SwiftShader and the GPUs here have them); results are
      // still checked by the cases above.
      return;
    }
    const kernels = async (xs: number[], ws: number[], o: hg.Conv2dOptions) => {
      const tx = hg.tensor(rng.f32(xs.reduce((a, d) => a * d, 1)), xs, { requiresGrad: true });
      const tw = hg.tensor(rng.f32(ws.reduce((a, d) => a * d, 1)), ws, { requiresGrad: true });
      const prof = await engine.profileKernels(() =>
        hg.tidy(() => {
          const y = hg.conv2d(tx, tw, o);
          y.backward(hg.ones(y.shape));
        }),
      );
      for (const t of [tx, tw]) {
        t.zeroGrad();
        t.dispose();
      }
      return [...prof.keys()];
    };
    const pointwise = await kernels([1, 5, 5, 8], [1, 1, 8, 4], {}); // M = 25: dW's rows padded
    expect(pointwise.filter((n) => n.startsWith('conv2d_'))).toEqual([]);
    expect(pointwise).toContain('matmul_tiled4');
    const classifier = await kernels([2, 4, 4, 8], [1, 1, 8, 11], {}); // Cout = 11 padded to 12
    expect(classifier).toContain('conv2d_epilogue');
    const cases: [number[], number[], hg.Conv2dOptions][] = [
      [[2, 9, 9, 3], [3, 3, 3, 8], { padding: 1 }], // kc = 27, Cin = 3: scalar im2col and col2im
      [[1, 7, 5, 3], [1, 1, 3, 5], {}], // 1×1 with Cin = 3: through im2col
      [[1, 7, 7, 8], [3, 3, 8, 5], { stride: 2 }], // M = 9, Cout = 5; Cin = 8: vec4 im2col, col2im
    ];
    // dX through col2im (Cin = 3 always; Cin = 8 when forced), or dx_direct where Cin allows.
    for (const path of ['col2im', 'direct'] as const) {
      setConvInputGradPath(path);
      const seen = new Set<string>();
      try {
        for (const [xs, ws, o] of [...cases]) for (const n of await kernels(xs, ws, o)) seen.add(n);
      } finally {
        setConvInputGradPath(null);
      }
      for (const n of [...pointwise, ...classifier]) seen.add(n);
      expect([...seen].filter((n) => n.startsWith('matmul')).sort()).toEqual(['matmul_tiled4']);
      for (const k of ['conv2d_im2col', 'conv2d_im2col_c4', 'conv2d_col2im', 'conv2d_epilogue']) {
        expect(seen.has(k), `${path}: ${k} dispatched`).toBe(true);
      }
      expect(seen.has('conv2d_col2im_c4'), `${path}: col2im_c4`).toBe(path === 'col2im');
      expect(seen.has('conv2d_dx_direct'), `${path}: dx_direct`).toBe(path === 'direct');
    }
  });
});

describe('conv2d keeps small cols for dW and recomputes large ones (KEEP_COLS_BYTES)', () => {
  // Counts im2col dispatches over one forward + backward, and checks dW against the reference.
  async function run(c: Case, seedRng: number): Promise<{ im2col: number; live: number }> {
    const rng = new Rng(seedRng);
    const g = geo(c);
    const xs = rng.f32(c.x.reduce((a, d) => a * d, 1));
    const ws = rng.f32(g.kh * g.kw * g.Cin * g.Cout);
    const G = rng.f32(g.B * g.Ho * g.Wo * g.Cout);
    const tx = hg.tensor(xs, c.x);
    const tw = hg.tensor(ws, [g.kh, g.kw, g.Cin, g.Cout], { requiresGrad: true });
    const seed = upload(G, [g.B, g.Ho, g.Wo, g.Cout]);
    const base = hg.memoryStats().liveTensors;
    let live = 0;
    const prof = await engine.profileKernels(async () => {
      // The forward inside a tidy scope that returns y: kept cols must outlive the scope.
      const y = hg.tidy(() => hg.conv2d(tx, tw, options(c)));
      live = hg.memoryStats().liveTensors - base;
      y.backward(seed);
      y.dispose();
    });
    const ref = refConvGrad(g, xs, ws, G);
    const mag = refConvGrad(g, absArr(xs), absArr(ws), absArr(G));
    const M = g.B * g.Ho * g.Wo;
    expectClose(await readGrad(tw), ref.dw, { atol: 0, rtol: 0, bound: mag.dw.map((v) => gamma(M + 1) * v), label: `${label(c)} dW` });
    tw.zeroGrad();
    for (const t of [tx, tw, seed]) t.dispose();
    expect(hg.memoryStats().liveTensors, 'nothing left after y is freed').toBe(base - 3);
    let im2col = 0;
    for (const [k, v] of prof) if (k.startsWith('conv2d_im2col')) im2col += v.count;
    return { im2col, live };
  }

  test('a small layer runs im2col once per step and holds cols until y is freed; a large one runs it twice', async () => {
    if (!engine.device.features.has('timestamp-query')) return; // the count needs the profiler
    expect(KEEP_COLS_BYTES).toBe(8 * 1024 * 1024);
    const small = await run({ x: [2, 6, 5, 8], k: [3, 3], cout: 4, padding: 1, bias: false }, 31);
    expect(small.im2col).toBe(1);
    expect(small.live, 'y and its kept cols').toBe(2);
    // cols [2·64·64, 3·3·8] = 8192 × 72 floats = 2.4 MB ≤ 8 MiB: kept; 4× the pixels: 9.4 MB, recomputed.
    const kept = await run({ x: [2, 64, 64, 8], k: [3, 3], cout: 4, padding: 1, bias: false }, 32);
    expect(kept.im2col).toBe(1);
    const large = await run({ x: [2, 128, 128, 8], k: [3, 3], cout: 4, padding: 1, bias: false }, 33);
    expect(large.im2col).toBe(2);
    expect(large.live, 'y alone').toBe(1);
  });

  test('nothing is kept when w needs no gradient or under noGrad', async () => {
    const tx = hg.tensor(new Float32Array(2 * 6 * 5 * 8).fill(1), [2, 6, 5, 8], { requiresGrad: true });
    const tw = hg.tensor(new Float32Array(3 * 3 * 8 * 4).fill(1), [3, 3, 8, 4]);
    const base = hg.memoryStats().liveTensors;
    const y1 = hg.conv2d(tx, tw, { padding: 1 });
    expect(hg.memoryStats().liveTensors - base, 'w constant: y alone').toBe(1);
    tw.requiresGrad = true;
    const y2 = hg.noGrad(() => hg.conv2d(tx, tw, { padding: 1 }));
    expect(hg.memoryStats().liveTensors - base, 'noGrad: y alone').toBe(2);
    for (const t of [y1, y2, tx, tw]) t.dispose();
  });
});

describe('conv2d bad input', () => {
  const x = () => hg.zeros([2, 5, 5, 3]);
  const w = () => hg.zeros([3, 3, 3, 4]);
  test('rank, channels, kernel size, stride, dilation, padding and bias are checked before any GPU work', () => {
    hg.tidy(() => {
      expect(() => hg.conv2d(hg.zeros([5, 5, 3]), w())).toThrow(/conv2d: x must be \[B, H, W, Cin\] \(NHWC, rank 4\), got \[5, 5, 3\] \(rank 3\)/);
      expect(() => hg.conv2d(x(), hg.zeros([3, 3, 12]))).toThrow(/conv2d: w must be \[kh, kw, Cin, Cout\] \(HWIO, rank 4\), got \[3, 3, 12\]/);
      expect(() => hg.conv2d(x(), hg.zeros([3, 3, 4, 4]))).toThrow(
        /conv2d: x \[2, 5, 5, 3\] has Cin = 3 channels but w \[3, 3, 4, 4\] is for Cin = 4 \(w is \[kh, kw, Cin, Cout\]\); they must match/,
      );
      expect(() => hg.conv2d(x(), hg.zeros([7, 3, 3, 4]))).toThrow(/conv2d: the kernel spans 7 pixels along h .* but the padded input has only 5 \(H \+ 2·padding = 5 \+ 2·0\)/);
      expect(() => hg.conv2d(x(), hg.zeros([3, 6, 3, 4]), { padding: [1, 0] })).toThrow(/conv2d: the kernel spans 6 pixels along w .* has only 5/);
      expect(() => hg.conv2d(x(), w(), { dilation: 3 })).toThrow(/conv2d: the kernel spans 7 pixels along h \(dilation·\(k − 1\) \+ 1 = 3·\(3 − 1\) \+ 1\)/);
      expect(() => hg.conv2d(x(), w(), { stride: 0 })).toThrow(/conv2d: stride must be a positive integer or a pair \[h, w\] of them, got 0/);
      expect(() => hg.conv2d(x(), w(), { stride: [1, -2] })).toThrow(/conv2d: stride must be a positive integer .* got \[1, -2\]/);
      expect(() => hg.conv2d(x(), w(), { stride: 1.5 })).toThrow(/conv2d: stride must be a positive integer/);
      expect(() => hg.conv2d(x(), w(), { dilation: 0 })).toThrow(/conv2d: dilation must be a positive integer or a pair \[h, w\] of them, got 0/);
      expect(() => hg.conv2d(x(), w(), { dilation: [1, 0] })).toThrow(/conv2d: dilation must be a positive integer .* got \[1, 0\]/);
      expect(() => hg.conv2d(x(), w(), { padding: -1 })).toThrow(/conv2d: padding must be a non-negative integer or a pair \[h, w\] of them, got -1/);
      expect(() => hg.conv2d(x(), w(), { padding: [0, 1, 2] as unknown as [number, number] })).toThrow(/conv2d: padding must be .* got \[0, 1, 2\]/);
      expect(() => hg.conv2d(x(), w(), { bias: hg.zeros([3]) })).toThrow(/conv2d: bias must be \[Cout\] = \[4\] \(w \[3, 3, 3, 4\] has Cout = 4\), got \[3\]/);
      expect(() => hg.conv2d(x(), w(), { bias: hg.zeros([1, 4]) })).toThrow(/conv2d: bias must be \[Cout\] = \[4\] .* got \[1, 4\]/);
      expect(() => hg.conv2d(x(), w(), { bias: 3 as unknown as hg.Tensor })).toThrow(/conv2d: bias must be a Tensor/);
      expect(() => hg.conv2d([1, 2] as unknown as hg.Tensor, w())).toThrow(/conv2d: x must be a Tensor/);
    });
  });
  test('a bad call leaks nothing', async () => {
    const xt = x();
    const wt = w();
    await hg.sync();
    const before = hg.memoryStats();
    expect(() => hg.conv2d(xt, wt, { bias: hg.zeros([3]) })).toThrow(/bias/);
    await hg.sync();
    expect(hg.memoryStats().liveTensors).toBe(before.liveTensors + 1); // only the bias argument
    xt.dispose();
    wt.dispose();
  });
});
