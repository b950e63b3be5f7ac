/**
 * hg.upsampleBilinear(x, { size } | { scale }), NHWC, PyTorch's align_corners = false: forward and
 * backward against a float64 reference (the gradient written as the scatter of each output's
 * gradient to its 4 source pixels, independent of the kernel's gather), central finite
 * differences, values PyTorch prints for small inputs, up- and down-sampling with non-integer
 * ratios, and every bad-input message.
 *
 * Error bounds (helpers.ts has the model). Along an axis the kernel samples s = max((o + 0.5)·r − 0.5, 0)
 * in f32, with r rounded to f32 on the host: r̃ = r(1 + ε), |ε| ≤ u; (o + 0.5) is exact; the product
 * and the subtraction round once each (or once, fused). So |s̃ − s| ≤ Δ(o) = 4u·((o + 0.5)·r + 1).
 * l = s̃ − floor(s̃) is exact (Sterbenz), 1 − l errs by ≤ u.
 *  - forward: the interpolant is continuous and piecewise linear in (s_y, s_x) — also where the
 *    floor changes or an index is clamped — with slope ≤ max|x_{i+1} − x_i| ≤ 2·M per axis,
 *    M = max|x|; so ≤ 2M·(Δ_y + Δ_x), plus the evaluation's rounding, γ_6·M for the two nested
 *    2-term weighted sums and 2u·M for the two 1 − l;
 *  - backward: dx_i = Σ_o w_y(o)·w_x(o)·dy_o; each axis weight is a 1-Lipschitz function of s
 *    (a hat, clamped at the edges), so each product errs by ≤ Δ_y + Δ_x + 3u (the 1 − l and the
 *    product's roundings); the backward runs as two 1-D sums (n_x terms, times w_y, then n_y terms,
 *    in either order), which add γ_{n_y + n_x + 2}·Σ|w dy|.
 *    Outputs just outside the exact support (|s − i| ≥ 1) can get a weight ≤ Δ + u from the
 *    kernel, so the first term sums over |s − i| < 1.001.
 * Both are ≥ 1e4 times below what a wrong index or weight produces.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng, U, expectClose, expectExact, gamma, numericGrad, read, readGrad, upload } from '../helpers.ts';

beforeAll(async () => {
  await hg.init();
});

type X4 = [number, number, number, number];

interface Axis {
  /** Per output index: the float64 sample position, its two source pixels and weights. */
  s: Float64Array;
  i0: Int32Array;
  i1: Int32Array;
  l: Float64Array;
  /** Per output index: the f32 rounding allowance of s. */
  delta: Float64Array;
}

/** PyTorch's align_corners = false source coordinates along one axis, in float64. */
function axis(nIn: number, nOut: number, r: number): Axis {
  const a: Axis = {
    s: new Float64Array(nOut),
    i0: new Int32Array(nOut),
    i1: new Int32Array(nOut),
    l: new Float64Array(nOut),
    delta: new Float64Array(nOut),
  };
  for (let o = 0; o < nOut; o++) {
    const s = Math.max((o + 0.5) * r - 0.5, 0);
    const i0 = Math.min(Math.floor(s), nIn - 1);
    a.s[o] = s;
    a.i0[o] = i0;
    a.i1[o] = Math.min(i0 + 1, nIn - 1);
    a.l[o] = s - i0;
    a.delta[o] = 4 * U * ((o + 0.5) * r + 1);
  }
  return a;
}

interface Plan {
  B: number;
  H: number;
  W: number;
  C: number;
  Ho: number;
  Wo: number;
  ay: Axis;
  ax: Axis;
}

function plan(shape: X4, o: hg.UpsampleOptions): Plan {
  const [B, H, W, C] = shape;
  let Ho: number, Wo: number, ry: number, rx: number;
  if (o.size) {
    [Ho, Wo] = o.size;
    ry = H / Ho;
    rx = W / Wo;
  } else {
    const [fh, fw] = typeof o.scale === 'number' ? [o.scale, o.scale] : o.scale;
    Ho = Math.floor(H * fh);
    Wo = Math.floor(W * fw);
    ry = 1 / fh;
    rx = 1 / fw;
  }
  return { B, H, W, C, Ho, Wo, ay: axis(H, Ho, ry), ax: axis(W, Wo, rx) };
}

