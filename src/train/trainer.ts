/**
 * Training and evaluation of SegNet (Node): digit scenes or PASCAL VOC, SGD with momentum and
 * weight decay (none on norms and biases, as EMANet) or AdamW, the poly learning-rate schedule,
 * per-step deterministic batches and dropout seeds (a resumed run repeats the uninterrupted one
 * exactly), safetensors checkpoints written atomically (weights, buffers such as BN statistics
 * and the EM bases, optimizer state, step, config, history), and validation mIoU.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { init } from '../index.node.ts'; // registers the Dawn provider and the mnist digit source
import { noGrad } from '../autograd/tape.ts';
import { tensor } from '../ops/create.ts';
import { crossEntropy } from '../ops/cross-entropy.ts';
import { tidy } from '../tensor/scope.ts';
import { fmt } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { SegNet } from '../model/segnet.ts';
import { SGD } from '../optim/sgd.ts';
import { AdamW } from '../optim/adamw.ts';
import { polyLr } from '../optim/schedule.ts';
import { digitScenes } from '../data/digit-scenes.ts';
import { DataRng, mixSeed, permutation } from '../data/rng.ts';
import type { ArrayDataset, SampleSource } from '../data/batches.ts';
import { vocDataset } from '../data/voc.ts';
import type { Checkpoint } from '../io/safetensors.ts';
import { loadCheckpoint, saveCheckpoint } from '../io/checkpoint-file.ts';
import type { TrainFlags } from '../cli/args.ts';
import { ConfusionMatrix, argmaxLastAxis } from './metrics.ts';

export const IGNORE = 255;
const CHECKPOINT_KIND = 'hemgpu-segnet';
const CHECKPOINT_VERSION = '1';

/** In-memory scenes (digits) or a source that decodes and augments per sample (PASCAL VOC). */
export type Dataset = ArrayDataset | SampleSource;

export interface History {
  loss: number[];
  lr: number[];
  val: { step: number; miou: number }[];
}

export interface TrainResult {
  steps: number;
  history: History;
  miou: number;
  iou: number[];
  pixelAccuracy: number;
  secondsPerStep: number;
  imagesPerSecond: number;
  checkpoint: string;
  model: SegNet;
  val: Dataset;
  interrupted: boolean;
}

export interface TrainHooks {
  onStart?(info: { step: number; total: number }): void;
  onStep?(info: { step: number; total: number; loss: number; lr: number; imagesPerSecond: number }): void;
  onEval?(info: { step: number; miou: number }): void;
  onCheckpoint?(path: string, step: number): void;
  /** Polled after every step; true stops training after writing a checkpoint (Ctrl-C). */
  shouldStop?(): boolean;
}

/** The training and validation sets a flag set asks for. */
export function loadData(
  flags: Pick<TrainFlags, 'data' | 'size' | 'trainScenes' | 'valScenes' | 'seed' | 'vocRoot'> &
    Partial<Pick<TrainFlags, 'minDigits' | 'maxDigits' | 'minScale' | 'maxScale' | 'threshold' | 'maxOverlap'>>,
): { train: Dataset; val: Dataset } {
  if (flags.data === 'voc') {
    // Random scale (0.5–2), crop and flip for training; a centre crop/pad for validation.
    const root = flags.vocRoot!;
    const train = vocDataset({ root, split: 'train', cropSize: flags.size, augment: true, cache: true });
    const val = vocDataset({ root, split: 'val', cropSize: flags.size, augment: false, cache: true, limit: flags.valScenes });
    return { train, val };
  }
  // Checkpoints from before these flags existed carry none: digitScenes' defaults apply.
  const scene = {
    size: flags.size,
    minDigits: flags.minDigits,
    maxDigits: flags.maxDigits,
    minScale: flags.minScale,
    maxScale: flags.maxScale,
    threshold: flags.threshold,
    maxOverlap: flags.maxOverlap,
  };
  const train = digitScenes({ split: 'train', count: flags.trainScenes, seed: flags.seed, ...scene });
  const val = digitScenes({ split: 'val', count: flags.valScenes, seed: flags.seed + 1, ...scene });
  return { train, val };
}

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
  for (let i = 0; i < labels.length; i++) if (labels[i] === 0 && rng.next() >= keep) labels[i] = IGNORE;
  return labels;
}

/** Mean IoU, per-class IoU and pixel accuracy of the model in eval mode (T_eval may differ). */
export async function evaluate(
  model: SegNet,
  d: Dataset,
  opts: { batch?: number; iterations?: number } = {},
): Promise<{ miou: number; iou: number[]; pixelAccuracy: number }> {
  const cm = new ConfusionMatrix(d.classes, IGNORE);
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
    }
  } finally {
    model.train(was);
  }
  return { miou: cm.meanIoU(), iou: cm.iou(), pixelAccuracy: cm.pixelAccuracy() };
}

