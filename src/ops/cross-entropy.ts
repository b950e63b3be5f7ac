/**
 * Fused log-softmax + negative log-likelihood over the last axis, averaged over the rows whose
 * label is not the ignore index. Labels are host integers, validated before any GPU work.
 */
import { noGrad, record } from '../autograd/tape.ts';
import { crossEntropyGrad, crossEntropyRows } from '../kernels/cross-entropy.ts';
import { sumAll } from '../kernels/reduce.ts';
import { fmt, sizeOf } from '../tensor/shape.ts';
import { Tensor } from '../tensor/tensor.ts';
import { checkTensor } from './check.ts';
import { checkOptions } from '../tensor/options.ts';
import { tensor } from './create.ts';
import { abs, add, exp, log, mul, neg, relu, sub } from './elementwise.ts';
import { mean } from './reduce.ts';

/** The label that marks a pixel to ignore in segmentation data (PASCAL VOC's 255 border). */
export const IGNORE_LABEL = 255;

export interface CrossEntropyOptions {
  /** Rows with this label contribute neither loss nor gradient (default −100, as PyTorch). */
  ignoreIndex?: number;
}

/**
 * mean over counted rows of (logsumexp(logits_i) − logits_i[label_i]).
 * logits: [..., C]; labels: integers of shape logits.shape[:-1] (an Int32Array, a number array,
 * or anything array-like). A scalar tensor; 0 if every label is ignored.
 */
export function crossEntropy(logits: Tensor, labels: ArrayLike<number>, options: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  checkTensor(op, logits, 'logits');
  checkOptions('crossEntropy', options, ['ignoreIndex']);
  const ignore = options.ignoreIndex ?? -100;
  if (!Number.isInteger(ignore)) throw new Error(`${op}: ignoreIndex must be an integer, got ${ignore}.`);
  if (logits.rank < 1) throw new Error(`${op}: logits need rank ≥ 1 ([..., classes]), got ${fmt(logits.shape)}.`);
  const classes = logits.shape[logits.rank - 1]!;
  const rows = logits.size / classes;
  const labelShape = logits.shape.slice(0, -1);
  if (labels instanceof Tensor) {
    throw new Error(
      `${op}: labels are host integers (an Int32Array or a number array) of shape ${fmt(labelShape)}, got ${labels.dtype === 'i32' ? 'an' : 'a'} ${labels.dtype} ` +
        `Tensor ${fmt(labels.shape)}. They are checked on the host (each in [0, ${classes}) or the ignore index) before any ` +
        'GPU work, which a GPU tensor cannot be without a read: pass Int32Array.from(await labels.read()).',
    );
  }
  if (!labels || typeof labels.length !== 'number') {
    throw new Error(`${op}: labels must be an array of integers of shape ${fmt(labelShape)}.`);
  }
  if (labels.length !== rows) {
    throw new Error(`${op}: ${labels.length} labels for logits ${fmt(logits.shape)}, which need ${sizeOf(labelShape)} (shape ${fmt(labelShape)}).`);
  }
  const ints = new Int32Array(rows);
  let count = 0;
  for (let i = 0; i < rows; i++) {
    const l = labels[i]!;
    if (l === ignore) {
      ints[i] = l;
      continue;
    }
    if (!Number.isInteger(l) || l < 0 || l >= classes) {
      throw new Error(
        `${op}: label ${String(l)} at position ${i} is outside [0, ${classes}) for logits ${fmt(logits.shape)} ` +
          `and is not the ignore index (${ignore}). Labels must be class indices or the ignore index.`,
      );
    }
    ints[i] = l;
    count++;
  }
  const lab = Tensor.empty([rows], `${op} labels`, 'i32').write(ints);
  const target = { labels: lab, ignoreIndex: ignore, invCount: count ? 1 / count : 0 };
  const perRow = crossEntropyRows(op, logits, target);
  // Mean over counted rows; with every row ignored each wrote 0 and the loss is 0.
  const loss = sumAll(op, perRow, count ? 1 / count : 0);
  perRow.dispose();
  // L = Σ_i ℓ_i / count: adjoint dx_i = g · (softmax(x_i) − onehot(label_i)) / count, one kernel
  // that recomputes the softmax from x.
  record(op, loss, [logits], (g) => [crossEntropyGrad(`${op} backward`, logits, target, g)]);
  return loss.own(lab);
}

/**
 * Multi-label (sigmoid) cross-entropy, mean over every element: for logits z and targets
 * y ∈ [0, 1] of the same shape, −y·log σ(z) − (1 − y)·log(1 − σ(z)), computed stably as
 * relu(z) − y·z + log(1 + exp(−|z|)) from differentiable ops. `targets` is a host array (or a
 * tensor without gradient).
 */
export function sigmoidCrossEntropy(logits: Tensor, targets: Tensor | ArrayLike<number>): Tensor {
  const op = 'sigmoidCrossEntropy';
  checkTensor(op, logits, 'logits');
  const y = targets instanceof Tensor ? targets : null;
  if (y) checkTensor(op, y, 'targets');
  const n = y ? y.size : (targets as ArrayLike<number>).length;
  if (n !== logits.size || (y && fmt(y.shape) !== fmt(logits.shape))) {
    throw new Error(`${op}: targets must match the logits ${fmt(logits.shape)} element for element, got ${y ? fmt(y.shape) : `${n} values`}.`);
  }
  if (!y) {
    for (let i = 0; i < n; i++) {
      const v = (targets as ArrayLike<number>)[i]!;
      if (!(v >= 0 && v <= 1)) throw new Error(`${op}: targets must lie in [0, 1], got ${v} at element ${i}.`);
    }
  }
  const t = y ?? noGrad(() => tensor(Float32Array.from(targets as ArrayLike<number>), logits.shape));
  const softplus = log(add(exp(neg(abs(logits))), 1));
  const out = mean(add(sub(relu(logits), mul(logits, t)), softplus));
  // mul's backward reads the targets: they live as long as the loss.
  if (!y) {
    if (out.gradNode) out.own(t);
    else t.dispose();
  }
  return out;
}
