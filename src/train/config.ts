/**
 * TrainConfig: everything a training run needs — the model, the data, the optimizer and its
 * schedule, the number of steps, the seed, and (for the Node run loop) the output directory,
 * resuming and how often to validate and save. Flat, so it is stored as is in a checkpoint's
 * metadata; the CLI builds it from its flags (src/cli/args.ts).
 */
import type { DigitTask } from '../data/digit-scenes.ts';
import type { SegModelName } from '../model/segnet.ts';
import type { BasesAverage } from '../nn/hem-module.ts';

export type DataName = 'digits' | 'voc';
export type OptimizerName = 'sgd' | 'adamw';

export interface TrainConfig {
  // The model (SegNetConfig's fields; inChannels and classes come from the data).
  model: SegModelName;
  /** HEM step size η (hemnet only: emanet is EMANet's η = 1 and ignores it). */
  eta: number;
  /** EM iterations T during training. */
  iterations: number;
  /** EM bases K. */
  bases: number;
  /** Channels C entering the EM unit. */
  channels: number;
  /** Backbone width w (stem channels w, 2w, 2w; head 2w). */
  width: number;
  /** Dilation of the 3×3 convs at output stride 4. */
  dilation: number;
  /** Initial γ of the norm closing the EM unit's residual branch (0: the unit starts as the identity). */
  emGamma: number;
  /**
   * How the EM unit's μ⁽⁰⁾ follows the batches: 'plain', the paper's moving average (the default);
   * 'l2norm', each base of the average l2-normalised (every checkpoint written before the field).
   */
  basesAverage: BasesAverage;

  // The data.
  data: DataName;
  /** PASCAL VOC directory (data 'voc'). */
  vocRoot: string | null;
  /** Image side (digits: canvas; voc: crop). */
  size: number;
  trainScenes: number;
  valScenes: number;
  /** Digits per scene, uniform in [minDigits, maxDigits]. */
  minDigits: number;
  maxDigits: number;
  /** Side of a pasted digit in pixels, uniform in [minScale, maxScale]. */
  minScale: number;
  maxScale: number;
  /** Digit intensity from which a pixel is labelled as the digit. */
  threshold: number;
  /** Largest share of a digit's square another digit's square may cover (1: independent positions). */
  maxOverlap: number;
  /**
   * Digit scenes' task: 'digits' (each digit labelled by its class), 'context' (one class per
   * scene, later digits as fragments: docs/experiments/context-task.md) or 'groups' (two classes
   * per scene, a whole digit of each and fragments tied to it by colour, RGB images; needs
   * minDigits ≥ 2: docs/experiments/groups-task.md).
   */
  task: DigitTask;
  /** Tasks 'context' and 'groups': side of a fragment's window in pixels (ignored by 'digits'). */
  fragment: number;
  /** Share of background pixels kept in the training loss (the rest ignored; 1: all). */
  bgKeep: number;

  // The optimizer and its schedule.
  optimizer: OptimizerName;
  /** Base learning rate (poly schedule, power 0.9). */
  lr: number;
  /** Linear learning-rate warm-up steps before the poly schedule. */
  warmup: number;
  /** Optimizer steps. */
  steps: number;
  /** Images per step. */
  batch: number;
  /** Seed of the initialisation, the data and the batch order. */
  seed: number;

  // The run (the Node run loop, src/train/trainer.ts).
  /** Output directory (checkpoints). */
  out: string;
  /** Continue from this checkpoint exactly where it stopped. */
  resume: string | null;
  /** Validate every N steps (0: only at the end). */
  evalEvery: number;
  /** Write a checkpoint every N steps (0: only at the end). */
  checkpointEvery: number;
}

/** How a TrainConfig field is typed in a checkpoint's metadata, and whether it changes training. */
interface FieldSpec {
  type: 'number' | 'integer' | 'string' | 'string|null';
  /** The CLI flag that sets it (--flag). */
  flag: string;
  /** False for fields that do not change what is trained (where files go, how often to validate or save). */
  training: boolean;
  /** The value of checkpoints written before the field existed (they trained with it); absent: required. */
  absent?: string | number;
}

const f = (type: FieldSpec['type'], flag: string, training = true, absent?: string | number): FieldSpec => ({ type, flag, training, ...(absent === undefined ? {} : { absent }) });

/**
 * Every TrainConfig field: its type (checked when a checkpoint's stored config is read), its CLI
 * flag, and whether a change of it changes training (--resume refuses those unless allowed).
 */
export const TRAIN_CONFIG_FIELDS: Record<keyof TrainConfig, FieldSpec> = {
  model: f('string', 'model'),
  eta: f('number', 'eta'),
  iterations: f('integer', 'iterations'),
  bases: f('integer', 'bases'),
  channels: f('integer', 'channels'),
  width: f('integer', 'width'),
  dilation: f('integer', 'dilation'),
  emGamma: f('number', 'em-gamma'),
  basesAverage: f('string', 'bases-average', true, 'l2norm'),
  data: f('string', 'data'),
  vocRoot: f('string|null', 'voc-root'),
  size: f('integer', 'size'),
  trainScenes: f('integer', 'train-scenes'),
  valScenes: f('integer', 'val-scenes'),
  minDigits: f('integer', 'min-digits'),
  maxDigits: f('integer', 'max-digits'),
  minScale: f('integer', 'min-scale'),
  maxScale: f('integer', 'max-scale'),
  threshold: f('number', 'threshold'),
  maxOverlap: f('number', 'max-overlap'),
  task: f('string', 'task', true, 'digits'),
  fragment: f('integer', 'fragment', true, 12),
  bgKeep: f('number', 'bg-keep'),
  optimizer: f('string', 'optimizer'),
  lr: f('number', 'lr'),
  warmup: f('integer', 'warmup'),
  steps: f('integer', 'steps'),
  batch: f('integer', 'batch'),
  seed: f('integer', 'seed'),
  out: f('string', 'out', false),
  resume: f('string|null', 'resume', false),
  evalEvery: f('integer', 'eval-every', false),
  checkpointEvery: f('integer', 'checkpoint-every', false),
};

/**
 * The fields that shape the model's weights (the EM unit or none, K, C, the backbone's width, the
 * classes a data source has): a checkpoint's weights fit only its own values, so a resumed run
 * can never change them, --allow-change or not.
 */
export const MODEL_SHAPE_FIELDS: readonly (keyof TrainConfig)[] = ['model', 'bases', 'channels', 'width', 'data'];

/**
 * `config` with the fields it lacks that have an `absent` value (fields newer than it: a config or
 * checkpoint written before they existed trained with that value) filled in; a copy.
 */
export function withAbsentFields<T extends object>(config: T): T {
  const out = { ...config } as Record<string, unknown>;
  for (const [k, spec] of Object.entries(TRAIN_CONFIG_FIELDS)) if (out[k] === undefined && spec.absent !== undefined) out[k] = spec.absent;
  return out as T;
}

/** The TrainConfig fields of `config` only (a TrainFlags carries the CLI's own flags too), in a fixed order. */
export function pickTrainConfig(config: TrainConfig): TrainConfig {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(TRAIN_CONFIG_FIELDS)) out[k] = (config as unknown as Record<string, unknown>)[k];
  return out as unknown as TrainConfig;
}
