/**
 * The HEM layer (src/nn/hem.ts, kernels/hem.wgsl, src/nn/hem-module.ts): fused against unfused
 * and both against the float64 reference (test/hem-reference.ts) — forward, gradients and the
 * trace — over a covering set of shapes and options; finite differences; the paper's
 * Proposition 1 (the ELBO never falls) and eq. 15 (the highway carries gradient to early
 * iterations, the saturated E-step does not); the EMANet preset against EMANet's EM unit; the
 * modules' moving average; bad input; memory.
 *
 * Tolerances. The layer is T nonlinear iterations, so a closed-form f32 bound is not practical;
 * the engine's error per element is estimated instead by Monte Carlo arithmetic on the float64
 * reference (hem-reference.ts, "Error model"; hem-helpers.ts, mcaAllowance): every operation of
 * the reference is perturbed by a random error up to the worst-case f32 bound of the operation the
 * engine performs, and the allowance is MCA_FACTOR = 3 times the observed spread (plus the rms
 * spread as a floor). Each path must be within that allowance of the exact reference; fused and
 * unfused must then be within twice it of each other (triangle inequality). Measured on
 * SwiftShader: the engine's errors use at most ~20 % of the allowance (typically ~3 %), and the
 * allowances are 1e-6 - 1e-4 of each quantity's largest magnitude (up to 2e-3 for ∂E/∂μ⁽⁰⁾ at
 * η = 1, which arrives only through the E-step's cancelling terms) — orders of magnitude below
 * what a wrong index, sign, scale or missing term produces. Where a property is tested directly
 * (ELBO monotonicity, the highway ratios), the bound is derived in place.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../src/index.node.ts';
import { Rng, U, ULP, expectClose, gamma as gammaN, numericGrad } from './helpers.ts';
import {
  EPS,
  elboReference,
  emaUnitReference,
  hemLoss,
  hemReference,
  hemReferenceBackward,
  type HemProblem,
  type HemRefOptions,
} from './hem-reference.ts';
import {
  FORWARD,
  GRADS,
  TRACE,
  makeProblem,
  mcaAllowance,
  normalizeRows,
  referenceQuantities,
  runEngine,
  type HemCase,
  type HemQuantities,
  type QuantityName,
} from './hem-helpers.ts';

beforeAll(async () => {
  await hg.init();
});

function shapeOf(c: HemCase, q: QuantityName): number[] {
  const { B, N, C, K, shared } = c;
  const T = c.opts.iterations;
  switch (q) {
    case 'out':
    case 'dx':
      return [B, N, C];
    case 'mu':
      return [B, K, C];
    case 'gamma':
      return [B, N, K];
    case 'dmu0':
      return shared ? [K, C] : [B, K, C];
    case 'gradMuNorm':
      return [T + 1];
    default:
      return [T];
  }
}

/** Assert `actual` within `factor` · allowance of `expected` for each named quantity. */
function compare(
  c: HemCase,
  label: string,
  actual: HemQuantities,
  expected: HemQuantities,
  allow: Record<QuantityName, Float64Array>,
  names: QuantityName[],
  factor = 1,
): void {
  for (const q of names) {
    expectClose(actual[q], expected[q], {
      atol: 0,
      rtol: 0,
      bound: allow[q].map((a) => factor * a),
      shape: shapeOf(c, q),
      label: `${c.name} ${label} ${q}`,
    });
  }
}

// ------------------------------------------------------------------------------- the case set

const ETAS = [0.2, 0.5, 1] as const;
/** K mod 4 per case: every residue, and odd K together with odd C (cases 1 and 5). */
const K_RESIDUES = [1, 3, 0, 2, 3, 1, 2, 0, 1] as const;
const TS = [1, 3, 6] as const;

/**
 * Nine seeded random cases: B ∈ {1, 3}, shared/per-batch μ⁽⁰⁾ and the E-step form run through a
 * 2³ factorial (case 8 repeats case 0's), every (η, T) pair of {0.2, 0.5, 1} × {1, 3, 6} appears
 * once; N alternates odd/even; C mod 4 and K mod 4 take every value 0-3 (C, K not multiples of
 * 4 take the zero-padding path), with odd C and odd K together in two cases; two cases normalise the bases (the normalize_grad kernel), one uses a
 * temperature other than √C. A tenth case has a long N (several row chunks in the fused
 * reductions over N).
 */
