/**
 * Float64 references for test/ops/eigh.test.ts and test/ops/spectral.test.ts: a cyclic Jacobi
 * eigensolver (row-major d × d, symmetrised first, like the kernel), the same sort and sign
 * conventions, and small dense helpers. Independent of the GPU code (serial, float64, classical
 * threshold-free rotations until off(A) ≤ 1e-15 ‖A‖).
 */
import type { Rng } from './helpers.ts';

export interface RefEigh {
  values: Float64Array;
  vectors: Float64Array;
}

export function refEigh(a: ArrayLike<number>, d: number): RefEigh {
  const w = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) w[i * d + j] = 0.5 * (a[i * d + j]! + a[j * d + i]!);
  const u = new Float64Array(d * d);
  for (let i = 0; i < d; i++) u[i * d + i] = 1;
  let fro = 0;
  for (const v of w) fro += v * v;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) if (i !== j) off += w[i * d + j]! ** 2;
    if (off <= 1e-30 * fro || off === 0) break;
    for (let p = 0; p < d - 1; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = w[p * d + q]!;
        if (apq === 0) continue;
        const theta = (w[q * d + q]! - w[p * d + p]!) / (2 * apq);
        const t = theta === 0 ? 1 : Math.sign(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const wp = w[p * d + k]!;
          const wq = w[q * d + k]!;
          w[p * d + k] = c * wp - s * wq;
          w[q * d + k] = s * wp + c * wq;
        }
        for (let k = 0; k < d; k++) {
          const wp = w[k * d + p]!;
          const wq = w[k * d + q]!;
          w[k * d + p] = c * wp - s * wq;
          w[k * d + q] = s * wp + c * wq;
          const up = u[k * d + p]!;
          const uq = u[k * d + q]!;
          u[k * d + p] = c * up - s * uq;
          u[k * d + q] = s * up + c * uq;
        }
      }
    }
  }
  const order = Array.from({ length: d }, (_, i) => i).sort((i, j) => w[i * d + i]! - w[j * d + j]! || i - j);
  const values = Float64Array.from(order, (i) => w[i * d + i]!);
  const vectors = new Float64Array(d * d);
  order.forEach((src, col) => {
    let big = 0;
    let sgn = 1;
    for (let k = 0; k < d; k++) {
      const v = u[k * d + src]!;
      if (Math.abs(v) > big) {
        big = Math.abs(v);
        sgn = v < 0 ? -1 : 1;
      }
    }
    for (let k = 0; k < d; k++) vectors[k * d + col] = sgn * u[k * d + src]!;
  });
  return { values, vectors };
}

/** C = A·B (or A·Bᵀ), d × d row-major. */
export function mm(a: ArrayLike<number>, b: ArrayLike<number>, d: number, transB = false): Float64Array {
  const c = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += a[i * d + k]! * (transB ? b[j * d + k]! : b[k * d + j]!);
      c[i * d + j] = s;
    }
  }
  return c;
}

export function transposeOf(a: ArrayLike<number>, d: number): Float64Array {
  const t = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) t[j * d + i] = a[i * d + j]!;
  return t;
}

export function frobenius(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! ** 2;
  return Math.sqrt(s);
}

/** A random orthogonal matrix (Gram-Schmidt of a Gaussian one), d × d. */
export function randomOrthogonal(rng: Rng, d: number): Float64Array {
  const q = Float64Array.from({ length: d * d }, () => rng.normal());
  for (let j = 0; j < d; j++) {
    for (let k = 0; k < j; k++) {
      let dotp = 0;
      for (let i = 0; i < d; i++) dotp += q[i * d + j]! * q[i * d + k]!;
      for (let i = 0; i < d; i++) q[i * d + j]! -= dotp * q[i * d + k]!;
    }
    let n = 0;
    for (let i = 0; i < d; i++) n += q[i * d + j]! ** 2;
    n = Math.sqrt(n);
    for (let i = 0; i < d; i++) q[i * d + j]! /= n;
  }
  return q;
}

/** Q diag(spectrum) Qᵀ for a random orthogonal Q. */
export function withSpectrum(rng: Rng, spectrum: readonly number[]): Float64Array {
  const d = spectrum.length;
  const q = randomOrthogonal(rng, d);
  const qs = Float64Array.from(q, (v, e) => v * spectrum[e % d]!);
  return mm(qs, q, d, true);
}

/** A random symmetric matrix with N(0, 1) entries. */
export function randomSymmetric(rng: Rng, d: number): Float64Array {
  const a = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      const v = rng.normal();
      a[i * d + j] = v;
      a[j * d + i] = v;
    }
  }
  return a;
}
