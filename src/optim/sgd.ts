/**
 * SGD with momentum, weight decay and Nesterov momentum, as PyTorch's torch.optim.SGD with
 * dampening 0: g ← g + wd·θ; v ← μ·v + g; g ← g + μ·v (nesterov) or g ← v; θ ← θ − lr·g.
 * One fused dispatch per parameter group per step (kernels/optim.wgsl `sgd`; the packing is
 * explained in optimizer.ts).
 */
import optimWgsl from '../../kernels/optim.wgsl';
import { defineKernel, grid } from '../kernels/registry.ts';
import { uniform } from '../ops/util.ts';
import { keep } from '../tensor/scope.ts';
import { Tensor } from '../tensor/tensor.ts';
import { checkNumber, Optimizer, type Group, type ParamGroup } from './optimizer.ts';

const sgdKernel = defineKernel('optim_sgd', optimWgsl, 'sgd');

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
    sgdKernel.dispatch({
      bindings: {
        theta: g.theta!.bind(op, 'read_write'),
        grad: g.grad!.bind(op),
        tab: g.table!.bind(op),
        mom: mom.bind(op, 'read_write'),
        sp: uniform({
          n_chunks: g.nChunks,
          n_params: g.params.length,
          lr: h.lr,
          momentum: g.state.has('momentum_buffer') ? h.momentum : 0,
          weight_decay: h.weightDecay,
          nesterov: h.nesterov,
        }),
      },
      workgroups: grid(g.nChunks),
    });
  }

  protected override disposeExtra(): void {
    this.dummy?.dispose();
    this.dummy = null;
  }
}
