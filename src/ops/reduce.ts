/**
 * Reductions: sum and mean over any axes (keepdim or not), differentiable. The forward is the
 * reduce launcher (src/kernels/reduce.ts); the backward broadcasts the gradient back with the
 * gather launcher.
 */
import { record } from '../autograd/tape.ts';
import { gather } from '../kernels/elementwise.ts';
import { reduceSum } from '../kernels/reduce.ts';
import { broadcastStrides, normAxes } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkTensor } from './check.ts';
import { checkOptions } from '../tensor/options.ts';

export interface ReduceOptions {
  keepdim?: boolean;
}

function reduce(op: string, x: Tensor, axes: number | readonly number[] | undefined, options: ReduceOptions, mean: boolean): Tensor {
  checkTensor(op, x, 'the input');
  const ax = normAxes(op, axes, x.rank);
  checkOptions(op, options, ['keepdim']);
  const keepdim = options.keepdim ?? false;
  const count = ax.reduce((a, i) => a * x.shape[i]!, 1);
  const scale = mean ? 1 / count : 1;
  const y = reduceSum(op, x, ax, keepdim, scale);
  const keptShape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  // Σ is linear; its adjoint broadcasts the gradient back over the summed axes (times 1/count for mean).
  return record(op, y, [x], (g) => {
    const gk = g.view(keptShape, `${op} backward`);
    const e = gather(`${op} backward`, gk, x.shape, broadcastStrides(keptShape, x.shape));
    gk.dispose();
    if (!mean) return [e];
    // A reduction over no axes is a scaled copy.
    const out = reduceSum('mean backward', e, [], true, scale);
    e.dispose();
    return [out];
  });
}

/** Σ of x over `axes` (all axes if omitted). */
export function sum(x: Tensor, axes?: number | readonly number[], options: ReduceOptions = {}): Tensor {
  return reduce('sum', x, axes, options, false);
}

/** Mean of x over `axes` (all axes if omitted). */
export function mean(x: Tensor, axes?: number | readonly number[], options: ReduceOptions = {}): Tensor {
  return reduce('mean', x, axes, options, true);
}
