/**
 * Mini-batches for segmentation training: NHWC float32 images and Int32 per-pixel labels, ready
 * for `tensor(x, [n, H, W, C])` and `crossEntropy(logits, labels, { ignoreIndex: 255 })`.
 *
 * Works on an in-memory dataset (digit scenes) and on any `SampleSource` that produces a sample
 * on demand (the VOC loader, which decodes and augments per sample). The order of an epoch is a
 * seeded permutation of (seed, epoch); a sample's augmentation randomness is seeded by
 * (seed, epoch, index), independent of batch size and order, so `skip` resumes an epoch exactly.
 */
import { DataRng, mixSeed, permutation } from './rng.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

/** A fixed-size, in-memory dataset: count images (NHWC) and their labels. */
export interface ArrayDataset {
  images: Float32Array;
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  classes: number;
  /** Names of the classes, for legends (absent: the digit scenes' background and digits 0-9). */
  readonly classNames?: readonly string[];
  /** RGB colour of each class, for label maps (absent: the digit palette). */
  readonly palette?: readonly (readonly [number, number, number])[];
  /** Named pixel subsets (count × height × width masks, 1 inside) on which evaluate() reports pixel accuracy apart. */
  readonly regions?: Readonly<Record<string, Uint8Array>>;
}

/** Produces sample `index` (augmented with `rng` if it augments) into the given arrays at the offsets. */
export interface SampleSource {
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly classes: number;
  /** Names of the classes, for legends (absent: the digit scenes' background and digits 0-9). */
  readonly classNames?: readonly string[];
  /** RGB colour of each class, for label maps (absent: the digit palette). */
  readonly palette?: readonly (readonly [number, number, number])[];
  write(index: number, rng: DataRng, x: Float32Array, xOffset: number, labels: Int32Array, labelOffset: number): void;
}

export interface Batch {
  /** n × height × width × channels. */
  x: Float32Array;
  /** n × height × width; 255 = ignore. */
  labels: Int32Array;
  n: number;
  height: number;
  width: number;
  channels: number;
  /** Dataset indices of the batch's samples, in order. */
  indices: Uint32Array;
}

export interface BatchOptions {
  /** Visit samples in a seeded random order (default false: 0, 1, 2, ...). */
  shuffle?: boolean;
  seed?: number;
  /** Epoch number, mixed into the order and the augmentation (default 0). */
  epoch?: number;
  /** Leave out a last batch smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Batches of this epoch to skip (to resume mid-epoch); skipped samples are not produced. */
  skip?: number;
}

function isArrayDataset(d: ArrayDataset | SampleSource): d is ArrayDataset {
  return (d as ArrayDataset).images instanceof Float32Array;
}

/** Number of batches `batches()` yields for a dataset of `count` samples. */
export function batchCount(count: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

/** One epoch of mini-batches; see the module comment. */
const BATCH_KEYS = optionKeys<BatchOptions>({ shuffle: true, seed: true, epoch: true, dropLast: true, skip: true });

export function* batches(dataset: ArrayDataset | SampleSource, batchSize: number, options: BatchOptions = {}): Generator<Batch> {
  checkOptions('batches', options, BATCH_KEYS);
  if (!dataset || typeof dataset.count !== 'number') throw new Error('batches: dataset must be a digit-scene dataset or a sample source (e.g. a VOC dataset).');
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batches: batchSize must be an integer ≥ 1, got ${String(batchSize)}.`);
  const seed = options.seed ?? 0;
  const epoch = options.epoch ?? 0;
  const skip = options.skip ?? 0;
  if (!Number.isInteger(seed)) throw new Error(`batches: seed must be an integer, got ${String(seed)}.`);
  if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`batches: epoch must be an integer ≥ 0, got ${String(epoch)}.`);
  if (!Number.isInteger(skip) || skip < 0) throw new Error(`batches: skip must be an integer ≥ 0, got ${String(skip)}.`);
  const { count, height, width, channels } = dataset;
  const order = options.shuffle ? permutation(count, mixSeed(seed, epoch, 0x5348)) : Uint32Array.from({ length: count }, (_, i) => i);
  const total = batchCount(count, batchSize, options.dropLast ?? false);
  const px = height * width;
  for (let b = skip; b < total; b++) {
    const start = b * batchSize;
    const n = Math.min(batchSize, count - start);
    const x = new Float32Array(n * px * channels);
    const labels = new Int32Array(n * px);
    const indices = order.slice(start, start + n);
    for (let j = 0; j < n; j++) {
      const i = indices[j]!;
      if (isArrayDataset(dataset)) {
        x.set(dataset.images.subarray(i * px * channels, (i + 1) * px * channels), j * px * channels);
        labels.set(dataset.labels.subarray(i * px, (i + 1) * px), j * px);
      } else {
        dataset.write(i, new DataRng(mixSeed(seed, epoch, i, 0x4147)), x, j * px * channels, labels, j * px);
      }
    }
    yield { x, labels, n, height, width, channels, indices };
  }
}
