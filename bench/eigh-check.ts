/**
 * Float64 checks for bench/eigh.bench.ts, on the host: the inputs (a batch of random symmetric
 * matrices, and the loss's w, c, G), the reference decomposition of every matrix (the float64
 * Jacobi solver of test/eigh-reference.ts), the errors of an engine's f32 eigenpairs against it,
 * and the reference gradient of the benchmark's sign-invariant loss
 *   L = Σ_b [ Σ_i w_i λ_bi + Σ_i c_i u_biᵀ G u_bi ].
 * Gradient by first-order perturbation (distinct eigenvalues): dλ_i = u_iᵀ dA u_i and
 * du_i = Σ_{j≠i} u_j (u_jᵀ dA u_i)/(λ_i − λ_j), so d(u_iᵀ G u_i) = 2 u_iᵀ G du_i and
 *   ∂L/∂A = U M Uᵀ,  M_ii = w_i,  M_ji = 2 c_i (UᵀGU)_ij / (λ_i − λ_j)  (j ≠ i),
 * symmetrised (eigh decomposes sym(A), so its gradient is that of the symmetrised map): U sym(M) Uᵀ.
 */
import { refEigh, type RefEigh } from '../test/eigh-reference.ts';
import { rng } from './common.ts';

export interface EighInputs {
  batch: number;
  d: number;
  /** [batch, d, d], exactly symmetric, entries uniform in (−1, 1). */
  a: Float32Array;
  /** The loss's weights: w, c [d] uniform in (−1, 1); G [d, d] symmetric, uniform in (−1, 1)/√d. */
  w: Float32Array;
  c: Float32Array;
  g: Float32Array;
}

function symmetric(r: () => number, out: Float32Array, offset: number, d: number, scale: number): void {
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      const v = (r() * 2 - 1) * scale;
      out[offset + i * d + j] = v;
      out[offset + j * d + i] = v;
    }
  }
}

export function eighInputs(batch: number, d: number, seed: number): EighInputs {
  const r = rng(seed);
  const a = new Float32Array(batch * d * d);
  for (let b = 0; b < batch; b++) symmetric(r, a, b * d * d, d, 1);
  const w = Float32Array.from({ length: d }, () => r() * 2 - 1);
  const c = Float32Array.from({ length: d }, () => r() * 2 - 1);
  const g = new Float32Array(d * d);
  symmetric(r, g, 0, d, 1 / Math.sqrt(d));
  return { batch, d, a, w, c, g };
}

/** The float64 decomposition of every matrix of the batch. */
export function references(inp: EighInputs): RefEigh[] {
  const { batch, d, a } = inp;
  return Array.from({ length: batch }, (_, b) => refEigh(a.subarray(b * d * d, (b + 1) * d * d), d));
}

export interface EighErrors {
  /** max over matrices of max_i |λ_i − λ_i^ref| / max_i |λ_i^ref|. */
  values: number;
  /** max over matrices of ‖UᵀU − I‖_F. */
  orthogonality: number;
  /** max over matrices of ‖AU − UΛ‖_F / ‖A‖_F. */
  residual: number;
}

/** An engine's f32 values [batch, d] and vectors [batch, d, d] (columns) against the references. */
export function eighErrors(inp: EighInputs, refs: RefEigh[], values: Float32Array, vectors: Float32Array): EighErrors {
  const { batch, d, a } = inp;
  if (values.length !== batch * d || vectors.length !== batch * d * d) {
    throw new Error(`eigh output sizes ${values.length} and ${vectors.length}, expected ${batch * d} and ${batch * d * d}`);
  }
  const e: EighErrors = { values: 0, orthogonality: 0, residual: 0 };
  const worse = (k: keyof EighErrors, v: number): void => {
    e[k] = Number.isNaN(v) || Number.isNaN(e[k]) ? NaN : Math.max(e[k], v);
  };
  for (let b = 0; b < batch; b++) {
    const ref = refs[b]!.values;
    const lam = values.subarray(b * d, (b + 1) * d);
    const u = vectors.subarray(b * d * d, (b + 1) * d * d);
    const m = a.subarray(b * d * d, (b + 1) * d * d);
    let scale = 0;
    let dv = 0;
    for (let i = 0; i < d; i++) {
      scale = Math.max(scale, Math.abs(ref[i]!));
      dv = Math.max(dv, Math.abs(lam[i]! - ref[i]!));
    }
    worse('values', dv / scale);
    let orth = 0;
    let res = 0;
    let norm = 0;
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let utu = 0;
        let au = 0;
        for (let k = 0; k < d; k++) {
          utu += u[k * d + i]! * u[k * d + j]!;
          au += m[i * d + k]! * u[k * d + j]!;
        }
        orth += (utu - (i === j ? 1 : 0)) ** 2;
        res += (au - u[i * d + j]! * lam[j]!) ** 2;
        norm += m[i * d + j]! ** 2;
      }
    }
    worse('orthogonality', Math.sqrt(orth));
    worse('residual', Math.sqrt(res / norm));
  }
  return e;
}