/** Calls f(outIndex, inIndex, weight) for the (up to) 4 source pixels of every output element. */
function forEachSource(p: Plan, f: (yi: number, xi: number, w: number) => void): void {
  for (let b = 0; b < p.B; b++)
    for (let oy = 0; oy < p.Ho; oy++)
      for (let ox = 0; ox < p.Wo; ox++)
        for (let c = 0; c < p.C; c++) {
          const yi = ((b * p.Ho + oy) * p.Wo + ox) * p.C + c;
          const ly = p.ay.l[oy]!;
          const lx = p.ax.l[ox]!;
          const src = (iy: number, ix: number) => ((b * p.H + iy) * p.W + ix) * p.C + c;
          f(yi, src(p.ay.i0[oy]!, p.ax.i0[ox]!), (1 - ly) * (1 - lx));
          f(yi, src(p.ay.i0[oy]!, p.ax.i1[ox]!), (1 - ly) * lx);
          f(yi, src(p.ay.i1[oy]!, p.ax.i0[ox]!), ly * (1 - lx));
          f(yi, src(p.ay.i1[oy]!, p.ax.i1[ox]!), ly * lx);
        }
}

function refUpsample(p: Plan, x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(p.B * p.Ho * p.Wo * p.C);
  forEachSource(p, (yi, xi, w) => (y[yi]! += w * x[xi]!));
  return y;
}

/** Gradient of L = Σ G ⊙ y: each output scatters w·G to its 4 source pixels. */
function refUpsampleGrad(p: Plan, G: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(p.B * p.H * p.W * p.C);
  forEachSource(p, (yi, xi, w) => (dx[xi]! += w * G[yi]!));
  return dx;
}

function forwardBound(p: Plan, x: ArrayLike<number>): Float64Array {
  let M = 0;
  for (let i = 0; i < x.length; i++) M = Math.max(M, Math.abs(x[i]!));
  const out = new Float64Array(p.B * p.Ho * p.Wo * p.C);
  for (let i = 0; i < out.length; i++) {
    const c = Math.floor(i / p.C);
    const ox = c % p.Wo;
    const oy = Math.floor(c / p.Wo) % p.Ho;
    out[i] = 2 * M * (p.ay.delta[oy]! + p.ax.delta[ox]!) + (gamma(6) + 2 * U) * M;
  }
  return out;
}

/** Hat weight of input i in the sample of output o (float64), and whether o is "near" i. */
function near(a: Axis, o: number, i: number): boolean {
  return Math.abs(a.s[o]! - i) < 1.001;
}
function weight(a: Axis, o: number, i: number): number {
  return (a.i0[o] === i ? 1 - a.l[o]! : 0) + (a.i1[o] === i ? a.l[o]! : 0);
}

function backwardBound(p: Plan, G: ArrayLike<number>): Float64Array {
  const out = new Float64Array(p.B * p.H * p.W * p.C);
  const nearY = Array.from({ length: p.H }, (_, iy) => [...Array(p.Ho).keys()].filter((o) => near(p.ay, o, iy)));
  const nearX = Array.from({ length: p.W }, (_, ix) => [...Array(p.Wo).keys()].filter((o) => near(p.ax, o, ix)));
  for (let b = 0; b < p.B; b++)
    for (let iy = 0; iy < p.H; iy++)
      for (let ix = 0; ix < p.W; ix++)
        for (let c = 0; c < p.C; c++) {
          let weightErr = 0;
          let mag = 0;
          for (const oy of nearY[iy]!) {
            for (const ox of nearX[ix]!) {
              const g = Math.abs(G[((b * p.Ho + oy) * p.Wo + ox) * p.C + c]!);
              weightErr += (p.ay.delta[oy]! + p.ax.delta[ox]! + 3 * U) * g;
              mag += weight(p.ay, oy, iy) * weight(p.ax, ox, ix) * g;
            }
          }
          out[((b * p.H + iy) * p.W + ix) * p.C + c] = weightErr + gamma(nearY[iy]!.length + nearX[ix]!.length + 2) * mag;
        }
  return out;
}

function describeOpts(o: hg.UpsampleOptions): string {
  return o.size ? `size [${o.size.join(', ')}]` : `scale ${String(o.scale)}`;
}

