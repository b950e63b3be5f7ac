/**
 * Command-line flags of the `hemgpu` CLI: parsing (node:util parseArgs, strict), defaults, and
 * validation that names the flag at fault. Every command has --help. The flags build a
 * TrainConfig (src/train/config.ts).
 */
import { parseArgs } from 'node:util';
import { SEG_MODELS, type SegModelName } from '../model/segnet.ts';
import { BASES_AVERAGES, type BasesAverage } from '../nn/hem-module.ts';
import { MODEL_SHAPE_FIELDS, TRAIN_CONFIG_FIELDS, type TrainConfig } from '../train/config.ts';
import { DIGIT_TASKS, type DigitTask } from '../data/digit-scenes.ts';
import { nearestName } from '../tensor/options.ts';

/**
 * The most EM iterations a flag accepts (T_train, T_eval, --t-train): the paper's figures go to
 * T = 8-10, and each iteration is a step of the unrolled graph, so a typo such as 1-1000 would
 * otherwise run for hours.
 */
export const MAX_EM_ITERATIONS = 64;

export class UsageError extends Error {}

/** Takes `--<name> V` out of `argv` (a command's own flag that the training flags do not carry): V (null when absent) and the other arguments. */
function takeFlag(argv: readonly string[], name: string): { value: string | null; rest: string[] } {
  let value: string | null = null;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) value = argv[++i] ?? '';
    else rest.push(argv[i]!);
  }
  return { value, rest };
}

/** takeFlag for an integer ≥ `min`: N, or `fallback` when the flag is absent. */
export function takeIntFlag<F extends number | null>(argv: readonly string[], name: string, min: number, fallback: F): { value: number | F; rest: string[] } {
  const { value, rest } = takeFlag(argv, name);
  if (value === null) return { value: fallback, rest };
  const v = Number(value);
  if (value.trim() === '' || !Number.isInteger(v) || v < min) throw new UsageError(`--${name}: expected an integer ≥ ${min}, got '${value}'.`);
  return { value: v, rest };
}

/** takeFlag for a comma-separated list, each entry checked by `one` (which throws a UsageError naming the flag); `fallback` when absent. */
export function takeListFlag(argv: readonly string[], name: string, one: (entry: string) => number, fallback: number[]): { value: number[]; rest: string[] } {
  const { value, rest } = takeFlag(argv, name);
  if (value === null) return { value: fallback, rest };
  const list = value.split(',').map((e) => one(e.trim()));
  if (new Set(list).size !== list.length) throw new UsageError(`--${name}: '${value}' lists a value twice; give each once.`);
  return { value: list, rest };
}

/**
 * The training config the flags describe, plus the CLI's own --quiet; `given` lists the flags
 * given explicitly (the rest are defaults: with --resume they take the checkpoint's values),
 * `allowChange` the flags --allow-change lets differ from the checkpoint's ('all': any).
 */
export interface TrainFlags extends TrainConfig {
  quiet: boolean;
  /** `hemgpu train --overwrite`: replace the checkpoint --out holds (train's flag only; false elsewhere). */
  overwrite: boolean;
  given: string[];
  allowChange: string[] | 'all';
}

/**
 * A command's flags; `shown` is the default as --help states it when it is not one value (e.g. it
 * depends on the adapter); `internal`: a field the command fills itself (parsed at its default, never
 * listed as one the command takes).
 */
export type Spec = Record<string, { type: 'string' | 'boolean'; short?: string; help: string; default?: string; shown?: string; internal?: boolean }>;

/** Flags of the digit scenes, which --data voc has no use for. */
/** The flags that only digit scenes take (--data voc refuses them). */
export const DIGIT_ONLY_FLAGS: readonly string[] = ['train-scenes', 'min-digits', 'max-digits', 'min-scale', 'max-scale', 'threshold', 'max-overlap', 'task', 'fragment'];

