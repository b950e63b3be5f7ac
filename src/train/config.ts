/**
 * TrainConfig: everything a training run needs — the model, the data, the optimizer and its
 * schedule, the number of steps, the seed, and (for the Node run loop) the output directory,
 * resuming and how often to validate and save. Flat, so it is stored as is in a checkpoint's
 * metadata.
 *
 * TRAIN_SETTINGS declares each field once: its flag, type, range or choices, default, help, whether
 * it changes training and its value in checkpoints older than it. The CLI's flags, their validation
 * and --help (src/cli/args.ts), a checkpoint's config check (checkpoint-verify.ts), the recipes
 * (recipes.ts), the page's URL parameters and the PyTorch twin (python/hemgpu_twin/settings.json,
 * written by `npm run settings`) all derive from it. A leaf apart from seg-models.ts, so a page's
 * main thread can read it.
 */
import type { DigitTask } from '../data/digit-scenes.ts';
import { SEG_MODEL_UNITS, type SegModelName } from '../model/seg-models.ts';
import type { BasesAverage } from '../nn/bases-average.ts';

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
  /** Seed of the initialisation, the batch order and (when dataSeed is 0) the digit scenes. */
  seed: number;
  /**
   * Seed of the digit scenes (training: this seed; validation: this seed + 1); 0: the run's seed.
   * Runs with different seeds and one data seed train and validate on the same scenes.
   */
  dataSeed: number;

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

/** A number setting's range: an integer or not; bounds (`minExclusive`: the lower one open). */
export interface NumberRange {
  int?: boolean;
  min?: number;
  max?: number;
  minExclusive?: boolean;
}

interface SettingCommon<V> {
  /** The CLI flag that sets it (--flag), and its name in the twin and on the page's URL (the field's). */
  flag: string;
  /** One line for --help (the range, the choices and the default are added from the fields below). */
  help: string;
  /** The value of a fresh run when nothing sets it (null: none). */
  default: V;
  /** False for fields that do not change what is trained (where files go, how often to validate or save). */
  training: boolean;
  /** The value of checkpoints written before the field existed (they trained with it); absent: required. */
  absent?: V;
  /** Digit scenes only: --data voc refuses the flag given. */
  digitsOnly?: true;
  /** It shapes the model's weights: a checkpoint's weights fit only its own value, so --resume never changes it. */
  shapesModel?: true;
}
export interface NumberSetting extends SettingCommon<number> {
  kind: 'number';
  range: NumberRange;
}
export interface ChoiceSetting<V extends string = string> extends SettingCommon<V> {
  kind: 'choice';
  /** Every value, with a few words on it (for --help). */
  choices: Record<V, string>;
}
export interface PathSetting<V extends string | null = string | null> extends SettingCommon<V> {
  kind: 'path';
}
export type Setting = NumberSetting | ChoiceSetting | PathSetting;

type SettingOf<V> = [V] extends [number] ? NumberSetting : [V] extends [string] ? (string extends V ? PathSetting<V> : ChoiceSetting<V>) : PathSetting<V & (string | null)>;

/**
 * The most EM iterations a setting or flag accepts (T_train, T_eval, --t-train): the paper's
 * figures go to T = 8-10, and each iteration is a step of the unrolled graph, so a typo such as
 * 1-1000 would otherwise run for hours.
 */
export const MAX_EM_ITERATIONS = 64;

const num = (range: NumberRange, dflt: number, help: string, more: Partial<SettingCommon<number>> = {}): NumberSetting => ({
  kind: 'number',
  range,
  default: dflt,
  help,
  training: true,
  flag: '',
  ...more,
});
const choice = <V extends string>(choices: Record<V, string>, dflt: NoInfer<V>, help: string, more: Partial<SettingCommon<NoInfer<V>>> = {}): ChoiceSetting<V> => ({
  kind: 'choice',
  choices,
  default: dflt,
  help,
  training: true,
  flag: '',
  ...more,
});
const path = <V extends string | null>(dflt: V, help: string, more: Partial<SettingCommon<V>> = {}): PathSetting<V> => ({
  kind: 'path',
  default: dflt,
  help,
  training: true,
  flag: '',
  ...more,
});

const INT_POS: NumberRange = { int: true, min: 1 };
const INT_NONNEG: NumberRange = { int: true, min: 0 };
const SHARE: NumberRange = { min: 0, minExclusive: true, max: 1 };

