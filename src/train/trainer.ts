/**
 * The Node run loop of SegNet training: digit scenes (mnist) or PASCAL VOC from disk, the
 * output directory, safetensors checkpoints written atomically every N steps, on Ctrl-C and at
 * the end, exact resuming, validation mIoU, progress hooks. The per-step work (batches, loss,
 * optimizer step, metrics, checkpoint bytes) is the browser-safe TrainingRun (src/train/run.ts),
 * which this loop drives, so the CLI and a browser page run the same code.
 * The engine must be initialised first (`await init()` from the package entry).
 */
import { existsSync } from 'node:fs';
import { makeDirectory } from '../io/make-directory.ts';
import { join } from 'node:path';
import type { SegNet } from '../model/segnet.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { mnistDigits } from '../data/mnist.ts';
import { vocDataset } from '../data/voc.ts';
import { loadCheckpoint, saveCheckpointBytes } from '../io/checkpoint-file.ts';
import type { Dataset } from './batch.ts';
import type { TrainConfig } from './config.ts';
import { digitSceneData } from './setup.ts';
import { NonFiniteLossError, StepStopped } from './step.ts';
import type { ConfigChange, History } from './checkpoint.ts';
import { NonFiniteTensorError, verifyCheckpoint } from './checkpoint-verify.ts';
import { saveWeights, verifiedWeights } from './weights.ts';
import { TrainingRun } from './run.ts';
import type { EmDiagnostics } from './em-diagnostics.ts';

export { batchIndices } from './batch.ts'; // where test/train/train.test.ts has always found it

export interface TrainResult {
  steps: number;
  history: History;
  miou: number;
  iou: number[];
  pixelAccuracy: number;
  /** Pixel accuracy on the validation set's regions (the context task: fragments, whole); {} when it has none. */
  regionAccuracy: Record<string, number>;
  /** The EM unit's diagnostics after training (attention or pooling; src/train/em-diagnostics.ts); null for plain or when interrupted. */
  em: EmDiagnostics | null;
  /** Timing over the run's steps after its first (which compiles the GPU pipelines). */
  secondsPerStep: number;
  imagesPerSecond: number;
  /**
   * The checkpoint of the run as it ended: this run's file, the resumed one when the run was
   * stopped before its first step (left as it was), or null when a fresh run was stopped before
   * its first step (nothing written).
   */
  checkpoint: string | null;
  model: SegNet;
  val: Dataset;
  /** Stopped by shouldStop(): the checkpoint is written, the validation pass skipped (miou NaN). */
  interrupted: boolean;
}

export interface TrainHooks {
  onStart?(info: { step: number; total: number }): void;
  onStep?(info: { step: number; total: number; loss: number; lr: number; imagesPerSecond: number }): void;
  onEval?(info: { step: number; miou: number; em: EmDiagnostics | null }): void;
  onCheckpoint?(path: string, step: number): void;
  /**
   * Polled before the first step, during this process's first step (which compiles the GPU
   * pipelines) and after every step; true stops training after writing a checkpoint (Ctrl-C).
   * Before or during the first step it stops with nothing written: there is nothing new to save,
   * and a stop during setup or compilation ends the process at once rather than after a step.
   */
  shouldStop?(): boolean;
}

