/**
 * Spectral matrix functions of symmetric matrices, f(A) = U f(Λ) Uᵀ, with the Daleckii-Krein
 * backward dA = U (G ∘ sym(Uᵀ dY U)) Uᵀ, G_ij = (f(λ_i) − f(λ_j))/(λ_i − λ_j), G_ii = f'(λ_i):
 * finite when eigenvalues meet (pairs closer than gapTolerance · max(|λ_i|, |λ_j|) take
 * (f'(λ_i) + f'(λ_j))/2, the divided difference's limit to second order).
 *
 * logm, sqrtm and powm are for symmetric positive (semi)definite input, and treat eigenvalues that
 * are not positive by one rule: every eigenvalue below the floor
 *
 *     floor = max(eps, d · 2⁻²³ · ‖A‖_F)        (‖A‖_F = ‖λ‖₂, per matrix; eps defaults to 0)
 *
 * is raised to it before f, and f' counts as 0 there: the function computed is f(max(λ, floor)),
 * and its gradient is that function's with the floor held constant. d · 2⁻²³ · ‖A‖_F is the f32
 * rank tolerance: eigenvalues that small are rounding noise of the largest. So a singular or
 * indefinite input gives a finite result in which the positive eigenvalues' part is exact, e.g.
 * logm(diag(−1, 2)) = diag(log(2 · 2⁻²³ · √5), log 2) and sqrtm(diag(−4, 9)) ≈ diag(0.0015, 3);
 * no error is raised, since that would need the eigenvalues read back from the GPU. Only the zero
 * matrix (with eps = 0) has floor 0, where logm and powm with p < 0 are infinite. Pass eps > 0
 * (O2P's εI) to set the floor yourself. spectralFunction applies f as given, with no floor.
 */
import { noGrad, record } from '../autograd/tape.ts';
import { eighParts, spectralCore } from '../kernels/eigh.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { show } from './check.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';
import { full, tensor, zeros } from './create.ts';
import { add, div, log, mul, pow, relu, sqrt, sub } from './elementwise.ts';
import { sum } from './reduce.ts';
import { matmul } from './matmul.ts';
import { checkGap, checkSymmetricInput, conjugate, conjugateDiag } from './eigh.ts';

export interface SpectralOptions {
  /**
   * Pairs with |λ_i − λ_j| ≤ gapTolerance · max(|λ_i|, |λ_j|) use the derivative instead of the
   * divided difference. Default 1e-3: the difference's rounding (≈ ε|f|/gap) and the
   * approximation's error (≈ gap²) then both stay near 1e-4 relative for log and powers.
   */
  gapTolerance?: number;
}

export interface SpdFunctionOptions extends SpectralOptions {
  /**
   * Eigenvalues below max(eps, d · 2⁻²³ · ‖A‖_F) are raised to it (f' = 0 there); see the file
   * comment. Default 0: only the relative f32 floor applies.
   */
  eps?: number;
}

const DEFAULT_SPECTRAL_GAP = 1e-3;
/** spectralFunction's floor: the lowest f32, so no eigenvalue is raised. */
const NO_FLOOR = -3.4028234663852886e38;
/** f32's machine epsilon: the rank tolerance is d · F32_EPS · ‖A‖_F. */
const F32_EPS = 2 ** -23;

type Fn = (lambda: Tensor) => Tensor;

/** max(λ, floor) = relu(λ − floor) + floor, with floor one number or [..., 1] per matrix. */
function clampBelow(values: Tensor, floor: Tensor | number): Tensor {
  const shifted = sub(values, floor);
  const r = relu(shifted);
  shifted.dispose();
  const out = add(r, floor);
  r.dispose();
  return out;
}

/** Per matrix, [..., 1]: max(eps, d · 2⁻²³ · ‖λ‖₂), or NO_FLOOR when eps is null (no clamp). */
function floorOf(values: Tensor, eps: number | null): Tensor {
  const shape = [...values.shape.slice(0, -1), 1];
  if (eps === null) return full(shape, NO_FLOOR);
  const d = values.shape[values.rank - 1]!;
  const sq = mul(values, values);
  const ss = sum(sq, -1, { keepdim: true });
  sq.dispose();
  const norm = sqrt(ss);
  ss.dispose();
  const t = mul(norm, d * F32_EPS);
  norm.dispose();
  const out = clampBelow(t, eps); // max(eps, t)
  t.dispose();
  return out;
}

function spectral(op: string, a: Tensor, f: Fn, df: Fn, eps: number | null, gap: number): Tensor {
  const { values, vectors, sweeps } = eighParts(op, a);
  sweeps.dispose();
  const { fl, dfl, y, floor } = noGrad(() => {
    const floor = floorOf(values, eps);
    const lam = eps === null ? values : clampBelow(values, floor);
    const fl = f(lam);
    const dfl = df(lam);
    if (lam !== values) lam.dispose();
    return { fl, dfl, floor, y: conjugateDiag(vectors, fl) };
  });
  // dY = U (G ∘ sym(Uᵀ dY U)) Uᵀ (Daleckii-Krein).
  record(op, y, [a], (g) => {
    const gu = matmul(g, vectors);
    const m = matmul(vectors, gu, { transA: true });
    gu.dispose();
    const core = spectralCore(`${op} backward`, values, fl, dfl, m, gap, floor);
    m.dispose();
    const da = conjugate(vectors, core);
    core.dispose();
    return [da];
  });
  if (y.gradNode) for (const t of [values, vectors, fl, dfl, floor]) y.own(t);
  else for (const t of [values, vectors, fl, dfl, floor]) t.dispose();
  return y;
}