/** The settings by TrainConfig field, in the order a checkpoint stores them; flags are the fields in kebab case unless written. */
const SETTINGS: { [K in keyof TrainConfig]: SettingOf<TrainConfig[K]> } = {
  model: choice(Object.fromEntries(Object.entries(SEG_MODEL_UNITS).map(([k, u]) => [k, u.what])) as Record<SegModelName, string>, 'hemnet', 'the model: its EM unit, or none', {
    shapesModel: true,
  }),
  eta: num(SHARE, 0.5, 'HEM step size η (hemnet and pooling; emanet is η = 1)'),
  iterations: num({ int: true, min: 1, max: MAX_EM_ITERATIONS }, 3, 'EM iterations T during training'),
  bases: num(INT_POS, 16, 'EM bases K', { shapesModel: true }),
  channels: num(INT_POS, 64, 'channels C entering the EM unit', { shapesModel: true }),
  width: num(INT_POS, 32, 'backbone width w (stem channels w, 2w, 2w; head 2w)', { shapesModel: true }),
  dilation: num(INT_POS, 1, 'dilation of the 3×3 convs at output stride 4 (wider receptive field)'),
  emGamma: num({}, 0, "initial γ of the norm closing the EM unit's residual branch (0: the unit starts as the identity; EMANet: 1)"),
  basesAverage: choice(
    {
      plain: "the paper's moving average",
      l2norm: "each base of the average l2-normalised: hemgpu's rule before issue 22, which collapses HEMNet's bases",
    },
    'plain',
    'how the EM bases μ⁽⁰⁾ follow the batches',
    { absent: 'l2norm' },
  ),
  data: choice({ digits: 'MNIST digit scenes', voc: 'PASCAL VOC layout, needs --voc-root' }, 'digits', 'the data', { shapesModel: true }),
  vocRoot: path(null, 'with --data voc: the PASCAL VOC directory (JPEGImages/, SegmentationClass/, ImageSets/Segmentation/)'),
  size: num({ int: true, min: 16 }, 64, 'image size (digits: canvas side; voc: crop side)'),
  trainScenes: num(INT_POS, 2000, 'digit scenes in the training set', { digitsOnly: true }),
  valScenes: num(INT_POS, 200, 'validation scenes (voc: validation images)'),
  minDigits: num(INT_POS, 1, 'fewest digits per scene (--task groups: at least 2, and 2 when not given)', { digitsOnly: true }),
  maxDigits: num(INT_POS, 4, 'most digits per scene (≥ --min-digits)', { digitsOnly: true }),
  minScale: num({ int: true, min: 4 }, 20, 'smallest pasted digit side in pixels (≤ --size)', { digitsOnly: true }),
  maxScale: num({ int: true, min: 4 }, 36, 'largest pasted digit side in pixels (≥ --min-scale, ≤ --size)', { digitsOnly: true }),
  threshold: num(SHARE, 0.5, 'digit intensity from which a pixel is labelled as the digit', { digitsOnly: true }),
  maxOverlap: num({ min: 0, max: 1 }, 1, "largest share of a digit's square another digit may cover (1: independent positions)", { digitsOnly: true }),
  task: choice(
    {
      digits: 'each digit labelled by its class',
      context: 'one class per scene, all but one digit cut to stroke fragments: labels that need global context',
      groups:
        'two classes per scene in RGB, a whole digit of each and fragments tied to it by a random colour: labels that need attention, not pooling; at least 2 digits per scene',
    },
    'digits',
    "the digit scenes' task",
    { absent: 'digits', digitsOnly: true },
  ),
  fragment: num({ int: true, min: 2 }, 12, 'with --task context or groups: side in pixels of the window a fragment is drawn through (≤ --size)', { absent: 12, digitsOnly: true }),
  bgKeep: num(SHARE, 1, 'share of background pixels kept in the training loss, drawn per step (the rest ignored: the background weighs less)'),
  optimizer: choice({ sgd: 'momentum 0.9, weight decay 1e-4, as the paper', adamw: 'weight decay 1e-2' }, 'sgd', 'the optimizer (no decay on norms and biases)'),
  lr: num({ min: 0, minExclusive: true }, 0.01, 'base learning rate (poly schedule, power 0.9)'),
  warmup: num(INT_NONNEG, 0, 'linear learning-rate warm-up steps before the poly schedule'),
  steps: num(INT_POS, 300, 'optimizer steps'),
  batch: num(INT_POS, 8, 'images per step'),
  seed: num({ int: true, min: 0, max: 0xffffffff }, 1, 'seed for initialisation, batch order and (unless --data-seed) the digit scenes'),
  dataSeed: num({ int: true, min: 0, max: 0xffffffff }, 0, "seed of the digit scenes (validation: this + 1), so runs with different --seed share them; 0: the run's --seed", {
    absent: 0,
    digitsOnly: true,
  }),
  out: path('runs/train', 'output directory (checkpoints, PNGs, logs)', { training: false }),
  resume: path(
    null,
    "continue from this checkpoint with its stored config (flags left out take the checkpoint's values; a training flag given with another value is refused, see --allow-change)",
    { training: false },
  ),
  evalEvery: num(INT_NONNEG, 0, 'validate every N steps (0: only at the end)', { training: false }),
  checkpointEvery: num(INT_NONNEG, 0, 'write a checkpoint every N steps (0: only at the end)', { training: false }),
};