/** The model a flag set describes. */
export function buildModel(
  flags: Pick<TrainFlags, 'model' | 'channels' | 'bases' | 'eta' | 'iterations' | 'seed'> & Partial<Pick<TrainFlags, 'width' | 'dilation' | 'emGamma'>>,
  data: Dataset,
): SegNet {
  return new SegNet({
    model: flags.model,
    inChannels: data.channels,
    classes: data.classes,
    channels: flags.channels,
    bases: flags.bases,
    eta: flags.eta,
    iterations: flags.iterations,
    seed: flags.seed,
    width: flags.width,
    dilation: flags.dilation,
    emGamma: flags.emGamma, // only the initial value: a checkpoint's γ is loaded over it
  });
}

/** Parameters with weight decay (conv weights) and without (norms, biases), as EMANet. */
export function paramGroups(model: SegNet): { decay: Tensor[]; noDecay: Tensor[] } {
  const decay: Tensor[] = [];
  const noDecay: Tensor[] = [];
  for (const [name, p] of model.parameters()) (name.endsWith('.weight') ? decay : noDecay).push(p);
  return { decay, noDecay };
}

/** What a checkpoint must agree on with the flags to be resumed or evaluated. */
const SHAPE_FLAGS = ['model', 'channels', 'bases', 'size', 'data', 'width', 'dilation'] as const;

function describeModel(model: SegNet): string {
  return [...model.parameters()].map(([k, v]) => `${k}${fmt(v.shape)}`).join(';');
}

export async function saveTrainingCheckpoint(
  path: string,
  model: SegNet,
  opt: SGD | AdamW,
  step: number,
  flags: TrainFlags,
  history: History,
): Promise<void> {
  const tensors: Record<string, Tensor> = {};
  for (const [k, v] of model.parameters()) tensors[`param.${k}`] = v;
  for (const [k, v] of model.buffers()) tensors[`buffer.${k}`] = v;
  const state = opt.state('optim.');
  try {
    Object.assign(tensors, state.tensors);
    await saveCheckpoint(path, {
      tensors,
      metadata: {
        kind: CHECKPOINT_KIND,
        version: CHECKPOINT_VERSION,
        step: String(step),
        flags: JSON.stringify(flags),
        history: JSON.stringify(history),
        optimizer: state.meta,
        model: describeModel(model),
      },
    });
  } finally {
    for (const t of Object.values(state.tensors)) t.dispose();
  }
}

/** Check a loaded checkpoint against a model and flags; load weights and buffers into the model. */
export function restoreModel(ck: Checkpoint, path: string, model: SegNet, flags: Partial<TrainFlags>): { step: number; flags: TrainFlags; history: History } {
  const meta = ck.metadata;
  if (meta.kind !== CHECKPOINT_KIND) {
    throw new Error(`${path}: not a hemgpu training checkpoint (metadata kind '${meta.kind ?? 'missing'}'); nothing was loaded.`);
  }
  const saved = JSON.parse(meta.flags ?? '{}') as TrainFlags;
  for (const k of SHAPE_FLAGS) {
    if (flags[k] !== undefined && saved[k] !== flags[k]) {
      throw new Error(`${path}: the checkpoint was trained with --${k} ${String(saved[k])}, not ${String(flags[k])}; pass the same flag or another checkpoint. Nothing was loaded.`);
    }
  }
  if (meta.model !== describeModel(model)) {
    throw new Error(`${path}: the checkpoint's parameters do not match this model's (${meta.model?.slice(0, 120)}…); nothing was loaded.`);
  }
  // Validate every tensor before writing any, so a bad file leaves the model untouched.
  const writes: [Tensor, Float32Array][] = [];
  for (const [k, p] of model.parameters()) {
    const t = ck.tensors[`param.${k}`];
    if (!t || !(t.data instanceof Float32Array) || t.data.length !== p.size) {
      throw new Error(`${path}: parameter '${k}' ${fmt(p.shape)} is missing or has the wrong size; nothing was loaded.`);
    }
    writes.push([p, t.data]);
  }
  const buffers: [string, Float32Array, readonly number[]][] = [];
  for (const [k, b] of model.buffers()) {
    const t = ck.tensors[`buffer.${k}`];
    if (!t || !(t.data instanceof Float32Array) || t.data.length !== b.size) {
      throw new Error(`${path}: buffer '${k}' ${fmt(b.shape)} is missing or has the wrong size; nothing was loaded.`);
    }
    buffers.push([k, t.data, b.shape]);
  }
  for (const [p, data] of writes) p.write(data);
  for (const [k, data, shape] of buffers) model.setBuffer(k, tensor(data, [...shape]));
  return { step: Number(meta.step ?? 0), flags: saved, history: JSON.parse(meta.history ?? '{"loss":[],"lr":[],"val":[]}') as History };
}

/** The optimizer a flag set asks for: decay on weights, none on norms and biases (as EMANet). */
export function makeOptimizer(model: SegNet, flags: TrainFlags): SGD | AdamW {
  const { decay, noDecay } = paramGroups(model);
  if (flags.optimizer === 'adamw') {
    return new AdamW([{ params: decay, weightDecay: 1e-2 }, { params: noDecay, weightDecay: 0 }], { lr: flags.lr });
  }
  return new SGD([{ params: decay, weightDecay: 1e-4 }, { params: noDecay, weightDecay: 0 }], { lr: flags.lr, momentum: 0.9 });
}