export const TRAIN_SPEC: Spec = {
  model: { type: 'string', help: 'hemnet | emanet | pooling (the HEM unit with one base: global average pooling) | plain (no EM unit)', default: 'hemnet' },
  eta: { type: 'string', help: 'HEM step size η ∈ (0, 1] (hemnet and pooling; emanet is η = 1)', default: '0.5' },
  iterations: { type: 'string', help: `EM iterations T during training (1 to ${MAX_EM_ITERATIONS})`, default: '3' },
  steps: { type: 'string', help: 'optimizer steps', default: '300' },
  batch: { type: 'string', help: 'images per step', default: '8' },
  lr: { type: 'string', help: 'base learning rate (poly schedule, power 0.9)', default: '0.01' },
  optimizer: { type: 'string', help: 'sgd (momentum 0.9, weight decay 1e-4, as the paper) | adamw', default: 'sgd' },
  seed: { type: 'string', help: 'seed for initialisation and data', default: '1' },
  data: { type: 'string', help: 'digits (MNIST digit scenes) | voc (PASCAL VOC layout, needs --voc-root)', default: 'digits' },
  'voc-root': { type: 'string', help: 'with --data voc: the PASCAL VOC directory (JPEGImages/, SegmentationClass/, ImageSets/Segmentation/)' },
  size: { type: 'string', help: 'image size (digits: canvas side; voc: crop side)', default: '64' },
  'train-scenes': { type: 'string', help: 'digit scenes in the training set', default: '2000' },
  'val-scenes': { type: 'string', help: 'digit scenes in the validation set', default: '200' },
  'min-digits': { type: 'string', help: 'digits: fewest digits per scene (--task groups: at least 2, and 2 when not given)', default: '1' },
  'max-digits': { type: 'string', help: 'digits: most digits per scene', default: '4' },
  'min-scale': { type: 'string', help: 'digits: smallest pasted digit side in pixels', default: '20' },
  'max-scale': { type: 'string', help: 'digits: largest pasted digit side in pixels', default: '36' },
  threshold: { type: 'string', help: 'digits: intensity ∈ (0, 1] from which a pixel is labelled as the digit', default: '0.5' },
  'max-overlap': { type: 'string', help: "digits: largest share ∈ [0, 1] of a digit's square another digit may cover (1: independent positions)", default: '1' },
  task: {
    type: 'string',
    help: "digits: 'digits' (each digit labelled by its class), 'context' (one class per scene, all but one digit cut to stroke fragments: labels that need global context) or 'groups' (two classes per scene in RGB, a whole digit of each and fragments tied to it by a random colour: labels that need attention, not pooling; at least 2 digits per scene)",
    default: 'digits',
  },
  fragment: { type: 'string', help: 'digits, --task context or groups: side in pixels of the window a fragment is drawn through', default: '12' },
  bases: { type: 'string', help: 'EM bases K', default: '16' },
  channels: { type: 'string', help: 'channels C entering the EM unit', default: '64' },
  width: { type: 'string', help: 'backbone width w (stem channels w, 2w, 2w; head 2w)', default: '32' },
  dilation: { type: 'string', help: 'dilation of the 3×3 convs at output stride 4 (wider receptive field)', default: '1' },
  'bases-average': {
    type: 'string',
    help: "how the EM bases μ⁽⁰⁾ follow the batches: 'plain' (the paper's moving average) or 'l2norm' (each base of the average l2-normalised: hemgpu's rule before issue 22, which collapses HEMNet's bases)",
    default: 'plain',
  },
  'em-gamma': { type: 'string', help: "initial γ of the norm closing the EM unit's residual branch (0: the unit starts as the identity; EMANet: 1)", default: '0' },
  warmup: { type: 'string', help: 'linear learning-rate warm-up steps before the poly schedule', default: '0' },
  'bg-keep': { type: 'string', help: 'share ∈ (0, 1] of background pixels kept in the training loss, drawn per step (the rest ignored: the background weighs less)', default: '1' },
  out: { type: 'string', help: 'output directory (checkpoints, PNGs, logs)', default: 'runs/train' },
  resume: {
    type: 'string',
    help: "continue from this checkpoint with its stored config (flags left out take the checkpoint's values; a training flag given with another value is refused, see --allow-change)",
  },
  'allow-change': {
    type: 'string',
    help: "with --resume: comma-separated training flags (e.g. lr,steps) or 'all' that may differ from the checkpoint's; each change is recorded in the checkpoint's history. Only an unchanged config (same --steps too: the poly schedule is planned over it) continues exactly",
  },
  'eval-every': { type: 'string', help: 'validate every N steps (0: only at the end)', default: '0' },
  'checkpoint-every': { type: 'string', help: 'write a checkpoint every N steps (0: only at the end)', default: '0' },
  quiet: { type: 'boolean', help: 'no progress bar' },
};

