/**
 * Batch normalisation over the last axis (channels): x [..., C] is normalised per channel over
 * every other axis, so NHWC images [B, H, W, C] and feature rows [N, C] both work. PyTorch
 * semantics (nn.BatchNorm1d/2d with affine = true and track_running_stats = true):
 *   training: y = (x − mean_B) / sqrt(var_B + eps) · γ + β with the batch mean and the biased batch
 *             variance; the running statistics are updated in place on the GPU,
 *             running = (1 − momentum) · running + momentum · batch, with the unbiased variance;
 *   eval:     the same with the running mean and variance (which stay unchanged).
 *
 * Kernels (src/kernels/batchnorm.ts): training forward = a sliced per-channel Welford pass (mean
 * and M2, robust to |mean| ≫ σ where Σx, Σx² cancel), a per-channel finalize that also updates the
 * running statistics, and a fused normalise + affine pass; eval forward = a [C] snapshot of the
 * running statistics + the same normalise pass. Backward = a sliced per-channel Σdy, Σdy·(x − mean)
 * pass, a per-channel finalize (dβ, dγ), and one dx pass. x̂ is recomputed from x (never stored);
 * the saved state is a [2, C] tensor of mean and 1/σ owned by the output.
 */
import { record } from '../autograd/tape.ts';
import { batchNormalize, batchNormInputGrad, batchNormInputGradEval, batchNormParamGrads, batchStats, runningStats } from '../kernels/batchnorm.ts';
import { fmt } from '../tensor/shape.ts';
import { keep } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkTensor } from './check.ts';
import { full } from './create.ts';
import { checkOptions } from '../tensor/options.ts';

/** Running statistics of a batch-norm layer: buffers (no gradients), updated in place in training. */
export interface BatchNormState {
  /** [C], initially 0 (PyTorch). */
  runningMean: Tensor;
  /** [C], initially 1 (PyTorch). */
  runningVar: Tensor;
}

export interface BatchNormOptions {
  /** true: batch statistics, running statistics updated; false: running statistics used. Required. */
  training: boolean;
  /** Weight of the batch statistic in the running update (PyTorch's momentum). Default 0.1. */
  momentum?: number;
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
  /**
   * ReLU(batch norm) in the same passes: y = max(0, ·), and the backward takes ReLU's adjoint
   * (dy where y > 0) inside its own kernels. Same values as relu(batchNorm(...)) to the bit, one
   * pass and one dispatch fewer each way. Default false.
   */
  relu?: boolean;
}

/** Fresh running statistics for `channels` channels: mean 0, variance 1 (kept out of tidy). */
export function batchNormState(channels: number): BatchNormState {
  if (!Number.isInteger(channels) || channels < 1) {
    throw new Error(`batchNormState: channels must be a positive integer, got ${String(channels)}.`);
  }
  return { runningMean: keep(full([channels], 0)), runningVar: keep(full([channels], 1)) };
}

function checkVector(op: string, t: unknown, what: string, C: number, x: Tensor): asserts t is Tensor {
  checkTensor(op, t, what);
  if (t.rank !== 1 || t.shape[0] !== C) {
    throw new Error(`${op}: ${what} must have shape [${C}] (one value per channel of x ${fmt(x.shape)}), got ${fmt(t.shape)}.`);
  }
}

/** The options with their defaults, checked (before any GPU work). */
function readOptions(op: string, options: BatchNormOptions): Required<BatchNormOptions> {
  if (options && typeof options === 'object') checkOptions(op, options, ['training', 'momentum', 'eps', 'relu']);
  if (!options || typeof options !== 'object' || typeof options.training !== 'boolean') {
    throw new Error(`${op}: options.training must be true (batch statistics, running statistics updated) or false (running statistics used), got ${String(options?.training)}.`);
  }
  const momentum = options.momentum ?? 0.1;
  const eps = options.eps ?? 1e-5;
  const relu = options.relu ?? false;
  if (typeof relu !== 'boolean') throw new Error(`${op}: relu must be true or false, got ${String(options.relu)}.`);
  if (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1)) {
    throw new Error(`${op}: momentum must be a number in [0, 1], got ${String(momentum)}.`);
  }
  if (typeof eps !== 'number' || !(eps > 0) || !Number.isFinite(eps)) {
    throw new Error(`${op}: eps must be a finite number > 0, got ${String(eps)}.`);
  }
  return { training: options.training, momentum, eps, relu };
}