const CASES: [X4, hg.UpsampleOptions][] = [
  [[1, 1, 1, 1], { size: [3, 5] }], // one pixel broadcast
  [[2, 7, 5, 3], { size: [10, 13] }], // up, non-integer ratios 0.7 and 0.385
  [[1, 9, 11, 5], { size: [4, 6] }], // down, non-integer ratios 2.25 and 1.83
  [[3, 8, 8, 8], { scale: 2 }],
  [[2, 16, 16, 11], { scale: 4 }], // the segmentation head's shape: logits ×4
  [[1, 12, 10, 3], { scale: 0.5 }],
  [[2, 5, 7, 2], { scale: 1.5 }], // PyTorch's r = 1/1.5, out 7 × 10
  [[1, 5, 6, 2], { scale: 1.1 }], // out 5 × 6 = the input's size, yet r = 1/1.1: not a copy
  [[1, 7, 6, 3], { scale: [2.5, 0.5] }],
  [[1, 5, 7, 2], { size: [5, 7] }], // identity (the backward skips both axes)
  [[2, 6, 5, 3], { size: [6, 9] }], // h unchanged: the backward runs the w axis only
  [[2, 6, 5, 3], { size: [11, 5] }], // w unchanged: the backward runs the h axis only
  [[1, 6, 9, 4], { size: [1, 1] }], // down to one pixel
  [[1, 3, 4, 1], { size: [17, 2] }], // up along h, down along w; the backward does h first
  [[1, 2, 3, 1], { size: [40, 33] }], // heavy upsampling: many outputs per input pixel
  [[3, 33, 7, 1], { size: [7, 33] }], // the backward does w first
];

describe('upsampleBilinear forward and backward vs the float64 reference', () => {
  for (const [i, [shape, o]] of CASES.entries()) {
    test(`x [${shape.join(', ')}] ${describeOpts(o)}`, async () => {
      const rng = new Rng(300 + i);
      const p = plan(shape, o);
      const xs = rng.f32(shape.reduce((a, d) => a * d, 1));
      const tx = hg.tensor(xs, shape, { requiresGrad: true });
      const y = hg.upsampleBilinear(tx, o);
      expect(y.shape).toEqual([p.B, p.Ho, p.Wo, p.C]);
      expectClose(await read(y), refUpsample(p, xs), { atol: 0, rtol: 0, bound: forwardBound(p, xs), shape: y.shape, label: 'forward' });
      const G = rng.f32(y.size);
      y.backward(upload(G, y.shape));
      expectClose(await readGrad(tx), refUpsampleGrad(p, G), {
        atol: 0,
        rtol: 0,
        bound: backwardBound(p, G),
        shape,
        label: 'backward',
      });
      tx.zeroGrad();
      tx.dispose();
      y.dispose();
    });
  }
});

describe('upsampleBilinear: values PyTorch gives (F.interpolate, mode="bilinear", align_corners=False)', () => {
  test('[[1, 2], [3, 4]] to 4 × 4 (exact in f32)', async () => {
    const y = hg.upsampleBilinear(hg.tensor(new Float32Array([1, 2, 3, 4]), [1, 2, 2, 1]), { size: [4, 4] });
    // prettier-ignore
    expectExact(await read(y), [
      1, 1.25, 1.75, 2,
      1.5, 1.75, 2.25, 2.5,
      2.5, 2.75, 3.25, 3.5,
      3, 3.25, 3.75, 4,
    ]);
  });
  test('arange(5) with scale_factor 1.5 samples at (o + 0.5)/1.5 − 0.5, not at (o + 0.5)·5/7 − 0.5', async () => {
    const y = hg.upsampleBilinear(hg.tensor(new Float32Array([0, 1, 2, 3, 4]), [1, 1, 5, 1]), { scale: 1.5 });
    expect(y.shape).toEqual([1, 1, 7, 1]);
    expectClose(await read(y), [0, 0.5, 7 / 6, 11 / 6, 2.5, 19 / 6, 23 / 6], { atol: 0, rtol: 1e-6, label: 'scale 1.5' });
  });
  test('arange(8) down to 3 samples at 0.8333, 3.5, 6.1667', async () => {
    const y = hg.upsampleBilinear(hg.tensor(new Float32Array([0, 1, 2, 3, 4, 5, 6, 7]), [1, 1, 8, 1]), { size: [1, 3] });
    expectClose(await read(y), [5 / 6, 3.5, 37 / 6], { atol: 0, rtol: 1e-6, label: 'down 8 → 3' });
  });
});

