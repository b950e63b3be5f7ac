/**
 * maxPool2d and avgPool2d on NHWC images against float64 references with PyTorch's semantics
 * (ceil_mode = false): odd sizes, kernels 1–4 and rectangular, stride ≠ kernel (smaller: overlapping
 * windows; larger: skipped pixels), padding up to half the kernel, both countIncludePad modes;
 * ties (the first maximum in window order), −∞ and NaN; backward against the reference adjoint and
 * against central finite differences; memory of the saved argmax; every bad input.
 *
 * Error bounds (helpers.ts has the model; u = 2^-24):
 *  - max pool forward selects an input element: exact. Its backward sums dy over the m ≤
 *    ceil(kh/sh)·ceil(kw/sw) outputs whose argmax is the pixel: γ_m · Σ|dy| (and exact for
 *    integer dy, used to check the argmax routing with zero tolerance).
 *  - avg pool forward: a sum of ≤ kh·kw terms (γ_{kh·kw} · Σ|x|) divided by an exact integer
 *    (2.5 ULP = 5u): |Δy| ≤ (γ_{kh·kw} · Σ|x|) / d + 5u·|y|, times 1.01 for second-order terms.
 *  - avg pool backward: m terms dy / d (5u each) summed (γ_m): |Δdx| ≤ (γ_m + 5u) · Σ|dy / d|.
 *  - Finite differences (float64, h = 1e-3): both ops are piecewise linear, so the central
 *    difference is exact up to roundoff (≈ 1e-16 · |f| / h) as long as no max changes within ±h:
 *    the FD inputs are a permutation of multiples of 0.01, so maxima are separated by ≥ 0.01 > 2h.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng, U, dot, expectClose, expectExact, gamma, numericGrad, read, readGrad, sizeOf, type Shape } from '../helpers.ts';

beforeAll(async () => {
  await hg.init();
});

type Pair = [number, number];

interface Geo {
  B: number;
  H: number;
  W: number;
  C: number;
  OH: number;
  OW: number;
  k: Pair;
  s: Pair;
  p: Pair;
}

function geo(shape: Shape, k: Pair, s: Pair, p: Pair): Geo {
  const [B, H, W, C] = shape as [number, number, number, number];
  return { B, H, W, C, k, s, p, OH: Math.floor((H + 2 * p[0] - k[0]) / s[0]) + 1, OW: Math.floor((W + 2 * p[1] - k[1]) / s[1]) + 1 };
}

/** Visit the image pixels of output (oh, ow)'s window in row-major order. */
function eachInWindow(g: Geo, oh: number, ow: number, f: (h: number, w: number) => void): void {
  for (let i = 0; i < g.k[0]; i++) {
    for (let j = 0; j < g.k[1]; j++) {
      const h = oh * g.s[0] - g.p[0] + i;
      const w = ow * g.s[1] - g.p[1] + j;
      if (h >= 0 && h < g.H && w >= 0 && w < g.W) f(h, w);
    }
  }
}

const xi = (g: Geo, b: number, h: number, w: number, c: number) => ((b * g.H + h) * g.W + w) * g.C + c;
const yi = (g: Geo, b: number, oh: number, ow: number, c: number) => ((b * g.OH + oh) * g.OW + ow) * g.C + c;

/** PyTorch's max pool: padding is −∞, the scan keeps the first maximum (val > max) unless NaN. */
function refMaxPool(x: ArrayLike<number>, g: Geo): { y: Float64Array; arg: Int32Array } {
  const y = new Float64Array(g.B * g.OH * g.OW * g.C);
  const arg = new Int32Array(y.length);
  for (let b = 0; b < g.B; b++) {
    for (let oh = 0; oh < g.OH; oh++) {
      for (let ow = 0; ow < g.OW; ow++) {
        for (let c = 0; c < g.C; c++) {
          let best = -Infinity;
          let at = -1;
          eachInWindow(g, oh, ow, (h, w) => {
            const v = x[xi(g, b, h, w, c)]!;
            if (at < 0 || v > best || Number.isNaN(v)) {
              if (at < 0 || !Number.isNaN(best) || Number.isNaN(v)) {
                best = v;
                at = h * g.W + w;
              }
            }
          });
          y[yi(g, b, oh, ow, c)] = best;
          arg[yi(g, b, oh, ow, c)] = at;
        }
      }
    }
  }
  return { y, arg };
}

