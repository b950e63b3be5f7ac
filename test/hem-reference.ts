/**
 * Float64 references for the HEM layer (test/hem.test.ts), written from docs/math.md and the
 * HEMNet paper (eqs. 7-13), not from the engine's kernels:
 *
 *   hemReference          the layer's forward: T iterations of E-step ('dot' x·μ/τ or 'rbf'
 *                         −‖x − μ‖²/τ, softmax over k), N-step (N_k + ε, F = γᵀX / (N + ε),
 *                         μ' = (1 − η) μ + η F, optionally μ' / (‖μ'‖ + ε)), R-step γ⁽ᵀ⁾ μ⁽ᵀ⁾; shared
 *                         [K, C] or per-batch [B, K, C] bases; the ELBO and ‖μ⁽ᵗ⁺¹⁾ − μ⁽ᵗ⁾‖ per
 *                         iteration;
 *   hemReferenceBackward  the adjoint of that forward for E = Σ G ⊙ out (math.md's rules), with
 *                         the per-iteration pieces the trace reports (∂E/∂μ⁽ᵗ⁾, the N-step's and
 *                         the E-step's share of ∂E/∂X);
 *   elboReference         L(μ, γ) = Σ γ ln N(x | μ, vI) − γ ln γ with v = τ/2, 0 · ln 0 = 0;
 *   emaUnitReference      EMANet's EM unit (Li et al. 2019, the published EMAU.forward) in its own
 *                         channels-first layout, written separately from hemReference.
 *
 * Error model (Monte Carlo arithmetic). Passing `noise` perturbs every computed quantity by a
 * random error within the f32 bound of the operation that the engine uses to compute it
 * (helpers.ts's model: an n-term sum errs by at most γ_n · Σ|terms|; WGSL's exp, division and
 * sqrt by their documented ULP accuracies). Running the reference a few times with noise and
 * measuring how far each output moves from the exact run estimates how large the engine's f32
 * error can be after it has been propagated, and amplified, through T iterations (Parker, "Monte
 * Carlo Arithmetic", 1997; Vignes' CESTAC). The per-operation perturbations are uniform up to
 * the worst-case bound, which is √n times larger than the typical rounding error of an n-term sum,
 * so the estimate errs on the generous side of the real error and far below a logic error.
 */
import { Rng, U, ULP, gamma as gammaN } from './helpers.ts';

export type EStepForm = 'dot' | 'rbf';

export interface HemRefOptions {
  eta: number;
  iterations: number;
  temperature: number;
  estep: EStepForm;
  normalizeBases?: boolean;
}

/** One HEM problem: x [B, N, C] and μ⁽⁰⁾ [K, C] (shared) or [B, K, C], row-major. */
export interface HemProblem {
  B: number;
  N: number;
  C: number;
  K: number;
  x: ArrayLike<number>;
  mu0: ArrayLike<number>;
  shared: boolean;
}

/** ε in N_k + ε and ‖μ‖ + ε. */
export const EPS = 1e-6;

/** Perturbs computed values by random errors within f32 bounds (identity without an Rng). */
export class Rounding {
  constructor(private readonly rng: Rng | null) {}

  private r(): number {
    return this.rng ? this.rng.uniform(-1, 1) : 0;
  }

  /** v computed as an n-term sum (dot product) whose terms total `mag` in absolute value. */
  sum(v: number, mag: number, n: number, extraUlps = 2): number {
    return this.rng ? v + this.r() * (gammaN(n) + extraUlps * U) * mag : v;
  }

  /** v with an absolute error of at most `bound`. */
  abs(v: number, bound: number): number {
    return this.rng ? v + this.r() * bound : v;
  }

  /** v with a relative error of at most `rel`. */
  rel(v: number, rel: number): number {
    return this.rng ? v * (1 + this.r() * rel) : v;
  }
}

const exact = new Rounding(null);

