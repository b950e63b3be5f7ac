/**
 * The diagnostics that tell attention from pooling (src/train/em-diagnostics.ts) against host
 * references, and the collapse of HEMNet's bases (issue 22) through the public HEM module: on
 * clustered features whose spread is large against τ (ρ = λmax(Σ)/τ ≈ 1.5) the paper's plain
 * moving average keeps the bases apart while the l2-normalised average hemgpu used before
 * collapses them; with ρ ≈ 0.3 both collapse (the control: the test can fail).
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { centredResidual, largestCovarianceEigenvalue, meanPairwiseCosine } from '../../src/train/em-diagnostics.ts';
import { Rng } from '../helpers.ts';

beforeAll(async () => {
  await hg.init();
});

describe('diagnostic figures against host references', () => {
  test('meanPairwiseCosine: 1 for bases collapsed into one direction, 0 for orthogonal ones, the mean over distinct pairs; NaN for one base', () => {
    expect(meanPairwiseCosine([1, 2, 2, 0.5, 1, 1, 3, 6, 6], 3, 3)).toBeCloseTo(1, 12);
    expect(meanPairwiseCosine([1, 0, 0, 0, 2, 0], 2, 3)).toBeCloseTo(0, 12);
    expect(meanPairwiseCosine([1, 0, 1, 0, 0, 1], 3, 2)).toBeCloseTo(1 / 3, 12); // pairs: 0, 1, 0
    expect(meanPairwiseCosine([1, 2], 1, 2)).toBeNaN();
  });

  test('largestCovarianceEigenvalue: the variance along the widest axis, whatever the mean', () => {
    const rng = new Rng(3);
    const N = 400;
    const C = 5;
    // Independent axes with standard deviations 3, 1, 0.5, 0.2, 0.1 around a mean far from 0, then
    // rotated by a fixed orthogonal matrix (a Householder reflection): λmax is the sample variance
    // along the rotated first axis, computed directly.
    const v = [1, -2, 0.5, 1, 3];
    const vv = v.reduce((a, b) => a + b * b, 0);
    const H = (i: number, j: number): number => (i === j ? 1 : 0) - (2 * v[i]! * v[j]!) / vv;
    const sd = [3, 1, 0.5, 0.2, 0.1];
    const z = Array.from({ length: N }, () => sd.map((s) => s * rng.normal()));
    const x = new Float64Array(N * C);
    for (let n = 0; n < N; n++) for (let i = 0; i < C; i++) x[n * C + i] = 7 + z[n]!.reduce((a, zj, j) => a + H(i, j) * zj, 0);
    const mean = Array.from({ length: C }, (_, c) => z.reduce((a, _r, n) => a + x[n * C + c]!, 0) / N);
    // Reference: the sample covariance's largest eigenvalue by Jacobi rotations on the 5×5 matrix.
    const S = Array.from({ length: C }, (_, a) =>
      Array.from({ length: C }, (_, b) => {
        let s = 0;
        for (let n = 0; n < N; n++) s += (x[n * C + a]! - mean[a]!) * (x[n * C + b]! - mean[b]!);
        return s / N;
      }),
    );
    const ref = Math.max(...jacobiEigenvalues(S));
    expect(largestCovarianceEigenvalue(x, mean, N, C)).toBeCloseTo(ref, 8);
    expect(ref).toBeGreaterThan(7);
    expect(ref).toBeLessThan(11);
  });

  test('centredResidual: 1 for a reconstruction constant over the pixels (global pooling), 0 for X itself, and 1/4 for half the centred features', () => {
    const rng = new Rng(4);
    const N = 30;
    const C = 3;
    const x = Float64Array.from({ length: N * C }, () => rng.normal() + 2);
    const xm = Array.from({ length: C }, (_, c) => Array.from({ length: N }, (_, n) => x[n * C + c]!).reduce((a, b) => a + b) / N);
    const constant = Float64Array.from({ length: N * C }, (_, i) => xm[i % C]! + 5);
    expect(centredResidual(x, xm, constant, N, C)).toBeCloseTo(1, 12);
    expect(centredResidual(x, xm, x, N, C)).toBeCloseTo(0, 12);
    const half = Float64Array.from(x, (v, i) => 0.5 * (v - xm[i % C]!) - 3);
    expect(centredResidual(x, xm, half, N, C)).toBeCloseTo(0.25, 12);
  });
});

describe('emDiagnostics on a SegNet', () => {
  const config = { channels: 8, bases: 4, eta: 0.5, iterations: 2, seed: 5, width: 4 } as const;
  const data = () => hg.digitScenes({ split: 'val', count: 5, size: 16, minScale: 8, maxScale: 12, seed: 2 });

  test('pooling (K = 1) reads as global pooling: max_k γ = 1 = 1/K, centred residual 1; plain has none', async () => {
    const val = data();
    const pooling = hg.buildModel({ model: 'pooling', ...config }, val);
    expect(pooling.em!.em.mu0.shape).toEqual([1, 8]);
    const d = await hg.emDiagnostics(pooling, val, { scenes: 5, batch: 2 });
    expect(d).toMatchObject({ bases: 1, maxGamma: 1, scenes: 5, iterations: 2 });
    expect(d!.residual).toBeCloseTo(1, 5);
    expect(d!.cosine).toBeNaN();
    expect(d!.rho).toBeGreaterThan(0);
    expect(hg.formatEmDiagnostics(d!)).not.toMatch(/cosine/);
    pooling.dispose();
    const plain = hg.buildModel({ model: 'plain', ...config }, val);
    expect(await hg.emDiagnostics(plain, val)).toBeNull();
    plain.dispose();
  });

  test('hemnet: γ between uniform and one-hot, the residual below 1 where the bases differ, T from the options; bad options refused', async () => {
    const val = data();
    const model = hg.buildModel({ model: 'hemnet', ...config }, val);
    const d = (await hg.emDiagnostics(model, val, { scenes: 3, iterations: 3 }))!;
    expect(d).toMatchObject({ bases: 4, scenes: 3, iterations: 3 });
    expect(d.maxGamma).toBeGreaterThan(0.25);
    expect(d.maxGamma).toBeLessThanOrEqual(1);
    expect(d.residual).toBeLessThan(1);
    expect(d.mu0Norm).toBeCloseTo(1, 5); // freshly initialised: unit rows
    expect(hg.formatEmDiagnostics(d)).toMatch(/^EM unit on 3 validation scenes \(T 3\): mean max_k γ 0\.\d{3} \(uniform 1\/K = 0\.250\), ρ = .* bases' mean cosine/);
    await expect(hg.emDiagnostics(model, val, { scenes: 0 })).rejects.toThrow('emDiagnostics: scenes must be an integer ≥ 1, got 0.');
    await expect(hg.emDiagnostics(model, val, { bogus: 1 } as never)).rejects.toThrow(/emDiagnostics/);
    model.dispose();
  });
});

/**
 * Features [B, N, C] from four clusters around a shared mean of norm 5: centres m ± a·e₁, m ± a·e₂
 * (orthonormal e₁, e₂) with isotropic noise σ = 0.5, so Σ's largest eigenvalue is ≈ a²/2 + σ².
 */
