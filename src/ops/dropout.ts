/**
 * Inverted dropout: in training each element is zeroed with probability p and the survivors are
 * scaled by 1 / (1 − p), so the expectation is unchanged; outside training, or with p = 0, the
 * identity (a new handle on x's data, no copy). The mask comes from a counter-based hash of
 * (seed, element index) on the GPU (src/kernels/dropout.ts): the same seed gives the same mask on
 * every device and dispatch shape. The backward pass regenerates the mask from the seed (the same
 * kernel applied to dy) instead of storing it: no mask tensor lives between forward and backward.
 */
import { record } from '../autograd/tape.ts';
import { applyDropoutMask } from '../kernels/dropout.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkTensor } from './check.ts';
import { checkOptions } from '../tensor/options.ts';

export interface DropoutOptions {
  /** Probability of zeroing an element, in [0, 1). Default 0.5 (PyTorch). */
  p?: number;
  /** Apply dropout (true, the default as F.dropout) or return x unchanged (false). */
  training?: boolean;
  /** Mask seed, an integer in [0, 2^32). Omitted: a fresh seed from an internal sequence per call. */
  seed?: number;
}

let autoSeed = 0x2f6b1a3d;

/** y = x ⊙ mask / (1 − p) with mask_i ~ Bernoulli(1 − p) drawn from (seed, i). */
export function dropout(x: Tensor, options: DropoutOptions = {}): Tensor {
  const op = 'dropout';
  checkTensor(op, x, 'x');
  if (!options || typeof options !== 'object') throw new Error(`${op}: options must be an object { p, training, seed }.`);
  checkOptions(op, options, ['p', 'training', 'seed']);
  const p = options.p ?? 0.5;
  const training = options.training ?? true;
  if (typeof p !== 'number' || !(p >= 0 && p < 1)) {
    throw new Error(`${op}: p must be a number in [0, 1) (the probability of zeroing an element), got ${String(p)}.`);
  }
  if (typeof training !== 'boolean') throw new Error(`${op}: training must be true or false, got ${String(training)}.`);
  let seed = options.seed;
  if (seed === undefined) {
    autoSeed = (Math.imul(autoSeed, 1664525) + 1013904223) >>> 0;
    seed = autoSeed;
  } else if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`${op}: seed must be an integer in [0, 2^32), got ${String(seed)}.`);
  }
  const threshold = Math.round(p * 2 ** 24);
  if (!training || threshold === 0) {
    // Identity: dx = dy.
    return record(op, x.alias(), [x], (g) => [g]);
  }
  const mask = { seed, threshold, scale: 1 / (1 - p) };
  const y = applyDropoutMask(op, x, mask);
  // y = x ⊙ m / (1 − p) is linear in x: adjoint dx = dy ⊙ m / (1 − p), m regenerated from the seed.
  return record(op, y, [x], (g) => [applyDropoutMask(`${op} backward`, g, mask)]);
}