/**
 * Batch normalisation of x [..., C] over all axes but the last, with per-channel scale γ [C] and
 * shift β [C] (parameters) and running statistics `state` (buffers, updated in place when
 * training). Returns y with x's shape.
 */
export function batchNorm(x: Tensor, gamma: Tensor, beta: Tensor, state: BatchNormState, options: BatchNormOptions): Tensor {
  const op = 'batchNorm';
  checkTensor(op, x, 'x');
  if (x.rank < 2) {
    throw new Error(`${op}: x must have rank ≥ 2 ([N, C] or NHWC [B, H, W, C], channels last), got ${fmt(x.shape)}.`);
  }
  const C = x.shape[x.rank - 1]!;
  const R = x.size / C;
  checkVector(op, gamma, 'gamma', C, x);
  checkVector(op, beta, 'beta', C, x);
  if (!state || typeof state !== 'object') {
    throw new Error(`${op}: state must be { runningMean, runningVar } (tensors of shape [${C}]); batchNormState(${C}) makes one.`);
  }
  checkVector(op, state.runningMean, 'state.runningMean', C, x);
  checkVector(op, state.runningVar, 'state.runningVar', C, x);
  for (const [name, t] of [
    ['runningMean', state.runningMean],
    ['runningVar', state.runningVar],
  ] as const) {
    if (t.requiresGrad) {
      throw new Error(`${op}: state.${name} has requiresGrad: true; running statistics are buffers updated in place, not parameters.`);
    }
  }
  const { training, momentum, eps, relu } = readOptions(op, options);
  if (training) {
    if (R < 2) {
      throw new Error(`${op}: training needs more than one value per channel (the batch variance of one value is undefined), got x ${fmt(x.shape)} with ${R} value per channel.`);
    }
    if (state.runningMean.bind(op).buffer === state.runningVar.bind(op).buffer) {
      throw new Error(`${op}: state.runningMean and state.runningVar share storage; they are updated in place and need separate tensors.`);
    }
  }

  const d = { R, C, momentum, eps, relu };
  // Per-channel mean and 1/σ: of the batch (training) or a snapshot of the running statistics.
  const stats = training ? batchStats(op, x, state.runningMean, state.runningVar, d) : runningStats(op, state.runningMean, state.runningVar, d);
  const y = batchNormalize(op, x, stats, gamma, beta, d);

  // Training: dβ = Σ dy, dγ = Σ dy ⊙ x̂, dx = γ/σ · (dy − mean(dy) − x̂ ⊙ mean(dy ⊙ x̂)) (the
  // batch statistics' own adjoints included); eval: the same dβ, dγ and dx = γ/σ · dy.
  record(op, y, [x, gamma, beta], (g) => {
    const bop = `${op} backward`;
    const needParams = gamma.requiresGrad || beta.requiresGrad;
    // y is read only with relu (ReLU's adjoint, dy where y > 0).
    const pg = training || needParams ? batchNormParamGrads(bop, x, g, y, stats, d) : null;
    let dx: Tensor | null = null;
    if (x.requiresGrad) {
      dx = training ? batchNormInputGrad(bop, x, g, y, stats, gamma, pg!.dgamma, pg!.dbeta, d) : batchNormInputGradEval(bop, g, y, stats, gamma, d);
    }
    let dgamma = pg?.dgamma ?? null;
    let dbeta = pg?.dbeta ?? null;
    if (dgamma && !gamma.requiresGrad) {
      dgamma.dispose();
      dgamma = null;
    }
    if (dbeta && !beta.requiresGrad) {
      dbeta.dispose();
      dbeta = null;
    }
    return [dx, dgamma, dbeta];
  });
  // The statistics live as long as the backward rule that reads them.
  if (y.gradNode) y.own(stats);
  else stats.dispose();
  return y;
}
