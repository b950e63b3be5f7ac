/**
 * hg.dropout(x, { p, training, seed }): the mask against a host replica of the kernel's counter-based
 * PCG hash (exact), determinism per seed, keep-rate statistics, mask equality between forward and
 * backward (the backward regenerates the mask from the seed), the identity outside training and
 * for p = 0, finite differences, and every bad input.
 *
 * Exactness: y_i = x_i · s with s = f32(1 / (1 − p)), one correctly rounded f32 product, so the
 * expected value is Math.fround(x_i · s) and comparisons have zero tolerance.
 * Statistics: with a correct generator the kept count of n elements is Binomial(n, 1 − q),
 * q = round(p · 2^24) / 2^24; the tests allow 5 standard deviations (a two-sided probability of
 * 6e-7 of failing for a correct generator; the seeds are fixed, so the outcome is deterministic).
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng, dot, expectClose, expectExact, numericGrad, read, readGrad } from '../helpers.ts';

beforeAll(async () => {
  await hg.init();
});

// Host replica of kernels/dropout.wgsl's mask.
function pcg(v: number): number {
  const state = (Math.imul(v, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}
const DROPOUT_STREAM = 0x3c6ef372;

function refMask(n: number, seed: number, p: number): Uint8Array {
  const threshold = Math.round(p * 2 ** 24);
  const s = pcg((seed ^ DROPOUT_STREAM) >>> 0);
  const m = new Uint8Array(n);
  for (let i = 0; i < n; i++) m[i] = pcg((s ^ i) >>> 0) >>> 8 >= threshold ? 1 : 0;
  return m;
}

function refDropout(x: ArrayLike<number>, mask: Uint8Array, p: number): Float64Array {
  const s = Math.fround(1 / (1 - p));
  return Float64Array.from(x, (v, i) => (mask[i] ? Math.fround(v * s) : 0));
}

describe('dropout forward and backward', () => {
  for (const [n, p, seed] of [
    [1, 0.5, 0],
    [7, 0.3, 1],
    [33, 0.5, 12345],
    [1000, 0.1, 0xffffffff],
    [4097, 0.9, 7],
    [70000, 0.25, 99],
  ] as const) {
    test(`n ${n}, p ${p}, seed ${seed}: the mask of (seed, index), scaled by 1/(1 − p)`, async () => {
      const rng = new Rng(n + seed);
      const x = rng.awayFromZero(n, 0.1, 2);
      const shape = n % 7 === 0 ? [n / 7, 7] : [n];
      const tx = hg.tensor(x, shape, { requiresGrad: true });
      const y = hg.dropout(tx, { p, training: true, seed });
      expect(y.shape).toEqual(shape);
      const mask = refMask(n, seed, p);
      expectExact(await read(y), refDropout(x, mask, p), `n ${n} forward`);
      // Backward: the same mask regenerated from the seed.
      const g = rng.awayFromZero(n, 0.1, 2);
      y.backward(hg.tensor(g, shape));
      const dx = await readGrad(tx);
      expectExact(dx, refDropout(g, mask, p), `n ${n} backward`);
    });
  }

  test('forward and backward masks are the same elements (x = g = 1)', async () => {
    const n = 10007;
    const tx = hg.ones([n], { requiresGrad: true });
    const y = hg.dropout(tx, { p: 0.4, seed: 5 });
    y.backward(hg.ones([n]));
    const fwd = await y.read();
    const bwd = await tx.grad!.read();
    expectExact(bwd, fwd, 'dx = y when x = dy = 1');
    const kept = fwd.filter((v) => v !== 0).length;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(n);
  });

  test('the same seed gives the same mask; other seeds other masks; no seed a fresh mask per call', async () => {
    const x = hg.ones([4096]);
    const a = await hg.dropout(x, { p: 0.5, seed: 3 }).read();
    const b = await hg.dropout(x, { p: 0.5, seed: 3 }).read();
    const c = await hg.dropout(x, { p: 0.5, seed: 4 }).read();
    const d1 = await hg.dropout(x, { p: 0.5 }).read();
    const d2 = await hg.dropout(x, { p: 0.5 }).read();
    expectExact(a, b, 'same seed');
    // Independent masks disagree on a fraction 2p(1 − p) = 0.5 of elements: 2048 ± 5·32.
    const differ = (u: Float32Array, v: Float32Array) => u.reduce((k, ui, i) => k + (ui !== v[i] ? 1 : 0), 0);
    for (const [u, v, what] of [
      [a, c, 'seeds 3 and 4'],
      [d1, d2, 'two unseeded calls'],
      [a, d1, 'seed 3 and an unseeded call'],
    ] as const) {
      const k = differ(u, v);
      expect(Math.abs(k - 2048), `${what}: ${k} of 4096 differ`).toBeLessThanOrEqual(5 * 32);
    }
  });

  test('keep rates: overall, per position class and for neighbour pairs', async () => {
    const n = 1 << 18;
    const x = hg.ones([n]);
    for (const [p, seed] of [
      [0.1, 1],
      [0.5, 2],
      [0.9, 3],
      [1 / 3, 4],
    ] as const) {
      const y = await hg.dropout(x, { p, seed }).read();
      const q = Math.round(p * 2 ** 24) / 2 ** 24;
      const keep = 1 - q;
      const kept = y.reduce((k, v) => k + (v !== 0 ? 1 : 0), 0);
      const sd = Math.sqrt(n * keep * q);
      expect(Math.abs(kept - n * keep), `p ${p}: kept ${kept} of ${n}`).toBeLessThanOrEqual(5 * sd);
      // Index classes i mod 64 (channels of an NHWC tensor with C = 64): each keeps ≈ 1 − q.
      const m = n / 64;
      const perClass = new Float64Array(64);
      for (let i = 0; i < n; i++) if (y[i] !== 0) perClass[i % 64]! += 1;
      const sdc = Math.sqrt(m * keep * q);
      // 64 classes at 5σ each: a correct generator fails with probability < 64 · 6e-7.
      for (let c = 0; c < 64; c++) expect(Math.abs(perClass[c]! - m * keep), `p ${p} class ${c}`).toBeLessThanOrEqual(5 * sdc);
      // Neighbours (2j, 2j + 1) both kept with probability (1 − q)².
      let both = 0;
      for (let i = 0; i < n; i += 2) if (y[i] !== 0 && y[i + 1] !== 0) both++;
      const pairs = n / 2;
      const pb = keep * keep;
      expect(Math.abs(both - pairs * pb), `p ${p}: both of a pair kept ${both}`).toBeLessThanOrEqual(5 * Math.sqrt(pairs * pb * (1 - pb)));
    }
  });

  test('identity outside training and for p = 0: y = x, dx = dy, a handle of its own', async () => {
    const rng = new Rng(8);
    const data = rng.f32(37);
    for (const o of [{ p: 0.5, training: false }, { p: 0 }, { p: 0, training: true, seed: 3 }]) {
      const tx = hg.tensor(data, [37], { requiresGrad: true });
      const y = hg.dropout(tx, o);
      expect(y).not.toBe(tx);
      expectExact(await read(y), data, 'identity forward');
      const g = rng.f32(37);
      y.backward(hg.tensor(g));
      expectExact(await readGrad(tx), g, 'identity backward');
      y.dispose();
      expectExact(await read(tx), data, 'x survives disposing y');
    }
  });

  test('gradient vs central finite differences (float64 reference)', async () => {
    // dropout is linear in x for a fixed mask: FD is exact up to roundoff (≈ 1e-16 · |f| / h).
    const n = 50;
    const rng = new Rng(21);
    const x = rng.f32(n);
    const w = rng.f32(n);
    const mask = refMask(n, 77, 0.3);
    const fd = numericGrad(
      (v) =>
        dot(
          Float64Array.from(v, (vi, i) => (mask[i] ? vi / 0.7 : 0)),
          w,
        ),
      x,
    );
    const tx = hg.tensor(x, [n], { requiresGrad: true });
    hg.sum(hg.mul(hg.dropout(tx, { p: 0.3, seed: 77 }), hg.tensor(w))).backward();
    // The GPU multiplies by f32(1/0.7) (relative error ≤ u) and rounds (u): 2u·|w/0.7| + FD roundoff.
    expectClose(await readGrad(tx), fd, { atol: 1e-10, rtol: 2 ** -23 });
  });

  test('bad inputs throw naming the op and what is valid', () => {
    const x = hg.ones([4]);
    expect(() => hg.dropout(x, { p: 1 })).toThrow(/dropout: p must be a number in \[0, 1\) \(the probability of zeroing an element\), got 1/);
    expect(() => hg.dropout(x, { p: -0.1 })).toThrow(/dropout: p must be a number in \[0, 1\).*got -0.1/);
    expect(() => hg.dropout(x, { p: Number.NaN })).toThrow(/dropout: p must be a number in \[0, 1\).*got NaN/);
    expect(() => hg.dropout(x, { p: '0.5' as unknown as number })).toThrow(/dropout: p must be a number in \[0, 1\).*got 0.5/);
    expect(() => hg.dropout(x, { p: 1, training: false })).toThrow(/dropout: p must be a number in \[0, 1\)/);
    expect(() => hg.dropout(x, { training: 1 as unknown as boolean })).toThrow(/dropout: training must be true or false, got 1/);
    expect(() => hg.dropout(x, { seed: -1 })).toThrow(/dropout: seed must be an integer in \[0, 2\^32\), got -1/);
    expect(() => hg.dropout(x, { seed: 2 ** 32 })).toThrow(/dropout: seed must be an integer in \[0, 2\^32\), got 4294967296/);
    expect(() => hg.dropout(x, { seed: 1.5 })).toThrow(/dropout: seed must be an integer in \[0, 2\^32\), got 1.5/);
    expect(() => hg.dropout({} as hg.Tensor)).toThrow(/dropout: x must be a Tensor/);
    expect(() => hg.dropout(x, null as unknown as object)).toThrow(/dropout: options must be an object \{ p, training, seed \}/);
  });
});