/** Adjoint of max pool: dy routed to each output's argmax. */
function refMaxPoolGrad(arg: Int32Array, dy: ArrayLike<number>, g: Geo): Float64Array {
  const dx = new Float64Array(g.B * g.H * g.W * g.C);
  for (let b = 0; b < g.B; b++) {
    for (let oh = 0; oh < g.OH; oh++) {
      for (let ow = 0; ow < g.OW; ow++) {
        for (let c = 0; c < g.C; c++) {
          const o = yi(g, b, oh, ow, c);
          const a = arg[o]!;
          dx[xi(g, b, Math.floor(a / g.W), a % g.W, c)]! += dy[o]!;
        }
      }
    }
  }
  return dx;
}

function divisor(g: Geo, oh: number, ow: number, includePad: boolean): number {
  if (includePad) return g.k[0] * g.k[1]; // every window lies inside the padded image (ceil_mode = false)
  let n = 0;
  eachInWindow(g, oh, ow, () => n++);
  return n;
}

function refAvgPool(x: ArrayLike<number>, g: Geo, includePad: boolean): { y: Float64Array; bound: Float64Array } {
  const y = new Float64Array(g.B * g.OH * g.OW * g.C);
  const bound = new Float64Array(y.length);
  const gk = gamma(g.k[0] * g.k[1]);
  for (let b = 0; b < g.B; b++) {
    for (let oh = 0; oh < g.OH; oh++) {
      for (let ow = 0; ow < g.OW; ow++) {
        const d = divisor(g, oh, ow, includePad);
        for (let c = 0; c < g.C; c++) {
          let s = 0;
          let sa = 0;
          eachInWindow(g, oh, ow, (h, w) => {
            s += x[xi(g, b, h, w, c)]!;
            sa += Math.abs(x[xi(g, b, h, w, c)]!);
          });
          const o = yi(g, b, oh, ow, c);
          y[o] = s / d;
          bound[o] = 1.01 * ((gk * sa) / d + 5 * U * Math.abs(s / d));
        }
      }
    }
  }
  return { y, bound };
}

/** Adjoint of avg pool, and the bound of the GPU's gather (see the file comment). */
function refAvgPoolGrad(dy: ArrayLike<number>, g: Geo, includePad: boolean): { dx: Float64Array; bound: Float64Array } {
  const dx = new Float64Array(g.B * g.H * g.W * g.C);
  const abs = new Float64Array(dx.length);
  const count = new Float64Array(dx.length);
  for (let b = 0; b < g.B; b++) {
    for (let oh = 0; oh < g.OH; oh++) {
      for (let ow = 0; ow < g.OW; ow++) {
        const d = divisor(g, oh, ow, includePad);
        for (let c = 0; c < g.C; c++) {
          const v = dy[yi(g, b, oh, ow, c)]! / d;
          eachInWindow(g, oh, ow, (h, w) => {
            const i = xi(g, b, h, w, c);
            dx[i]! += v;
            abs[i]! += Math.abs(v);
            count[i]! += 1;
          });
        }
      }
    }
  }
  return { dx, bound: abs.map((a, i) => 1.01 * (gamma(count[i]!) + 5 * U) * a) };
}

interface Case {
  shape: Shape;
  k: Pair;
  s: Pair;
  p: Pair;
}

const CASES: Case[] = [
  { shape: [1, 1, 1, 1], k: [1, 1], s: [1, 1], p: [0, 0] },
  { shape: [1, 4, 4, 1], k: [2, 2], s: [2, 2], p: [0, 0] },
  { shape: [2, 7, 7, 3], k: [2, 2], s: [2, 2], p: [0, 0] }, // odd size: the last row and column are dropped
  { shape: [2, 7, 9, 3], k: [3, 3], s: [2, 2], p: [1, 1] }, // overlapping windows, padding (ResNet's stem pool)
  { shape: [1, 9, 8, 5], k: [3, 3], s: [1, 1], p: [1, 1] }, // stride 1: each pixel in up to 9 windows
  { shape: [3, 5, 6, 2], k: [2, 2], s: [3, 3], p: [1, 1] }, // stride > kernel: pixels no window covers
  { shape: [2, 8, 7, 4], k: [3, 2], s: [2, 1], p: [1, 0] }, // rectangular kernel, stride and padding
  { shape: [1, 11, 13, 33], k: [4, 4], s: [3, 2], p: [2, 1] },
  { shape: [2, 3, 3, 7], k: [3, 3], s: [1, 1], p: [1, 1] }, // the kernel as large as the image
  { shape: [1, 1, 5, 3], k: [1, 3], s: [1, 2], p: [0, 1] }, // one row
  { shape: [4, 16, 16, 64], k: [2, 2], s: [2, 2], p: [0, 0] }, // a backbone-sized case
];