/** A number as people write it on a command line: decimal, with an optional fraction and exponent (not 0x10, 0b1, 1_000). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** A number flag's value, checked: a UsageError names the flag, the valid range and what was given. */
export function num(flag: string, v: string | undefined, opts: { int?: boolean; min?: number; max?: number; minExclusive?: boolean } = {}): number {
  const x = Number(v);
  const range = `${opts.min !== undefined ? `${opts.minExclusive ? '>' : '≥'} ${opts.min}` : ''}${opts.max !== undefined ? ` and ≤ ${opts.max}` : ''}`;
  const bad =
    v === undefined ||
    !DECIMAL.test(v.trim()) ||
    !Number.isFinite(x) ||
    (opts.int && !Number.isInteger(x)) ||
    (opts.min !== undefined && (opts.minExclusive ? x <= opts.min : x < opts.min)) ||
    (opts.max !== undefined && x > opts.max);
  const got = v === undefined || v === '' ? 'nothing (the flag needs a value)' : `'${v}'`;
  if (bad) throw new UsageError(`--${flag}: expected ${opts.int ? 'an integer' : 'a number'}${range ? ` ${range}` : ''}, got ${got}.`);
  return x;
}

/**
 * node:util parseArgs refuses `--steps -5` ("argument is ambiguous") and `--steps` at the end
 * ("argument missing") with messages that name neither the range nor our flag rules. Rewrite both
 * into `--steps=-5` and `--steps=` so that the flag's own check (num) reports them.
 */
function normaliseArgv(spec: Spec, argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : null;
    if (name === null || spec[name]?.type !== 'string') {
      out.push(a);
      continue;
    }
    const next = argv[i + 1];
    if (next === undefined || (next.startsWith('-') && !/^-\.?\d/.test(next))) out.push(`--${name}=`);
    else {
      out.push(`--${name}=${next}`);
      i++;
    }
  }
  return out;
}

/** The size flags --quick shrinks, and their config fields. */
const QUICK_FIELDS = { steps: 'steps', 'train-scenes': 'trainScenes', 'val-scenes': 'valScenes', batch: 'batch', 'eval-every': 'evalEvery' } as const;
type QuickFlag = keyof typeof QUICK_FIELDS;

/**
 * --quick (a smoke test) for demo, ablate and structured: `small`'s sizes for the flags not
 * given; a flag given keeps its value and its effect, as without --quick.
 */
export function quickShrink<T extends Partial<Record<(typeof QUICK_FIELDS)[QuickFlag], number>>>(
  config: T,
  given: ReadonlySet<string>,
  small: Partial<Record<QuickFlag, number>>,
): T {
  const out: Partial<Record<(typeof QUICK_FIELDS)[QuickFlag], number>> = { ...config };
  for (const [flag, v] of Object.entries(small) as [QuickFlag, number][]) if (!given.has(flag)) out[QUICK_FIELDS[flag]] = v;
  return out as T;
}

/** The flags `argv` gives itself, by name (`--steps 5` and `--steps=5` both give 'steps'). */
export function givenFlags(argv: readonly string[]): Set<string> {
  return new Set(argv.filter((a) => a.startsWith('--') && a !== '--').map((a) => a.slice(2).split('=')[0]!));
}

/** Parse `argv` against `spec` (strict; unknown flags and positionals are usage errors); flags not given take their defaults. */
export function parse(command: string, spec: Spec, argv: string[]): Record<string, string | boolean | undefined> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [k, v] of Object.entries(spec)) options[k] = v.short ? { type: v.type, short: v.short } : { type: v.type };
  try {
    const { values, positionals } = parseArgs({ args: normaliseArgv(spec, argv), options, strict: true, allowPositionals: true });
    if (positionals.length) throw new UsageError(`hemgpu ${command}: unexpected argument '${positionals[0]}'.`);
    const out: Record<string, string | boolean | undefined> = {};
    const given = values as Record<string, string | boolean | undefined>;
    for (const [k, v] of Object.entries(spec)) out[k] = given[k] ?? v.default;
    out.help = (values as { help?: boolean }).help ?? false;
    out.etaGiven = given.eta !== undefined;
    out.given = Object.keys(spec)
      .filter((k) => given[k] !== undefined)
      .join(',');
    return out;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const m = /Unknown option '([^']+)'/.exec((err as Error).message);
    if (m)
      throw new UsageError(
        unknownFlag(
          command,
          m[1]!,
          Object.keys(spec).filter((k) => !spec[k]!.internal),
        ),
      );
    throw new UsageError(`hemgpu ${command}: ${(err as Error).message}`);
  }
}

