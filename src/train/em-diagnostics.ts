/**
 * Diagnostics that tell an EM unit that attends from one that pools (issue 22; docs/math.md):
 * computed on validation scenes in eval mode, on the features entering the EM layer, with the
 * layer's own μ⁽⁰⁾, τ and T (Node and browsers).
 *
 * - maxGamma: mean over pixels of max_k γ⁽ᵀ⁾ₙₖ. 1/K means uniform responsibilities: every pixel's
 *   reconstruction is the same vector, the unit computes global pooling.
 * - rho: mean over images of λmax(Σ)/τ, Σ the covariance of one image's N features. Around the
 *   collapsed state the bases separate under the moving average only where ρ > 1: below 1 no
 *   averaging rule can keep them apart (only τ can).
 * - mu0Norm against meanNorm: the mean l2 norm of the bases μ⁽⁰⁾ against that of an image's mean
 *   feature x̄ (HEMNet's bases live at the features' scale; far smaller bases give a nearly
 *   uniform first E-step).
 * - residual: ‖X_c − X̃_c‖² / ‖X_c‖² with X_c = X − x̄ and X̃_c = X̃ − mean_n X̃ per image, averaged
 *   over images: 1 when the reconstruction is constant over the image (global pooling), towards 0
 *   as it follows the features.
 * - cosine: the mean pairwise cosine of μ⁽⁰⁾'s rows. Bases that share the image mean read 0.9+
 *   even when they attend: shown only beside the above.
 */
import { noGrad } from '../autograd/tape.ts';
import { tensor } from '../ops/create.ts';
import { hem, resolveHemOptions } from '../ops/hem/index.ts';
import { tidy } from '../tensor/scope.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';
import type { SegNet } from '../model/segnet.ts';
import type { Dataset } from './batch.ts';
import { emInputs } from './inspect.ts';

export interface EmDiagnostics {
  /** Bases K (1/K: uniform responsibilities). */
  bases: number;
  /** Mean over pixels and scenes of max_k γ⁽ᵀ⁾. */
  maxGamma: number;
  /** Mean over scenes of λmax(Σ)/τ. */
  rho: number;
  /** Mean l2 norm of μ⁽⁰⁾'s rows. */
  mu0Norm: number;
  /** Mean over scenes of |x̄|, the norm of the scene's mean feature. */
  meanNorm: number;
  /** Mean over scenes of the centred reconstruction residual (1: global pooling). */
  residual: number;
  /** Mean pairwise cosine of μ⁽⁰⁾'s rows (NaN for K = 1). */
  cosine: number;
  /** Scenes measured. */
  scenes: number;
  /** EM iterations T used. */
  iterations: number;
}

export interface EmDiagnosticsOptions {
  /** Validation scenes measured: the first min(scenes, count) (default 32). */
  scenes?: number;
  /** EM iterations T (default: the layer's own). */
  iterations?: number;
  /** Scenes per forward pass (default 8). */
  batch?: number;
}