function clustered(rng: Rng, B: number, N: number, C: number, a: number, axes: { m: number[]; e1: number[]; e2: number[] }): Float32Array {
  const out = new Float32Array(B * N * C);
  for (let i = 0; i < B * N; i++) {
    const j = rng.int(0, 3);
    const s = j % 2 === 0 ? a : -a;
    const e = j < 2 ? axes.e1 : axes.e2;
    for (let c = 0; c < C; c++) out[i * C + c] = axes.m[c]! + s * e[c]! + 0.5 * rng.normal();
  }
  return out;
}

function unit(v: number[]): number[] {
  const n = Math.hypot(...v);
  return v.map((e) => e / n);
}

describe('HEMNet bases under the moving average (issue 22)', () => {
  const C = 48;
  const K = 16;
  const tau = Math.sqrt(C);
  const axesOf = (rng: Rng): { m: number[]; e1: number[]; e2: number[] } => {
    const m = unit(Array.from({ length: C }, () => rng.normal())).map((e) => 5 * e);
    const e1 = unit(Array.from({ length: C }, () => rng.normal()));
    let e2 = Array.from({ length: C }, () => rng.normal());
    const d = e2.reduce((acc, v, c) => acc + v * e1[c]!, 0);
    e2 = unit(e2.map((v, c) => v - d * e1[c]!));
    return { m, e1, e2 };
  };
  /** ρ of the data, mean max_k γ on fresh batches after 200 training-mode forwards. */
  async function run(rule: hg.BasesAverage, a: number): Promise<{ rho: number; maxGamma: number }> {
    const rng = new Rng(2026);
    const axes = axesOf(rng);
    const m = new hg.HEM({ channels: C, bases: K, basesAverage: rule, seed: 3 });
    for (let i = 0; i < 200; i++) {
      const x = hg.tensor(clustered(rng, 4, 256, C, a, axes), [4, 256, C]);
      const r = m.forward(x);
      for (const t of [x, r.out, r.mu, r.gamma]) t.dispose();
    }
    m.training = false;
    let sum = 0;
    let rho = 0;
    const batches = 2;
    for (let b = 0; b < batches; b++) {
      const host = clustered(rng, 4, 256, C, a, axes);
      for (let i = 0; i < 4; i++) {
        const img = host.subarray(i * 256 * C, (i + 1) * 256 * C);
        const mean = Array.from({ length: C }, (_, c) => {
          let s = 0;
          for (let n = 0; n < 256; n++) s += img[n * C + c]!;
          return s / 256;
        });
        rho += largestCovarianceEigenvalue(img, mean, 256, C) / tau / (4 * batches);
      }
      const x = hg.tensor(host, [4, 256, C]);
      const r = m.forward(x);
      const g = await r.gamma.read();
      for (let n = 0; n < 4 * 256; n++) sum += Math.max(...g.subarray(n * K, (n + 1) * K));
      for (const t of [x, r.out, r.mu, r.gamma]) t.dispose();
    }
    m.dispose();
    return { rho, maxGamma: sum / (batches * 4 * 256) };
  }

  test('ρ ≈ 1.5: the plain average keeps the bases apart (mean max_k γ ≥ 2/K); the l2-normalised average collapses them (< 2/K)', async () => {
    const plain = await run('plain', 4.5);
    const l2 = await run('l2norm', 4.5);
    expect(plain.rho).toBeGreaterThan(1.3);
    expect(plain.rho).toBeLessThan(2);
    expect(plain.maxGamma).toBeGreaterThanOrEqual(2 / K);
    expect(l2.maxGamma).toBeLessThan(2 / K);
  });

  test('control, ρ ≈ 0.3: the plain average cannot keep them apart either (the test above can fail)', async () => {
    const r = await run('plain', 1.9);
    expect(r.rho).toBeGreaterThan(0.2);
    expect(r.rho).toBeLessThan(0.45);
    expect(r.maxGamma).toBeLessThan(2 / K);
  });
});

/** Eigenvalues of a small symmetric matrix by cyclic Jacobi rotations (float64 reference). */
function jacobiEigenvalues(S0: number[][]): number[] {
  const n = S0.length;
  const S = S0.map((r) => [...r]);
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += S[p]![q]! ** 2;
    if (off < 1e-24) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(S[p]![q]!) < 1e-300) continue;
        const theta = (S[q]![q]! - S[p]![p]!) / (2 * S[p]![q]!);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const a = S[k]![p]!;
          const b = S[k]![q]!;
          S[k]![p] = c * a - s * b;
          S[k]![q] = s * a + c * b;
        }
        for (let k = 0; k < n; k++) {
          const a = S[p]![k]!;
          const b = S[q]![k]!;
          S[p]![k] = c * a - s * b;
          S[q]![k] = s * a + c * b;
        }
      }
  }
  return S.map((r, i) => r[i]!);
}