/** An unknown flag's message: the nearest flag the command takes (a typo), and the list of them. */
function unknownFlag(command: string, flag: string, known: readonly string[]): string {
  const near = nearestName(flag.replace(/^-+/, ''), known);
  const list = [...known]
    .sort()
    .map((k) => `--${k}`)
    .join(', ');
  return `hemgpu ${command}: unknown flag ${flag}${near ? `; did you mean --${near}?` : '.'} It takes ${list} (hemgpu ${command} --help describes them).`;
}

export function usage(command: string, summary: string, spec: Spec): string {
  const rows = Object.entries(spec).map(
    ([k, v]) =>
      `  --${k}${v.type === 'string' ? ' <value>' : ''}`.padEnd(30) + v.help + (v.shown !== undefined || v.default !== undefined ? ` (default ${v.shown ?? v.default})` : ''),
  );
  return [`usage: hemgpu ${command} [flags]`, '', summary, '', ...rows, '  --help'.padEnd(30) + 'this text'].join('\n');
}

/** The --allow-change list: 'all' or training flags of TRAIN_SPEC; only with --resume. */
function allowChange(v: string | undefined, resume: boolean): string[] | 'all' {
  if (v === undefined) return [];
  if (!resume) throw new UsageError("--allow-change: applies to --resume only (it lets a resumed run's flags differ from the checkpoint's).");
  if (v.trim() === 'all') return 'all';
  const names = v.split(',').map((x) => x.trim().replace(/^--/, ''));
  const shape = MODEL_SHAPE_FIELDS.map((k) => TRAIN_CONFIG_FIELDS[k].flag);
  const known = Object.values(TRAIN_CONFIG_FIELDS)
    .filter((f) => f.training && !shape.includes(f.flag))
    .map((f) => f.flag);
  for (const n of names) {
    if (shape.includes(n))
      throw new UsageError(`--allow-change: --${n} shapes the model's weights, which a checkpoint cannot change; train a new run (without --resume) for another --${n}.`);
    if (!known.includes(n)) throw new UsageError(`--allow-change: '${n}' is not a training flag; use 'all' or a comma-separated list of: ${known.join(', ')}.`);
  }
  return names;
}

