/**
 * Launcher for kernels/dropout.wgsl: y = x ⊙ mask · scale with the mask hashed from (seed, i).
 * The same launch on dy with the same seed is the backward. Forward only (no autograd):
 * src/ops/dropout.ts records the gradient.
 */
import dropoutWgsl from '../../kernels/dropout.wgsl';
import { Tensor } from '../tensor/tensor.ts';
import { groupsFor, overrideSets, uniform } from './dispatch.ts';
import { defineKernel } from '../gpu/registry.ts';

const K = { dropout: /* @__PURE__ */ defineKernel('dropout', dropoutWgsl, 'main', { variants: () => overrideSets({ WG }) }) };

const WG = 256;

/** The mask's parameters: seed, drop threshold round(p · 2^24), survivor scale 1 / (1 − p). */
export interface DropoutMask {
  seed: number;
  threshold: number;
  scale: number;
}

/** y_i = x_i · scale where (hash(seed, i) >> 8) ≥ threshold, else 0. */
export function applyDropoutMask(op: string, x: Tensor, m: DropoutMask): Tensor {
  const y = Tensor.empty(x.shape, op);
  K.dropout.dispatch({
    bindings: { x: x.bind(op), y: y.bind(op, 'read_write'), p: uniform({ n: x.size, seed: m.seed, threshold: m.threshold, scale: m.scale }) },
    overrides: { WG },
    workgroups: groupsFor(x.size, WG),
  });
  return y;
}
