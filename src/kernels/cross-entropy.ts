/**
 * Launchers for kernels/cross-entropy.wgsl: per-row log-softmax + NLL, and its backward (which
 * recomputes the softmax from the logits). Forward only (no autograd): src/ops/cross-entropy.ts
 * records the gradient.
 */
import crossEntropyWgsl from '../../kernels/cross-entropy.wgsl';
import { Tensor } from '../tensor/tensor.ts';
import { groupsFor, overrideSets, uniform } from './dispatch.ts';
import { defineKernel } from '../gpu/registry.ts';

const K = {
  forward: /* @__PURE__ */ defineKernel('cross_entropy', crossEntropyWgsl, 'forward', { variants: () => overrideSets({ WG }) }),
  backward: /* @__PURE__ */ defineKernel('cross_entropy_backward', crossEntropyWgsl, 'backward', { variants: () => overrideSets({ WG }) }),
};

const WG = 64;

/** What both kernels need: the i32 labels [rows], the ignore index and 1 / (counted rows). */
export interface CrossEntropyLabels {
  labels: Tensor;
  ignoreIndex: number;
  invCount: number;
}

/** The rows of the logits and the uniform values both kernels read. */
function params(logits: Tensor, l: CrossEntropyLabels) {
  const classes = logits.shape[logits.rank - 1]!;
  const rows = logits.size / classes;
  return { rows, common: { rows, classes, ignore_index: l.ignoreIndex } };
}

/** loss[i] = logsumexp(logits_i) − logits_i[label_i] per row, 0 for ignored rows. */
export function crossEntropyRows(op: string, logits: Tensor, l: CrossEntropyLabels): Tensor {
  const { rows, common } = params(logits, l);
  const loss = Tensor.empty([rows], op);
  K.forward.dispatch({
    bindings: { x: logits.bind(op), labels: l.labels.bind(op), loss: loss.bind(op, 'read_write'), p: uniform(common) },
    overrides: { WG },
    workgroups: groupsFor(rows, WG),
  });
  return loss;
}

/** dx_i = g · (softmax(logits_i) − onehot(label_i)) · invCount, 0 for ignored rows (g: a scalar). */
export function crossEntropyGrad(op: string, logits: Tensor, l: CrossEntropyLabels, g: Tensor): Tensor {
  const { rows, common } = params(logits, l);
  const dx = Tensor.empty(logits.shape, op);
  K.backward.dispatch({
    bindings: { bx: logits.bind(op), blabels: l.labels.bind(op), bg: g.bind(op), bdx: dx.bind(op, 'read_write'), bp: uniform({ ...common, inv_count: l.invCount }) },
    overrides: { WG },
    workgroups: groupsFor(rows, WG),
  });
  return dx;
}