/** Parse and validate `hemgpu train` flags; null means --help was asked for. */
export function parseTrainFlags(argv: string[], command = 'train', spec: Spec = TRAIN_SPEC): TrainFlags | null {
  const v = parse(command, spec, argv);
  if (v.help) return null;
  const model = String(v.model ?? 'hemnet'); // the demo's spec has no --model (it trains all three)
  if (!(SEG_MODELS as readonly string[]).includes(model)) {
    throw new UsageError(`--model: unknown model '${model}'; use ${SEG_MODELS.join(', ')}.`);
  }
  const basesAverage = String(v['bases-average']);
  if (!(BASES_AVERAGES as readonly string[]).includes(basesAverage)) {
    throw new UsageError(`--bases-average: unknown rule '${basesAverage}'; use ${BASES_AVERAGES.join(' or ')}.`);
  }
  const optimizer = String(v.optimizer);
  if (optimizer !== 'sgd' && optimizer !== 'adamw') throw new UsageError(`--optimizer: unknown optimizer '${optimizer}'; use sgd or adamw.`);
  const data = String(v.data);
  if (data !== 'digits' && data !== 'voc') throw new UsageError(`--data: unknown data source '${data}'; use digits or voc.`);
  for (const k of ['voc-root', 'out', 'resume']) {
    if (v[k] === '') throw new UsageError(`--${k}: expected a path, got nothing (the flag needs a value).`);
  }
  const vocRoot = (v['voc-root'] as string | undefined) ?? null;
  if (data === 'voc' && !vocRoot) throw new UsageError('--voc-root: --data voc needs the path of a PASCAL VOC directory.');
  const givenFlags = String(v.given).split(',');
  // A flag of the other data source would be accepted and ignored. (demo and ablate leave their
  // recipe's digit flags out with --data voc: recipeFlags.)
  if (data === 'digits' && givenFlags.includes('voc-root'))
    throw new UsageError('--voc-root: applies to --data voc only; add --data voc, or drop --voc-root to train on digit scenes.');
  const digitOnly = DIGIT_ONLY_FLAGS.filter((k) => givenFlags.includes(k));
  if (data === 'voc' && digitOnly.length) {
    throw new UsageError(
      `${digitOnly.map((k) => `--${k}`).join(', ')}: ${digitOnly.length > 1 ? 'apply' : 'applies'} to digit scenes only, and --data voc ignores ${digitOnly.length > 1 ? 'them' : 'it'}; drop ${digitOnly.length > 1 ? 'them' : 'it'} (VOC's size is --size, its validation images --val-scenes).`,
    );
  }
  const size = num('size', v.size as string, { int: true, min: 16 });
  const task = String(v.task);
  if (!(DIGIT_TASKS as readonly string[]).includes(task)) throw new UsageError(`--task: unknown task '${task}'; use digits, context or groups.`);
  // The groups task needs a whole digit of each of its two classes: a given --min-digits must be
  // ≥ 2, and the default (1) becomes 2.
  const groups = data === 'digits' && task === 'groups';
  let minDigits = num('min-digits', v['min-digits'] as string, { int: true, min: 1 });
  if (groups && minDigits < 2) {
    if (givenFlags.includes('min-digits'))
      throw new UsageError(
        `--min-digits: --task groups needs at least 2 digits per scene (a whole digit of each of its two classes), got ${minDigits}; give --min-digits 2 or more (3 or more gives every scene a fragment).`,
      );
    minDigits = 2;
  }
  const maxDigits = num('max-digits', v['max-digits'] as string, { int: true, min: minDigits });
  // The digit sizes' defaults are capped at the canvas (as digitScenes caps them); given values
  // must fit it. VOC has no digits: the flags are only type-checked there.
  const scale = (k: 'min-scale' | 'max-scale', min: number): number => {
    const x = num(k, v[k] as string, { int: true, min: data === 'voc' ? 1 : min, ...(data === 'voc' || !givenFlags.includes(k) ? {} : { max: size }) });
    return data === 'voc' || givenFlags.includes(k) ? x : Math.max(Math.min(x, size), min);
  };
  const minScale = scale('min-scale', 4);
  const maxScale = scale('max-scale', minScale);
  const fragment = num('fragment', v.fragment as string, { int: true, min: 2, max: size });
  if (task === 'digits' && givenFlags.includes('fragment'))
    throw new UsageError('--fragment: applies to --task context or groups only (drop it, or add --task context or --task groups).');
  const eta = num('eta', v.eta as string, { min: 0, minExclusive: true, max: 1 });
  if (model === 'emanet' && v.etaGiven && eta !== 1) {
    throw new UsageError(`--eta: emanet is EMANet's EM unit, η = 1 by definition; --eta ${String(v.eta)} applies to hemnet only (leave it out or use --model hemnet).`);
  }
  return {
    model: model as SegModelName,
    eta,
    iterations: num('iterations', v.iterations as string, { int: true, min: 1, max: MAX_EM_ITERATIONS }),
    steps: num('steps', v.steps as string, { int: true, min: 1 }),
    batch: num('batch', v.batch as string, { int: true, min: 1 }),
    lr: num('lr', v.lr as string, { min: 0, minExclusive: true }),
    optimizer,
    seed: num('seed', v.seed as string, { int: true, min: 0, max: 0xffffffff }),
    data,
    vocRoot,
    size,
    trainScenes: num('train-scenes', v['train-scenes'] as string, { int: true, min: 1 }),
    valScenes: num('val-scenes', v['val-scenes'] as string, { int: true, min: 1 }),
    minDigits,
    maxDigits,
    minScale,
    maxScale,
    threshold: num('threshold', v.threshold as string, { min: 0, minExclusive: true, max: 1 }),
    maxOverlap: num('max-overlap', v['max-overlap'] as string, { min: 0, max: 1 }),
    task: task as DigitTask,
    fragment,
    bases: num('bases', v.bases as string, { int: true, min: 1 }),
    channels: num('channels', v.channels as string, { int: true, min: 1 }),
    width: num('width', v.width as string, { int: true, min: 1 }),
    dilation: num('dilation', v.dilation as string, { int: true, min: 1 }),
    emGamma: num('em-gamma', v['em-gamma'] as string),
    basesAverage: basesAverage as BasesAverage,
    warmup: num('warmup', v.warmup as string, { int: true, min: 0 }),
    bgKeep: num('bg-keep', v['bg-keep'] as string, { min: 0, minExclusive: true, max: 1 }),
    out: String(v.out),
    resume: (v.resume as string | undefined) ?? null,
    evalEvery: num('eval-every', v['eval-every'] as string, { int: true, min: 0 }),
    checkpointEvery: num('checkpoint-every', v['checkpoint-every'] as string, { int: true, min: 0 }),
    quiet: Boolean(v.quiet),
    overwrite: v.overwrite === true,
    given: String(v.given).split(',').filter(Boolean),
    allowChange: allowChange(v['allow-change'] as string | undefined, Boolean(v.resume)),
  };
}
