/**
 * The HEM trace (src/ops/hem/trace.ts): fused and unfused traces against each other and the
 * float64 reference, gradient entries before backward(); and elbo() against the float64 ELBO.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng, U, gamma as gammaN } from '../helpers.ts';
import { elboReference } from '../hem-reference.ts';
import { CASES, FORWARD, GRADS, TRACE, compare, mcaAllowance, runEngine } from '../hem-helpers.ts';

beforeAll(async () => {
  await hg.init();
});

// --------------------------------------------------------------------------------- the trace

describe('trace', () => {
  for (const i of [1, 2, 5, 6]) {
    const c = CASES[i]!;
    test(`fused and unfused traces agree with each other and the reference: ${c.name}`, async () => {
      const { exact, allow } = mcaAllowance(c, 4000 + i);
      const fused = await runEngine(c, true, true);
      const unfused = await runEngine(c, false, true);
      compare(c, 'fused trace vs reference', fused, exact, allow, TRACE);
      compare(c, 'unfused trace vs reference', unfused, exact, allow, TRACE);
      compare(c, 'fused vs unfused trace', fused, unfused, allow, TRACE, 2);
      // Tracing does not change the results.
      compare(c, 'fused with trace vs reference', fused, exact, allow, [...FORWARD, ...GRADS]);
    });
  }

  test('without backward() the gradient entries are NaN (not yet filled), the rest are set', async () => {
    const c = CASES[4]!;
    const r = hg.tidy(() =>
      hg.hem(hg.tensor(Float32Array.from(c.x), [c.B, c.N, c.C]), hg.tensor(Float32Array.from(c.mu0), c.shared ? [c.K, c.C] : [c.B, c.K, c.C]), {
        ...c.opts,
        trace: true,
      }),
    );
    const v = await r.trace!.read();
    const T = c.opts.iterations;
    expect(v.elbo.length).toBe(T);
    expect(v.muStep.every(Number.isFinite)).toBe(true);
    expect(v.elbo.every(Number.isFinite)).toBe(true);
    expect(v.gradMuNorm.length).toBe(T + 1);
    expect([...v.gradMuNorm, ...v.gradXFromNStep, ...v.gradXFromEStep].every(Number.isNaN)).toBe(true);
    r.trace!.dispose();
    r.out.dispose();
    r.mu.dispose();
    r.gamma.dispose();
  });
});

// ------------------------------------------------------------------------------ Proposition 1

describe('elbo()', () => {
  test('equals the float64 ELBO for odd C and K, shared and per-batch μ, with some γ exactly 0 (0 · ln 0 = 0)', async () => {
    const rng = new Rng(6060);
    const B = 2;
    const N = 9;
    const C = 5;
    const K = 3;
    const tau = 1.3;
    const x = rng.f32(B * N * C);
    // Responsibilities: random positive rows summing to 1, with every third row one-hot.
    const gamma = new Float32Array(B * N * K);
    for (let r = 0; r < B * N; r++) {
      const w = Array.from({ length: K }, (_, k) => (r % 3 === 0 ? (k === r % K ? 1 : 0) : rng.uniform(0.1, 1)));
      const sum = w.reduce((a, b) => a + b, 0);
      for (let k = 0; k < K; k++) gamma[r * K + k] = w[k]! / sum;
    }
    for (const shared of [true, false]) {
      const mu = rng.f32((shared ? 1 : B) * K * C);
      const got = await hg.tidy(() => hg.elbo(hg.tensor(x, [B, N, C]), hg.tensor(mu, shared ? [K, C] : [B, K, C]), hg.tensor(gamma, [B, N, K]), { temperature: tau })).item();
      const expected = elboReference({ B, N, C, K, x }, mu, shared, gamma, tau);
      // The worst-case bound of the Proposition 1 tests below: (γ_{C+K+BN} + 16u) · Σ|terms| + B·N · 2^-21.
      const v = tau / 2;
      let S = 0;
      for (let r = 0; r < B * N; r++) {
        const b = Math.floor(r / N);
        for (let k = 0; k < K; k++) {
          const g = gamma[r * K + k]!;
          if (g <= 0) continue;
          let d2 = 0;
          for (let c = 0; c < C; c++) d2 += (x[r * C + c]! - mu[(shared ? 0 : b * K * C) + k * C + c]!) ** 2;
          S += g * (Math.abs((C / 2) * Math.log(2 * Math.PI * v)) + d2 / (2 * v)) + Math.abs(g * Math.log(g));
        }
      }
      expect(Number.isFinite(got)).toBe(true);
      expect(Math.abs(got - expected), `shared: ${shared}: ${got} vs ${expected}`).toBeLessThanOrEqual((gammaN(C + K + B * N) + 16 * U) * S + B * N * 2 ** -21);
    }
  });
});