function buildCases(): HemCase[] {
  const rng = new Rng(20240611);
  const cases: HemCase[] = [];
  for (let i = 0; i < 9; i++) {
    const B = i & 1 ? 3 : 1;
    const shared = ((i >> 1) & 1) === 0;
    const estep = ((i >> 2) & 1) === 0 ? 'dot' : 'rbf';
    const eta = ETAS[i % 3]!;
    const T = TS[(i + Math.floor(i / 3)) % 3]!;
    const N = 2 * rng.int(3, 25) + (i % 2 === 0 ? 1 : 0);
    const C = 4 * rng.int(1, 4) + (i % 4);
    const K = 4 * rng.int(1, 3) + K_RESIDUES[i]!;
    const normalizeBases = i === 2 || i === 7;
    const temperature = i === 3 ? 0.7 : undefined;
    const name = `#${i} B=${B} N=${N} C=${C} K=${K} ${shared ? 'shared' : 'batched'} ${estep} η=${eta} T=${T}${normalizeBases ? ' normalized' : ''}${temperature ? ` τ=${temperature}` : ''}`;
    cases.push(makeProblem(rng, name, { B, N, C, K, shared }, { estep, eta, iterations: T, normalizeBases, ...(temperature ? { temperature } : {}) }));
  }
  // Long N: the fused reductions over N run in several row chunks (7 here, the last one short).
  cases.push(makeProblem(rng, '#9 B=2 N=205 C=6 K=3 batched rbf η=0.5 T=3 (many row chunks)', { B: 2, N: 205, C: 6, K: 3, shared: false }, { estep: 'rbf', eta: 0.5, iterations: 3 }));
  return cases;
}

const CASES = buildCases();

describe('the case set', () => {
  test('covers every listed value', () => {
    const has = (f: (c: HemCase) => boolean): boolean => CASES.some(f);
    for (const eta of ETAS) expect(has((c) => c.opts.eta === eta), `η = ${eta}`).toBe(true);
    for (const T of TS) expect(has((c) => c.opts.iterations === T), `T = ${T}`).toBe(true);
    for (const B of [1, 3]) expect(has((c) => c.B === B), `B = ${B}`).toBe(true);
    for (const shared of [true, false]) expect(has((c) => c.shared === shared)).toBe(true);
    for (const e of ['dot', 'rbf']) expect(has((c) => c.opts.estep === e)).toBe(true);
    expect(has((c) => c.N % 2 === 1), 'odd N').toBe(true);
    for (const r of [0, 1, 2, 3]) {
      expect(has((c) => c.C % 4 === r), `C ≡ ${r} mod 4`).toBe(true);
      expect(has((c) => c.K % 4 === r), `K ≡ ${r} mod 4`).toBe(true);
    }
    expect(has((c) => c.C % 2 === 1 && c.K % 2 === 1), 'odd C and K together').toBe(true);
  });
});

// ---------------------------------------------------------------- fused, unfused, reference

describe('fused and unfused against each other and the float64 reference', () => {
  for (const [i, c] of CASES.entries()) {
    test(c.name, async () => {
      const { exact, allow } = mcaAllowance(c, 1000 + i);
      const fused = await runEngine(c, true, false);
      const unfused = await runEngine(c, false, false);
      expect(fused.fusedUsed).toBe(true);
      expect(unfused.fusedUsed).toBe(false);
      compare(c, 'fused vs reference', fused, exact, allow, [...FORWARD, ...GRADS]);
      compare(c, 'unfused vs reference', unfused, exact, allow, [...FORWARD, ...GRADS]);
      compare(c, 'fused vs unfused', fused, unfused, allow, [...FORWARD, ...GRADS], 2);
    });
  }

  test('large K runs fused (the E-step keeps no per-row array of K logits): K = 64, 65 and 130', async () => {
    const rng = new Rng(77);
    for (const K of [64, 65, 130]) {
      const c = makeProblem(rng, `K=${K}`, { B: 1, N: 9, C: 6, K, shared: true }, { estep: 'dot', eta: 0.5, iterations: 2 });
      const { exact, allow } = mcaAllowance(c, 2000 + K);
      const fused = await runEngine(c, true, false);
      expect(fused.fusedUsed).toBe(true);
      compare(c, 'fused: true vs reference', fused, exact, allow, [...FORWARD, ...GRADS]);
    }
  });
});

