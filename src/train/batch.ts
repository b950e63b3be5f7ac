/**
 * The batches of a training run: the sample indices of any step (one seeded permutation per
 * epoch, so a resumed run draws the same batches), the images and labels of those samples, and
 * background sampling for the loss. Host arrays only; no device, no file system.
 */
import { DataRng, mixSeed, permutation } from '../data/rng.ts';
import type { ArrayDataset, SampleSource } from '../data/batches.ts';
import { IGNORE_LABEL } from '../ops/cross-entropy.ts';

/** In-memory scenes (digits) or a source that decodes and augments per sample (PASCAL VOC). */
export type Dataset = ArrayDataset | SampleSource;

/** Sample indices of training step `step`: one seeded permutation per epoch, so any step can be rebuilt. */
export function batchIndices(count: number, batch: number, step: number, seed: number): number[] {
  const out: number[] = [];
  let pos = step * batch;
  let epoch = -1;
  let perm: Uint32Array = new Uint32Array(0);
  while (out.length < batch) {
    const e = Math.floor(pos / count);
    if (e !== epoch) {
      epoch = e;
      perm = permutation(count, (seed * 1000003 + e) >>> 0);
    }
    out.push(perm[pos % count]!);
    pos++;
  }
  return out;
}

/**
 * The images and labels of samples `idx`. A per-sample source (VOC) augments sample k of step
 * `step` with randomness seeded by (seed, step, k), so batches are reproducible for resuming.
 */
export function gatherBatch(d: Dataset, idx: readonly number[], step = 0, seed = 0): { x: Float32Array; labels: Int32Array } {
  const px = d.height * d.width;
  const x = new Float32Array(idx.length * px * d.channels);
  const labels = new Int32Array(idx.length * px);
  idx.forEach((s, i) => {
    if ('images' in d) {
      x.set(d.images.subarray(s * px * d.channels, (s + 1) * px * d.channels), i * px * d.channels);
      labels.set(d.labels.subarray(s * px, (s + 1) * px), i * px);
    } else {
      d.write(s, new DataRng(mixSeed(seed, step, i)), x, i * px * d.channels, labels, i * px);
    }
  });
  return { x, labels };
}

/**
 * Background sampling for the training loss: each background (class 0) pixel is kept with
 * probability `keep` and otherwise set to the ignore label, in place. In expectation this weights
 * the background by `keep` against the other classes in the cross-entropy (a class-weighted
 * loss through the tested ignore-label path); seeded by (seed, step), so a resumed run draws the
 * same pixels. keep = 1 changes nothing and draws nothing.
 */
export function sampleBackground(labels: Int32Array, keep: number, seed: number, step: number): Int32Array {
  if (!(keep > 0 && keep <= 1)) throw new Error(`sampleBackground: keep must be in (0, 1], got ${String(keep)}.`);
  if (keep === 1) return labels;
  const rng = new DataRng(mixSeed(seed, step, 0x6267));
  for (let i = 0; i < labels.length; i++) if (labels[i] === 0 && rng.next() >= keep) labels[i] = IGNORE_LABEL;
  return labels;
}