function label(c: Case): string {
  return `[${c.shape}] k ${c.k} s ${c.s} p ${c.p}`;
}

function opts(c: Case) {
  // Square pairs go in as single numbers (the number form), the rest as [h, w].
  const one = (v: Pair) => (v[0] === v[1] ? v[0] : v);
  return { kernel: one(c.k), stride: one(c.s), padding: one(c.p) };
}

describe('maxPool2d vs the float64 reference', () => {
  for (const c of CASES) {
    test(label(c), async () => {
      const g = geo(c.shape, c.k, c.s, c.p);
      const rng = new Rng(sizeOf(c.shape) + c.k[0] * 7 + c.s[1]);
      const x = rng.f32(sizeOf(c.shape), -3, 3);
      const tx = hg.tensor(x, c.shape, { requiresGrad: true });
      const y = hg.maxPool2d(tx, opts(c));
      expect(y.shape).toEqual([g.B, g.OH, g.OW, g.C]);
      const ref = refMaxPool(x, g);
      expectExact(await read(y), ref.y, `${label(c)} forward`);
      // Integer dy: the routed sums are exact, so any misrouted gradient shows.
      const dyInt = rng.ints(y.size, -8, 8);
      y.backward(hg.tensor(dyInt, y.shape));
      expectExact(await readGrad(tx), refMaxPoolGrad(ref.arg, dyInt, g), `${label(c)} backward (integer dy)`);
      tx.zeroGrad();
      const dy = rng.f32(y.size);
      const y2 = hg.maxPool2d(tx, opts(c));
      y2.backward(hg.tensor(dy, y.shape));
      const m = Math.ceil(c.k[0] / c.s[0]) * Math.ceil(c.k[1] / c.s[1]);
      const ref2 = refMaxPoolGrad(ref.arg, dy, g);
      const absSum = refMaxPoolGrad(ref.arg, Float64Array.from(dy, Math.abs), g);
      expectClose(await readGrad(tx), ref2, { atol: 0, rtol: 0, bound: absSum.map((a) => gamma(m) * a), label: `${label(c)} backward` });
    });
  }

  test('ties take the first maximum in window order, padding included', async () => {
    // Values from {0, 1, 2}: most windows hold several maxima.
    for (const c of [CASES[3]!, CASES[4]!, CASES[6]!, CASES[7]!]) {
      const g = geo(c.shape, c.k, c.s, c.p);
      const rng = new Rng(sizeOf(c.shape));
      const x = rng.ints(sizeOf(c.shape), 0, 2);
      const tx = hg.tensor(x, c.shape, { requiresGrad: true });
      const y = hg.maxPool2d(tx, opts(c));
      const ref = refMaxPool(x, g);
      expectExact(await read(y), ref.y, `ties ${label(c)} forward`);
      const dy = rng.ints(y.size, 1, 9);
      y.backward(hg.tensor(dy, y.shape));
      expectExact(await readGrad(tx), refMaxPoolGrad(ref.arg, dy, g), `ties ${label(c)} backward`);
    }
  });

  test('a constant image: every output routes to the first pixel of its window', async () => {
    const g = geo([1, 3, 3, 1], [2, 2], [1, 1], [1, 1]);
    const tx = hg.tensor(new Float32Array(9).fill(5), [1, 3, 3, 1], { requiresGrad: true });
    const y = hg.maxPool2d(tx, { kernel: 2, stride: 1, padding: 1 });
    expect(y.shape).toEqual([1, 4, 4, 1]);
    y.backward(hg.ones(y.shape));
    // Output (oh, ow) covers rows oh − 1, oh and columns ow − 1, ow; its first image pixel is
    // (max(oh − 1, 0), max(ow − 1, 0)). Pixel (0,0) gets 4 outputs, (0,1), (0,2), (1,0), (2,0) two,
    // the others one.
    expectExact(await readGrad(tx), [4, 2, 2, 2, 1, 1, 2, 1, 1], 'constant routing');
    expectExact(refMaxPoolGrad(refMaxPool(new Float32Array(9).fill(5), g).arg, new Float64Array(16).fill(1), g), [4, 2, 2, 2, 1, 1, 2, 1, 1], 'reference routing');
  });

  test('−∞ inputs and NaN: −∞ windows give −∞, NaN propagates (PyTorch)', async () => {
    // Windows: [−∞, −∞, NaN, 5] → NaN (a later larger value does not replace it), [3, −∞, 2, 7] → 7,
    // [−∞, −∞, −∞, −∞] → −∞ routed to its first pixel, [1, 2, −∞, −∞] → 2.
    const x = Float32Array.from([-Infinity, -Infinity, 3, -Infinity, Number.NaN, 5, 2, 7, -Infinity, -Infinity, 1, 2, -Infinity, -Infinity, -Infinity, -Infinity]);
    const shape = [1, 4, 4, 1];
    const g = geo(shape, [2, 2], [2, 2], [0, 0]);
    const tx = hg.tensor(x, shape, { requiresGrad: true });
    const y = hg.maxPool2d(tx, { kernel: 2 });
    const ref = refMaxPool(x, g);
    expectClose(await read(y), ref.y, { atol: 0, rtol: 0, label: 'inf/nan forward' });
    expect(Array.from(ref.y)).toEqual([Number.NaN, 7, -Infinity, 2]);
    expect(Array.from(ref.arg)).toEqual([4, 7, 8, 11]);
    y.backward(hg.tensor([1, 2, 3, 4], [1, 2, 2, 1]));
    expectExact(await readGrad(tx), refMaxPoolGrad(ref.arg, [1, 2, 3, 4], g), 'inf/nan backward');
  });
});