describe('upsampleBilinear gradient vs central finite differences', () => {
  for (const [shape, o] of [
    [[2, 3, 4, 2], { size: [7, 5] }],
    [[1, 7, 5, 3], { scale: [0.6, 1.7] }],
  ] as [X4, hg.UpsampleOptions][]) {
    test(`x [${shape.join(', ')}] ${describeOpts(o)}`, async () => {
      const rng = new Rng(9);
      const p = plan(shape, o);
      const xs = rng.f32(shape.reduce((a, d) => a * d, 1));
      const G = rng.f32(p.B * p.Ho * p.Wo * p.C);
      // L is linear in x: central differences are exact up to float64 roundoff (≈ 1e-13 here).
      const fd = numericGrad((x) => refUpsample(p, x).reduce((s, v, i) => s + v * G[i]!, 0), xs);
      expectClose(refUpsampleGrad(p, G), fd, { atol: 1e-9, rtol: 1e-9, label: 'reference vs FD' });
      const tx = hg.tensor(xs, shape, { requiresGrad: true });
      hg.sum(hg.mul(hg.upsampleBilinear(tx, o), upload(G, [p.B, p.Ho, p.Wo, p.C]))).backward();
      expectClose(await readGrad(tx), fd, { atol: 1e-9, rtol: 0, bound: backwardBound(p, G), label: 'GPU vs FD' });
      tx.zeroGrad();
      tx.dispose();
    });
  }
});

describe('upsampleBilinear autograd and memory', () => {
  test('noGrad records nothing; tidy forward + backward leaves only the gradient and makes no new buffers', async () => {
    const tx = hg.tensor(new Rng(1).f32(2 * 5 * 6 * 3), [2, 5, 6, 3], { requiresGrad: true });
    expect(hg.noGrad(() => hg.upsampleBilinear(tx, { scale: 2 })).requiresGrad).toBe(false);
    const step = () => {
      hg.tidy(() => hg.sum(hg.upsampleBilinear(tx, { size: [9, 13] })).backward());
      tx.zeroGrad();
    };
    step();
    await hg.sync();
    const before = hg.memoryStats();
    for (let i = 0; i < 3; i++) step();
    await hg.sync();
    const after = hg.memoryStats();
    expect(after.liveTensors).toBe(before.liveTensors);
    expect(after.buffersCreated).toBe(before.buffersCreated);
    tx.dispose();
  });
});

describe('upsampleBilinear bad input', () => {
  test('rank, size, scale and options are checked before any GPU work', () => {
    hg.tidy(() => {
      const x = hg.zeros([1, 4, 4, 2]);
      const up = (o: unknown) => () => hg.upsampleBilinear(x, o as hg.UpsampleOptions);
      expect(() => hg.upsampleBilinear(hg.zeros([4, 4]), { scale: 2 })).toThrow(/upsampleBilinear: x must be \[B, H, W, C\] \(NHWC, rank 4\), got \[4, 4\] \(rank 2\)/);
      expect(() => hg.upsampleBilinear(hg.zeros([1, 1, 4, 4, 2]), { scale: 2 })).toThrow(/rank 4\), got \[1, 1, 4, 4, 2\] \(rank 5\)/);
      expect(() => hg.upsampleBilinear([1] as unknown as hg.Tensor, { scale: 2 })).toThrow(/upsampleBilinear: x must be a Tensor/);
      expect(up(undefined)).toThrow(/upsampleBilinear: options must be \{ size: \[Ho, Wo\] \} or \{ scale \}, got undefined/);
      expect(up({})).toThrow(/upsampleBilinear: give exactly one of size \(\[Ho, Wo\]\) and scale \(a number or \[h, w\]\); got neither/);
      expect(up({ size: [8, 8], scale: 2 })).toThrow(/give exactly one of size .* got both/);
      expect(up({ size: [0, 8] })).toThrow(/upsampleBilinear: size must be \[Ho, Wo\] with positive integers, got \[0, 8\]/);
      expect(up({ size: [8] })).toThrow(/size must be \[Ho, Wo\] with positive integers, got \[8\]/);
      expect(up({ size: [2.5, 3] })).toThrow(/size must be \[Ho, Wo\] with positive integers, got \[2.5, 3\]/);
      expect(up({ size: 8 })).toThrow(/size must be \[Ho, Wo\] with positive integers, got 8/);
      expect(up({ scale: 0 })).toThrow(/upsampleBilinear: scale must be a positive finite number or a pair \[h, w\] of them, got 0/);
      expect(up({ scale: -2 })).toThrow(/scale must be a positive finite number .* got -2/);
      expect(up({ scale: Number.NaN })).toThrow(/scale must be a positive finite number .* got NaN/);
      expect(up({ scale: Infinity })).toThrow(/scale must be a positive finite number .* got Infinity/);
      expect(up({ scale: [2] })).toThrow(/scale must be a positive finite number .* got \[2\]/);
      expect(up({ scale: [2, 0] })).toThrow(/scale must be a positive finite number .* got \[2, 0\]/);
      expect(up({ scale: 0.2 })).toThrow(/upsampleBilinear: scale 0.2 gives an empty output \[0, 0\] for H, W = 4, 4; each output side must be ≥ 1/);
    });
  });
});
