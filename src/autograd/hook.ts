/**
 * `hook(x, fn)`: an identity op (a view, no copy) whose backward hands the gradient arriving at
 * this point to `fn` before passing it on unchanged. Diagnostics use it to observe the gradient
 * of one use of a tensor (e.g. the HEM trace's per-iteration gradients).
 */
import type { Tensor } from '../tensor/tensor.ts';
import { record } from './tape.ts';

export function hook(x: Tensor, fn: (grad: Tensor) => void): Tensor {
  const y = x.view(x.shape, 'hook');
  // The identity's adjoint is the identity.
  return record('hook', y, [x], (g) => {
    fn(g);
    return [g];
  });
}