/** The learning rate of a step: linear warm-up over flags.warmup steps, then the poly schedule. */
export function learningRate(flags: Pick<TrainFlags, 'lr' | 'steps'> & Partial<Pick<TrainFlags, 'warmup'>>, step: number): number {
  const warm = flags.warmup ?? 0;
  const poly = polyLr(flags.lr, step, flags.steps);
  return step < warm ? (poly * (step + 1)) / (warm + 1) : poly;
}

/** Train per the flags; resumes from flags.resume when given. */
export async function train(flags: TrainFlags, hooks: TrainHooks = {}): Promise<TrainResult> {
  await init();
  const { train: trainSet, val } = loadData(flags);
  const model = buildModel(flags, trainSet);
  const opt = makeOptimizer(model, flags);
  let step = 0;
  let history: History = { loss: [], lr: [], val: [] };
  if (flags.resume) {
    if (!existsSync(flags.resume)) throw new Error(`--resume: no checkpoint at ${flags.resume}.`);
    const ck = await loadCheckpoint(flags.resume);
    const restored = restoreModel(ck, flags.resume, model, flags);
    const optTensors: Record<string, { data: Float32Array; shape: number[] }> = {};
    for (const [k, t] of Object.entries(ck.tensors)) {
      if (k.startsWith('optim.')) optTensors[k] = { data: t.data as Float32Array, shape: [...t.shape] };
    }
    opt.loadState({ tensors: optTensors, meta: ck.metadata.optimizer ?? '' }, 'optim.');
    step = restored.step;
    history = restored.history;
    if (step > flags.steps) throw new Error(`--steps ${flags.steps}: the checkpoint is already at step ${step}.`);
  }
  mkdirSync(flags.out, { recursive: true });
  const ckPath = join(flags.out, 'checkpoint.safetensors');
  hooks.onStart?.({ step, total: flags.steps });
  const t0 = performance.now();
  const startStep = step;
  let interrupted = false;
  while (step < flags.steps) {
    const lr = learningRate(flags, step);
    opt.setLr(lr);
    const idx = batchIndices(trainSet.count, flags.batch, step, flags.seed);
    const { x, labels } = gatherBatch(trainSet, idx, step, flags.seed);
    sampleBackground(labels, flags.bgKeep ?? 1, flags.seed, step);
    const loss = tidy(() => {
      const logits = model.forward(tensor(x, [idx.length, trainSet.height, trainSet.width, trainSet.channels]), {
        dropoutSeed: (flags.seed * 7919 + step) >>> 0,
      });
      const l = crossEntropy(logits, labels, { ignoreIndex: IGNORE });
      l.backward();
      return l;
    });
    const value = await loss.item();
    loss.dispose();
    if (!Number.isFinite(value)) {
      model.zeroGrad();
      throw new Error(
        `step ${step + 1}: the loss is ${value}; training stopped before updating the weights. ` +
          (existsSync(ckPath) ? `The last good checkpoint is ${ckPath}.` : 'No checkpoint was written.') +
          ' Lower --lr or check the data.',
      );
    }
    opt.step();
    model.zeroGrad();
    step++;
    history.loss.push(value);
    history.lr.push(lr);
    const secs = (performance.now() - t0) / 1000;
    hooks.onStep?.({ step, total: flags.steps, loss: value, lr, imagesPerSecond: ((step - startStep) * flags.batch) / Math.max(secs, 1e-9) });
    if (flags.evalEvery > 0 && step % flags.evalEvery === 0 && step < flags.steps) {
      const r = await evaluate(model, val, { batch: flags.batch });
      history.val.push({ step, miou: r.miou });
      hooks.onEval?.({ step, miou: r.miou });
    }
    const stop = hooks.shouldStop?.() ?? false;
    if ((flags.checkpointEvery > 0 && step % flags.checkpointEvery === 0) || stop) {
      await saveTrainingCheckpoint(ckPath, model, opt, step, flags, history);
      hooks.onCheckpoint?.(ckPath, step);
    }
    if (stop) {
      interrupted = true;
      break;
    }
  }
  const secs = (performance.now() - t0) / 1000;
  const r = await evaluate(model, val, { batch: flags.batch });
  if (!interrupted) {
    history.val.push({ step, miou: r.miou });
    hooks.onEval?.({ step, miou: r.miou });
    await saveTrainingCheckpoint(ckPath, model, opt, step, flags, history);
    hooks.onCheckpoint?.(ckPath, step);
  }
  opt.dispose();
  const done = step - startStep;
  return {
    steps: step,
    history,
    miou: r.miou,
    iou: r.iou,
    pixelAccuracy: r.pixelAccuracy,
    secondsPerStep: done ? secs / done : 0,
    imagesPerSecond: done ? (done * flags.batch) / secs : 0,
    checkpoint: ckPath,
    model,
    val,
    interrupted,
  };
}