export interface HemRefResult {
  /** R-step output [B, N, C]. */
  out: Float64Array;
  /** μ⁽ᵀ⁾ [B, K, C]. */
  mu: Float64Array;
  /** γ⁽ᵀ⁾ [B, N, K]. */
  gamma: Float64Array;
  /** μ⁽⁰⁾ … μ⁽ᵀ⁾, each [B, K, C] (μ⁽⁰⁾ broadcast when shared). */
  mus: Float64Array[];
  /** μ̂⁽¹⁾ … μ̂⁽ᵀ⁾ before normalisation (equal to mus[t + 1] without normalizeBases). */
  muHats: Float64Array[];
  /** γ⁽¹⁾ … γ⁽ᵀ⁾, each [B, N, K]. */
  gammas: Float64Array[];
  /** N⁽¹⁾ … N⁽ᵀ⁾ (column sums of γ), each [B, K]. */
  counts: Float64Array[];
  /** F⁽¹⁾ … F⁽ᵀ⁾, each [B, K, C]. */
  fs: Float64Array[];
  /** ELBO L(μ⁽ᵗ⁺¹⁾, γ⁽ᵗ⁺¹⁾) after each iteration (v = τ/2). */
  elbo: number[];
  /** ‖μ⁽ᵗ⁺¹⁾ − μ⁽ᵗ⁾‖ (Frobenius over the batch). */
  muStep: number[];
}

/** μ⁽⁰⁾ as [B, K, C]. */
function expandMu0(p: HemProblem): Float64Array {
  const { B, K, C } = p;
  const out = new Float64Array(B * K * C);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < K * C; i++) out[b * K * C + i] = p.mu0[(p.shared ? 0 : b * K * C) + i]!;
  }
  return out;
}

/** Logits S_nk / τ of one batch element (the engine's f32 error model when `rd` is active). */
function logits(p: HemProblem, b: number, mu: Float64Array, o: HemRefOptions, rd: Rounding): Float64Array {
  const { N, C, K } = p;
  const L = new Float64Array(N * K);
  const tau = o.temperature;
  for (let n = 0; n < N; n++) {
    const xo = (b * N + n) * C;
    for (let k = 0; k < K; k++) {
      const mo = (b * K + k) * C;
      let s = 0;
      let mag = 0;
      for (let c = 0; c < C; c++) {
        const xv = p.x[xo + c]!;
        const mv = mu[mo + c]!;
        if (o.estep === 'dot') {
          s += xv * mv;
          mag += Math.abs(xv * mv);
        } else {
          const d = xv - mv;
          s -= d * d;
          // The engine forms 2 x·μ − ‖μ‖² (− ‖x‖² on the unfused path): error relative to those terms.
          mag += 2 * Math.abs(xv * mv) + xv * xv + mv * mv;
        }
      }
      // One more rounding each for the scale, the f32 value of 1/τ and the combination.
      L[n * K + k] = rd.sum(s / tau, mag / tau, C, 4);
    }
  }
  return L;
}

/** Row softmax of logits [N, K]; with `rd`, exp's (3 + 2|a|) ULP, the sum's γ_K and the division. */
function softmaxRows(L: Float64Array, N: number, K: number, rd: Rounding): Float64Array {
  const g = new Float64Array(N * K);
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, L[n * K + k]!);
    let s = 0;
    let maxEps = 0;
    for (let k = 0; k < K; k++) {
      const a = L[n * K + k]! - m;
      s += g[n * K + k] = Math.exp(a);
      maxEps = Math.max(maxEps, (3 + 2 * Math.abs(a)) * ULP);
    }
    for (let k = 0; k < K; k++) {
      const a = L[n * K + k]! - m;
      const rel = (3 + 2 * Math.abs(a)) * ULP + maxEps + gammaN(K) + 2.5 * ULP + 2 * U;
      g[n * K + k] = rd.rel(g[n * K + k]! / s, rel);
    }
  }
  return g;
}

