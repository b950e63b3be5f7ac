/**
 * The EMANet preset against EMANet's EM unit (and its detached iterations), and the HEM and EMAU
 * modules (src/nn/hem-module.ts): unit-norm bases, the moving average of μ⁽⁰⁾, and the layer's
 * gradient at the old μ⁽⁰⁾ after a training forward.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng, U, ULP, expectClose, gamma as gammaN } from '../helpers.ts';
import { EPS, emaUnitReference, hemReference, type HemRefOptions } from '../hem-reference.ts';
import { mcaAllowance, normalizeRows, type HemCase } from '../hem-helpers.ts';

beforeAll(async () => {
  await hg.init();
});

// --------------------------------------------------------------------------- EMANet baseline

describe('emanet preset', () => {
  const rng = new Rng(1919);
  const dims = [
    { B: 2, N: 20, C: 8, K: 5 },
    { B: 3, N: 13, C: 6, K: 4 },
  ];

  for (const d of dims) {
    const x = rng.f32(d.B * d.N * d.C);
    const mu0 = normalizeRows(rng.f32(d.K * d.C), d.K, d.C).map(Math.fround);
    test(`against EMANet's EM unit (emaUnitReference), B=${d.B} N=${d.N} C=${d.C} K=${d.K}`, async () => {
      const stages = 3; // EMANet's stage_num, the preset's T
      const ema = emaUnitReference(x, mu0, d, stages);
      // The HEM reference with the preset's options is the same function (a cross-check of the two
      // transcriptions, float64 only).
      const opts: HemRefOptions = { eta: 1, iterations: stages, temperature: 1, estep: 'dot', normalizeBases: true };
      const c: HemCase = { name: 'emanet', ...d, x, mu0: Float32Array.from(mu0), shared: true, G: new Float32Array(d.B * d.N * d.C), opts };
      const href = hemReference(c, opts);
      for (const [a, b] of [
        [href.out, ema.out],
        [href.mu, ema.mu],
        [href.gamma, ema.gamma],
      ] as const) {
        expectClose(a, b, { atol: 1e-12, rtol: 1e-12, label: 'hemReference vs emaUnitReference' });
      }
      const { allow } = mcaAllowance(c, 6000 + d.C);
      for (const fused of [true, false]) {
        const r = hg.tidy(() => hg.hem(hg.tensor(x, [d.B, d.N, d.C]), hg.tensor(Float32Array.from(mu0), [d.K, d.C]), { preset: 'emanet', fused }));
        expect(r.options).toMatchObject({ eta: 1, iterations: 3, temperature: 1, estep: 'dot', normalizeBases: true, detach: true, fused });
        const got = { out: await r.out.read(), mu: await r.mu.read(), gamma: await r.gamma.read() };
        for (const k of ['out', 'mu', 'gamma'] as const) {
          expectClose(got[k], ema[k], { atol: 0, rtol: 0, bound: allow[k], label: `emanet ${fused ? 'fused' : 'unfused'} ${k}` });
        }
        r.out.dispose();
        r.mu.dispose();
        r.gamma.dispose();
      }
    });
  }

  test('detach: no gradient reaches x or mu0 through the layer', async () => {
    const d = dims[0]!;
    for (const fused of [true, false]) {
      const x = hg.tensor(rng.f32(d.B * d.N * d.C), [d.B, d.N, d.C], { requiresGrad: true });
      const mu0 = hg.tensor(rng.f32(d.K * d.C), [d.K, d.C], { requiresGrad: true });
      hg.tidy(() => {
        const r = hg.hem(x, mu0, { preset: 'emanet', fused });
        // The output carries no graph: it does not require grad and cannot be differentiated.
        expect(r.out.requiresGrad).toBe(false);
        expect(r.out.gradNode).toBeNull();
        expect(() => r.out.backward(hg.ones(r.out.shape))).toThrow(/does not require grad/);
        // Mixed with a differentiable path, only that path's gradient arrives: ∂/∂x Σ x = 1.
        const loss = hg.add(hg.sum(r.out), hg.sum(x));
        loss.backward();
      });
      expect(Array.from(await x.grad!.read())).toEqual(new Array(d.B * d.N * d.C).fill(1));
      expect(mu0.grad).toBeNull();
      x.zeroGrad();
      x.dispose();
      mu0.dispose();
    }
  });
});

// ------------------------------------------------------------------------------------ modules

describe('HEM and EMAU modules', () => {
  const rng = new Rng(515);

  /**
   * |‖row‖ − 1| for μ̂ / (‖μ̂‖ + ε) is ε / (‖μ̂‖ + ε) ≤ ε / minNorm from the ε, plus the f32 sum of
   * squares, sqrt and division (γ_C + 8 ULP).
   */
  async function expectUnitRows(m: hg.HEM, C: number, K: number, minNorm: number): Promise<Float64Array> {
    const mu = Float64Array.from(await m.mu0.read());
    expect(m.mu0.shape).toEqual([K, C]);
    for (let k = 0; k < K; k++) {
      let ss = 0;
      for (let c = 0; c < C; c++) ss += mu[k * C + c]! ** 2;
      expect(Math.abs(Math.sqrt(ss) - 1), `row ${k}`).toBeLessThanOrEqual(EPS / minNorm + gammaN(C) + 8 * ULP);
    }
    return mu;
  }

  function minRowNorm(a: ArrayLike<number>, K: number, C: number): number {
    let min = Infinity;
    for (let k = 0; k < K; k++) {
      let ss = 0;
      for (let c = 0; c < C; c++) ss += a[k * C + c]! ** 2;
      min = Math.min(min, Math.sqrt(ss));
    }
    return min;
  }

  for (const Mod of [hg.HEM, hg.EMAU])
    for (const rule of ['plain', 'l2norm', undefined] as const) {
      test(`${Mod.name}, basesAverage ${rule ?? 'default (plain)'}: unit-norm initial bases; the moving average after a training forward against float64; none in eval mode`, async () => {
        const C = 12;
        const K = 5;
        const B = 3;
        const N = 17;
        const m = new Mod({ channels: C, bases: K, seed: 9, ...(rule ? { basesAverage: rule } : {}) });
        expect(m.basesAverage).toBe(rule ?? 'plain');
        // Initial rows: N(0, 2/K) entries, norm ≈ √(2C/K) ≈ 2.2 before normalising; 0.5 is a safe floor.
        const mu0 = await expectUnitRows(m, C, K, 0.5);
        const x = hg.tensor(rng.f32(B * N * C), [B, N, C]);
        const r = m.forward(x);
        if (Mod === hg.EMAU) expect(r.options).toMatchObject({ eta: 1, temperature: 1, normalizeBases: true, detach: true });
        else expect(r.options).toMatchObject({ eta: 0.5, temperature: Math.sqrt(C), detach: false });
        const muT = Float64Array.from(await r.mu.read());
        // 0.9 μ⁽⁰⁾ + 0.1 mean_b μ⁽ᵀ⁾ on the host, then (l2norm only) each row normalised.
        const blend = new Float64Array(K * C);
        for (let i = 0; i < K * C; i++) {
          let mean = 0;
          for (let b = 0; b < B; b++) mean += muT[b * K * C + i]!;
          blend[i] = 0.9 * mu0[i]! + 0.1 * (mean / B);
        }
        expect(Math.max(...mu0.map(Math.abs), ...muT.map(Math.abs))).toBeLessThanOrEqual(1);
        let updated: Float64Array;
        if (rule === 'l2norm') {
          const expected = normalizeRows(blend, K, C);
          const blendNorm = minRowNorm(blend, K, C);
          updated = await expectUnitRows(m, C, K, blendNorm);
          // f32: the blend's entries err by (γ_B + 4u) of the terms' size (≤ 1: μ⁽⁰⁾ and μ⁽ᵀ⁾ entries
          // here are below 1), which the normalisation divides by the row norm; then the C-term sum of
          // squares, sqrt, + ε and division add γ_C + 8 ULP relative to the result (|entries| ≤ 1).
          const atol = (gammaN(B) + 4 * U) / blendNorm + gammaN(C) + 8 * ULP;
          expectClose(updated, expected, { atol, rtol: 0, label: `${Mod.name} moving average (l2norm)` });
        } else {
          // The paper's average, not normalised: the blend itself, within the f32 error of the
          // batch mean and the two products and sum (γ_B + 4u of terms ≤ 1).
          updated = Float64Array.from(await m.mu0.read());
          expectClose(updated, blend, { atol: gammaN(B) + 4 * U, rtol: 0, label: `${Mod.name} moving average (plain)` });
          // …and it is not the normalised rule: some row left norm 1 by more than the tolerance.
          expect(Math.max(...Array.from({ length: K }, (_, k) => Math.abs(Math.hypot(...updated.subarray(k * C, (k + 1) * C)) - 1)))).toBeGreaterThan(1e-3);
        }
        // It actually moved (so the comparison above is not trivially μ⁽⁰⁾ again).
        expect(Math.max(...updated.map((v, i) => Math.abs(v - mu0[i]!)))).toBeGreaterThan(1e-3);
        // Eval mode: μ⁽⁰⁾ stays, the very same tensor with the same values.
        m.training = false;
        const before = m.mu0;
        const r2 = m.forward(x);
        expect(m.mu0).toBe(before);
        expect(Float64Array.from(await m.mu0.read())).toEqual(updated);
        for (const t of [r.out, r.mu, r.gamma, r2.out, r2.mu, r2.gamma, x]) t.dispose();
        m.dispose();
      });
    }

  test('HEM refuses an unknown basesAverage, naming the choices', () => {
    expect(() => new hg.HEM({ channels: 4, bases: 2, basesAverage: 'normalised' as never })).toThrow(/HEM: basesAverage must be 'plain' or 'l2norm', got "normalised"/);
  });

  // C = 8, K = 4 (no padding) is where the fused layer's backward reads μ⁽⁰⁾ itself; the unfused
  // path always does.
  for (const [C, fused] of [
    [8, true],
    [7, true],
    [8, false],
  ] as const) {
    test(`HEM (C = ${C}, fused: ${fused}): forward in training mode, then backward, gives the gradient of the layer at the old μ⁽⁰⁾`, async () => {
      const K = 4;
      const B = 2;
      const N = 10;
      const m = new hg.HEM({ channels: C, bases: K, seed: 3, fused });
      const mu0 = Float32Array.from(await m.mu0.read());
      const xv = rng.f32(B * N * C);
      const G = rng.f32(B * N * C);
      const x = hg.tensor(xv, [B, N, C], { requiresGrad: true });
      hg.tidy(() => {
        const r = m.forward(x); // updates m.mu0 (training mode) before backward runs
        hg.sum(hg.mul(r.out, hg.tensor(G, [B, N, C]))).backward();
      });
      const got = Float64Array.from(await x.grad!.read());
      const c: HemCase = { name: 'module', B, N, C, K, x: xv, mu0, shared: true, G, opts: { eta: 0.5, iterations: 3, temperature: Math.sqrt(C), estep: 'dot' } };
      const { exact, allow } = mcaAllowance(c, 7000 + C);
      expectClose(got, exact.dx, { atol: 0, rtol: 0, bound: allow.dx, label: 'module dx' });
      x.zeroGrad();
      x.dispose();
      m.dispose();
    });
  }
});
