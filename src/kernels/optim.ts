/**
 * Launchers for kernels/optim.wgsl: one fused SGD or AdamW update of a packed parameter group
 * (the packing is explained in src/optim/optimizer.ts). The optimizers compute the
 * hyper-parameters; these only bind and dispatch.
 */
import optimWgsl from '../../kernels/optim.wgsl';
import type { Tensor } from '../tensor/tensor.ts';
import { grid, uniform } from './dispatch.ts';
import { defineKernel } from '../gpu/registry.ts';

const K = {
  sgd: /* @__PURE__ */ defineKernel('optim_sgd', optimWgsl, 'sgd'),
  adamw: /* @__PURE__ */ defineKernel('optim_adamw', optimWgsl, 'adamw'),
};

/** A packed group: flat parameters and gradients, the chunk table, and their sizes. */
export interface PackedGroup {
  theta: Tensor;
  grad: Tensor;
  table: Tensor;
  nChunks: number;
  nParams: number;
}

export interface SgdStep {
  lr: number;
  /** 0 when the group keeps no momentum buffer. */
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

/** θ updated in place by SGD; `mom` is the momentum buffer (any tensor when momentum is 0). */
export function sgdUpdate(op: string, g: PackedGroup, mom: Tensor, h: SgdStep): void {
  K.sgd.dispatch({
    bindings: {
      theta: g.theta.bind(op, 'read_write'),
      grad: g.grad.bind(op),
      tab: g.table.bind(op),
      mom: mom.bind(op, 'read_write'),
      sp: uniform({
        n_chunks: g.nChunks,
        n_params: g.nParams,
        lr: h.lr,
        momentum: h.momentum,
        weight_decay: h.weightDecay,
        nesterov: h.nesterov,
      }),
    },
    workgroups: grid(g.nChunks),
  });
}

export interface AdamwStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** θ, m and v updated in place by AdamW (bias corrections come from the chunk table). */
export function adamwUpdate(op: string, g: PackedGroup, expAvg: Tensor, expAvgSq: Tensor, h: AdamwStep): void {
  K.adamw.dispatch({
    bindings: {
      theta: g.theta.bind(op, 'read_write'),
      grad: g.grad.bind(op),
      tab: g.table.bind(op),
      exp_avg: expAvg.bind(op, 'read_write'),
      exp_avg_sq: expAvgSq.bind(op, 'read_write'),
      ap: uniform({
        n_chunks: g.nChunks,
        n_params: g.nParams,
        lr: h.lr,
        beta2: h.beta2,
        one_minus_beta1: 1 - h.beta1,
        one_minus_beta2: 1 - h.beta2,
        decay: 1 - h.lr * h.weightDecay,
        eps: h.eps,
      }),
    },
    workgroups: grid(g.nChunks),
  });
}
