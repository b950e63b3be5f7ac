/**
 * A training run, shared by Node and browsers: the model and optimizer a TrainConfig describes,
 * step after step of its schedule (scheduledStep), validation, the history, resuming from a
 * verified checkpoint, and its checkpoint bytes. The Node trainer (src/train/trainer.ts) drives
 * one and adds files, timing and hooks; a browser page (or a Web Worker) drives one directly.
 */
import type { SegNet } from '../model/segnet.ts';
import type { SGD } from '../optim/sgd.ts';
import type { AdamW } from '../optim/adamw.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';
import type { Dataset } from './batch.ts';
import { settingEntries, withAbsentFields, type TrainConfig } from './config.ts';
import { buildModel, makeOptimizer } from './setup.ts';
import { scheduledStep } from './step.ts';
import { evaluate, type Evaluation } from './evaluate.ts';
import { emDiagnostics, type EmDiagnostics } from './em-diagnostics.ts';
import { restoreModel, restoreOptimizer, type ConfigChange, type History } from './checkpoint.ts';
import { saveWeights, type LoadedWeights, type RunState } from './weights.ts';

/** The training-changing fields of `config` that differ from the checkpoint's, as history entries at `step`. */
export function configChanges(saved: TrainConfig, config: TrainConfig, step: number): ConfigChange[] {
  const out: ConfigChange[] = [];
  for (const [k, spec] of settingEntries()) {
    const key = k as keyof TrainConfig;
    if (spec.training && saved[key] !== config[key]) out.push({ step, flag: spec.flag, old: saved[key], new: config[key] });
  }
  return out;
}

export interface TrainingRunData {
  train: Dataset;
  val: Dataset;
}

export interface EvaluateRunOptions {
  /** EM iterations at evaluation (default: the model's). */
  iterations?: number;
  /** Called after each batch with the samples done so far. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Training per a TrainConfig on `data` (e.g. digitSceneData(config, await decodeDigits(bytes))):
 * `step()` trains step `completed` of the schedule, `evaluate()` validates and records the mIoU in
 * the history, `saveWeights()` gives the checkpoint bytes, `resume(readWeights(bytes))` continues
 * a checkpoint's run exactly where it stopped. Deterministic: the same config and data give the
 * same losses and bytes.
 */
export class TrainingRun {
  readonly model: SegNet;
  readonly optimizer: SGD | AdamW;
  readonly train: Dataset;
  readonly val: Dataset;
  /** Steps done (the next step() trains step `completed` + 1 of config.steps). */
  completed = 0;
  history: History = { loss: [], lr: [], val: [] };
  /** Training fields changed on resume (stored in the checkpoint). */
  changes: ConfigChange[] = [];

  /** The run's config: as given, with fields newer than it (`task`, `fragment`) at the values their absence means. */
  readonly config: TrainConfig;

  constructor(config: TrainConfig, data: TrainingRunData) {
    if (!config || typeof config !== 'object') throw new Error('TrainingRun: expected a TrainConfig (e.g. demoConfig()).');
    this.config = withAbsentFields(config);
    config = this.config;
    if (!data || typeof data !== 'object' || !data.train || !data.val) {
      throw new Error('TrainingRun: expected { train, val } datasets (e.g. digitSceneData(config, digits)).');
    }
    checkOptions('TrainingRun', data, optionKeys<TrainingRunData>({ train: true, val: true }));
    this.train = data.train;
    this.val = data.val;
    this.model = buildModel(config, data.train);
    this.optimizer = makeOptimizer(this.model, config);
  }

  /**
   * Continue a checkpoint's run (from readWeights, verified): weights, buffers, optimizer state,
   * step and history. Its model shape must match this run's config (refused naming the field,
   * nothing loaded); training fields that differ from the checkpoint's config are recorded in
   * `changes`.
   */
  resume(loaded: LoadedWeights): void {
    if (!loaded || typeof loaded !== 'object' || !loaded.checkpoint) throw new Error('TrainingRun.resume: expected what readWeights(bytes, name) returns.');
    const restored = restoreModel(loaded.checkpoint, loaded.name, this.model, this.config);
    restoreOptimizer(loaded.checkpoint, this.optimizer);
    this.completed = restored.step;
    this.history = restored.history;
    this.changes = [...restored.changes, ...configChanges(restored.flags, this.config, restored.step)];
  }

  /**
   * Train the next step; a non-finite loss throws NonFiniteLossError and changes nothing.
   * `pause`: see optimizeLoss (a stop request abandons the step with StepStopped, `completed`
   * unchanged).
   */
  async step(options: { pause?: () => Promise<boolean> } = {}): Promise<{ step: number; loss: number; lr: number }> {
    if (this.completed >= this.config.steps) {
      throw new Error(`TrainingRun.step: the run is complete (${this.completed} of ${this.config.steps} steps); start a run with more steps (config.steps) to train further.`);
    }
    const r = await scheduledStep(this.model, this.optimizer, this.train, this.config, this.completed, options);
    this.completed++;
    this.history.loss.push(r.loss);
    this.history.lr.push(r.lr);
    return { step: this.completed, loss: r.loss, lr: r.lr };
  }

  /**
   * Validation metrics (batch config.batch) on `val`, with the EM unit's diagnostics on the first
   * 32 validation scenes (`em`: null for plain); the mIoU is recorded in history.val at the
   * current step unless `iterations` asks for another T than training's.
   */
  async evaluate(options: EvaluateRunOptions = {}): Promise<Evaluation & { em: EmDiagnostics | null }> {
    checkOptions('TrainingRun.evaluate', options, optionKeys<EvaluateRunOptions>({ iterations: true, onProgress: true }));
    const e = await evaluate(this.model, this.val, { batch: this.config.batch, ...options });
    if (options.iterations === undefined) this.history.val.push({ step: this.completed, miou: e.miou });
    const em = await emDiagnostics(this.model, this.val, { batch: this.config.batch, ...(options.iterations === undefined ? {} : { iterations: options.iterations }) });
    return { ...e, em };
  }

  /** What saveWeights stores. */
  state(): RunState {
    return { model: this.model, optimizer: this.optimizer, step: this.completed, config: this.config, history: this.history, changes: this.changes };
  }

  /** The checkpoint's .safetensors bytes (the CLI's checkpoint.safetensors for the same state). */
  saveWeights(): Promise<Uint8Array> {
    return saveWeights(this.state());
  }

  /** Free the optimizer state and the model's tensors. */
  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }
}
