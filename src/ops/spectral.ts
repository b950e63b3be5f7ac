/**
 * Spectral matrix functions of symmetric matrices, f(A) = U f(Λ) Uᵀ, with the Daleckii-Krein
 * backward dA = U (G ∘ sym(Uᵀ dY U)) Uᵀ, G_ij = (f(λ_i) − f(λ_j))/(λ_i − λ_j), G_ii = f'(λ_i):
 * finite when eigenvalues meet (pairs closer than gapTolerance · max(|λ_i|, |λ_j|) take
 * (f'(λ_i) + f'(λ_j))/2, the divided difference's limit to second order).
 *
 * logm, sqrtm and powm are for symmetric positive (semi)definite input. Eigenvalues below `eps`
 * (default 0) are raised to eps before f, and f' counts as 0 there: the function computed is
 * f(max(λ, eps)) and its gradient is that function's. With eps = 0 a zero eigenvalue gives
 * log 0 = −∞ in logm (and ∞ in powm with p < 0); a negative one (indefinite input, or rounding of
 * a singular PSD matrix) is raised to 0. Pass eps > 0 (O2P's εI) for a finite result.
 */
import { noGrad, record } from '../autograd/tape.ts';
import { eighJacobi, spectralCore } from '../kernels/eigh.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { show } from './check.ts';
import { checkOptions } from '../tensor/options.ts';
import { tensor, zeros } from './create.ts';
import { add, div, log, mul, pow, relu, sqrt, sub } from './elementwise.ts';
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
  /** Eigenvalues below eps are raised to eps (f' = 0 there). Default 0. */
  eps?: number;
}

const DEFAULT_SPECTRAL_GAP = 1e-3;
/** No clamp: the lowest f32. */
const NO_FLOOR = -3.4028234663852886e38;

type Fn = (lambda: Tensor) => Tensor;

/** max(λ, floor) = relu(λ − floor) + floor. */
function clampBelow(values: Tensor, floor: number): Tensor {
  const shifted = sub(values, floor);
  const r = relu(shifted);
  shifted.dispose();
  const out = add(r, floor);
  r.dispose();
  return out;
}

function spectral(op: string, a: Tensor, f: Fn, df: Fn, floor: number, gap: number): Tensor {
  const { values, vectors, sweeps } = eighJacobi(op, a);
  sweeps.dispose();
  const { fl, dfl, y } = noGrad(() => {
    const lam = floor === NO_FLOOR ? values : clampBelow(values, floor);
    const fl = f(lam);
    const dfl = df(lam);
    if (lam !== values) lam.dispose();
    return { fl, dfl, y: conjugateDiag(vectors, fl) };
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
  if (y.gradNode) for (const t of [values, vectors, fl, dfl]) y.own(t);
  else for (const t of [values, vectors, fl, dfl]) t.dispose();
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
  checkOptions(op, options, ['gapTolerance']);
  checkSymmetricInput(op, a);
  if (typeof f !== 'function' || typeof df !== 'function') {
    throw new Error(`${op}: f and df must be functions of the eigenvalue tensor, got ${show(f)} and ${show(df)}.`);
  }
  return spectral(op, a, f, df, NO_FLOOR, gapOf(op, options));
}

/** Matrix logarithm of a symmetric positive definite A (eps: see the file comment). */
export function logm(a: Tensor, options: SpdFunctionOptions = {}): Tensor {
  const op = 'logm';
  checkOptions(op, options, ['gapTolerance', 'eps']);
  checkSymmetricInput(op, a);
  return spectral(op, a, log, (l) => div(1, l), epsOf(op, options), gapOf(op, options));
}

/** Matrix square root of a symmetric positive semidefinite A. */
export function sqrtm(a: Tensor, options: SpdFunctionOptions = {}): Tensor {
  const op = 'sqrtm';
  checkOptions(op, options, ['gapTolerance', 'eps']);
  checkSymmetricInput(op, a);
  return spectral(op, a, sqrt, (l) => {
    const s = sqrt(l);
    const r = div(0.5, s);
    s.dispose();
    return r;
  }, epsOf(op, options), gapOf(op, options));
}

/** A^p of a symmetric positive (semi)definite A for a real p. */
export function powm(a: Tensor, p: number, options: SpdFunctionOptions = {}): Tensor {
  const op = 'powm';
  checkOptions(op, options, ['gapTolerance', 'eps']);
  checkSymmetricInput(op, a);
  if (typeof p !== 'number' || !Number.isFinite(p)) throw new Error(`${op}: the power p must be a finite number, got ${show(p)}.`);
  return spectral(op, a, (l) => pow(l, p), (l) => {
    const q = pow(l, p - 1);
    const r = mul(q, p);
    q.dispose();
    return r;
  }, epsOf(op, options), gapOf(op, options));
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
  checkOptions(op, options, ['gapTolerance']);
  const d = checkSymmetricInput(op, a);
  const count = a.size / (d * d);
  const ks = typeof k === 'number' ? new Array<number>(count).fill(k) : Array.isArray(k) ? (k as readonly number[]) : null;
  if (!ks || ks.length !== count) {
    throw new Error(`${op}: k must be a number or an array of one k per matrix (${count} for ${a.shape.join('×')}), got ${show(k)}.`);
  }
  ks.forEach((ki, i) => {
    if (!Number.isInteger(ki) || ki < 0 || ki > d) throw new Error(`${op}: k must be an integer in [0, ${d}] (the matrix side), got ${show(ki)}${ks.length > 1 ? ` for matrix ${i}` : ''}.`);
  });
  // Values are ascending: the top k are the last k of each matrix's d.
  const mask = new Float32Array(count * d);
  ks.forEach((ki, i) => mask.fill(1, i * d + d - ki, (i + 1) * d));
  const shape = [...a.shape.slice(0, -1)];
  return spectral(op, a, () => tensor(mask, shape), () => zeros(shape), NO_FLOOR, gapOf(op, options));
}