describe('avgPool2d vs the float64 reference', () => {
  for (const c of CASES) {
    for (const includePad of [true, false]) {
      test(`${label(c)} countIncludePad ${includePad}`, async () => {
        const g = geo(c.shape, c.k, c.s, c.p);
        const rng = new Rng(sizeOf(c.shape) * 3 + c.k[1] + (includePad ? 1 : 0));
        const x = rng.f32(sizeOf(c.shape), -3, 3);
        const tx = hg.tensor(x, c.shape, { requiresGrad: true });
        const y = includePad ? hg.avgPool2d(tx, opts(c)) : hg.avgPool2d(tx, { ...opts(c), countIncludePad: false });
        expect(y.shape).toEqual([g.B, g.OH, g.OW, g.C]);
        const ref = refAvgPool(x, g, includePad);
        expectClose(await read(y), ref.y, { atol: 0, rtol: 0, bound: ref.bound, shape: y.shape, label: `${label(c)} forward` });
        const dy = rng.f32(y.size);
        y.backward(hg.tensor(dy, y.shape));
        const rg = refAvgPoolGrad(dy, g, includePad);
        expectClose(await readGrad(tx), rg.dx, { atol: 0, rtol: 0, bound: rg.bound, shape: c.shape, label: `${label(c)} backward` });
      });
    }
  }

  test('count_include_pad: a corner window of ones averages to 4/9 (true) or 1 (false)', async () => {
    const x = hg.ones([1, 3, 3, 1]);
    const a = await hg.avgPool2d(x, { kernel: 3, stride: 2, padding: 1 }).read();
    const b = await hg.avgPool2d(x, { kernel: 3, stride: 2, padding: 1, countIncludePad: false }).read();
    expectClose(a, [4 / 9, 4 / 9, 4 / 9, 4 / 9], { atol: 0, rtol: 1.01 * (gamma(9) + 5 * U), label: 'include pad' });
    expectExact(b, [1, 1, 1, 1], 'exclude pad');
  });
});

describe('pooling gradients vs central finite differences (float64 reference)', () => {
  for (const c of [CASES[3]!, CASES[5]!, CASES[6]!]) {
    test(label(c), async () => {
      const g = geo(c.shape, c.k, c.s, c.p);
      const n = sizeOf(c.shape);
      // A permutation of multiples of 0.01: every max is ≥ 0.01 > 2h ahead of the runner-up.
      const rng = new Rng(n + 5);
      const perm = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = rng.int(0, i);
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
      const x = Float32Array.from(perm, (v) => (v - n / 2) * 0.01);
      const ny = g.B * g.OH * g.OW * g.C;
      const w = rng.f32(ny);
      const fdMax = numericGrad((v) => dot(refMaxPool(v, g).y, w), x);
      expectClose(refMaxPoolGrad(refMaxPool(x, g).arg, w, g), fdMax, { atol: 1e-10, rtol: 0, label: 'reference max adjoint vs FD' });
      const tx = hg.tensor(x, c.shape, { requiresGrad: true });
      hg.sum(hg.mul(hg.maxPool2d(tx, opts(c)), hg.tensor(w, [g.B, g.OH, g.OW, g.C]))).backward();
      const m = Math.ceil(c.k[0] / c.s[0]) * Math.ceil(c.k[1] / c.s[1]);
      const absW = refMaxPoolGrad(refMaxPool(x, g).arg, Float64Array.from(w, Math.abs), g);
      expectClose(await readGrad(tx), fdMax, { atol: 1e-10, rtol: 0, bound: absW.map((a) => gamma(m) * a), label: 'GPU max grad vs FD' });
      for (const includePad of [true, false]) {
        const fdAvg = numericGrad((v) => dot(refAvgPool(v, g, includePad).y, w), x);
        const rg = refAvgPoolGrad(w, g, includePad);
        expectClose(rg.dx, fdAvg, { atol: 1e-10, rtol: 0, label: 'reference avg adjoint vs FD' });
        const ta = hg.tensor(x, c.shape, { requiresGrad: true });
        hg.sum(hg.mul(hg.avgPool2d(ta, { ...opts(c), countIncludePad: includePad }), hg.tensor(w, [g.B, g.OH, g.OW, g.C]))).backward();
        expectClose(await readGrad(ta), fdAvg, { atol: 1e-10, rtol: 0, bound: rg.bound, label: `GPU avg grad vs FD (include pad ${includePad})` });
      }
    });
  }
});

