/**
 * Launchers for kernels/batchnorm.wgsl: per-channel statistics over R rows × C channels (batch:
 * a sliced Welford pass + a finalize that updates the running statistics in place; eval: a
 * snapshot of the running statistics), the normalise + affine pass, and the backward passes
 * (per-channel Σdy, Σdy·x̂ → dγ, dβ; dx), each optionally with ReLU fused after it. Forward only (no autograd): src/ops/batchnorm.ts checks
 * the arguments and records the gradient.
 */
import batchnormWgsl from '../../kernels/batchnorm.wgsl';
import { adapterInfo } from '../device/engine.ts';
import { Tensor } from '../tensor/tensor.ts';
import { groupsFor, overrideSets, uniform } from './dispatch.ts';
import { defineKernel } from '../gpu/registry.ts';

const K = {
  statsPartial: /* @__PURE__ */ defineKernel('batchnorm_stats', batchnormWgsl, 'stats_partial', { variants: () => overrideSets({ WG }, { CT: [1, 2, 4, 8, 16, 32, 64] }) }),
  statsFinalize: /* @__PURE__ */ defineKernel('batchnorm_stats_finalize', batchnormWgsl, 'stats_finalize', { variants: () => overrideSets({ WG }) }),
  statsEval: /* @__PURE__ */ defineKernel('batchnorm_stats_eval', batchnormWgsl, 'stats_eval', { variants: () => overrideSets({ WG }) }),
  normalize: /* @__PURE__ */ defineKernel('batchnorm_normalize', batchnormWgsl, 'normalize', { variants: () => overrideSets({ WG }, { RELU: [false, true] }) }),
  gradPartial: /* @__PURE__ */ defineKernel('batchnorm_grad_partial', batchnormWgsl, 'grad_partial', {
    variants: () => overrideSets({ WG }, { CT: [1, 2, 4, 8, 16, 32, 64], RELU: [false, true] }),
  }),
  gradFinalize: /* @__PURE__ */ defineKernel('batchnorm_grad_finalize', batchnormWgsl, 'grad_finalize', { variants: () => overrideSets({ WG }) }),
  dxTrain: /* @__PURE__ */ defineKernel('batchnorm_dx', batchnormWgsl, 'dx_train', { variants: () => overrideSets({ WG }, { RELU: [false, true] }) }),
  dxEval: /* @__PURE__ */ defineKernel('batchnorm_dx_eval', batchnormWgsl, 'dx_eval', { variants: () => overrideSets({ WG }, { RELU: [false, true] }) }),
};

const WG = 64;
/** Most row slices of a per-channel reduction (the finalize pass combines them serially). */
const MAX_CHUNKS = 256;
/**
 * Rows each row lane reduces serially before another slice is opened: 32 on a GPU (many slices
 * fill it), 256 on a CPU driver, where each workgroup costs far more than the rows it reduces
 * (the demo's [512, 32] statistics: 0.37 → 0.09 ms, [2048, 16] 0.79 → 0.20 ms; docs/measurements.md).
 */
function rowsPerLane(): number {
  return adapterInfo().software ? 256 : 32;
}

/**
 * Rows per invocation of the element-wise passes (normalize, dx): each invocation reads its
 * channel's statistics and parameters once for the run. 32 on a CPU driver, where those loads
 * were most of the pass (docs/measurements.md); 1 on a GPU, one invocation per element as before
 * (longer runs there are unmeasured).
 */
function rowsPerRun(): number {
  return forcedRowsPerRun ?? (adapterInfo().software ? 32 : 1);
}

let forcedRowsPerRun: number | null = null;

/** @internal Tests: the element-wise passes' rows per invocation on any adapter (null: the default). */
export function setBatchNormRowsPerRun(rows: number | null): void {
  forcedRowsPerRun = rows;
}

/** Tiling of the per-channel reductions over R rows × C channels (see kernels/batchnorm.wgsl). */
export interface ReductionPlan {
  /** Channels per workgroup (a power of two ≤ WG). */
  ct: number;
  blocks: number;
  chunkRows: number;
  chunks: number;
}

export function reductionPlan(rows: number, channels: number): ReductionPlan {
  let ct = 1;
  while (ct < channels && ct < WG) ct *= 2;
  const lanes = WG / ct;
  let chunkRows = lanes * rowsPerLane();
  let chunks = Math.ceil(rows / chunkRows);
  if (chunks > MAX_CHUNKS) {
    chunkRows = Math.ceil(rows / MAX_CHUNKS);
    chunks = Math.ceil(rows / chunkRows);
  }
  return { ct, blocks: Math.ceil(channels / ct), chunkRows, chunks };
}

/** One batch norm's sizes and constants: x is [R, C] (rows × channels). */
export interface BatchNormDims {
  R: number;
  C: number;
  momentum: number;
  eps: number;
  /** ReLU fused after the normalisation (and its adjoint before the backward). */
  relu: boolean;
}

/** The tiling and workgroup counts shared by the passes of one batch norm. */
function launch(d: BatchNormDims) {
  const plan = reductionPlan(d.R, d.C);
  const rowsPer = rowsPerRun();
  const runs = d.C * Math.ceil(d.R / rowsPer);
  return {
    plan,
    /** The sliced reductions' `Tiling` uniform. */
    tiling: uniform({ rows: d.R, channels: d.C, chunk_rows: plan.chunkRows, chunks: plan.chunks, blocks: plan.blocks }),
    /** normalize's and dx_eval's `Elements` uniform (dx_train's `DxParams` holds the same). */
    elements: uniform({ n: runs, channels: d.C, rows: d.R, rows_per: rowsPer }),
    reduce: { overrides: { WG, CT: plan.ct, RELU: d.relu }, workgroups: groupsFor(plan.blocks * plan.chunks, 1) },
    channel: { overrides: { WG }, workgroups: groupsFor(d.C, WG) },
    element: { overrides: { WG, RELU: d.relu }, workgroups: groupsFor(runs, WG) },
  };
}

