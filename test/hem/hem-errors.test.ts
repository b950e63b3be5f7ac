/**
 * The HEM layer's bad input: a clear error naming the option or the shapes, raised before any GPU
 * work (no tensor made, no buffer created); and NaN in x (documented: the batch element holding it
 * comes out NaN, the others are untouched).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng } from '../helpers.ts';

beforeAll(async () => {
  await hg.init();
});

// ---------------------------------------------------------------------------------- bad input

describe('bad input: a clear error before any GPU work', () => {
  let xs: hg.Tensor;
  let x4: hg.Tensor;
  let mu: hg.Tensor;
  beforeAll(() => {
    xs = hg.tensor(new Float32Array(2 * 5 * 6).fill(0.5), [2, 5, 6]);
    x4 = hg.tensor(new Float32Array(2 * 5 * 6).fill(0.5), [2, 5, 6, 1]);
    mu = hg.tensor(new Float32Array(3 * 6).fill(0.1), [3, 6]);
  });
  afterAll(() => {
    for (const t of [xs, x4, mu]) t.dispose();
  });

  /** fn must throw matching `message`, with no tensor made and no buffer created. */
  function expectCleanThrow(fn: () => unknown, message: RegExp): void {
    const before = hg.memoryStats();
    expect(fn).toThrow(message);
    const after = hg.memoryStats();
    expect(after.liveTensors).toBe(before.liveTensors);
    expect(after.buffersCreated).toBe(before.buffersCreated);
  }

  test('mismatched C between x and mu0', () => {
    const m7 = hg.tensor(new Float32Array(3 * 7), [3, 7]);
    expectCleanThrow(() => hg.hem(xs, m7), /x \[2, 5, 6\] has C = 6 channels but mu0 \[3, 7\] has 7/);
    m7.dispose();
  });

  test('mu0 batch different from x batch', () => {
    const m3 = hg.tensor(new Float32Array(3 * 3 * 6), [3, 3, 6]);
    expectCleanThrow(() => hg.hem(xs, m3), /mu0 \[3, 3, 6\] has batch 3 but x \[2, 5, 6\] has 2/);
    m3.dispose();
  });

  test('K = 0: a [0, C] tensor cannot be made (the error names the zero dimension)', () => {
    expectCleanThrow(() => hg.tensor(new Float32Array(0), [0, 6]), /shape \[0, 6\] has dimension 0 = 0/);
    expectCleanThrow(() => hg.zeros([2, 0, 6]), /shape \[2, 0, 6\] has dimension 1 = 0/);
  });

  test('η outside (0, 1]', () => {
    for (const eta of [0, -0.5, 1.5, NaN]) {
      expectCleanThrow(() => hg.hem(xs, mu, { eta }), new RegExp(`eta must be in \\(0, 1\\].*got ${String(eta)}`));
    }
  });

  test('T < 1 or not an integer', () => {
    for (const iterations of [0, -1, 2.5, NaN]) {
      expectCleanThrow(() => hg.hem(xs, mu, { iterations }), new RegExp(`iterations must be an integer ≥ 1.*got ${String(iterations)}`));
    }
  });

  test('a non-positive or non-finite temperature', () => {
    for (const temperature of [0, -1, Infinity, NaN]) {
      expectCleanThrow(() => hg.hem(xs, mu, { temperature }), new RegExp(`temperature must be a finite number > 0.*got ${String(temperature)}`));
    }
    const gamma = hg.tensor(new Float32Array(2 * 5 * 3).fill(1 / 3), [2, 5, 3]);
    expectCleanThrow(() => hg.elbo(xs, mu, gamma, { temperature: -2 }), /temperature must be a finite number > 0/);
    gamma.dispose();
  });

  test('elbo() records no gradient: it refuses inputs that require grad, and runs under noGrad()', async () => {
    const xg = hg.tensor(new Float32Array(2 * 5 * 6).fill(0.5), [2, 5, 6], { requiresGrad: true });
    const gamma = hg.tensor(new Float32Array(2 * 5 * 3).fill(1 / 3), [2, 5, 3]);
    expectCleanThrow(() => hg.elbo(xg, mu, gamma), /^elbo: a diagnostic \(no gradient is recorded\), but an input requires grad; call this under noGrad\(\)\.$/);
    const a = hg.noGrad(() => hg.elbo(xg, mu, gamma));
    const b = hg.elbo(xs, mu, gamma);
    expect(await a.item()).toBe(await b.item());
    for (const t of [xg, gamma, a, b]) t.dispose();
  });

  test('an unknown estep or preset', () => {
    expectCleanThrow(() => hg.hem(xs, mu, { estep: 'cosine' as unknown as 'dot' }), /estep must be 'dot' or 'rbf', got 'cosine'/);
    expectCleanThrow(() => hg.hem(xs, mu, { preset: 'vit' as unknown as 'hemnet' }), /unknown preset 'vit'; use 'hemnet' or 'emanet'/);
  });

  test('x of rank other than 3', () => {
    expectCleanThrow(() => hg.hem(x4, mu), /x must be \[B, N, C\].*got \[2, 5, 6, 1\]/);
    const x2 = hg.tensor(new Float32Array(5 * 6), [5, 6]);
    expectCleanThrow(() => hg.hem(x2, mu), /x must be \[B, N, C\].*got \[5, 6\]/);
    x2.dispose();
  });

  test('NaN in x: the layer completes and the affected batch element comes out NaN (documented)', async () => {
    const rng = new Rng(99);
    const B = 2;
    const N = 10;
    const C = 8;
    const K = 4;
    const clean = rng.f32(B * N * C);
    const dirty = Float32Array.from(clean);
    dirty[3 * C + 5] = NaN; // batch 0, row 3, channel 5
    const mu0 = rng.f32(K * C);
    for (const fused of [true, false]) {
      for (const iterations of [1, 3]) {
        const run = async (xv: Float32Array): Promise<{ out: Float32Array; mu: Float32Array }> => {
          const r = hg.tidy(() => hg.hem(hg.tensor(xv, [B, N, C]), hg.tensor(mu0, [K, C]), { fused, iterations }));
          const v = { out: await r.out.read(), mu: await r.mu.read() };
          r.out.dispose();
          r.mu.dispose();
          r.gamma.dispose();
          return v;
        };
        const a = await run(dirty);
        const b = await run(clean);
        const per = N * C;
        expect(a.out.slice(0, per).every(Number.isNaN), `${fused ? 'fused' : 'unfused'} T=${iterations}: batch 0 out all NaN`).toBe(true);
        expect(a.mu.slice(0, K * C).every(Number.isNaN)).toBe(true);
        // The other batch element is untouched: bit-identical to the clean run.
        expect(Array.from(a.out.slice(per))).toEqual(Array.from(b.out.slice(per)));
        expect(b.out.every(Number.isFinite)).toBe(true);
      }
    }
  });
});