/** The diagnostics of `model`'s EM unit on validation scenes (null for a model without one). */
export async function emDiagnostics(model: SegNet, val: Dataset, options: EmDiagnosticsOptions = {}): Promise<EmDiagnostics | null> {
  checkOptions('emDiagnostics', options, optionKeys<EmDiagnosticsOptions>({ scenes: true, iterations: true, batch: true }));
  for (const k of ['scenes', 'iterations', 'batch'] as const) {
    const v = options[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new Error(`emDiagnostics: ${k} must be an integer ≥ 1, got ${String(v)}.`);
  }
  if (!model.em) return null;
  const layer = model.em.em;
  const mu0 = await layer.mu0.read();
  const [K, C] = layer.mu0.shape as [number, number];
  const resolved = resolveHemOptions(C, layer.options, 'emDiagnostics');
  const T = options.iterations ?? resolved.iterations;
  const count = Math.min(options.scenes ?? 32, val.count);
  const batch = options.batch ?? 8;
  const sums = { maxGamma: 0, rho: 0, meanNorm: 0, residual: 0 };
  let pixels = 0;
  for (let s = 0; s < count; s += batch) {
    const idx = Array.from({ length: Math.min(batch, count - s) }, (_, i) => s + i);
    const f = await emInputs(model, val, idx);
    const N = f.H * f.W;
    const r = tidy(() =>
      noGrad(() => {
        const res = hem(tensor(f.y, [idx.length, N, C]), layer.mu0, { ...layer.options, iterations: T });
        return { gamma: res.gamma, out: res.out };
      }),
    );
    const gamma = await r.gamma.read();
    const out = await r.out.read();
    r.gamma.dispose();
    r.out.dispose();
    for (let b = 0; b < idx.length; b++) {
      const x = f.y.subarray(b * N * C, (b + 1) * N * C);
      const g = gamma.subarray(b * N * K, (b + 1) * N * K);
      for (let n = 0; n < N; n++) {
        let m = 0;
        for (let k = 0; k < K; k++) m = Math.max(m, g[n * K + k]!);
        sums.maxGamma += m;
      }
      pixels += N;
      const xm = rowMean(x, N, C);
      sums.meanNorm += Math.hypot(...xm);
      sums.rho += largestCovarianceEigenvalue(x, xm, N, C) / resolved.temperature;
      sums.residual += centredResidual(x, xm, out.subarray(b * N * C, (b + 1) * N * C), N, C);
    }
  }
  const norms = Array.from({ length: K }, (_, k) => Math.hypot(...mu0.subarray(k * C, (k + 1) * C)));
  return {
    bases: K,
    maxGamma: sums.maxGamma / pixels,
    rho: sums.rho / count,
    mu0Norm: norms.reduce((a, b) => a + b, 0) / K,
    meanNorm: sums.meanNorm / count,
    residual: sums.residual / count,
    cosine: meanPairwiseCosine(mu0, K, C),
    scenes: count,
    iterations: T,
  };
}

/** One line for logs: each figure with what it is compared against. */
export function formatEmDiagnostics(d: EmDiagnostics): string {
  return (
    `EM unit on ${d.scenes} validation scenes (T ${d.iterations}): mean max_k γ ${d.maxGamma.toFixed(3)} (uniform 1/K = ${(1 / d.bases).toFixed(3)}), ` +
    `ρ = λmax(Σ)/τ ${d.rho.toFixed(2)} (below 1 the bases cannot stay apart), |μ⁽⁰⁾| ${d.mu0Norm.toFixed(2)} vs |x̄| ${d.meanNorm.toFixed(2)}, ` +
    `centred residual ${d.residual.toFixed(3)} (1: global pooling)${d.bases > 1 ? `, bases' mean cosine ${d.cosine.toFixed(3)}` : ''}`
  );
}

/** The mean of the N rows of x [N, C], in float64. */
function rowMean(x: ArrayLike<number>, N: number, C: number): number[] {
  const m = new Array<number>(C).fill(0);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) m[c]! += x[n * C + c]!;
  return m.map((v) => v / N);
}

/**
 * λmax of Σ = X_cᵀ X_c / N (X_c: x's rows less their mean), by power iteration on X_cᵀ (X_c v)
 * without forming Σ, in float64; converged to 1e-9 relative or after 500 iterations.
 */
export function largestCovarianceEigenvalue(x: ArrayLike<number>, mean: readonly number[], N: number, C: number): number {
  // A fixed start with every component non-zero (a random-free, repeatable power iteration).
  let v = Array.from({ length: C }, (_, c) => 1 + 0.5 * Math.sin(c + 1));
  let lambda = 0;
  const u = new Float64Array(N);
  for (let it = 0; it < 500; it++) {
    const norm = Math.hypot(...v);
    if (norm === 0) return 0;
    v = v.map((e) => e / norm);
    for (let n = 0; n < N; n++) {
      let d = 0;
      for (let c = 0; c < C; c++) d += (x[n * C + c]! - mean[c]!) * v[c]!;
      u[n] = d;
    }
    const w = new Array<number>(C).fill(0);
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) w[c]! += (x[n * C + c]! - mean[c]!) * u[n]!;
    const next = w.reduce((a, e, c) => a + e * v[c]!, 0) / N; // Rayleigh quotient vᵀΣv
    v = w;
    if (Math.abs(next - lambda) <= 1e-9 * Math.abs(next)) return next;
    lambda = next;
  }
  return lambda;
}

/** ‖X_c − X̃_c‖² / ‖X_c‖² for one image (1 when X̃ is constant over the pixels; NaN when X is). */
export function centredResidual(x: ArrayLike<number>, xm: readonly number[], recon: ArrayLike<number>, N: number, C: number): number {
  const rm = rowMean(recon, N, C);
  let num = 0;
  let den = 0;
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const xc = x[n * C + c]! - xm[c]!;
      const d = xc - (recon[n * C + c]! - rm[c]!);
      num += d * d;
      den += xc * xc;
    }
  return num / den;
}

/** Mean cosine between distinct rows of m [K, C] (NaN for K < 2). */
export function meanPairwiseCosine(m: ArrayLike<number>, K: number, C: number): number {
  if (K < 2) return NaN;
  const norms = Array.from({ length: K }, (_, k) => {
    let s = 0;
    for (let c = 0; c < C; c++) s += m[k * C + c]! ** 2;
    return Math.sqrt(s);
  });
  let sum = 0;
  for (let a = 0; a < K; a++)
    for (let b = 0; b < K; b++) {
      if (a === b) continue;
      let dot = 0;
      for (let c = 0; c < C; c++) dot += m[a * C + c]! * m[b * C + c]!;
      sum += dot / (norms[a]! * norms[b]!);
    }
  return sum / (K * (K - 1));
}
