/**
 * Second-order (O2P) pooling, DeepO2P (Ionescu et al., 1509.07838): the covariance-like
 * matrix of a set of feature vectors, mapped through a matrix function so that a linear layer
 * on it acts in a flat (log-Euclidean) space:
 *
 *   o2p(X) = log(XᵀX / N + εI)           X [B, N, C] → [B, C, C]
 *   o2p(X, { power: p }) = (XᵀX / N + εI)^p   (power normalisation, e.g. p = ½: the matrix square root)
 *
 * The backward goes through logm / powm (Daleckii-Krein), finite when eigenvalues repeat: a
 * rank-deficient XᵀX (N < C, or dead channels) has a (C − rank)-fold eigenvalue ε.
 */
import { noGrad } from '../autograd/tape.ts';
import { fmt } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';
import { checkTensor, show } from './check.ts';
import { tensor } from './create.ts';
import { add, mul } from './elementwise.ts';
import { matmul } from './matmul.ts';
import { logm, powm } from './spectral.ts';
import { EIGH_MAX_D } from '../kernels/eigh.ts';

export interface O2pOptions {
  /** The ridge ε added to XᵀX/N (default 1e-3): keeps the log finite for rank-deficient X. */
  eps?: number;
  /** Use (XᵀX/N + εI)^power instead of the logarithm (power normalisation). */
  power?: number;
  /** Passed to logm / powm (default theirs, 1e-3). */
  gapTolerance?: number;
}

export function o2p(x: Tensor, options: O2pOptions = {}): Tensor {
  const op = 'o2p';
  checkOptions(op, options, optionKeys<O2pOptions>({ eps: true, power: true, gapTolerance: true }));
  checkTensor(op, x, 'the features');
  if (x.rank !== 3) throw new Error(`${op}: features must be [B, N, C] (N vectors of C channels per sample), got ${fmt(x.shape)}; reshape an NHWC map to [B, H·W, C].`);
  const [, N, C] = x.shape as [number, number, number];
  if (C > EIGH_MAX_D) throw new Error(`${op}: C = ${C} channels give a ${C}×${C} matrix, above the ${EIGH_MAX_D} eigh supports; reduce C with a 1×1 convolution first.`);
  const eps = options.eps ?? 1e-3;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0) throw new Error(`${op}: eps must be a finite number > 0, got ${show(eps)}.`);
  const p = options.power;
  if (p !== undefined && (typeof p !== 'number' || !Number.isFinite(p) || p === 0)) {
    throw new Error(`${op}: power must be a finite non-zero number (or omitted for the logarithm), got ${show(p)}.`);
  }
  const gram = matmul(x, x, { transA: true });
  const cov = mul(gram, 1 / N);
  const ridge = noGrad(() => {
    const eye = new Float32Array(C * C);
    for (let i = 0; i < C; i++) eye[i * C + i] = eps;
    return tensor(eye, [C, C]);
  });
  const a = add(cov, ridge);
  // The eigenvalues are ≥ ε in exact arithmetic; the floor ε/2 only guards rounding (f32 error ≈ 6e-8·‖A‖).
  const spd = { eps: eps / 2, ...(options.gapTolerance === undefined ? {} : { gapTolerance: options.gapTolerance }) };
  const y = p === undefined ? logm(a, spd) : powm(a, p, spd);
  ridge.dispose();
  // The graph's intermediates live as long as the result (backward reads them as inputs).
  for (const t of [gram, cov, a]) {
    if (y.gradNode) y.own(t);
    else t.dispose();
  }
  return y;
}
