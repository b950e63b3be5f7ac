/** Validation: mean IoU, per-class IoU and pixel accuracy of a model in eval mode (Node and browsers). */
import { noGrad } from '../autograd/tape.ts';
import { tensor } from '../ops/create.ts';
import { tidy } from '../tensor/scope.ts';
import { gatherBatch, type Dataset } from './batch.ts';
import { IGNORE_LABEL } from '../ops/cross-entropy.ts';
import { ConfusionMatrix, argmaxLastAxis } from './metrics.ts';
import type { SegmentationModel } from './step.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

export interface Evaluation {
  miou: number;
  iou: number[];
  pixelAccuracy: number;
}

/**
 * Metrics of the model on every sample of `d`, in eval mode (T_eval = `iterations` may differ from
 * training's); `onProgress(done, total)` is called after each batch with the samples done so far.
 */
export async function evaluate(model: SegmentationModel, d: Dataset, opts: { batch?: number; iterations?: number; onProgress?: (done: number, total: number) => void } = {}): Promise<Evaluation> {
  // A key added to the options type must be added here too (the type check says so).
  checkOptions('evaluate', opts, optionKeys<NonNullable<Parameters<typeof evaluate>[2]>>({ batch: true, iterations: true, onProgress: true }));
  const cm = new ConfusionMatrix(d.classes, IGNORE_LABEL);
  const was = model.training;
  model.eval();
  const batch = opts.batch ?? 16;
  try {
    for (let s = 0; s < d.count; s += batch) {
      const idx = Array.from({ length: Math.min(batch, d.count - s) }, (_, i) => s + i);
      const { x, labels } = gatherBatch(d, idx);
      const logits = tidy(() =>
        noGrad(() => model.forward(tensor(x, [idx.length, d.height, d.width, d.channels]), { iterations: opts.iterations })),
      );
      const host = await logits.read();
      logits.dispose();
      cm.add(labels, argmaxLastAxis(host, d.classes));
      opts.onProgress?.(s + idx.length, d.count);
    }
  } finally {
    model.train(was);
  }
  return { miou: cm.meanIoU(), iou: cm.iou(), pixelAccuracy: cm.pixelAccuracy() };
}
