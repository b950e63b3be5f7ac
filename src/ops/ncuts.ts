/**
 * The normalized-cuts layer (Ionescu et al., 1509.07838, after Bach & Jordan, JMLR 2006,
 * "Learning spectral clustering"), for features F [B, n, c] of n pixels:
 *
 *   W_ij = exp(−‖f_i − f_j‖² / σ²)            a Gaussian affinity in (0, 1] (W_ii = 1, so every degree ≥ 1)
 *   M = D^{-1/2} W D^{-1/2},  D = diag(W 1)
 *   Π = U_k U_kᵀ                               the projector on M's k leading eigenvectors
 *
 * and its loss against a segmentation E [n × k] (one indicator column per segment):
 *
 *   J = ½ ‖Π − E (EᵀE)⁻¹ Eᵀ‖²_F               (averaged over the batch)
 *
 * Everything before the eigendecomposition is composed of differentiable ops; Π's backward is
 * eigenProjector's (the eigh adjoint restricted to pairs across the subspace boundary), so the
 * gradient reaches the features through the eigenvectors and stays finite when eigenvalues repeat
 * inside the leading subspace or outside it.
 */
import { noGrad } from '../autograd/tape.ts';
import { fmt } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkOptions } from '../tensor/options.ts';
import { checkTensor, show } from './check.ts';
import { tensor } from './create.ts';
import { add, div, exp, mul, relu, sqrt, sub } from './elementwise.ts';
import { reshape } from './layout.ts';
import { matmul } from './matmul.ts';
import { sum } from './reduce.ts';
import { eigenProjector } from './spectral.ts';
import { EIGH_MAX_D } from '../kernels/eigh.ts';

export interface AffinityOptions {
  /** Bandwidth σ of the Gaussian (default 1). */
  sigma?: number;
}

export interface NormalizedCutsOptions extends AffinityOptions {
  /** eigenProjector's gapTolerance (default 1e-3). */
  gapTolerance?: number;
}

export interface NormalizedCutsResult {
  /** Π = U_k U_kᵀ [B, n, n]. */
  projector: Tensor;
  /** The normalised affinity M = D^{-1/2} W D^{-1/2} [B, n, n]. */
  affinity: Tensor;
}

function checkFeatures(op: string, f: unknown): [number, number, number] {
  checkTensor(op, f, 'the features');
  if (f.rank !== 3) throw new Error(`${op}: features must be [B, n, c] (n pixels of c channels per image), got ${fmt(f.shape)}; reshape an NHWC map to [B, H·W, c].`);
  const [B, n, c] = f.shape as [number, number, number];
  if (n > EIGH_MAX_D) throw new Error(`${op}: n = ${n} pixels give an ${n}×${n} affinity, above the ${EIGH_MAX_D} eigh supports; pool the feature map to fewer pixels.`);
  return [B, n, c];
}

function checkSigma(op: string, sigma: unknown): number {
  if (typeof sigma !== 'number' || !Number.isFinite(sigma) || sigma <= 0) throw new Error(`${op}: sigma must be a finite number > 0, got ${show(sigma)}.`);
  return sigma;
}

/** W_ij = exp(−‖f_i − f_j‖² / σ²) for features F [B, n, c] → [B, n, n]. */
export function gaussianAffinity(f: Tensor, options: AffinityOptions = {}): Tensor {
  const op = 'gaussianAffinity';
  checkOptions(op, options, ['sigma']);
  const [B, n] = checkFeatures(op, f);
  const s2 = checkSigma(op, options.sigma ?? 1) ** 2;
  // ‖f_i − f_j‖² = ‖f_i‖² + ‖f_j‖² − 2 f_i·f_j, clamped at 0 (rounding makes it slightly negative near i = j), so W ≤ 1.
  const sq = sum(mul(f, f), 2);
  const dots = matmul(f, f, { transB: true });
  const d2 = relu(sub(add(reshape(sq, [B, n, 1]), reshape(sq, [B, 1, n])), mul(dots, 2)));
  return exp(mul(d2, -1 / s2));
}

/** The normalized-cuts layer: Π on the k leading eigenvectors of D^{-1/2} W D^{-1/2} (k one number or one per image). */
export function normalizedCuts(f: Tensor, k: number | readonly number[], options: NormalizedCutsOptions = {}): NormalizedCutsResult {
  const op = 'normalizedCuts';
  checkOptions(op, options, ['sigma', 'gapTolerance']);
  const [B, n] = checkFeatures(op, f);
  checkSigma(op, options.sigma ?? 1);
  const w = gaussianAffinity(f, { sigma: options.sigma ?? 1 });
  const isqrt = div(1, sqrt(sum(w, 2)));
  const affinity = mul(mul(w, reshape(isqrt, [B, n, 1])), reshape(isqrt, [B, 1, n]));
  const projector = eigenProjector(affinity, k, options.gapTolerance === undefined ? {} : { gapTolerance: options.gapTolerance });
  return { projector, affinity };
}

export interface SegmentProjector {
  /** E (EᵀE)⁻¹ Eᵀ [B, n, n]: 1/|S| where pixels i and j lie in the same segment S, else 0. */
  projector: Tensor;
  /** Segments present in each image (the k of its normalized-cuts projector). */
  segments: number[];
}

/** The ground-truth projector of segmentations `labels` [B·n] (any integer ids; each id present is one segment). */
export function segmentProjector(labels: ArrayLike<number>, batch: number, n: number): SegmentProjector {
  const op = 'segmentProjector';
  if (!Number.isInteger(batch) || batch < 1 || !Number.isInteger(n) || n < 1 || labels.length !== batch * n) {
    throw new Error(`${op}: labels must hold batch × n = ${show(batch)} × ${show(n)} ids, got ${labels.length}.`);
  }
  const p = new Float32Array(batch * n * n);
  const segments: number[] = [];
  for (let b = 0; b < batch; b++) {
    const count = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const l = labels[b * n + i]!;
      if (!Number.isInteger(l)) throw new Error(`${op}: label ${i} of image ${b} is ${show(l)}, not an integer id.`);
      count.set(l, (count.get(l) ?? 0) + 1);
    }
    segments.push(count.size);
    for (let i = 0; i < n; i++) {
      const li = labels[b * n + i]!;
      for (let j = 0; j < n; j++) if (labels[b * n + j] === li) p[(b * n + i) * n + j] = 1 / count.get(li)!;
    }
  }
  return { projector: noGrad(() => tensor(p, [batch, n, n])), segments };
}

/** J = ½ ‖Π − P‖²_F averaged over the batch, for projectors Π, P [B, n, n] (P without gradient). */
export function projectorLoss(projector: Tensor, target: Tensor): Tensor {
  const op = 'projectorLoss';
  checkTensor(op, projector, 'the projector');
  checkTensor(op, target, 'the target');
  if (projector.rank !== 3 || target.rank !== 3 || projector.shape.some((s, i) => s !== target.shape[i])) {
    throw new Error(`${op}: projector and target must both be [B, n, n] of the same shape, got ${fmt(projector.shape)} and ${fmt(target.shape)}.`);
  }
  const diff = sub(projector, target);
  return mul(sum(mul(diff, diff)), 0.5 / projector.shape[0]!);
}