function gapOf(op: string, options: SpectralOptions): number {
  return checkGap(op, options.gapTolerance ?? DEFAULT_SPECTRAL_GAP);
}

function epsOf(op: string, options: SpdFunctionOptions): number {
  const eps = options.eps ?? 0;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) {
    throw new Error(`${op}: eps must be a finite number ≥ 0, got ${show(eps)}.`);
  }
  return eps;
}

/**
 * f(A) = U f(Λ) Uᵀ for symmetric A [..., d, d]; `f` and `df` (its derivative) map the eigenvalues
 * [..., d] to [..., d] with tensor ops (run without recording).
 */
export function spectralFunction(a: Tensor, f: Fn, df: Fn, options: SpectralOptions = {}): Tensor {
  const op = 'spectralFunction';
  checkOptions(op, options, optionKeys<SpectralOptions>({ gapTolerance: true }));
  checkSymmetricInput(op, a);
  if (typeof f !== 'function' || typeof df !== 'function') {
    throw new Error(`${op}: f and df must be functions of the eigenvalue tensor, got ${show(f)} and ${show(df)}.`);
  }
  return spectral(op, a, f, df, null, gapOf(op, options));
}

/** Matrix logarithm of a symmetric positive definite A (eps: see the file comment). */
export function logm(a: Tensor, options: SpdFunctionOptions = {}): Tensor {
  const op = 'logm';
  checkOptions(op, options, optionKeys<SpdFunctionOptions>({ gapTolerance: true, eps: true }));
  checkSymmetricInput(op, a);
  return spectral(op, a, log, (l) => div(1, l), epsOf(op, options), gapOf(op, options));
}

/** Matrix square root of a symmetric positive semidefinite A. */
export function sqrtm(a: Tensor, options: SpdFunctionOptions = {}): Tensor {
  const op = 'sqrtm';
  checkOptions(op, options, optionKeys<SpdFunctionOptions>({ gapTolerance: true, eps: true }));
  checkSymmetricInput(op, a);
  return spectral(
    op,
    a,
    sqrt,
    (l) => {
      const s = sqrt(l);
      const r = div(0.5, s);
      s.dispose();
      return r;
    },
    epsOf(op, options),
    gapOf(op, options),
  );
}

/** A^p of a symmetric positive (semi)definite A for a real p. */
export function powm(a: Tensor, p: number, options: SpdFunctionOptions = {}): Tensor {
  const op = 'powm';
  checkOptions(op, options, optionKeys<SpdFunctionOptions>({ gapTolerance: true, eps: true }));
  checkSymmetricInput(op, a);
  if (typeof p !== 'number' || !Number.isFinite(p)) throw new Error(`${op}: the power p must be a finite number, got ${show(p)}.`);
  return spectral(
    op,
    a,
    (l) => pow(l, p),
    (l) => {
      const q = pow(l, p - 1);
      const r = mul(q, p);
      q.dispose();
      return r;
    },
    epsOf(op, options),
    gapOf(op, options),
  );
}

export interface EigenProjectorOptions {
  /**
   * Pairs across the subspace's boundary closer than gapTolerance · max(|λ_i|, |λ_j|) contribute
   * 0 to the gradient (default 1e-3; the true gradient there grows as 1/gap: the subspace is
   * ill-defined when λ_k meets λ_{k+1}).
   */
  gapTolerance?: number;
}

/**
 * The orthogonal projector Π = U_k U_kᵀ onto the span of the eigenvectors of the k largest
 * eigenvalues of symmetric A [..., d, d]; `k` is one number or one per matrix (the batch's
 * matrices in order). Π is the spectral function with f = 1 on the top k eigenvalues and 0 on the
 * rest, so its Daleckii-Krein backward has G_ij = 1/(λ_i − λ_j) for i in the top k and j outside
 * (and symmetrically), and 0 inside either block: it never divides by a gap inside the subspace
 * or inside its complement, so the gradient is exact and finite when eigenvalues repeat there
 * (the normalized-cuts layer's projector loss; Bach & Jordan 2006, Ionescu et al. 2015).
 */
export function eigenProjector(a: Tensor, k: number | readonly number[], options: EigenProjectorOptions = {}): Tensor {
  const op = 'eigenProjector';
  checkOptions(op, options, optionKeys<EigenProjectorOptions>({ gapTolerance: true }));
  const d = checkSymmetricInput(op, a);
  const count = a.size / (d * d);
  const ks = typeof k === 'number' ? new Array<number>(count).fill(k) : Array.isArray(k) ? (k as readonly number[]) : null;
  if (!ks || ks.length !== count) {
    throw new Error(`${op}: k must be a number or an array of one k per matrix (${count} for ${a.shape.join('×')}), got ${show(k)}.`);
  }
  ks.forEach((ki, i) => {
    if (!Number.isInteger(ki) || ki < 0 || ki > d)
      throw new Error(`${op}: k must be an integer in [0, ${d}] (the matrix side), got ${show(ki)}${ks.length > 1 ? ` for matrix ${i}` : ''}.`);
  });
  // Values are ascending: the top k are the last k of each matrix's d.
  const mask = new Float32Array(count * d);
  ks.forEach((ki, i) => mask.fill(1, i * d + d - ki, (i + 1) * d));
  const shape = [...a.shape.slice(0, -1)];
  return spectral(
    op,
    a,
    () => tensor(mask, shape),
    () => zeros(shape),
    null,
    gapOf(op, options),
  );
}
