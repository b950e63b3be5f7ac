/**
 * The Node run loop of SegNet training: digit scenes (mnist) or PASCAL VOC from disk, the
 * output directory, safetensors checkpoints written atomically every N steps, on Ctrl-C and at
 * the end, exact resuming, validation mIoU, progress hooks. The per-step work (batches, loss,
 * optimizer step, metrics) is the browser-safe part: src/train/{step,batch,setup,evaluate,checkpoint}.ts.
 * The engine must be initialised first (`await init()` from the package entry).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SegNet } from '../model/segnet.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { mnistDigits } from '../data/mnist.ts';
import { vocDataset } from '../data/voc.ts';
import { loadCheckpoint, saveCheckpoint } from '../io/checkpoint-file.ts';
import type { Dataset } from './batch.ts';
import type { TrainConfig } from './config.ts';
import { buildModel, digitSceneData, makeOptimizer } from './setup.ts';
import { NonFiniteLossError, scheduledStep } from './step.ts';
import { evaluate } from './evaluate.ts';
import { restoreModel, restoreOptimizer, writeTrainingCheckpoint, type History } from './checkpoint.ts';

export { batchIndices } from './batch.ts'; // where test/train.test.ts has always found it

export interface TrainResult {
  steps: number;
  history: History;
  miou: number;
  iou: number[];
  pixelAccuracy: number;
  /** Timing over the run's steps after its first (which compiles the GPU pipelines). */
  secondsPerStep: number;
  imagesPerSecond: number;
  checkpoint: string;
  model: SegNet;
  val: Dataset;
  /** Stopped by shouldStop(): the checkpoint is written, the validation pass skipped (miou NaN). */
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

/** The training and validation sets a config asks for: mnist digit scenes, or PASCAL VOC from config.vocRoot. */
export function loadData(
  config: Pick<TrainConfig, 'data' | 'size' | 'trainScenes' | 'valScenes' | 'seed' | 'vocRoot'> &
    Partial<Pick<TrainConfig, 'minDigits' | 'maxDigits' | 'minScale' | 'maxScale' | 'threshold' | 'maxOverlap'>>,
): { train: Dataset; val: Dataset } {
  if (config.data === 'voc') {
    // Random scale (0.5–2), crop and flip for training; a centre crop/pad for validation.
    const root = config.vocRoot!;
    const train = vocDataset({ root, split: 'train', cropSize: config.size, augment: true, cache: true });
    const val = vocDataset({ root, split: 'val', cropSize: config.size, augment: false, cache: true, limit: config.valScenes });
    return { train, val };
  }
  return digitSceneData(config, mnistDigits());
}

/** Write the run's checkpoint to `path` atomically. */
export async function saveTrainingCheckpoint(path: string, model: SegNet, opt: Optimizer<object>, step: number, config: TrainConfig, history: History): Promise<void> {
  await writeTrainingCheckpoint(model, opt, step, config, history, (input) => saveCheckpoint(path, input));
}

/** Train per the config; resumes from config.resume when given. */
export async function train(config: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const { train: trainSet, val } = loadData(config);
  const model = buildModel(config, trainSet);
  const opt = makeOptimizer(model, config);
  let step = 0;
  let history: History = { loss: [], lr: [], val: [] };
  if (config.resume) {
    if (!existsSync(config.resume)) throw new Error(`--resume: no checkpoint at ${config.resume}.`);
    const ck = await loadCheckpoint(config.resume);
    const restored = restoreModel(ck, config.resume, model, config);
    restoreOptimizer(ck, opt);
    step = restored.step;
    history = restored.history;
    if (step > config.steps) throw new Error(`--steps ${config.steps}: the checkpoint is already at step ${step}.`);
  }
  mkdirSync(config.out, { recursive: true });
  const ckPath = join(config.out, 'checkpoint.safetensors');
  hooks.onStart?.({ step, total: config.steps });
  // images/s leaves out the run's first step, which compiles the GPU pipelines (warm-up).
  let t0 = performance.now();
  let timedFrom = step;
  let interrupted = false;
  const rate = (): number => ((step - timedFrom) * config.batch) / Math.max((performance.now() - t0) / 1000, 1e-9);
  while (step < config.steps) {
    let r: { loss: number; lr: number };
    try {
      r = await scheduledStep(model, opt, trainSet, config, step);
    } catch (err) {
      if (!(err instanceof NonFiniteLossError)) throw err;
      throw new Error(
        `step ${step + 1}: ${err.message} ` +
          (existsSync(ckPath) ? `The last good checkpoint is ${ckPath}.` : 'No checkpoint was written.') +
          ' Lower --lr or check the data.',
      );
    }
    step++;
    history.loss.push(r.loss);
    history.lr.push(r.lr);
    hooks.onStep?.({ step, total: config.steps, loss: r.loss, lr: r.lr, imagesPerSecond: rate() });
    if (step === timedFrom + 1 && step < config.steps) {
      t0 = performance.now();
      timedFrom = step;
    }
    // A stop request (Ctrl-C) saves at once: no validation pass first.
    const stop = hooks.shouldStop?.() ?? false;
    if (!stop && config.evalEvery > 0 && step % config.evalEvery === 0 && step < config.steps) {
      const e = await evaluate(model, val, { batch: config.batch });
      history.val.push({ step, miou: e.miou });
      hooks.onEval?.({ step, miou: e.miou });
    }
    if ((config.checkpointEvery > 0 && step % config.checkpointEvery === 0) || stop) {
      await saveTrainingCheckpoint(ckPath, model, opt, step, config, history);
      hooks.onCheckpoint?.(ckPath, step);
    }
    if (stop) {
      interrupted = true;
      break;
    }
  }
  const done = step - timedFrom;
  const secs = (performance.now() - t0) / 1000;
  // Interrupted: the checkpoint is written; no validation pass (miou, iou and pixelAccuracy are NaN / empty).
  const r = interrupted ? { miou: NaN, iou: [] as number[], pixelAccuracy: NaN } : await evaluate(model, val, { batch: config.batch });
  if (!interrupted) {
    history.val.push({ step, miou: r.miou });
    hooks.onEval?.({ step, miou: r.miou });
    await saveTrainingCheckpoint(ckPath, model, opt, step, config, history);
    hooks.onCheckpoint?.(ckPath, step);
  }
  opt.dispose();
  return {
    steps: step,
    history,
    miou: r.miou,
    iou: r.iou,
    pixelAccuracy: r.pixelAccuracy,
    secondsPerStep: done ? secs / done : 0,
    imagesPerSecond: done ? (done * config.batch) / secs : 0,
    checkpoint: ckPath,
    model,
    val,
    interrupted,
  };
}
