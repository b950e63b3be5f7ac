/**
 * AdamW (decoupled weight decay), as PyTorch's torch.optim.AdamW (amsgrad off):
 *   θ ← θ·(1 − lr·wd); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
 *   θ ← θ − lr/(1 − β1^t) · m / (sqrt(v)/sqrt(1 − β2^t) + eps),
 * with t counted per parameter (steps where it had a gradient). One fused dispatch per group per
 * step (src/kernels/optim.ts `adamwUpdate`; the packing is explained in optimizer.ts).
 */
import { adamwUpdate } from '../kernels/optim.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkNumber, Optimizer } from './optimizer.ts';
import type { Group, ParamGroup } from './optimizer-types.ts';

export interface AdamWOptions {
  /** Learning rate (default 1e-3). */
  lr: number;
  /** Decay rates of the first and second moment estimates (default [0.9, 0.999]). */
  betas: readonly [number, number];
  /** Added to the denominator (default 1e-8). */
  eps: number;
  /** Decoupled weight decay: θ ← θ·(1 − lr·wd) (default 1e-2, as PyTorch). */
  weightDecay: number;
}

export const ADAMW_DEFAULTS: Readonly<AdamWOptions> = Object.freeze({ lr: 1e-3, betas: [0.9, 0.999] as const, eps: 1e-8, weightDecay: 1e-2 });

export class AdamW extends Optimizer<AdamWOptions> {
  /**
   * `new AdamW(params, options)` or `new AdamW([{ params, lr, weightDecay }, ...], defaults)`:
   * each group's options override the defaults.
   */
  constructor(params: readonly Tensor[] | readonly ParamGroup<AdamWOptions>[], defaults: Partial<AdamWOptions> = {}) {
    super('AdamW', params, ADAMW_DEFAULTS, defaults);
  }

  protected validateHyper(h: AdamWOptions, where: string): void {
    checkNumber(where, 'lr', h.lr, 0);
    if (!Array.isArray(h.betas) || h.betas.length !== 2) {
      throw new Error(`${where}: betas must be a pair [β1, β2], got ${JSON.stringify(h.betas)}.`);
    }
    checkNumber(where, 'betas[0]', h.betas[0], 0, 1);
    checkNumber(where, 'betas[1]', h.betas[1], 0, 1);
    checkNumber(where, 'eps', h.eps, 0);
    checkNumber(where, 'weightDecay', h.weightDecay, 0);
  }

  protected stateNames(): string[] {
    return ['exp_avg', 'exp_avg_sq'];
  }

  /** Bias corrections in float64 (as PyTorch computes them on the host), stored as f32. */
  protected override tableRow(h: AdamWOptions, step: number, out: Float32Array, at: number): void {
    out[at] = 1 - h.betas[0] ** step;
    out[at + 1] = Math.sqrt(1 - h.betas[1] ** step);
  }

  protected dispatch(g: Group<AdamWOptions>): void {
    const op = 'AdamW.step()';
    const h = g.hyper;
    const packed = { theta: g.theta!, grad: g.grad!, table: g.table!, nChunks: g.nChunks, nParams: g.params.length };
    adamwUpdate(op, packed, g.state.get('exp_avg')!, g.state.get('exp_avg_sq')!, {
      lr: h.lr,
      beta1: h.betas[0],
      beta2: h.betas[1],
      eps: h.eps,
      weightDecay: h.weightDecay,
    });
  }
}
