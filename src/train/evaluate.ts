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
  /** Pixel accuracy on each of the dataset's `regions` (e.g. the context task's fragments and whole digits); {} when it has none. */
  regionAccuracy: Record<string, number>;
}

/**
 * Metrics of the model on every sample of `d`, in eval mode (T_eval = `iterations` may differ from
 * training's); `onProgress(done, total)` is called after each batch with the samples done so far.
 */
export async function evaluate(
  model: SegmentationModel,
  d: Dataset,
  opts: { batch?: number; iterations?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<Evaluation> {
  // A key added to the options type must be added here too (the type check says so).
  checkOptions('evaluate', opts, optionKeys<NonNullable<Parameters<typeof evaluate>[2]>>({ batch: true, iterations: true, onProgress: true }));
  const hw = d.height * d.width;
  const regions = Object.entries(('regions' in d ? d.regions : undefined) ?? {});
  for (const [name, mask] of regions) {
    if (mask.length !== d.count * hw)
      throw new Error(`evaluate: region '${name}' has ${mask.length} mask entries; ${d.count} samples of ${d.height}×${d.width} need ${d.count * hw}.`);
  }
  const cm = new ConfusionMatrix(d.classes, IGNORE_LABEL);
  const was = model.training;
  model.eval();
  const batch = opts.batch ?? 16;
  const hits = regions.map(() => ({ right: 0, total: 0 }));
  try {
    for (let s = 0; s < d.count; s += batch) {
      const idx = Array.from({ length: Math.min(batch, d.count - s) }, (_, i) => s + i);
      const { x, labels } = gatherBatch(d, idx);
      const logits = tidy(() => noGrad(() => model.forward(tensor(x, [idx.length, d.height, d.width, d.channels]), { iterations: opts.iterations })));
      const host = await logits.read();
      logits.dispose();
      const pred = argmaxLastAxis(host, d.classes);
      cm.add(labels, pred);
      regions.forEach(([, mask], r) => {
        for (let i = 0; i < labels.length; i++) {
          if (!mask[s * hw + i] || labels[i] === IGNORE_LABEL) continue;
          hits[r]!.total++;
          if (pred[i] === labels[i]) hits[r]!.right++;
        }
      });
      opts.onProgress?.(s + idx.length, d.count);
    }
  } finally {
    model.train(was);
  }
  const regionAccuracy = Object.fromEntries(regions.map(([name], r) => [name, hits[r]!.total ? hits[r]!.right / hits[r]!.total : NaN]));
  return { miou: cm.meanIoU(), iou: cm.iou(), pixelAccuracy: cm.pixelAccuracy(), regionAccuracy };
}
