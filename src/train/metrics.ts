/**
 * Segmentation metrics on the host: a confusion matrix accumulated from label maps and
 * predictions, and IoU per class / mean IoU over the classes that occur (union > 0), as PASCAL
 * VOC reports it. Labels equal to `ignore` are skipped.
 */
import { IGNORE_LABEL } from '../ops/cross-entropy.ts';

export class ConfusionMatrix {
  readonly counts: Float64Array;

  constructor(
    readonly classes: number,
    readonly ignore = IGNORE_LABEL,
  ) {
    if (!Number.isInteger(classes) || classes < 1) throw new Error(`ConfusionMatrix: classes must be a positive integer, got ${classes}.`);
    this.counts = new Float64Array(classes * classes);
  }

  /** Add one batch: labels and predicted classes, same length (row = truth, column = prediction). */
  add(labels: ArrayLike<number>, predictions: ArrayLike<number>): void {
    if (labels.length !== predictions.length) {
      throw new Error(`ConfusionMatrix.add: ${labels.length} labels but ${predictions.length} predictions.`);
    }
    const C = this.classes;
    for (let i = 0; i < labels.length; i++) {
      const t = labels[i]!;
      if (t === this.ignore) continue;
      const p = predictions[i]!;
      if (t < 0 || t >= C || p < 0 || p >= C) throw new Error(`ConfusionMatrix.add: class ${t < 0 || t >= C ? t : p} outside [0, ${C}).`);
      this.counts[t * C + p]! += 1;
    }
  }

  /** IoU per class (NaN where the class neither occurs nor is predicted). */
  iou(): number[] {
    const C = this.classes;
    const out: number[] = [];
    for (let c = 0; c < C; c++) {
      let row = 0;
      let col = 0;
      for (let k = 0; k < C; k++) {
        row += this.counts[c * C + k]!;
        col += this.counts[k * C + c]!;
      }
      const tp = this.counts[c * C + c]!;
      const union = row + col - tp;
      out.push(union > 0 ? tp / union : NaN);
    }
    return out;
  }

  /** Mean IoU over the classes with a non-empty union. */
  meanIoU(): number {
    const v = this.iou().filter((x) => !Number.isNaN(x));
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0;
  }

  /** Fraction of non-ignored pixels predicted correctly. */
  pixelAccuracy(): number {
    let tp = 0;
    let all = 0;
    for (let c = 0; c < this.classes; c++) tp += this.counts[c * this.classes + c]!;
    for (const v of this.counts) all += v;
    return all ? tp / all : 0;
  }
}

/** Arg-max over the last axis of host logits [..., C]: one class per row. */
export function argmaxLastAxis(logits: Float32Array, classes: number): Int32Array {
  const rows = logits.length / classes;
  if (!Number.isInteger(rows)) throw new Error(`argmaxLastAxis: ${logits.length} values are not rows of ${classes}.`);
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bv = logits[r * classes]!;
    for (let c = 1; c < classes; c++) {
      const v = logits[r * classes + c]!;
      if (v > bv) {
        bv = v;
        best = c;
      }
    }
    out[r] = best;
  }
  return out;
}