/** ELBO of one iteration's state (batched μ [B, K, C]); shared by hemReference and elboReference. */
function elboOf(p: HemProblem, mu: Float64Array, muBatchStride: number, g: ArrayLike<number>, tau: number, rd: Rounding): number {
  const { B, N, C, K } = p;
  const v = tau / 2;
  const logNorm = -(C / 2) * Math.log(2 * Math.PI * v);
  let total = 0;
  let totalMag = 0;
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      let row = 0;
      let rowMag = 0;
      for (let k = 0; k < K; k++) {
        const gv = g[(b * N + n) * K + k]!;
        if (gv <= 0) continue; // 0 · ln 0 = 0 (and γ = 0 weighs the Gaussian term by 0)
        let d2 = 0;
        for (let c = 0; c < C; c++) {
          const d = p.x[(b * N + n) * C + c]! - mu[b * muBatchStride + k * C + c]!;
          d2 += d * d;
        }
        // f32: d2 sums C squares of rounded differences; log's 3 ULP or 2^-21 absolute.
        d2 = rd.rel(d2, gammaN(C) + 3 * U);
        const ln = rd.abs(Math.log(gv), 2 ** -21 + 3 * ULP * Math.abs(Math.log(gv)));
        const lnN = rd.rel(logNorm, 3 * ULP + 2 ** -21 + 2 * U);
        const term = gv * (lnN - d2 / (2 * v)) - gv * ln;
        const mag = gv * (Math.abs(lnN) + d2 / (2 * v)) + Math.abs(gv * ln);
        row += rd.rel(term, 8 * U);
        rowMag += mag;
      }
      total += rd.sum(row, rowMag, K);
      totalMag += rowMag;
    }
  }
  return rd.sum(total, totalMag, B * N);
}

/**
 * L(μ, γ) = Σ_b Σ_n Σ_k γ_nk ln N(x_n | μ_k, vI) − γ_nk ln γ_nk with v = τ/2 and 0 · ln 0 = 0,
 * for x [B, N, C], μ [K, C] (shared) or [B, K, C], γ [B, N, K].
 */
export function elboReference(p: Omit<HemProblem, 'mu0' | 'shared'>, mu: ArrayLike<number>, muShared: boolean, gamma: ArrayLike<number>, temperature: number): number {
  const prob: HemProblem = { ...p, mu0: mu, shared: muShared };
  return elboOf(prob, Float64Array.from(mu), muShared ? 0 : p.K * p.C, gamma, temperature, exact);
}

/** The HEM layer's forward in float64 (with `noise`: one Monte Carlo arithmetic sample). */
export function hemReference(p: HemProblem, o: HemRefOptions, noise: Rng | null = null): HemRefResult {
  const { B, N, C, K } = p;
  const rd = new Rounding(noise);
  const eta = o.eta;
  const mus: Float64Array[] = [expandMu0(p)];
  const muHats: Float64Array[] = [];
  const gammas: Float64Array[] = [];
  const counts: Float64Array[] = [];
  const fs: Float64Array[] = [];
  const elbo: number[] = [];
  const muStep: number[] = [];
  for (let t = 0; t < o.iterations; t++) {
    const mu = mus[t]!;
    const g = new Float64Array(B * N * K);
    const cnt = new Float64Array(B * K);
    const f = new Float64Array(B * K * C);
    const hat = new Float64Array(B * K * C);
    for (let b = 0; b < B; b++) {
      // E-step.
      const gb = softmaxRows(logits(p, b, mu, o, rd), N, K, rd);
      g.set(gb, b * N * K);
      // N-step: N_k, A = γᵀX, F = A / (N + ε), μ̂ = (1 − η) μ + η F.
      for (let k = 0; k < K; k++) {
        let nk = 0;
        for (let n = 0; n < N; n++) nk += gb[n * K + k]!;
        nk = rd.rel(nk, gammaN(N)); // positive terms: relative error γ_N
        cnt[b * K + k] = nk;
        for (let c = 0; c < C; c++) {
          let a = 0;
          let mag = 0;
          for (let n = 0; n < N; n++) {
            const term = gb[n * K + k]! * p.x[(b * N + n) * C + c]!;
            a += term;
            mag += Math.abs(term);
          }
          a = rd.sum(a, mag, N, 0);
          const fv = rd.rel(a / (nk + EPS), 2.5 * ULP + 2 * U);
          const i = (b * K + k) * C + c;
          f[i] = fv;
          const m1 = (1 - eta) * mu[i]!;
          const m2 = eta * fv;
          hat[i] = rd.sum(m1 + m2, Math.abs(m1) + Math.abs(m2), 2, 2);
        }
      }
    }
    let next = hat;
    if (o.normalizeBases) {
      next = new Float64Array(B * K * C);
      for (let r = 0; r < B * K; r++) {
        let ss = 0;
        for (let c = 0; c < C; c++) ss += hat[r * C + c]! ** 2;
        // Σ of C squares (γ_C), sqrt 4.5 ULP, + ε, 1 / (…) 2.5 ULP, the product u.
        const inv = rd.rel(1 / (Math.sqrt(ss) + EPS), gammaN(C) / 2 + 7 * ULP + 2 * U);
        for (let c = 0; c < C; c++) next[r * C + c] = rd.rel(hat[r * C + c]! * inv, U);
      }
    }
    let step = 0;
    for (let i = 0; i < next.length; i++) step += (next[i]! - mu[i]!) ** 2;
    muStep.push(Math.sqrt(step));
    elbo.push(elboOf(p, next, K * C, g, o.temperature, rd));
    mus.push(next);
    muHats.push(hat);
    gammas.push(g);
    counts.push(cnt);
    fs.push(f);
  }
  // R-step X̃ = γ⁽ᵀ⁾ μ⁽ᵀ⁾.
  const g = gammas[o.iterations - 1]!;
  const mu = mus[o.iterations]!;
  const out = new Float64Array(B * N * C);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        let s = 0;
        let mag = 0;
        for (let k = 0; k < K; k++) {
          const term = g[(b * N + n) * K + k]! * mu[(b * K + k) * C + c]!;
          s += term;
          mag += Math.abs(term);
        }
        out[(b * N + n) * C + c] = rd.sum(s, mag, K);
      }
    }
  }
  return { out, mu, gamma: g, mus, muHats, gammas, counts, fs, elbo, muStep };
}

