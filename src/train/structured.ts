/**
 * The structured-layer experiments of issue 13 on digit scenes, one run = one (task, variant, seed):
 *
 *   task 'o2p'   multi-label classification (which digits a scene holds), sigmoid cross-entropy;
 *                variant 'o2p' (second-order pooling head) or 'avg' (average pooling head),
 *                the same backbone. Scored by mAP and exact-match accuracy on validation scenes.
 *   task 'ncuts' segmentation by the normalized-cuts layer on the 8×8 feature map;
 *                variant 'e2e' trains through the eigenvectors with the projector loss,
 *                variant 'affinity' trains the same network's affinity W directly against the
 *                same-segment indicator (pairwise cross-entropy, no eigendecomposition in training).
 *                Both are scored the same way: the normalized-cuts projector Π of validation
 *                scenes (k = their number of segments) against the ground truth.
 *
 * Browser-safe (no file system). The same seed gives the same scenes, batches and initial weights
 * to both variants of a task, so the comparison is paired.
 */
import { noGrad } from '../autograd/tape.ts';
import { digitScenes, type DigitSceneDataset } from '../data/digit-scenes.ts';
import { digitsPresent, poolLabels } from '../data/scene-targets.ts';
import { MultiLabelNet, NcutsNet } from '../model/structured.ts';
import type { Module } from '../nn/module.ts';
import { tensor } from '../ops/create.ts';
import { sigmoidCrossEntropy } from '../ops/cross-entropy.ts';
import { add, log, mul, neg, sub } from '../ops/elementwise.ts';
import { gaussianAffinity, normalizedCuts, projectorLoss, segmentProjector } from '../ops/ncuts.ts';
import { mean } from '../ops/reduce.ts';
import { AdamW } from '../optim/adamw.ts';
import { tidy } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { batchIndices, gatherBatch } from './batch.ts';
import { optimizeLoss } from './step.ts';
import { exactMatch, meanAveragePrecision, projectorScores, segmentsOf } from './structured-metrics.ts';

export type StructuredTask = 'o2p' | 'ncuts';
export type StructuredVariant = 'o2p' | 'avg' | 'e2e' | 'affinity';

/** The two variants compared in each task, the structured one first. */
export const STRUCTURED_VARIANTS: Readonly<Record<StructuredTask, readonly [StructuredVariant, StructuredVariant]>> = {
  o2p: ['o2p', 'avg'],
  ncuts: ['e2e', 'affinity'],
};

export interface StructuredConfig {
  task: StructuredTask;
  variant: StructuredVariant;
  seed: number;
  steps: number;
  batch: number;
  lr: number;
  trainScenes: number;
  valScenes: number;
  /** Scene side (a multiple of 4; the feature map is size/4 square). */
  size: number;
  /** Backbone width w. */
  width: number;
  /** Channels C of the backbone's map (O2P pools C×C). */
  channels: number;
  /** Embedding channels of the normalized-cuts features. */
  embed: number;
  /** Bandwidth σ of the Gaussian affinity. */
  sigma: number;
}

/** Defaults: 32×32 scenes of 1–3 digits (14–20 px): an 8×8 map, n = 64 pixels per affinity. */
export const STRUCTURED_DEFAULTS: Omit<StructuredConfig, 'task' | 'variant'> = {
  seed: 1,
  steps: 300,
  batch: 8,
  lr: 3e-3,
  trainScenes: 2000,
  valScenes: 200,
  size: 32,
  width: 8,
  channels: 16,
  embed: 8,
  sigma: 1,
};

export interface StructuredResult {
  config: StructuredConfig;
  /** Training loss per step. */
  loss: number[];
  /** o2p: mAP, exactMatch, valLoss. ncuts: projectorError (per image), pairAccuracy, pairAccuracyOneSegment. */
  metrics: Record<string, number>;
  seconds: number;
  imagesPerSecond: number;
  /** Stopped by shouldStop before the last step (then metrics are of the weights reached). */
  interrupted: boolean;
  /** ncuts: the first validation scenes and their segmentations, for figures. */
  samples?: NcutsSamples;
}

export interface StructuredHooks {
  onStep?(step: number, loss: number): void;
  shouldStop?(): boolean;
  /** Score a stopped run on its validation scenes (default true; false: metrics {}). */
  scoreIfStopped?: boolean;
}

const LABELS = 10;
const STRIDE = 4;

/** The scenes of a split: 1–3 digits per scene, at most 20% overlap, labelled from intensity 0.3. */
function structuredScenes(config: Pick<StructuredConfig, 'size' | 'seed' | 'trainScenes' | 'valScenes'>, split: 'train' | 'val'): DigitSceneDataset {
  const scale = Math.round((config.size * 14) / 32);
  return digitScenes({
    split,
    count: split === 'train' ? config.trainScenes : config.valScenes,
    size: config.size,
    minDigits: 1,
    maxDigits: 3,
    minScale: scale,
    maxScale: Math.round((config.size * 20) / 32),
    threshold: 0.3,
    maxOverlap: 0.2,
    seed: config.seed,
  });
}

