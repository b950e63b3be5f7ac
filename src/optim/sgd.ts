/**
 * SGD with momentum, weight decay and Nesterov momentum, as PyTorch's torch.optim.SGD with
 * dampening 0: g ← g + wd·θ; v ← μ·v + g; g ← g + μ·v (nesterov) or g ← v; θ ← θ − lr·g.
 * One fused dispatch per parameter group per step (src/kernels/optim.ts `sgdUpdate`; the packing is
 * explained in optimizer.ts).
 */
import { sgdUpdate } from '../kernels/optim.ts';
import { keep } from '../tensor/scope.ts';
import { Tensor } from '../tensor/tensor.ts';
import { checkNumber, Optimizer } from './optimizer.ts';
import type { Group, ParamGroup } from './optimizer-types.ts';

export interface SGDOptions {
  /** Learning rate (default 1e-3, as PyTorch). */
  lr: number;
  /** Momentum factor μ (default 0: plain SGD, no momentum buffer). */
  momentum: number;
  /** L2 penalty added to the gradient, g ← g + wd·θ (default 0). */
  weightDecay: number;
  /** Nesterov momentum (needs momentum > 0; default false). */
  nesterov: boolean;
}

export const SGD_DEFAULTS: Readonly<SGDOptions> = Object.freeze({ lr: 1e-3, momentum: 0, weightDecay: 0, nesterov: false });

export class SGD extends Optimizer<SGDOptions> {
  /** Bound in place of the momentum buffer when a group has none (the kernel never touches it). */
  private dummy: Tensor | null = null;

  /**
   * `new SGD(params, options)` or `new SGD([{ params, lr, weightDecay }, ...], defaults)`: each
   * group's options override the defaults (e.g. weightDecay 0 for norms and biases).
   */
  constructor(params: readonly Tensor[] | readonly ParamGroup<SGDOptions>[], defaults: Partial<SGDOptions> = {}) {
    super('SGD', params, SGD_DEFAULTS, defaults);
  }

  protected validateHyper(h: SGDOptions, where: string): void {
    checkNumber(where, 'lr', h.lr, 0);
    checkNumber(where, 'momentum', h.momentum, 0);
    checkNumber(where, 'weightDecay', h.weightDecay, 0);
    if (typeof h.nesterov !== 'boolean') throw new Error(`${where}: nesterov must be true or false, got ${String(h.nesterov)}.`);
    if (h.nesterov && h.momentum <= 0) throw new Error(`${where}: nesterov momentum needs momentum > 0 (got momentum ${h.momentum}).`);
  }

  protected stateNames(h: SGDOptions): string[] {
    return h.momentum !== 0 ? ['momentum_buffer'] : [];
  }

  protected dispatch(g: Group<SGDOptions>): void {
    const op = 'SGD.step()';
    const mom = g.state.get('momentum_buffer') ?? (this.dummy ??= keep(Tensor.empty([1], op)));
    const h = g.hyper;
    const packed = { theta: g.theta!, grad: g.grad!, table: g.table!, nChunks: g.nChunks, nParams: g.params.length };
    sgdUpdate(op, packed, mom, {
      lr: h.lr,
      momentum: g.state.has('momentum_buffer') ? h.momentum : 0,
      weightDecay: h.weightDecay,
      nesterov: h.nesterov,
    });
  }

  protected override disposeExtra(): void {
    this.dummy?.dispose();
    this.dummy = null;
  }
}