export interface HemRefGrads {
  /** ∂E/∂x [B, N, C]. */
  dx: Float64Array;
  /** ∂E/∂μ⁽⁰⁾ in μ⁽⁰⁾'s shape ([K, C] summed over the batch when shared). */
  dmu0: Float64Array;
  /** ‖∂E/∂μ⁽ᵗ⁾‖ for t = 0 … T (t = 0 in μ⁽⁰⁾'s shape). */
  gradMuNorm: number[];
  /** ∂E/∂μ⁽ᵗ⁾ for t = 0 … T, each [B, K, C] (per batch element, before any batch sum). */
  gradMu: Float64Array[];
  /** Iteration t's N-step share of ∂E/∂x, [B, N, C]. */
  dxFromNStep: Float64Array[];
  /** Iteration t's E-step share of ∂E/∂x, [B, N, C]. */
  dxFromEStep: Float64Array[];
}

/**
 * The adjoint of hemReference for E = Σ G ⊙ out (math.md, "Backward of one iteration"), from
 * the saved forward `f` (pass the same `noise` Rng state discipline as the forward: a noisy
 * forward with a noisy backward is one Monte Carlo sample of the whole computation).
 */
export function hemReferenceBackward(p: HemProblem, o: HemRefOptions, f: HemRefResult, G: ArrayLike<number>, noise: Rng | null = null): HemRefGrads {
  const { B, N, C, K } = p;
  const rd = new Rounding(noise);
  const T = o.iterations;
  const eta = o.eta;
  const tau = o.temperature;
  const dx = new Float64Array(B * N * C);
  const gradMu: Float64Array[] = new Array(T + 1);
  const dxFromNStep: Float64Array[] = new Array(T);
  const dxFromEStep: Float64Array[] = new Array(T);
  // R-step: dμ⁽ᵀ⁾ = γᵀ G, dγ⁽ᵀ⁾ = G μᵀ.
  const gT = f.gammas[T - 1]!;
  const muT = f.mus[T]!;
  let dmu = new Float64Array(B * K * C);
  const dgR = new Float64Array(B * N * K);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < K; k++) {
      for (let c = 0; c < C; c++) {
        let s = 0;
        let mag = 0;
        for (let n = 0; n < N; n++) {
          const term = gT[(b * N + n) * K + k]! * G[(b * N + n) * C + c]!;
          s += term;
          mag += Math.abs(term);
        }
        dmu[(b * K + k) * C + c] = rd.sum(s, mag, N);
      }
    }
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) {
        let s = 0;
        let mag = 0;
        for (let c = 0; c < C; c++) {
          const term = G[(b * N + n) * C + c]! * muT[(b * K + k) * C + c]!;
          s += term;
          mag += Math.abs(term);
        }
        dgR[(b * N + n) * K + k] = rd.sum(s, mag, C);
      }
    }
  }
  gradMu[T] = dmu;
  for (let t = T - 1; t >= 0; t--) {
    const g = f.gammas[t]!;
    const mu = f.mus[t]!;
    const hat = f.muHats[t]!;
    const cnt = f.counts[t]!;
    const F = f.fs[t]!;
    // Through μ = μ̂ / (r + ε), r = ‖μ̂‖: dμ̂ = dμ / (r + ε) − μ̂ (μ̂ · dμ) / (r (r + ε)²).
    let dhat = dmu;
    if (o.normalizeBases) {
      dhat = new Float64Array(B * K * C);
      for (let row = 0; row < B * K; row++) {
        let ss = 0;
        let ud = 0;
        let udMag = 0;
        for (let c = 0; c < C; c++) {
          const u = hat[row * C + c]!;
          ss += u * u;
          ud += u * dmu[row * C + c]!;
          udMag += Math.abs(u * dmu[row * C + c]!);
        }
        const r = Math.sqrt(ss);
        const re = r + EPS;
        const kk = r > 0 ? rd.sum(ud, udMag, C) / (r * re * re) : 0;
        const kRel = gammaN(C) + 12 * ULP;
        for (let c = 0; c < C; c++) {
          const a = rd.rel(dmu[row * C + c]! / re, gammaN(C) / 2 + 8 * ULP);
          const bb = rd.rel(hat[row * C + c]! * kk, kRel);
          dhat[row * C + c] = rd.sum(a - bb, Math.abs(a) + Math.abs(bb), 2, 1);
        }
      }
    }
    const next = new Float64Array(B * K * C); // dμ⁽ᵗ⁾
    const dxN = new Float64Array(B * N * C);
    const dxE = new Float64Array(B * N * C);
    for (let b = 0; b < B; b++) {
      // N-step: dF = η dμ̂; dA = dF / (N + ε); dN_k = −Σ_c dF_kc F_kc / (N_k + ε); the highway.
      const dA = new Float64Array(K * C);
      const dN = new Float64Array(K);
      for (let k = 0; k < K; k++) {
        const inv = 1 / (cnt[b * K + k]! + EPS);
        let s = 0;
        let mag = 0;
        for (let c = 0; c < C; c++) {
          const i = (b * K + k) * C + c;
          const dF = eta * dhat[i]!;
          dA[k * C + c] = rd.rel(dF * inv, 2.5 * ULP + 3 * U);
          s += dF * F[i]!;
          mag += Math.abs(dF * F[i]!);
          next[i] = rd.rel((1 - eta) * dhat[i]!, 2 * U);
        }
        dN[k] = -rd.sum(s * inv, mag * inv, C, 5);
      }
      // dγ = X dAᵀ + 1 dNᵀ (+ the R-step's dγ at t = T − 1); dX += γ dA.
      const dL = new Float64Array(N * K);
      for (let n = 0; n < N; n++) {
        const dg = new Float64Array(K);
        let r = 0;
        let rMag = 0;
        for (let k = 0; k < K; k++) {
          let s = 0;
          let mag = 0;
          for (let c = 0; c < C; c++) {
            const term = p.x[(b * N + n) * C + c]! * dA[k * C + c]!;
            s += term;
            mag += Math.abs(term);
          }
          const extra = t === T - 1 ? dgR[(b * N + n) * K + k]! : 0;
          dg[k] = rd.sum(s + dN[k]! + extra, mag + Math.abs(dN[k]!) + Math.abs(extra), C + 2);
          const gv = g[(b * N + n) * K + k]!;
          r += dg[k]! * gv;
          rMag += Math.abs(dg[k]! * gv);
        }
        r = rd.sum(r, rMag, K);
        // Softmax adjoint (logits L = S/τ): dL = γ ⊙ (dγ − rowsum(dγ ⊙ γ)).
        for (let k = 0; k < K; k++) {
          const gv = g[(b * N + n) * K + k]!;
          dL[n * K + k] = rd.rel(gv * rd.sum(dg[k]! - r, Math.abs(dg[k]!) + Math.abs(r), 1, 0), U);
        }
        for (let c = 0; c < C; c++) {
          let sN = 0;
          let magN = 0;
          let sE = 0;
          let magE = 0;
          const xv = p.x[(b * N + n) * C + c]!;
          for (let k = 0; k < K; k++) {
            const gv = g[(b * N + n) * K + k]!;
            const tN = gv * dA[k * C + c]!;
            sN += tN;
            magN += Math.abs(tN);
            const mv = mu[(b * K + k) * C + c]!;
            // 'dot': ∂L_nk/∂x_n = μ_k / τ; 'rbf': −2 (x_n − μ_k) / τ.
            const tE = o.estep === 'dot' ? (dL[n * K + k]! * mv) / tau : (-2 * dL[n * K + k]! * (xv - mv)) / tau;
            sE += tE;
            // Error magnitude: 'rbf' terms are 2 dL (μ − x) / τ (the unfused path's ‖x‖² branch
            // contributes the x part, which is zero in exact arithmetic).
            magE += o.estep === 'dot' ? Math.abs(dL[n * K + k]! * mv) / tau : (2 * Math.abs(dL[n * K + k]!) * (Math.abs(xv) + Math.abs(mv))) / tau;
          }
          const i = (b * N + n) * C + c;
          dxN[i] = rd.sum(sN, magN, K);
          dxE[i] = rd.sum(sE, magE, K, 3);
          dx[i] = rd.sum(dx[i]! + dxN[i]! + dxE[i]!, Math.abs(dx[i]!) + Math.abs(dxN[i]!) + Math.abs(dxE[i]!), 3, 0);
        }
      }
      // dμ⁽ᵗ⁾ += Σ_n dL_nk ∂L_nk/∂μ_k: 'dot' x_n / τ; 'rbf' 2 (x_n − μ_k) / τ.
      for (let k = 0; k < K; k++) {
        for (let c = 0; c < C; c++) {
          const mv = mu[(b * K + k) * C + c]!;
          let s = 0;
          let mag = 0;
          for (let n = 0; n < N; n++) {
            const d = dL[n * K + k]!;
            const xv = p.x[(b * N + n) * C + c]!;
            s += o.estep === 'dot' ? (d * xv) / tau : (2 * d * (xv - mv)) / tau;
            mag += o.estep === 'dot' ? Math.abs(d * xv) / tau : (2 * (Math.abs(d * xv) + Math.abs(d * mv))) / tau;
          }
          const i = (b * K + k) * C + c;
          const e = rd.sum(s, mag, N, 3);
          next[i] = rd.sum(next[i]! + e, Math.abs(next[i]!) + Math.abs(e), 2, 0);
        }
      }
    }
    dxFromNStep[t] = dxN;
    dxFromEStep[t] = dxE;
    gradMu[t] = next;
    dmu = next;
  }
  const dmu0 = p.shared ? sumBatch(dmu, B, K * C) : dmu;
  const gradMuNorm = gradMu.map((g, t) => l2(t === 0 ? dmu0 : g));
  return { dx, dmu0, gradMuNorm, gradMu, dxFromNStep, dxFromEStep };
}