/**
 * Batch statistics [2, C] (mean, 1/σ) of x; the running mean and variance are updated in place
 * (running = (1 − momentum) · running + momentum · batch, unbiased variance).
 */
export function batchStats(op: string, x: Tensor, runMean: Tensor, runVar: Tensor, d: BatchNormDims): Tensor {
  const l = launch(d);
  const stats = Tensor.empty([2, d.C], `${op} statistics`);
  const part = Tensor.empty([l.plan.chunks, d.C, 2], `${op} statistics`);
  K.statsPartial.dispatch({ bindings: { sx: x.bind(op), spart: part.bind(op, 'read_write'), sp: l.tiling }, overrides: { WG, CT: l.plan.ct }, workgroups: l.reduce.workgroups });
  K.statsFinalize.dispatch({
    bindings: {
      fpart: part.bind(op),
      fstats: stats.bind(op, 'read_write'),
      frun_mean: runMean.bind(op, 'read_write'),
      frun_var: runVar.bind(op, 'read_write'),
      fp: uniform({ rows: d.R, channels: d.C, chunk_rows: l.plan.chunkRows, chunks: l.plan.chunks, momentum: d.momentum, eps: d.eps }),
    },
    ...l.channel,
  });
  part.dispose();
  return stats;
}

/** A [2, C] (mean, 1/σ) snapshot of the running statistics (eval mode). */
export function runningStats(op: string, runMean: Tensor, runVar: Tensor, d: BatchNormDims): Tensor {
  const l = launch(d);
  const stats = Tensor.empty([2, d.C], `${op} statistics`);
  K.statsEval.dispatch({
    bindings: { erun_mean: runMean.bind(op), erun_var: runVar.bind(op), estats: stats.bind(op, 'read_write'), ep: uniform({ channels: d.C, eps: d.eps }) },
    ...l.channel,
  });
  return stats;
}

/** y = (x − mean) · (1/σ) · γ + β per channel (then max(·, 0) with d.relu). */
export function batchNormalize(op: string, x: Tensor, stats: Tensor, gamma: Tensor, beta: Tensor, d: BatchNormDims): Tensor {
  const l = launch(d);
  const y = Tensor.empty(x.shape, op);
  K.normalize.dispatch({
    bindings: { nx: x.bind(op), nstats: stats.bind(op), ngamma: gamma.bind(op), nbeta: beta.bind(op), ny: y.bind(op, 'read_write'), np: l.elements },
    ...l.element,
  });
  return y;
}

/**
 * dγ = Σ dy ⊙ x̂ and dβ = Σ dy per channel; with d.relu, dy where the output y > 0 and 0
 * elsewhere (`y` is then the forward's output; otherwise unread).
 */
export function batchNormParamGrads(op: string, x: Tensor, dy: Tensor, y: Tensor, stats: Tensor, d: BatchNormDims): { dgamma: Tensor; dbeta: Tensor } {
  const l = launch(d);
  const part = Tensor.empty([l.plan.chunks, d.C, 2], op);
  K.gradPartial.dispatch({
    bindings: { gx: x.bind(op), gdy: dy.bind(op), gstats: stats.bind(op), gy: y.bind(op), gpart: part.bind(op, 'read_write'), gp: l.tiling },
    ...l.reduce,
  });
  const dgamma = Tensor.empty([d.C], op);
  const dbeta = Tensor.empty([d.C], op);
  K.gradFinalize.dispatch({
    bindings: {
      hpart: part.bind(op),
      hstats: stats.bind(op),
      hdgamma: dgamma.bind(op, 'read_write'),
      hdbeta: dbeta.bind(op, 'read_write'),
      hp: uniform({ channels: d.C, chunks: l.plan.chunks }),
    },
    ...l.channel,
  });
  part.dispose();
  return { dgamma, dbeta };
}

/** Training dx = γ/σ · (dy − mean(dy) − x̂ ⊙ mean(dy ⊙ x̂)), from dγ and dβ. */
export function batchNormInputGrad(op: string, x: Tensor, dy: Tensor, y: Tensor, stats: Tensor, gamma: Tensor, dgamma: Tensor, dbeta: Tensor, d: BatchNormDims): Tensor {
  const l = launch(d);
  const dx = Tensor.empty(x.shape, op);
  K.dxTrain.dispatch({
    bindings: {
      tx: x.bind(op),
      tdy: dy.bind(op),
      tstats: stats.bind(op),
      tgamma: gamma.bind(op),
      tdgamma: dgamma.bind(op),
      tdbeta: dbeta.bind(op),
      ty: y.bind(op),
      tdx: dx.bind(op, 'read_write'),
      tp: l.elements,
    },
    ...l.element,
  });
  return dx;
}

/** Eval dx = γ/σ · dy (dy masked by y > 0 with d.relu). */
export function batchNormInputGradEval(op: string, dy: Tensor, y: Tensor, stats: Tensor, gamma: Tensor, d: BatchNormDims): Tensor {
  const l = launch(d);
  const dx = Tensor.empty(dy.shape, op);
  K.dxEval.dispatch({
    bindings: { vdy: dy.bind(op), vstats: stats.bind(op), vgamma: gamma.bind(op), vy: y.bind(op), vdx: dx.bind(op, 'read_write'), vp: l.elements },
    ...l.element,
  });
  return dx;
}