describe('pooling memory and bad inputs', () => {
  test('the argmax lives with the output when a gradient is needed, else is freed at once', () => {
    const x = hg.rand([1, 4, 4, 2], { seed: 3 });
    const before = hg.memoryStats().liveTensors;
    const y = hg.maxPool2d(x, { kernel: 2 });
    expect(hg.memoryStats().liveTensors).toBe(before + 1);
    y.dispose();
    const xg = hg.rand([1, 4, 4, 2], { seed: 3, requiresGrad: true });
    const before2 = hg.memoryStats().liveTensors;
    const y2 = hg.maxPool2d(xg, { kernel: 2 });
    expect(hg.memoryStats().liveTensors).toBe(before2 + 2);
    y2.dispose();
    expect(hg.memoryStats().liveTensors).toBe(before2);
  });

  test('bad inputs throw naming the op, the shapes and what is valid', () => {
    const x = hg.zeros([1, 5, 5, 2]);
    for (const [name, f] of [
      ['maxPool2d', (t: hg.Tensor, o: object) => hg.maxPool2d(t, o as never)],
      ['avgPool2d', (t: hg.Tensor, o: object) => hg.avgPool2d(t, o as never)],
    ] as const) {
      expect(() => f(hg.zeros([5, 5, 2]), { kernel: 2 })).toThrow(new RegExp(`${name}: x must be \\[B, H, W, C\\] \\(NHWC, rank 4\\), got \\[5, 5, 2\\] \\(rank 3\\)`));
      expect(() => f(x, { kernel: 0 })).toThrow(new RegExp(`${name}: kernel must be an integer ≥ 1 or a pair \\[h, w\\] of them, got 0`));
      expect(() => f(x, { kernel: 1.5 })).toThrow(new RegExp(`${name}: kernel must be an integer ≥ 1.*got 1.5`));
      expect(() => f(x, { kernel: [2, 2, 2] })).toThrow(new RegExp(`${name}: kernel must be .*got \\[2, 2, 2\\]`));
      expect(() => f(x, { kernel: 2, stride: 0 })).toThrow(new RegExp(`${name}: stride must be an integer ≥ 1 or a pair \\[h, w\\] of them, got 0`));
      expect(() => f(x, { kernel: 2, padding: -1 })).toThrow(new RegExp(`${name}: padding must be an integer ≥ 0 or a pair \\[h, w\\] of them, got -1`));
      expect(() => f(x, { kernel: 3, padding: [1, 2] })).toThrow(new RegExp(`${name}: padding \\[1, 2\\] is more than half the kernel 3; padding must be ≤ kernel / 2`));
      expect(() => f(x, { kernel: [6, 2] })).toThrow(new RegExp(`${name}: kernel \\[6, 2\\] is larger than the padded image \\(5 × 5\\) of x \\[1, 5, 5, 2\\]`));
      expect(() => f(x, undefined as unknown as object)).toThrow(new RegExp(`${name}: options \\{ kernel, stride\\?, padding\\? \\} are required`));
      expect(() => f([1, 2] as unknown as hg.Tensor, { kernel: 2 })).toThrow(new RegExp(`${name}: x must be a Tensor`));
    }
    expect(() => hg.avgPool2d(x, { kernel: 2, countIncludePad: 'yes' as unknown as boolean })).toThrow(/avgPool2d: countIncludePad must be true or false, got yes/);
  });
});