// ------------------------------------------------------------------------ finite differences

describe('finite differences', () => {
  // Small shapes: odd C (padding), odd N, both E-step forms, shared and per-batch bases, and
  // normalised bases.
  const rng = new Rng(4242);
  const small: HemCase[] = [
    makeProblem(rng, 'dot shared', { B: 2, N: 5, C: 3, K: 3, shared: true }, { estep: 'dot', eta: 0.5, iterations: 3 }),
    makeProblem(rng, 'rbf batched', { B: 2, N: 6, C: 5, K: 2, shared: false }, { estep: 'rbf', eta: 0.2, iterations: 2 }),
    makeProblem(rng, 'dot normalized', { B: 1, N: 7, C: 4, K: 3, shared: true }, { estep: 'dot', eta: 0.8, iterations: 2, normalizeBases: true }),
  ];

  /**
   * Central differences of the float64 reference loss at h and 2h. Their error is truncation
   * ≈ h²/6 · f''' (the reference's roundoff, ~1e-16 · |E| / h, is negligible); Richardson:
   * g_h − g_2h ≈ −3 · (error of g_h), so 2·|g_h − g_2h| bounds the error of g_h.
   */
  function fd(c: HemCase, which: 'x' | 'mu0'): { g: Float64Array; err: Float64Array } {
    const h = 1e-4;
    const f = (v: Float64Array): number => {
      const p: HemProblem = which === 'x' ? { ...c, x: v } : { ...c, mu0: v };
      return hemLoss(p, c.opts, c.G);
    };
    const v = Float64Array.from(which === 'x' ? c.x : c.mu0);
    const g1 = numericGrad(f, v, h);
    const g2 = numericGrad(f, v, 2 * h);
    return { g: g1, err: g1.map((a, i) => 2 * Math.abs(a - g2[i]!)) };
  }

  for (const c of small) {
    test(`the float64 adjoint (hemReferenceBackward) equals central differences: ${c.name}`, () => {
      const f = hemReference(c, c.opts);
      const g = hemReferenceBackward(c, c.opts, f, c.G);
      for (const [which, analytic] of [['x', g.dx], ['mu0', g.dmu0]] as const) {
        const { g: num, err } = fd(c, which);
        // Both are float64: the only slack is the finite-difference error (plus 1e-9 absolute).
        expectClose(analytic, num, { atol: 1e-9, rtol: 0, bound: err, label: `${c.name} d${which}` });
      }
    });

    test(`fused gradients equal central differences of the reference: ${c.name}`, async () => {
      const { allow } = mcaAllowance(c, 3000);
      const q = await runEngine(c, true, false);
      expect(q.fusedUsed).toBe(true);
      for (const [which, key] of [['x', 'dx'], ['mu0', 'dmu0']] as const) {
        const { g: num, err } = fd(c, which);
        // The engine's f32 error (the MCA allowance) plus the finite differences' own error.
        expectClose(q[key], num, { atol: 0, rtol: 0, bound: allow[key].map((a, i) => a + err[i]!), label: `${c.name} d${which}` });
      }
    });
  }
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
      const got = await hg.tidy(() =>
        hg.elbo(hg.tensor(x, [B, N, C]), hg.tensor(mu, shared ? [K, C] : [B, K, C]), hg.tensor(gamma, [B, N, K]), { temperature: tau }),
      ).item();
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
      for (const [a, b] of [[href.out, ema.out], [href.mu, ema.mu], [href.gamma, ema.gamma]] as const) {
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

  for (const Mod of [hg.HEM, hg.EMAU]) {
    test(`${Mod.name}: unit-norm bases; the moving average after a training forward; none in eval mode`, async () => {
      const C = 12;
      const K = 5;
      const B = 3;
      const N = 17;
      const m = new Mod({ channels: C, bases: K, seed: 9 });
      // Initial rows: N(0, 2/K) entries, norm ≈ √(2C/K) ≈ 2.2 before normalising; 0.5 is a safe floor.
      const mu0 = await expectUnitRows(m, C, K, 0.5);
      const x = hg.tensor(rng.f32(B * N * C), [B, N, C]);
      const r = m.forward(x);
      if (Mod === hg.EMAU) expect(r.options).toMatchObject({ eta: 1, temperature: 1, normalizeBases: true, detach: true });
      else expect(r.options).toMatchObject({ eta: 0.5, temperature: Math.sqrt(C), detach: false });
      const muT = Float64Array.from(await r.mu.read());
      // normalise(0.9 μ⁽⁰⁾ + 0.1 mean_b μ⁽ᵀ⁾) on the host.
      const blend = new Float64Array(K * C);
      for (let i = 0; i < K * C; i++) {
        let mean = 0;
        for (let b = 0; b < B; b++) mean += muT[b * K * C + i]!;
        blend[i] = 0.9 * mu0[i]! + 0.1 * (mean / B);
      }
      const expected = normalizeRows(blend, K, C);
      const blendNorm = minRowNorm(blend, K, C);
      const updated = await expectUnitRows(m, C, K, blendNorm);
      // f32: the blend's entries err by (γ_B + 4u) of the terms' size (≤ 1: μ⁽⁰⁾ and μ⁽ᵀ⁾ entries
      // here are below 1), which the normalisation divides by the row norm; then the C-term sum of
      // squares, sqrt, + ε and division add γ_C + 8 ULP relative to the result (|entries| ≤ 1).
      const atol = (gammaN(B) + 4 * U) / blendNorm + gammaN(C) + 8 * ULP;
      expect(Math.max(...mu0.map(Math.abs), ...muT.map(Math.abs))).toBeLessThanOrEqual(1);
      expectClose(updated, expected, { atol, rtol: 0, label: `${Mod.name} moving average` });
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

  // C = 8, K = 4 (no padding) is where the fused layer's backward reads μ⁽⁰⁾ itself; the unfused
  // path always does.
  for (const [C, fused] of [[8, true], [7, true], [8, false]] as const) {
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

// ------------------------------------------------------------------------------------- memory

describe('memory', () => {
  test('20 fused forward+backward calls inside tidy leave liveTensors and buffersCreated flat', async () => {
    const rng = new Rng(2);
    const B = 2;
    const N = 33;
    const C = 10; // padded to 12: the pad/slice path too
    const K = 7;
    const x = hg.tensor(rng.f32(B * N * C), [B, N, C], { requiresGrad: true });
    const mu0 = hg.tensor(rng.f32(K * C), [K, C], { requiresGrad: true });
    const G = hg.tensor(rng.f32(B * N * C), [B, N, C]);
    const step = (trace: boolean): void => {
      hg.tidy(() => {
        const r = hg.hem(x, mu0, { iterations: 3, estep: 'rbf', normalizeBases: true, trace });
        hg.sum(hg.mul(r.out, G)).backward();
        r.trace?.dispose();
      });
      x.zeroGrad();
      mu0.zeroGrad();
    };
    for (const trace of [false, true]) {
      step(trace); // warm-up: pipelines and pool size classes
      await hg.sync();
      const s0 = hg.memoryStats();
      for (let i = 0; i < 20; i++) step(trace);
      await hg.sync();
      const s1 = hg.memoryStats();
      expect(s1.liveTensors, `trace: ${trace}`).toBe(s0.liveTensors);
      expect(s1.buffersCreated, `trace: ${trace}`).toBe(s0.buffersCreated);
      expect(s1.liveBytes).toBe(s0.liveBytes);
    }
    for (const t of [x, mu0, G]) t.dispose();
  });
});

// Keep the float64 helpers honest: the exact reference quantities are deterministic.
test('referenceQuantities is deterministic and the MCA samples differ from it', () => {
  const c = CASES[0]!;
  const a = referenceQuantities(c);
  const b = referenceQuantities(c);
  expect(Array.from(a.out)).toEqual(Array.from(b.out));
  const noisy = referenceQuantities(c, 1);
  expect(Array.from(noisy.out)).not.toEqual(Array.from(a.out));
});
