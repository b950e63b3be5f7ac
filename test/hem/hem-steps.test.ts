/**
 * hemEStep and hemNStep (src/ops/hem/steps.ts): the fused E-step and N-step kernels that hem()
 * runs each iteration, called alone, against float64 references — shared and per-batch bases,
 * aligned and padded C and K, both E-step forms — and their refusals (shapes, options, inputs
 * needing grad).
 *
 * Bounds (U = 2⁻²⁴, γ_n = nU/(1 − nU)). E-step: each logit is a length-C dot product (or, for
 * 'rbf', 2x·μ − ‖x‖² − ‖μ‖²), so |Δs| ≤ γ_{C+2}·(2Σ|xμ| + Σx² + Σμ²)/τ; the softmax turns a logit
 * error into |Δγ_k| ≤ γ_k·2·max|Δs|, plus exp and division rounding, allowed as γ_k·(16 + 4·max|s|)·U.
 * N-step: A = γᵀX and N are length-N sums, F = A/(N + ε): |ΔF| ≤ γ_N·(Σγ|x| / N + 2|F|) + 2U|F|,
 * and μ' adds η|ΔF| + 3U(|(1 − η)μ| + η|F|). A wrong index, scale or term is off by O(γ) or O(F).
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng, U, expectClose, gamma as gammaN } from '../helpers.ts';

beforeAll(async () => {
  await hg.init();
});

interface Case {
  B: number;
  N: number;
  C: number;
  K: number;
  shared: boolean;
}
const CASES: Case[] = [
  { B: 1, N: 64, C: 8, K: 4, shared: true }, // aligned
  { B: 2, N: 37, C: 6, K: 5, shared: true }, // C and K padded
  { B: 3, N: 100, C: 12, K: 7, shared: false }, // per-batch bases, K padded
  { B: 2, N: 300, C: 33, K: 16, shared: false }, // C padded, several chunks of rows
];

function inputs(c: Case, seed: number): { x: Float32Array; mu: Float32Array } {
  const r = new Rng(seed);
  const x = Float32Array.from({ length: c.B * c.N * c.C }, () => r.normal());
  const mu = Float32Array.from({ length: (c.shared ? 1 : c.B) * c.K * c.C }, () => r.normal() / Math.sqrt(c.C));
  return { x, mu };
}

function estepRef(c: Case, x: Float32Array, mu: Float32Array, tau: number, rbf: boolean): { gamma: Float64Array; bound: Float64Array } {
  const { B, N, C, K } = c;
  const gamma = new Float64Array(B * N * K);
  const bound = new Float64Array(B * N * K);
  const s = new Float64Array(K);
  const ds = new Float64Array(K);
  for (let b = 0; b < B; b++) {
    const mo = c.shared ? 0 : b * K * C;
    for (let n = 0; n < N; n++) {
      const xo = (b * N + n) * C;
      let max = -Infinity;
      for (let k = 0; k < K; k++) {
        let dot = 0;
        let mag = 0;
        let x2 = 0;
        let m2 = 0;
        for (let ch = 0; ch < C; ch++) {
          const xv = x[xo + ch]!;
          const mv = mu[mo + k * C + ch]!;
          dot += xv * mv;
          mag += Math.abs(xv * mv);
          x2 += xv * xv;
          m2 += mv * mv;
        }
        s[k] = (rbf ? 2 * dot - x2 - m2 : dot) / tau;
        ds[k] = (gammaN(C + 2) * (2 * mag + (rbf ? x2 + m2 : 0))) / tau;
        max = Math.max(max, s[k]!);
      }
      let z = 0;
      for (let k = 0; k < K; k++) z += Math.exp(s[k]! - max);
      const dsMax = Math.max(...ds);
      const sMax = Math.max(...Array.from(s, Math.abs));
      for (let k = 0; k < K; k++) {
        const g = Math.exp(s[k]! - max) / z;
        gamma[(b * N + n) * K + k] = g;
        bound[(b * N + n) * K + k] = g * (2 * dsMax + (16 + 4 * sMax) * U);
      }
    }
  }
  return { gamma, bound };
}

function nstepRef(c: Case, x: Float32Array, g: Float32Array, mu: Float32Array, eta: number): { mu: Float64Array; bound: Float64Array } {
  const { B, N, C, K } = c;
  const out = new Float64Array(B * K * C);
  const bound = new Float64Array(B * K * C);
  for (let b = 0; b < B; b++) {
    const mo = c.shared ? 0 : b * K * C;
    for (let k = 0; k < K; k++) {
      let count = 0;
      for (let n = 0; n < N; n++) count += g[(b * N + n) * K + k]!;
      for (let ch = 0; ch < C; ch++) {
        let a = 0;
        let mag = 0;
        for (let n = 0; n < N; n++) {
          const w = g[(b * N + n) * K + k]!;
          const xv = x[(b * N + n) * C + ch]!;
          a += w * xv;
          mag += Math.abs(w * xv);
        }
        const f = a / (count + hg.HEM_EPS);
        const m = mu[mo + k * C + ch]!;
        const i = (b * K + k) * C + ch;
        out[i] = (1 - eta) * m + eta * f;
        const df = gammaN(N) * (mag / (count + hg.HEM_EPS) + 2 * Math.abs(f)) + 2 * U * Math.abs(f);
        bound[i] = eta * df + 3 * U * (Math.abs((1 - eta) * m) + eta * Math.abs(f));
      }
    }
  }
  return { mu: out, bound };
}

describe('hemEStep: the fused E-step kernel alone', () => {
  for (const c of CASES) {
    for (const form of ['dot', 'rbf'] as const) {
      test(`B=${c.B} N=${c.N} C=${c.C} K=${c.K} ${c.shared ? 'shared' : 'per-batch'} bases, '${form}'`, async () => {
        const { x, mu } = inputs(c, 11 + c.N + c.C);
        const tau = form === 'dot' ? Math.sqrt(c.C) : 2 * c.C; // rbf logits are O(C): a larger τ keeps γ unsaturated
        const ref = estepRef(c, x, mu, tau, form === 'rbf');
        const got = hg.tidy(() => hg.hemEStep(hg.tensor(x, [c.B, c.N, c.C]), hg.tensor(mu, c.shared ? [c.K, c.C] : [c.B, c.K, c.C]), { temperature: tau, estep: form }));
        expect(got.shape).toEqual([c.B, c.N, c.K]);
        expectClose(await got.read(), ref.gamma, { atol: 1e-9, rtol: 0, bound: ref.bound, label: 'γ' });
        got.dispose();
      });
    }
  }

  test('the default temperature is √C, as in hem()', async () => {
    const c = CASES[1]!;
    const { x, mu } = inputs(c, 5);
    const ref = estepRef(c, x, mu, Math.sqrt(c.C), false);
    const got = hg.tidy(() => hg.hemEStep(hg.tensor(x, [c.B, c.N, c.C]), hg.tensor(mu, [c.K, c.C])));
    expectClose(await got.read(), ref.gamma, { atol: 1e-9, rtol: 0, bound: ref.bound, label: 'γ' });
    got.dispose();
  });

  test('hem() with T = 1 is this E-step followed by hemNStep and the reconstruction γμ′', async () => {
    const c: Case = { B: 2, N: 64, C: 8, K: 8, shared: false }; // aligned: the reconstruction below is hem()'s own product
    const { x, mu } = inputs(c, 8);
    const r = hg.tidy(() => {
      const xt = hg.tensor(x, [c.B, c.N, c.C]);
      const mt = hg.tensor(mu, [c.B, c.K, c.C]);
      const layer = hg.hem(xt, mt, { iterations: 1, eta: 0.5 });
      const g = hg.hemEStep(xt, mt);
      const next = hg.hemNStep(xt, g, mt, { eta: 0.5 });
      return { out: layer.out, mu: layer.mu, gamma: layer.gamma, g, next, recon: hg.matmul(g, next) };
    });
    // The same kernels on the same inputs: bit-identical.
    expect(Array.from(await r.g.read())).toEqual(Array.from(await r.gamma.read()));
    expect(Array.from(await r.next.read())).toEqual(Array.from(await r.mu.read()));
    expect(Array.from(await r.recon.read())).toEqual(Array.from(await r.out.read()));
    for (const t of Object.values(r)) t.dispose();
  });
});

describe('hemNStep: the fused N-step kernels alone', () => {
  for (const c of CASES) {
    for (const eta of [0.5, 1]) {
      test(`B=${c.B} N=${c.N} C=${c.C} K=${c.K} ${c.shared ? 'shared' : 'per-batch'} bases, η=${eta}`, async () => {
        const { x, mu } = inputs(c, 21 + c.N + c.C);
        // γ: rows of a softmax, exactly the values the reference sees.
        const r = new Rng(3);
        const g = new Float32Array(c.B * c.N * c.K);
        for (let row = 0; row < c.B * c.N; row++) {
          let z = 0;
          for (let k = 0; k < c.K; k++) z += g[row * c.K + k] = Math.exp(2 * r.normal());
          for (let k = 0; k < c.K; k++) g[row * c.K + k]! /= z;
        }
        const ref = nstepRef(c, x, g, mu, eta);
        const got = hg.tidy(() => hg.hemNStep(hg.tensor(x, [c.B, c.N, c.C]), hg.tensor(g, [c.B, c.N, c.K]), hg.tensor(mu, c.shared ? [c.K, c.C] : [c.B, c.K, c.C]), { eta }));
        expect(got.shape).toEqual([c.B, c.K, c.C]);
        expectClose(await got.read(), ref.mu, { atol: 1e-9, rtol: 0, bound: ref.bound, label: "μ'" });
        got.dispose();
      });
    }
  }
});

describe('hemEStep / hemNStep: refusals', () => {
  test('shapes and options are checked before any GPU work, naming the op', () => {
    hg.tidy(() => {
      const x = hg.zeros([2, 10, 8]);
      const mu = hg.zeros([4, 8]);
      expect(() => hg.hemEStep(x, hg.zeros([4, 6]))).toThrow(/^hemEStep: x \[2, 10, 8\] has C = 8 channels but mu0 \[4, 6\] has 6/);
      expect(() => hg.hemEStep(hg.zeros([10, 8]), mu)).toThrow(/^hemEStep: x must be \[B, N, C\]/);
      expect(() => hg.hemEStep(x, mu, { temperature: 0 })).toThrow(/^hemEStep: temperature must be a finite number > 0/);
      expect(() => hg.hemNStep(x, hg.zeros([2, 10, 5]), mu)).toThrow('hemNStep: gamma must be [B, N, K] = [2, 10, 4] for x [2, 10, 8] and mu [4, 8], got [2, 10, 5].');
      expect(() => hg.hemNStep(x, hg.zeros([2, 10, 4]), mu, { eta: 1.5 })).toThrow(/^hemNStep: eta must be in \(0, 1\]/);
    });
  });

  test('inputs that require grad are refused (no gradient is recorded); under noGrad they are fine', async () => {
    const x = hg.randn([1, 16, 8], { seed: 1, requiresGrad: true });
    const mu = hg.randn([4, 8], { seed: 2 });
    expect(() => hg.hemEStep(x, mu)).toThrow(/^hemEStep: a forward-only building block .* use hem\(\) for a differentiable layer/);
    const g = hg.noGrad(() => hg.hemEStep(x, mu));
    expect(g.requiresGrad).toBe(false);
    expect(() => hg.hemNStep(x, g, mu)).toThrow(/^hemNStep: a forward-only building block/);
    const sums = await hg.noGrad(() => hg.sum(g, -1)).read();
    for (const v of sums) expect(Math.abs(v - 1)).toBeLessThan(1e-6);
    for (const t of [x, mu, g]) t.dispose();
  });
});