/** C = A·B, d × d row-major, with A transposed when transA. */
function product(x: ArrayLike<number>, y: ArrayLike<number>, d: number, transA = false): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const xik = transA ? x[k * d + i]! : x[i * d + k]!;
      if (xik === 0) continue;
      for (let j = 0; j < d; j++) out[i * d + j]! += xik * y[k * d + j]!;
    }
  }
  return out;
}

/** The reference ∂L/∂A [batch, d, d] (file comment). */
export function referenceGradient(inp: EighInputs, refs: RefEigh[]): Float64Array {
  const { batch, d, w, c, g } = inp;
  const out = new Float64Array(batch * d * d);
  for (let b = 0; b < batch; b++) {
    const { values: lam, vectors: u } = refs[b]!;
    const h = product(u, product(g, u, d), d, true); // UᵀGU
    const m = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      m[i * d + i] = w[i]!;
      for (let j = 0; j < d; j++) if (j !== i) m[j * d + i] = (2 * c[i]! * h[i * d + j]!) / (lam[i]! - lam[j]!);
    }
    const s = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) s[i * d + j] = 0.5 * (m[i * d + j]! + m[j * d + i]!);
    // U S Uᵀ = (U S) Uᵀ: transpose U once and multiply.
    const ut = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) ut[j * d + i] = u[i * d + j]!;
    out.set(product(product(u, s, d), ut, d), b * d * d);
  }
  return out;
}

export interface GradientErrors {
  /** max over matrices of ‖ĝ − g‖_F / ‖g‖_F. */
  relative: number;
  /**
   * max over matrices of that error over ε·κ, κ = max|λ| / (smallest gap): the vector terms of the
   * gradient carry 1/(λ_i − λ_j), so an f32 solver's error grows with κ (ε = 2⁻²³).
   */
  conditioned: number;
}

/** An engine's f32 gradient [batch, d, d] against the reference; symmetrised first when `symmetrise`. */
export function gradientErrors(inp: EighInputs, refs: RefEigh[], got: Float32Array, want: Float64Array, symmetrise = false): GradientErrors {
  const { batch, d } = inp;
  if (got.length !== want.length) throw new Error(`gradient size ${got.length}, expected ${want.length}`);
  const out: GradientErrors = { relative: 0, conditioned: 0 };
  for (let b = 0; b < batch; b++) {
    const o = b * d * d;
    let num = 0;
    let den = 0;
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        const v = symmetrise ? 0.5 * (got[o + i * d + j]! + got[o + j * d + i]!) : got[o + i * d + j]!;
        num += (v - want[o + i * d + j]!) ** 2;
        den += want[o + i * d + j]! ** 2;
      }
    }
    const e = Math.sqrt(num / den);
    const lam = refs[b]!.values;
    let scale = 0;
    let gap = Infinity;
    for (let i = 0; i < d; i++) {
      scale = Math.max(scale, Math.abs(lam[i]!));
      if (i) gap = Math.min(gap, lam[i]! - lam[i - 1]!);
    }
    if (Number.isNaN(e)) return { relative: NaN, conditioned: NaN };
    out.relative = Math.max(out.relative, e);
    out.conditioned = Math.max(out.conditioned, e / (2 ** -23 * (scale / gap)));
  }
  return out;
}