function sumBatch(a: Float64Array, B: number, size: number): Float64Array {
  const out = new Float64Array(size);
  for (let b = 0; b < B; b++) for (let i = 0; i < size; i++) out[i]! += a[b * size + i]!;
  return out;
}

/** Euclidean norm of all entries. */
export function l2(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! ** 2;
  return Math.sqrt(s);
}

/** Mean of |a_i|. */
export function meanAbs(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]!);
  return s / a.length;
}

/** E = Σ G ⊙ out of the exact reference: the scalar for finite differences. */
export function hemLoss(p: HemProblem, o: HemRefOptions, G: ArrayLike<number>): number {
  const { out } = hemReference(p, o);
  let s = 0;
  for (let i = 0; i < out.length; i++) s += out[i]! * G[i]!;
  return s;
}

// -------------------------------------------------------------------------------------- EMANet

/**
 * EMANet's EM attention unit, the part between conv1 and the R-step's output (Li et al., ICCV
 * 2019, EMAU.forward in the published code), transcribed in its own channels-first layout:
 *
 *     x = x.view(b, c, h*w)                      # b × c × n
 *     mu = self.mu.repeat(b, 1, 1)               # b × c × k
 *     with torch.no_grad():
 *         for i in range(self.stage_num):
 *             z = softmax(bmm(x.permute(0, 2, 1), mu), dim=2)     # b × n × k
 *             z_ = z / (1e-6 + z.sum(dim=1, keepdim=True))
 *             mu = bmm(x, z_)                                     # b × c × k
 *             mu = mu / (1e-6 + mu.norm(dim=1, keepdim=True))
 *     x = mu.matmul(z.permute(0, 2, 1))          # b × c × n
 *
 * Inputs and outputs use the HEM layer's layouts (x [B, N, C], μ⁽⁰⁾ [K, C], out [B, N, C],
 * μ [B, K, C], γ = z [B, N, K]); the transcription converts at the boundary.
 */
