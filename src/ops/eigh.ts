/**
 * Batched symmetric eigendecomposition A = U diag(λ) Uᵀ (kernels/eigh.wgsl: parallel cyclic
 * Jacobi, or Householder tridiagonalisation + implicit QL; `method`) with the
 * matrix-backpropagation adjoint (Ionescu et al., 1509.07838; docs math.md).
 *
 * Policy. The input is symmetrised, sym(A) = (A + Aᵀ)/2, before the decomposition, so any square
 * input is accepted and the gradient is that of the symmetrised map (a symmetric dA). Non-finite
 * input (NaN, ±Inf) cannot be refused before GPU work (the data lives on the GPU): the kernel
 * reports it as NaN values and vectors for that matrix, and never iterates on it.
 * Conventions: values ascending; vectors as columns; each column's entry of largest magnitude
 * (the first such) positive.
 *
 * Backward, with M = Uᵀ dU: dA = U (sym(K̃ ∘ M) + diag(dΛ)) Uᵀ, K̃_ij = 1/(λ_j − λ_i).
 * Degenerate pairs (|λ_i − λ_j| ≤ gapTolerance · max|λ|) contribute 0. That is the exact limit
 * for a loss that sees each eigenspace only through its projector P_k = U_k U_kᵀ and symmetric
 * functions of its eigenvalues (the normalized-cuts projector loss, sums of f(λ_i)): then M's
 * antisymmetric part vanishes on the eigenspace's block for any nearby λ. A loss that is
 * invariant only while the eigenvalues are exactly equal, such as ⟨R, U f(Λ) Uᵀ⟩, has a limit
 * (M_ij − M_ji)/(λ_j − λ_i) → f'-dependent terms that dU and dΛ do not carry: use
 * spectralFunction (Daleckii-Krein) for it. A loss that depends on the basis chosen inside an
 * eigenspace has no derivative there (the eigenvectors are not differentiable functions of A);
 * the gradient returned holds that basis fixed (finite, never NaN).
 */
import { record } from '../autograd/tape.ts';
import { defaultEighMethod, EIGH_MAX_D, eighParts, eighVectorsCore, TRIDIAGONAL_MAX_D, type EighMethod } from '../kernels/eigh.ts';
import { fmt } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkTensor, show } from './check.ts';
import { checkOptions } from '../tensor/options.ts';
import { mul } from './elementwise.ts';
import { reshape } from './layout.ts';
import { matmul } from './matmul.ts';

export interface EighOptions {
  /**
   * Eigenvalues closer than gapTolerance · max|λ| count as equal in the backward. Default 1e-5:
   * above f32 Jacobi's eigenvalue error (a few ε·‖A‖, ε = 2⁻²³), so a pair that is exactly
   * repeated in A but rounded apart still counts as repeated.
   */
  gapTolerance?: number;
  /**
   * The kernel: 'jacobi' (parallel cyclic Jacobi, any d ≤ 1024), 'tridiagonal' (Householder
   * tridiagonalisation and implicit QL, d ≤ 256) or 'auto' (the default: tridiagonal on a CPU
   * driver, where it measured 5–10× faster from d = 32 on, Jacobi elsewhere). Both meet the
   * same accuracy bounds (test/ops/eigh.test.ts); results differ in the last bits.
   */
  method?: 'auto' | EighMethod;
}

export interface EighResult {
  /** Eigenvalues, ascending [..., d]. */
  values: Tensor;
  /** Eigenvectors as columns [..., d, d]: A = vectors · diag(values) · vectorsᵀ. */
  vectors: Tensor;
}

const DEFAULT_EIGH_GAP = 1e-5;

/** Shape checks shared by eigh and the spectral functions; returns d. */
export function checkSymmetricInput(op: string, a: unknown): number {
  checkTensor(op, a, 'the matrix');
  if (a.rank < 2) throw new Error(`${op}: needs a batch of square matrices [..., d, d], got ${fmt(a.shape)} (rank ${a.rank}); reshape a vector to [d, d] first.`);
  const d = a.shape[a.rank - 1]!;
  if (a.shape[a.rank - 2] !== d) {
    throw new Error(`${op}: the last two dimensions must be equal (square matrices), got ${fmt(a.shape)}.`);
  }
  if (d > EIGH_MAX_D) throw new Error(`${op}: d = ${d} is above the supported ${EIGH_MAX_D}; split the problem or reduce d.`);
  return d;
}

export function checkGap(op: string, gap: unknown): number {
  if (typeof gap !== 'number' || !Number.isFinite(gap) || gap < 0 || gap >= 1) {
    throw new Error(`${op}: gapTolerance must be a number in [0, 1), got ${show(gap)}.`);
  }
  return gap;
}

/** The kernel for `method` at this d ('auto': defaultEighMethod), refused where it cannot run. */
function checkMethod(op: string, method: unknown, d: number): EighMethod {
  if (method === 'auto') return defaultEighMethod(d);
  if (method !== 'jacobi' && method !== 'tridiagonal') {
    throw new Error(`${op}: method must be 'auto', 'jacobi' or 'tridiagonal', got ${show(method)}.`);
  }
  if (method === 'tridiagonal' && d > TRIDIAGONAL_MAX_D) {
    throw new Error(`${op}: method 'tridiagonal' takes d ≤ ${TRIDIAGONAL_MAX_D}, got d = ${d}; use 'jacobi' or 'auto' (any d ≤ ${EIGH_MAX_D}).`);
  }
  return method;
}

/** U diag(c) Uᵀ for c [..., d] (gradients off: called from backward rules and forwards). */
export function conjugateDiag(u: Tensor, c: Tensor): Tensor {
  const d = c.shape[c.rank - 1]!;
  const row = reshape(c, [...c.shape.slice(0, -1), 1, d]);
  const scaled = mul(u, row);
  const out = matmul(scaled, u, { transB: true });
  scaled.dispose();
  row.dispose();
  return out;
}

/** U C Uᵀ. */
export function conjugate(u: Tensor, c: Tensor): Tensor {
  const uc = matmul(u, c);
  const out = matmul(uc, u, { transB: true });
  uc.dispose();
  return out;
}

/** Eigenvalues (ascending) and eigenvectors (columns) of sym(A) for a batch A [..., d, d]. */
export function eigh(a: Tensor, options: EighOptions = {}): EighResult {
  const op = 'eigh';
  checkOptions(op, options, ['gapTolerance', 'method']);
  const d = checkSymmetricInput(op, a);
  const gap = checkGap(op, options.gapTolerance ?? DEFAULT_EIGH_GAP);
  const method = checkMethod(op, options.method ?? 'auto', d);
  const { values, vectors, sweeps } = eighParts(op, a, method);
  sweeps.dispose();
  // dΛ alone: dA = U diag(dΛ) Uᵀ.
  record('eigh values', values, [a], (g) => [conjugateDiag(vectors, g)]);
  // dU alone: dA = U sym(K̃ ∘ Uᵀ dU) Uᵀ (degenerate pairs 0; file comment).
  record('eigh vectors', vectors, [a], (g) => {
    const m = matmul(vectors, g, { transA: true });
    const core = eighVectorsCore('eigh backward', values, m, gap);
    m.dispose();
    const da = conjugate(vectors, core);
    core.dispose();
    return [da];
  });
  // Each rule reads the other output: keep it alive with the one that needs it.
  if (values.gradNode) values.own(vectors.alias());
  if (vectors.gradNode) vectors.own(values.alias());
  return { values, vectors };
}