const kebab = (field: string): string => field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Every TrainConfig field's setting (SETTINGS with each flag filled in). */
export const TRAIN_SETTINGS: { readonly [K in keyof TrainConfig]: Readonly<SettingOf<TrainConfig[K]>> } = Object.fromEntries(
  Object.entries(SETTINGS).map(([k, s]) => [k, { ...s, flag: kebab(k) }]),
) as unknown as typeof SETTINGS;

/** The settings as [field, setting] pairs, in their order. */
export function settingEntries(): [keyof TrainConfig, Setting][] {
  return Object.entries(TRAIN_SETTINGS) as [keyof TrainConfig, Setting][];
}

/** A fresh run's config: every setting's default. */
export function trainDefaults(): TrainConfig {
  return Object.fromEntries(settingEntries().map(([k, s]) => [k, s.default])) as unknown as TrainConfig;
}

/** A range in words: 'an integer ≥ 1 and ≤ 64', 'a number > 0 and ≤ 1', 'a number'. */
export function rangeText(range: NumberRange): string {
  const lo = range.min !== undefined ? ` ${range.minExclusive ? '>' : '≥'} ${range.min}` : '';
  const hi = range.max !== undefined ? `${lo ? ' and' : ''} ≤ ${range.max}` : '';
  return `${range.int ? 'an integer' : 'a number'}${lo}${hi}`;
}

/** Whether `x` is a number in `range` (finite; an integer where the range says so). */
export function inRange(range: NumberRange, x: unknown): x is number {
  return (
    typeof x === 'number' &&
    Number.isFinite(x) &&
    (!range.int || Number.isSafeInteger(x)) &&
    (range.min === undefined || (range.minExclusive ? x > range.min : x >= range.min)) &&
    (range.max === undefined || x <= range.max)
  );
}

/** What a setting's values are, in words ('an integer ≥ 1', "'sgd' or 'adamw'", 'a path'). */
export function expectedText(s: Setting): string {
  if (s.kind === 'number') return rangeText(s.range);
  if (s.kind === 'choice') {
    const names = Object.keys(s.choices).map((c) => `'${c}'`);
    return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)!}` : names[0]!;
  }
  return s.default === null ? 'a path or null' : 'a path';
}

/** Whether `value` is a valid value of setting `s` (type, range, choice; the rules between fields are the CLI's). */
export function fitsSetting(s: Setting, value: unknown): boolean {
  if (s.kind === 'number') return inRange(s.range, value);
  if (s.kind === 'choice') return typeof value === 'string' && Object.hasOwn(s.choices, value);
  return typeof value === 'string' || (value === null && s.default === null);
}

/** The fields that shape the model's weights (TRAIN_SETTINGS' shapesModel). */
export const MODEL_SHAPE_FIELDS: readonly (keyof TrainConfig)[] = settingEntries()
  .filter(([, s]) => s.shapesModel)
  .map(([k]) => k);

/**
 * `config` with the fields it lacks that have an `absent` value (fields newer than it: a config or
 * checkpoint written before they existed trained with that value) filled in; a copy.
 */
export function withAbsentFields<T extends object>(config: T): T {
  const out = { ...config } as Record<string, unknown>;
  for (const [k, spec] of settingEntries()) if (out[k] === undefined && spec.absent !== undefined) out[k] = spec.absent;
  return out as T;
}

/** The TrainConfig fields of `config` only (a TrainFlags carries the CLI's own flags too), in a fixed order. */
export function pickTrainConfig(config: TrainConfig): TrainConfig {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(TRAIN_SETTINGS)) out[k] = (config as unknown as Record<string, unknown>)[k];
  return out as unknown as TrainConfig;
}
