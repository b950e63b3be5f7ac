/**
 * Tensor creation on the GPU: zeros/ones/full (exact), rand/randn (deterministic per seed,
 * different seeds differ, index-addressed so a prefix does not depend on the shape) and their
 * moments.
 *
 * Statistical bounds: for n independent samples, a sample mean deviates from the true mean by
 * σ/√n in standard deviation; a sample standard deviation by ≈ sqrt((μ4 − σ⁴) / n) / (2σ)
 * (normal: σ/√(2n); uniform on [0, 1): μ4 − σ⁴ = 1/80 − 1/144); a sample fraction p by
 * sqrt(p(1 − p)/n); a sample correlation by 1/√n. Every check allows 5 such standard deviations,
 * which an ideal generator exceeds with probability < 6e-7. The generator is deterministic, so a
 * given seed either passes forever or exposes a real defect.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';

beforeAll(async () => {
  await hg.init();
});

const N = 100_000;

function moments(v: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]!;
  const mean = s / v.length;
  let q = 0;
  for (let i = 0; i < v.length; i++) q += (v[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(q / (v.length - 1)) };
}

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ma = moments(a);
  const mb = moments(b);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - ma.mean) * (b[i]! - mb.mean);
  return s / ((a.length - 1) * ma.std * mb.std);
}

function fraction(v: ArrayLike<number>, pred: (x: number) => boolean): number {
  let c = 0;
  for (let i = 0; i < v.length; i++) if (pred(v[i]!)) c++;
  return c / v.length;
}

describe('constant fills', () => {
  for (const shape of [[], [1], [3, 5], [257, 3], [2, 3, 4, 5]]) {
    test(`zeros, ones and full of shape [${shape}]`, async () => {
      const n = shape.reduce((a, d) => a * d, 1);
      const z = hg.zeros(shape);
      const o = hg.ones(shape);
      const f = hg.full(shape, -3.25);
      for (const t of [z, o, f]) expect(t.shape).toEqual(shape);
      expect(Array.from(await z.read())).toEqual(new Array(n).fill(0));
      expect(Array.from(await o.read())).toEqual(new Array(n).fill(1));
      expect(Array.from(await f.read())).toEqual(new Array(n).fill(-3.25));
    });
  }

  test('full rounds its value to f32 and accepts requiresGrad', async () => {
    const t = hg.full([4], 0.1, { requiresGrad: true });
    expect(t.requiresGrad).toBe(true);
    expect(Array.from(await t.read())).toEqual(new Array(4).fill(Math.fround(0.1)));
    expect(hg.zeros([2]).requiresGrad).toBe(false);
    expect(hg.ones([2], { requiresGrad: true }).requiresGrad).toBe(true);
  });
});

describe('rand', () => {
  test('the same seed gives the same bits; different seeds and unseeded calls differ', async () => {
    const a = await hg.rand([N], { seed: 7 }).read();
    const b = await hg.rand([N], { seed: 7 }).read();
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    const c = await hg.rand([N], { seed: 8 }).read();
    // Two independent streams of 24-bit values coincide at a fraction ≈ 2^-24 of indices.
    expect(
      fraction(
        Array.from(a, (v, i) => (v === c[i] ? 1 : 0)),
        (x) => x === 1,
      ),
    ).toBeLessThan(1e-3);
    expect(Math.abs(correlation(a, c))).toBeLessThan(5 / Math.sqrt(N));
    const u1 = await hg.rand([1000]).read();
    const u2 = await hg.rand([1000]).read();
    expect(Array.from(u1)).not.toEqual(Array.from(u2));
  });

  test('element i depends only on (seed, i): a prefix does not depend on the shape', async () => {
    const big = await hg.rand([40, 25], { seed: 3 }).read();
    const small = await hg.rand([10], { seed: 3 }).read();
    expect(Array.from(small)).toEqual(Array.from(big.subarray(0, 10)));
  });

  test('uniform on [0, 1): range, 24-bit grid, mean, std, neighbour correlation', async () => {
    const v = await hg.rand([N], { seed: 12345 }).read();
    expect(v.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(v.every((x) => Number.isInteger(x * 2 ** 24))).toBe(true);
    const { mean, std } = moments(v);
    const sigma = Math.sqrt(1 / 12);
    expect(Math.abs(mean - 0.5)).toBeLessThan((5 * sigma) / Math.sqrt(N));
    const stdSd = Math.sqrt((1 / 80 - 1 / 144) / N) / (2 * sigma);
    expect(Math.abs(std - sigma)).toBeLessThan(5 * stdSd);
    // Each tenth of the interval holds 10 % of the samples.
    for (let k = 0; k < 10; k++) {
      const p = fraction(v, (x) => x >= k / 10 && x < (k + 1) / 10);
      expect(Math.abs(p - 0.1), `decile ${k}`).toBeLessThan(5 * Math.sqrt((0.1 * 0.9) / N));
    }
    expect(Math.abs(correlation(v.subarray(0, N - 1), v.subarray(1)))).toBeLessThan(5 / Math.sqrt(N - 1));
  });

  test('low and high', async () => {
    const v = await hg.rand([N], { seed: 99, low: -2, high: 6 }).read();
    expect(v.every((x) => x >= -2 && x < 6)).toBe(true);
    const { mean, std } = moments(v);
    const sigma = 8 * Math.sqrt(1 / 12);
    expect(Math.abs(mean - 2)).toBeLessThan((5 * sigma) / Math.sqrt(N));
    expect(Math.abs(std - sigma)).toBeLessThan((5 * 8 * Math.sqrt((1 / 80 - 1 / 144) / N)) / (2 * Math.sqrt(1 / 12)));
  });
});

describe('randn', () => {
  test('deterministic per seed, different seeds differ', async () => {
    const a = await hg.randn([1000], { seed: 5 }).read();
    const b = await hg.randn([1000], { seed: 5 }).read();
    const c = await hg.randn([1000], { seed: 6 }).read();
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(Array.from(a)).not.toEqual(Array.from(c));
    expect(Array.from(await hg.randn([1000]).read())).not.toEqual(Array.from(await hg.randn([1000]).read()));
  });

  test('standard normal: mean, std, tail fractions, symmetry, neighbour correlation', async () => {
    const v = await hg.randn([N], { seed: 2024 }).read();
    expect(v.every(Number.isFinite)).toBe(true);
    const { mean, std } = moments(v);
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(N));
    expect(Math.abs(std - 1)).toBeLessThan(5 / Math.sqrt(2 * N));
    const within = (p: number, expected: number, what: string): void => {
      expect(Math.abs(p - expected), what).toBeLessThan(5 * Math.sqrt((expected * (1 - expected)) / N));
    };
    within(
      fraction(v, (x) => Math.abs(x) < 1),
      0.682689492,
      '|z| < 1',
    );
    within(
      fraction(v, (x) => Math.abs(x) < 2),
      0.954499736,
      '|z| < 2',
    );
    within(
      fraction(v, (x) => x > 3),
      0.001349898,
      'z > 3',
    );
    within(
      fraction(v, (x) => x > 0),
      0.5,
      'z > 0',
    );
    expect(Math.abs(correlation(v.subarray(0, N - 1), v.subarray(1)))).toBeLessThan(5 / Math.sqrt(N - 1));
  });

  test('mean and std options', async () => {
    const v = await hg.randn([N], { seed: 77, mean: 3, std: 0.5 }).read();
    const m = moments(v);
    expect(Math.abs(m.mean - 3)).toBeLessThan((5 * 0.5) / Math.sqrt(N));
    expect(Math.abs(m.std - 0.5)).toBeLessThan((5 * 0.5) / Math.sqrt(2 * N));
  });

  test('requiresGrad option and bad seeds', () => {
    expect(hg.randn([2], { requiresGrad: true, seed: 1 }).requiresGrad).toBe(true);
    expect(() => hg.randn([2], { seed: -1 })).toThrow(/randn\(\): seed must be an integer in \[0, 2\^32\), got -1/);
    expect(() => hg.rand([2], { seed: 1.5 })).toThrow(/rand\(\): seed must be an integer in \[0, 2\^32\), got 1.5/);
    expect(() => hg.rand([2], { seed: 2 ** 32 })).toThrow(/rand\(\): seed must be an integer/);
  });
});
