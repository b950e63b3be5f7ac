/**
 * The paper's properties of the HEM layer, measured through the trace: Proposition 1 (the ELBO
 * never falls across iterations) and eqs. 15-18 (the highway carries gradient to early
 * iterations, a saturated E-step does not). Each bound is derived in place.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng, U, ULP, expectClose, gamma as gammaN } from '../helpers.ts';
import { elboReference, hemReference, type HemRefOptions } from '../hem-reference.ts';
import { mcaAllowance, type HemCase } from '../hem-helpers.ts';

beforeAll(async () => {
  await hg.init();
});

describe('Proposition 1: the ELBO never decreases across HEM iterations (rbf)', () => {
  const B = 2;
  const N = 150;
  const C = 12;
  const K = 6;
  const T = 10;
  const tau = Math.sqrt(C);
  const rng = new Rng(31337);
  const random = rng.f32(B * N * C);
  // Four well-separated Gaussian clusters (centres ~ N(0, 3²) per channel, spread 0.5).
  const centres = Array.from({ length: 4 }, () => Array.from({ length: C }, () => 3 * rng.normal()));
  const clustered = new Float32Array(B * N * C);
  for (let i = 0; i < B * N; i++) {
    const k = rng.int(0, 3);
    for (let c = 0; c < C; c++) clustered[i * C + c] = centres[k]![c]! + 0.5 * rng.normal();
  }
  /** Initial bases: K data points, slightly perturbed (as one would initialise a GMM). */
  const initFrom = (x: Float32Array): Float32Array => {
    const mu0 = new Float32Array(K * C);
    for (let k = 0; k < K; k++) {
      const n = rng.int(0, B * N - 1);
      for (let c = 0; c < C; c++) mu0[k * C + c] = x[n * C + c]! + 0.1 * rng.normal();
    }
    return mu0;
  };
  const data = [
    { name: 'random', x: random, mu0: initFrom(random) },
    { name: 'clustered', x: clustered, mu0: initFrom(clustered) },
  ];

  /**
   * Worst-case f32 error of one ELBO evaluation (first order, helpers.ts's model). Per term
   * γ (ln N − d²/(2v)) − γ ln γ: d² is a C-term sum of squares of rounded differences (γ_C + 3u
   * relative), ln N a handful of roundings, ln γ 3 ULP relative or 2^-21 absolute; then a K-term
   * row sum and a B·N-term total (γ_K, γ_{BN} of Σ|terms|). Bounded by
   * (γ_{C+K+BN} + 16u) · S + B·N · 2^-21 with S = Σ|terms| (computed in float64 on the reference).
   * For these sizes that is ≈ 2e-5 · S, the worst case; the observed errors are ~1e-7 · S, and
   * the ELBO's rises before convergence are 1e-3 - 1e-2 · S.
   */
  function elboErrorBound(x: Float32Array, mu: Float64Array, gamma: Float64Array): number {
    const v = tau / 2;
    const logNorm = -(C / 2) * Math.log(2 * Math.PI * v);
    let S = 0;
    for (let n = 0; n < B * N; n++) {
      for (let k = 0; k < K; k++) {
        const g = gamma[n * K + k]!;
        if (g <= 0) continue;
        let d2 = 0;
        for (let c = 0; c < C; c++) d2 += (x[n * C + c]! - mu[Math.floor(n / N) * K * C + k * C + c]!) ** 2;
        S += g * (Math.abs(logNorm) + d2 / (2 * v)) + Math.abs(g * Math.log(g));
      }
    }
    return (gammaN(C + K + B * N) + 16 * U) * S + B * N * 2 ** -21;
  }

  for (const d of data) {
    for (const eta of [0.1, 0.2, 0.5, 0.8, 1.0]) {
      test(`${d.name} data, η = ${eta}, T = ${T}`, async () => {
        const opts: HemRefOptions = { eta, iterations: T, temperature: tau, estep: 'rbf' };
        const ref = hemReference({ B, N, C, K, x: d.x, mu0: d.mu0, shared: true }, opts);
        // The bound for each iteration's ELBO, from the reference state after that iteration.
        const bound = ref.mus.slice(1).map((mu, t) => elboErrorBound(d.x, mu, ref.gammas[t]!));
        // Monte Carlo arithmetic estimate of how far the f32 trajectory's ELBO can drift from the
        // float64 one (hem-helpers.ts's method; the ELBO's own evaluation error is part of it).
        const c: HemCase = { name: d.name, B, N, C, K, x: d.x, mu0: d.mu0, shared: true, G: new Float32Array(B * N * C), opts };
        const { exact, allow } = mcaAllowance(c, 5000);
        for (const fused of [true, false]) {
          const r = hg.tidy(() => hg.hem(hg.tensor(d.x, [B, N, C]), hg.tensor(d.mu0, [K, C]), { ...opts, fused, trace: true }));
          const elbo = (await r.trace!.read()).elbo;
          const mu = Float64Array.from(await r.mu.read());
          const gamma = Float64Array.from(await r.gamma.read());
          r.trace!.dispose();
          r.out.dispose();
          r.mu.dispose();
          r.gamma.dispose();
          const path = fused ? 'fused' : 'unfused';
          expect(elbo.length).toBe(T);
          // Never decreases: L_{t+1} ≥ L_t − (the error bounds of both evaluations).
          for (let t = 0; t + 1 < T; t++) {
            const drop = elbo[t]! - elbo[t + 1]!;
            expect(drop, `${path}: ELBO fell from ${elbo[t]} to ${elbo[t + 1]} at iteration ${t + 1}`).toBeLessThanOrEqual(bound[t]! + bound[t + 1]!);
          }
          // The last value is the ELBO of the layer's own final state (μ⁽ᵀ⁾, γ⁽ᵀ⁾): evaluation error only.
          const own = elboReference({ B, N, C, K, x: d.x }, mu, false, gamma, tau);
          expect(Math.abs(elbo[T - 1]! - own), `${path}: final ELBO vs float64 ELBO of the same state`).toBeLessThanOrEqual(bound[T - 1]!);
          // And the whole sequence matches the float64 reference's.
          expectClose(elbo, exact.elbo, { atol: 0, rtol: 0, bound: allow.elbo, label: `${path} ELBO vs reference` });
        }
        // The float64 reference itself is monotone (to its rounding, 1e-12 relative).
        for (let t = 0; t + 1 < T; t++) expect(ref.elbo[t + 1]! - ref.elbo[t]!).toBeGreaterThanOrEqual(-1e-12 * Math.abs(ref.elbo[t]!));
        // The iterations make progress: the first step raises the ELBO by far more than the tolerance.
        expect(ref.elbo[1]! - ref.elbo[0]!).toBeGreaterThan(10 * (bound[0]! + bound[1]!));
      });
    }
  }

  test('the tolerance is tight enough to see a violation: an overshooting N-step (η = 2.5) lowers the ELBO', () => {
    // Q is a concave quadratic in μ_k with its maximum at F_k, so μ + η (F − μ) raises it only for
    // η ∈ (0, 2). The float64 reference run with η = 2.5 (which the engine rejects) must be flagged
    // by the same bound.
    const x = data[0]!.x;
    const mu0 = data[0]!.mu0;
    const ref = hemReference({ B, N, C, K, x, mu0, shared: true }, { eta: 2.5, iterations: T, temperature: tau, estep: 'rbf' });
    const bound = ref.mus.slice(1).map((mu, t) => elboErrorBound(x, mu, ref.gammas[t]!));
    const worstDrop = Math.max(...ref.elbo.slice(1).map((v, t) => ref.elbo[t]! - v - (bound[t]! + bound[t + 1]!)));
    expect(worstDrop).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------- gradient flow (eq. 15, 18)

describe('gradient flow (eqs. 15-18): a saturated softmax blocks the E-step, the highway carries the gradient', () => {
  // C = 256, τ = 1 ('no temperature'), 'dot' E-step; four well-separated bases (entries N(0, 1),
  // ‖μ_k‖² ≈ 256, cross products ≈ N(0, 16²)); every x_n lies near one base (noise 0.3), so the
  // logit gaps are ≈ 250 and γ is one-hot in f32 (e^-250 underflows), with the same assignment
  // in every iteration. Per-batch bases, B = 2.
  const B = 2;
  const N = 48;
  const C = 256;
  const K = 4;
  const T = 4;
  const rng = new Rng(8080);
  const centres = Array.from({ length: K }, () => Array.from({ length: C }, () => rng.normal()));
  const x = new Float32Array(B * N * C);
  for (let i = 0; i < B * N; i++) for (let c = 0; c < C; c++) x[i * C + c] = centres[i % K]![c]! + 0.3 * rng.normal();
  const mu0 = new Float32Array(B * K * C);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < K; k++) for (let c = 0; c < C; c++) mu0[(b * K + k) * C + c] = centres[k]![c]! + 0.5 * rng.normal();
  }
  const G = rng.f32(B * N * C);

  async function traceOf(eta: number, temperature: number, fused: boolean): Promise<hg.HemTraceValues> {
    const xt = hg.tensor(x, [B, N, C], { requiresGrad: true });
    const mt = hg.tensor(mu0, [B, K, C], { requiresGrad: true });
    const tr = hg.tidy(() => {
      const r = hg.hem(xt, mt, { eta, iterations: T, temperature, estep: 'dot', fused, trace: true });
      hg.sum(hg.mul(r.out, hg.tensor(G, [B, N, C]))).backward();
      return r.trace!;
    });
    const v = await tr.read();
    tr.dispose();
    for (const t of [xt, mt]) {
      t.zeroGrad();
      t.dispose();
    }
    return v;
  }

  /**
   * With the E-step path exactly zero, dμ⁽ᵗ⁾ = (1 − η) dμ⁽ᵗ⁺¹⁾ is one f32 product per iteration
   * (relative u each); each norm is a B·K·C-term sum of squares and a sqrt (γ_{BKC}/2 + 3 ULP).
   * So ‖dμ⁽ᵗ⁾‖ / ‖dμ⁽ᵀ⁾‖ = (1 − η)^{T−t} within 2·(γ_{BKC}/2 + 3 ULP) + (T − t)·2u relative.
   * gradXFromNStep[t] = mean |γ η dμ̂⁽ᵗ⁺¹⁾ / (N + ε)|: with the same one-hot γ and counts in every
   * iteration, eq. 18 gives the ratio (1 − η)^{T−1−t} to within (T − t)·2u plus the two means'
   * γ_{BNC}.
   */
  const normRel = gammaN(B * K * C) + 6 * ULP;
  const meanRel = gammaN(B * N * C) + 4 * U;

  for (const eta of [0.2, 0.5]) {
    for (const fused of [true, false]) {
      test(`η = ${eta} (${fused ? 'fused' : 'unfused'}): ‖∂E/∂μ⁽ᵗ⁾‖ = (1 − η)^(T−t) ‖∂E/∂μ⁽ᵀ⁾‖; the E-step's share of ∂E/∂x is negligible`, async () => {
        const v = await traceOf(eta, 1, fused);
        const top = v.gradMuNorm[T]!;
        expect(top).toBeGreaterThan(0);
        for (let t = 0; t <= T; t++) {
          const predicted = (1 - eta) ** (T - t) * top;
          const tol = (2 * normRel + 2 * (T - t) * U) * predicted;
          expect(Math.abs(v.gradMuNorm[t]! - predicted), `t = ${t}: ${v.gradMuNorm[t]} vs ${predicted}`).toBeLessThanOrEqual(tol);
        }
        const last = v.gradXFromNStep[T - 1]!;
        expect(last).toBeGreaterThan(0);
        for (let t = 0; t < T; t++) {
          const predicted = (1 - eta) ** (T - 1 - t) * last;
          const tol = (2 * meanRel + 2 * (T - t) * U) * predicted;
          expect(Math.abs(v.gradXFromNStep[t]! - predicted), `N-step t = ${t}`).toBeLessThanOrEqual(tol);
        }
        // Paper, Fig. 3c: the E-step's gradient is orders of magnitude below the N-step's.
        const eSum = v.gradXFromEStep.reduce((a, b) => a + b, 0);
        const nSum = v.gradXFromNStep.reduce((a, b) => a + b, 0);
        expect(eSum).toBeLessThanOrEqual(1e-6 * nSum);
      });
    }
  }

  for (const fused of [true, false]) {
    test(`η = 1 (${fused ? 'fused' : 'unfused'}, plain EM): the early iterations get (almost) nothing`, async () => {
      const v = await traceOf(1, 1, fused);
      const top = v.gradMuNorm[T]!;
      expect(top).toBeGreaterThan(0);
      for (let t = 0; t < T; t++) expect(v.gradMuNorm[t]!, `‖∂E/∂μ⁽${t}⁾‖`).toBeLessThanOrEqual(1e-6 * top);
      const last = v.gradXFromNStep[T - 1]!;
      expect(last).toBeGreaterThan(0);
      for (let t = 0; t < T - 1; t++) expect(v.gradXFromNStep[t]!, `N-step share of iteration ${t}`).toBeLessThanOrEqual(1e-6 * last);
      for (let t = 0; t < T; t++) expect(v.gradXFromEStep[t]!).toBeLessThanOrEqual(1e-6 * last);
    });
  }

  test('control: with a softer softmax (τ = 64) the E-step carries real gradient, so the checks above can fail', async () => {
    // Logit gaps ≈ 250 / 64 ≈ 4: γ is neither one-hot nor uniform.
    for (const fused of [true, false]) {
      const plain = await traceOf(1, 64, fused);
      const eSum = plain.gradXFromEStep.reduce((a, b) => a + b, 0);
      const nSum = plain.gradXFromNStep.reduce((a, b) => a + b, 0);
      expect(eSum).toBeGreaterThan(1e-2 * nSum);
      // η = 1: the early iterations now get gradient, through the E-step.
      expect(Math.max(...plain.gradMuNorm.slice(0, T))).toBeGreaterThan(1e-3 * plain.gradMuNorm[T]!);
      // η = 0.5: the E-step adds to the highway, by more than 10 times the tolerance used above.
      const half = await traceOf(0.5, 64, fused);
      const predicted = 0.5 ** T * half.gradMuNorm[T]!;
      expect(Math.abs(half.gradMuNorm[0]! - predicted)).toBeGreaterThan(10 * (2 * normRel + 2 * T * U) * predicted);
    }
  });
});