function buildNet(c: StructuredConfig): MultiLabelNet | NcutsNet {
  const backbone = { inChannels: 1, width: c.width, channels: c.channels, seed: c.seed };
  return c.task === 'o2p' ? new MultiLabelNet({ ...backbone, head: c.variant === 'o2p' ? 'o2p' : 'avg', labels: LABELS }) : new NcutsNet({ ...backbone, embed: c.embed });
}

/** The loss of one batch under the run's variant (recorded for backward). */
function batchLoss(model: MultiLabelNet | NcutsNet, c: StructuredConfig, x: Tensor, labels: Int32Array, n: number): Tensor {
  if (model instanceof MultiLabelNet) return sigmoidCrossEntropy(model.forward(x), digitsPresent(labels, n, c.size * c.size));
  const f = model.forward(x);
  const cells = (c.size / STRIDE) ** 2;
  const seg = poolLabels(labels, n, c.size, c.size, STRIDE);
  if (c.variant === 'e2e') {
    const target = segmentProjector(seg, n, cells);
    return projectorLoss(normalizedCuts(f, target.segments, { sigma: c.sigma }).projector, target.projector);
  }
  // Pairwise cross-entropy of W against the same-segment indicator S (S = P > 0).
  const w = gaussianAffinity(f, { sigma: c.sigma });
  const s = noGrad(() => tensor(sameSegment(seg, n, cells), [n, cells, cells]));
  const pos = mul(s, log(add(w, 1e-6)));
  const negPart = mul(sub(1, s), log(add(sub(1, w), 1e-6)));
  return neg(mean(add(pos, negPart)));
}

/** Distinct segment ids per image of `seg` [n, cells]: the k of each image's projector. */
function segmentCounts(seg: Int32Array, n: number, cells: number): number[] {
  return Array.from({ length: n }, (_, b) => new Set(seg.subarray(b * cells, (b + 1) * cells)).size);
}

function sameSegment(seg: Int32Array, n: number, cells: number): Float32Array {
  const s = new Float32Array(n * cells * cells);
  for (let b = 0; b < n; b++) for (let i = 0; i < cells; i++) for (let j = 0; j < cells; j++) s[(b * cells + i) * cells + j] = seg[b * cells + i] === seg[b * cells + j] ? 1 : 0;
  return s;
}