/** The training and validation sets a config asks for: mnist digit scenes, or PASCAL VOC from config.vocRoot. */
export function loadData(
  config: Pick<TrainConfig, 'data' | 'size' | 'trainScenes' | 'valScenes' | 'seed' | 'vocRoot'> &
    Partial<Pick<TrainConfig, 'minDigits' | 'maxDigits' | 'minScale' | 'maxScale' | 'threshold' | 'maxOverlap' | 'task' | 'fragment'>>,
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

/**
 * Write the run's checkpoint to `path` atomically: the bytes of saveWeights (refused before
 * anything is written if a tensor is not finite) go to a temporary file, which is read back and
 * verified (checksums, metadata) before it replaces the previous checkpoint, which stays intact
 * until then.
 */
export async function saveTrainingCheckpoint(
  path: string,
  model: SegNet,
  opt: Optimizer<object>,
  step: number,
  config: TrainConfig,
  history: History,
  changes: ConfigChange[] = [],
): Promise<void> {
  const bytes = await saveWeights({ model, optimizer: opt, step, config, history, changes });
  await saveCheckpointBytes(path, bytes, (ck, tmp) => void verifyCheckpoint(ck, tmp));
}

/** Thrown from the final validation's progress callback when a stop is requested (Ctrl-C). */
class ValidationStopped extends Error {}

/**
 * Train per the config; resumes from config.resume when given (verified before anything is
 * loaded). The run continues with `config` as given: every training field that differs from the
 * checkpoint's stored config is recorded in the checkpoint's 'changes' (the CLI refuses such
 * changes unless --allow-change names them). Model-shape fields must match.
 */
export async function train(config: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const data = loadData(config);
  const run = new TrainingRun(config, data);
  const { model, optimizer: opt, val } = run;
  // The newest checkpoint known to be finite (verified when written or loaded): the NaN stop names it.
  let lastGood: { path: string; step: number } | null = null;
  if (config.resume) {
    if (!existsSync(config.resume)) throw new Error(`--resume: no checkpoint at ${config.resume}.`);
    const loaded = verifiedWeights(await loadCheckpoint(config.resume), config.resume);
    run.resume(loaded);
    lastGood = { path: config.resume, step: run.completed };
    if (!loaded.checksummed) console.warn(`${config.resume}: a checkpoint from before format version 2 (no checksums): loaded without checksum verification.`);
    if (run.completed > config.steps) throw new Error(`--steps ${config.steps}: the checkpoint is already at step ${run.completed}.`);
  }
  let skipped = ''; // why the newest periodic checkpoint was not written (a non-finite tensor)
  const lastGoodText = (): string => skipped + (lastGood ? `The last good checkpoint is ${lastGood.path} (step ${lastGood.step}).` : 'No checkpoint was written.');
  // A periodic save with a non-finite tensor is skipped (the previous checkpoint stays; the loss
  // will turn non-finite and stop the run); the final or interrupt save throws.
  const save = async (final: boolean): Promise<void> => {
    try {
      await saveCheckpointBytes(ckPath, await run.saveWeights(), (ck, tmp) => void verifyCheckpoint(ck, tmp));
    } catch (err) {
      if (err instanceof NonFiniteTensorError && !final) {
        skipped = `${err.message} `;
        return;
      }
      throw new Error(`${(err as Error).message} ${lastGoodText()}`);
    }
    skipped = '';
    lastGood = { path: ckPath, step: run.completed };
    hooks.onCheckpoint?.(ckPath, run.completed);
  };
  makeDirectory(config.out);
  const ckPath = join(config.out, 'checkpoint.safetensors');
  hooks.onStart?.({ step: run.completed, total: config.steps });
  // images/s leaves out the run's first step, which compiles the GPU pipelines (warm-up), and the
  // validation passes and checkpoints between steps (`paused`, ms): it is the training's rate.
  let t0 = performance.now();
  let timedFrom = run.completed;
  let warm = false;
  let paused = 0;
  // A stop requested during setup (data, model, resume): nothing to save yet. Setup ran without
  // yielding, so let a signal that arrived meanwhile reach its handler first.
  const stopRequested = async (): Promise<boolean> => {
    await new Promise<void>((r) => setImmediate(r));
    return hooks.shouldStop?.() ?? false;
  };
  let interrupted = await stopRequested();
  const trainingSeconds = (): number => (performance.now() - t0 - paused) / 1000;
  const rate = (): number => ((run.completed - timedFrom) * config.batch) / Math.max(trainingSeconds(), 1e-9);
  while (!interrupted && run.completed < config.steps) {
    let r: { step: number; loss: number; lr: number };
    try {
      // This process's first step compiles the GPU pipelines as it records (seconds on a CPU
      // driver): it pauses for the event loop meanwhile, so that a stop request (Ctrl-C, SIGTERM)
      // abandons it before the update. Nothing is saved then: the state on disk (none, or the
      // checkpoint resumed) is the state before the step, and the forward has already updated
      // batch norm's and the EM unit's running buffers in memory.
      r = await run.step(warm ? {} : { pause: stopRequested });
    } catch (err) {
      if (err instanceof StepStopped) {
        interrupted = true;
        break;
      }
      if (!(err instanceof NonFiniteLossError)) throw err;
      throw new Error(`step ${run.completed + 1}: ${err.message} ${lastGoodText()} Lower --lr or check the data.`);
    }
    const step = r.step;
    hooks.onStep?.({ step, total: config.steps, loss: r.loss, lr: r.lr, imagesPerSecond: rate() });
    // Time from the end of this process's first step (it compiled the pipelines): once, not after
    // every step (which left only the last step in the rate).
    if (!warm) {
      warm = true;
      if (step < config.steps) {
        t0 = performance.now();
        timedFrom = step;
      }
    }
    // A stop request (Ctrl-C) saves at once: no validation pass first.
    const stop = hooks.shouldStop?.() ?? false;
    const pause0 = performance.now();
    if (!stop && config.evalEvery > 0 && step % config.evalEvery === 0 && step < config.steps) {
      const e = await run.evaluate();
      hooks.onEval?.({ step, miou: e.miou, em: e.em });
    }
    if ((config.checkpointEvery > 0 && step % config.checkpointEvery === 0) || stop) {
      await save(stop);
    }
    paused += performance.now() - pause0;
    if (stop) {
      interrupted = true;
      break;
    }
  }
  const step = run.completed;
  const done = step - timedFrom;
  const secs = trainingSeconds();
  // Interrupted: the checkpoint is written; no validation pass (miou, iou and pixelAccuracy are NaN / empty).
  const none = { miou: NaN, iou: [] as number[], pixelAccuracy: NaN, regionAccuracy: {}, em: null };
  let r: Awaited<ReturnType<TrainingRun['evaluate']>> | typeof none = none;
  if (!interrupted) {
    try {
      // A stop request during the final validation ends it after the batch in progress: the
      // run is saved without its validation, as a stop during training is.
      r = await run.evaluate({
        onProgress: () => {
          if (hooks.shouldStop?.()) throw new ValidationStopped();
        },
      });
      hooks.onEval?.({ step, miou: r.miou, em: r.em });
    } catch (err) {
      if (!(err instanceof ValidationStopped)) throw err;
      interrupted = true;
      r = none;
    }
    await save(true);
  }
  opt.dispose();
  return {
    steps: step,
    history: run.history,
    miou: r.miou,
    iou: r.iou,
    pixelAccuracy: r.pixelAccuracy,
    regionAccuracy: r.regionAccuracy,
    em: r.em,
    secondsPerStep: done ? secs / done : 0,
    imagesPerSecond: done ? (done * config.batch) / secs : 0,
    checkpoint: lastGood?.path ?? null,
    model,
    val,
    interrupted,
  };
}
