/**
 * Fused scaled softmax along the last axis: y = softmax(scale · x). One kernel forward, one
 * backward (src/kernels/softmax.ts). Stable for logits of any finite magnitude.
 */
import { record } from '../autograd/tape.ts';
import { softmaxBackward, softmaxForward } from '../kernels/softmax.ts';
import { fmt } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkTensor } from './check.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

export interface SoftmaxOptions {
  /** Multiply the logits by this before the softmax (e.g. 1/τ). Default 1. */
  scale?: number;
}

export function softmax(x: Tensor, options: SoftmaxOptions = {}): Tensor {
  checkOptions('softmax', options, optionKeys<SoftmaxOptions>({ scale: true }));
  checkTensor('softmax', x, 'the input');
  const scale = options.scale ?? 1;
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale === 0) {
    throw new Error(`softmax: scale must be a finite non-zero number, got ${String(scale)}.`);
  }
  if (x.rank < 1) throw new Error(`softmax: needs rank ≥ 1 (normalises the last axis), got ${fmt(x.shape)}.`);
  const y = softmaxForward('softmax', x, scale);
  // dY = diag-block Jacobian: adjoint dS = scale · Y ⊙ (dY − rowsum(dY ⊙ Y)), one kernel.
  return record('softmax', y, [x], (g) => [softmaxBackward('softmax backward', y, g, scale)]);
}