export function emaUnitReference(
  xIn: ArrayLike<number>,
  mu0In: ArrayLike<number>,
  dims: { B: number; N: number; C: number; K: number },
  stageNum: number,
): { out: Float64Array; mu: Float64Array; gamma: Float64Array } {
  const { B, N, C, K } = dims;
  // x: b × c × n; mu: c × k, repeated over b.
  const x = new Float64Array(B * C * N);
  for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) x[(b * C + c) * N + n] = xIn[(b * N + n) * C + c]!;
  let mu = new Float64Array(B * C * K);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let k = 0; k < K; k++) mu[(b * C + c) * K + k] = mu0In[k * C + c]!;
  let z = new Float64Array(B * N * K);
  for (let stage = 0; stage < stageNum; stage++) {
    z = new Float64Array(B * N * K);
    for (let b = 0; b < B; b++) {
      // z = softmax(xᵀ mu, dim = k)
      for (let n = 0; n < N; n++) {
        const row = new Float64Array(K);
        for (let k = 0; k < K; k++) {
          let s = 0;
          for (let c = 0; c < C; c++) s += x[(b * C + c) * N + n]! * mu[(b * C + c) * K + k]!;
          row[k] = s;
        }
        const m = Math.max(...row);
        let tot = 0;
        for (let k = 0; k < K; k++) tot += row[k] = Math.exp(row[k]! - m);
        for (let k = 0; k < K; k++) z[(b * N + n) * K + k] = row[k]! / tot;
      }
    }
    // z_ = z / (1e-6 + z.sum(dim = n))
    const zn = new Float64Array(B * N * K);
    for (let b = 0; b < B; b++) {
      for (let k = 0; k < K; k++) {
        let s = 0;
        for (let n = 0; n < N; n++) s += z[(b * N + n) * K + k]!;
        for (let n = 0; n < N; n++) zn[(b * N + n) * K + k] = z[(b * N + n) * K + k]! / (1e-6 + s);
      }
    }
    // mu = x z_, then l2-normalise over c.
    const next = new Float64Array(B * C * K);
    for (let b = 0; b < B; b++) {
      for (let c = 0; c < C; c++) {
        for (let k = 0; k < K; k++) {
          let s = 0;
          for (let n = 0; n < N; n++) s += x[(b * C + c) * N + n]! * zn[(b * N + n) * K + k]!;
          next[(b * C + c) * K + k] = s;
        }
      }
      for (let k = 0; k < K; k++) {
        let ss = 0;
        for (let c = 0; c < C; c++) ss += next[(b * C + c) * K + k]! ** 2;
        const norm = Math.sqrt(ss);
        for (let c = 0; c < C; c++) next[(b * C + c) * K + k]! /= 1e-6 + norm;
      }
    }
    mu = next;
  }
  // x = mu zᵀ: b × c × n, back to [B, N, C]; mu back to [B, K, C].
  const out = new Float64Array(B * N * C);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += mu[(b * C + c) * K + k]! * z[(b * N + n) * K + k]!;
        out[(b * N + n) * C + c] = s;
      }
    }
  }
  const muOut = new Float64Array(B * K * C);
  for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) for (let c = 0; c < C; c++) muOut[(b * K + k) * C + c] = mu[(b * C + c) * K + k]!;
  return { out, mu: muOut, gamma: z };
}