export function checkStructuredConfig(c: StructuredConfig): void {
  if (!STRUCTURED_VARIANTS[c.task]) throw new Error(`structured: task must be 'o2p' or 'ncuts', got ${String(c.task)}.`);
  if (!STRUCTURED_VARIANTS[c.task].includes(c.variant))
    throw new Error(`structured: the ${c.task} task's variants are ${STRUCTURED_VARIANTS[c.task].join(' and ')}, got ${String(c.variant)}.`);
  for (const k of ['steps', 'batch', 'trainScenes', 'valScenes', 'width', 'channels', 'embed'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new Error(`structured: ${k} must be a positive integer, got ${String(c[k])}.`);
  }
  if (!Number.isInteger(c.size) || c.size < 8 || c.size % STRIDE) throw new Error(`structured: size must be a multiple of ${STRIDE} and ≥ 8, got ${String(c.size)}.`);
  if (!(c.lr > 0) || !(c.sigma > 0)) throw new Error(`structured: lr and sigma must be positive, got ${String(c.lr)} and ${String(c.sigma)}.`);
  if (c.task === 'ncuts' && (c.size / STRIDE) ** 2 > 256) throw new Error(`structured: size ${c.size} gives a ${(c.size / STRIDE) ** 2}-pixel affinity; keep size ≤ 64 (n ≤ 256).`);
}

/** Train one run and score it on its validation scenes. */
export async function trainStructured(config: StructuredConfig, hooks: StructuredHooks = {}): Promise<StructuredResult> {
  checkStructuredConfig(config);
  const train = structuredScenes(config, 'train');
  const val = structuredScenes(config, 'val');
  const model = buildNet(config);
  const optimizer = new AdamW([...model.parameters().values()], { lr: config.lr });
  const loss: number[] = [];
  const t0 = performance.now();
  let interrupted = false;
  try {
    for (let step = 0; step < config.steps; step++) {
      if (hooks.shouldStop?.()) {
        interrupted = true;
        break;
      }
      optimizer.setLr(config.lr * Math.min(1, (step + 1) / 10));
      const idx = batchIndices(train.count, config.batch, step, config.seed);
      const { x, labels } = gatherBatch(train, idx);
      const value = await optimizeLoss(model, optimizer, () => batchLoss(model, config, tensor(x, [idx.length, train.height, train.width, 1]), labels, idx.length));
      loss.push(value);
      hooks.onStep?.(step, value);
    }
    const seconds = (performance.now() - t0) / 1000;
    if (interrupted && hooks.scoreIfStopped === false) return { config, loss, metrics: {}, seconds, imagesPerSecond: (loss.length * config.batch) / seconds, interrupted };
    const { metrics, samples } = await scoreStructured(model, config, val);
    return { config, loss, metrics, seconds, imagesPerSecond: (loss.length * config.batch) / seconds, interrupted, ...(samples ? { samples } : {}) };
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

/** The run's validation metrics (model in eval mode; batches of 16). */
async function scoreStructured(
  model: MultiLabelNet | NcutsNet,
  config: StructuredConfig,
  val: DigitSceneDataset,
): Promise<{ metrics: Record<string, number>; samples?: NcutsSamples }> {
  (model as Module).eval();
  const px = config.size * config.size;
  const cells = (config.size / STRIDE) ** 2;
  const logits = new Float32Array(val.count * LABELS);
  const totals = { error: 0, pairsRight: 0, pairsOneSegment: 0, pairs: 0, loss: 0 };
  let samples: NcutsSamples | undefined;
  for (let start = 0; start < val.count; start += 16) {
    const idx = Array.from({ length: Math.min(16, val.count - start) }, (_, i) => start + i);
    const { x, labels } = gatherBatch(val, idx);
    const xt = (): Tensor => tensor(x, [idx.length, val.height, val.width, 1]);
    if (model instanceof MultiLabelNet) {
      const out = tidy(() => model.forward(xt()));
      logits.set(await out.read(), start * LABELS);
      out.dispose();
      continue;
    }
    const seg = poolLabels(labels, idx.length, config.size, config.size, STRIDE);
    const pi = tidy(() => normalizedCuts(model.forward(xt()), segmentCounts(seg, idx.length, cells), { sigma: config.sigma }).projector);
    const piHost = await pi.read();
    pi.dispose();
    const s = projectorScores(piHost, seg, idx.length, cells);
    if (start === 0) samples = sampleScenes(val, piHost, seg, Math.min(SAMPLES, idx.length), cells);
    for (const k of ['error', 'pairsRight', 'pairsOneSegment', 'pairs'] as const) totals[k] += s[k];
  }
  (model as Module).train();
  if (model instanceof MultiLabelNet) {
    const targets = digitsPresent(val.labels, val.count, px);
    const lt = tidy(() => sigmoidCrossEntropy(tensor(logits, [val.count, LABELS]), targets));
    const valLoss = await lt.item();
    lt.dispose();
    return { metrics: { mAP: meanAveragePrecision(logits, targets, val.count, LABELS), exactMatch: exactMatch(logits, targets, val.count, LABELS), valLoss } };
  }
  return {
    metrics: { projectorError: totals.error / val.count, pairAccuracy: totals.pairsRight / totals.pairs, pairAccuracyOneSegment: totals.pairsOneSegment / totals.pairs },
    ...(samples ? { samples } : {}),
  };
}

const SAMPLES = 4;

/** The first validation scenes with their pooled ground truth and the segmentation their projector implies, for figures. */
interface NcutsSamples {
  /** Images [count, size, size]. */
  images: Float32Array;
  size: number;
  /** Pooled ground truth [count, side, side] (digit-scene labels) and the prediction, each segment coloured by the label it mostly covers. */
  truth: Int32Array;
  predicted: Int32Array;
  side: number;
  count: number;
}

function sampleScenes(val: DigitSceneDataset, pi: Float32Array, seg: Int32Array, count: number, cells: number): NcutsSamples {
  const predicted = new Int32Array(count * cells);
  for (let b = 0; b < count; b++) {
    const ids = segmentsOf(pi.subarray(b * cells * cells, (b + 1) * cells * cells), cells);
    // Colour each predicted segment by the ground-truth label most of its pixels carry.
    const votes = new Map<number, Map<number, number>>();
    ids.forEach((id, i) => {
      const m = votes.get(id) ?? votes.set(id, new Map()).get(id)!;
      m.set(seg[b * cells + i]!, (m.get(seg[b * cells + i]!) ?? 0) + 1);
    });
    ids.forEach((id, i) => {
      predicted[b * cells + i] = [...votes.get(id)!].sort((x, y) => y[1] - x[1] || x[0] - y[0])[0]![0];
    });
  }
  const px = val.size * val.size;
  return { images: val.images.slice(0, count * px), size: val.size, truth: seg.slice(0, count * cells), predicted, side: Math.round(Math.sqrt(cells)), count };
}
