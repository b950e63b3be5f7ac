/**
 * Command-line flags of the `hemgpu` CLI: parsing (node:util parseArgs, strict), defaults, and
 * validation that names the flag at fault. Every command has --help. The flags build a
 * TrainConfig (src/train/config.ts).
 */
import { parseArgs } from 'node:util';
import { SEG_MODELS, SEG_MODEL_UNITS, takesEta } from '../model/seg-models.ts';

/** The models whose EM unit takes --eta. */
const etaModels = (): string => SEG_MODELS.filter(takesEta).join(' and ');
import { MODEL_SHAPE_FIELDS, TRAIN_SETTINGS, expectedText, rangeText, settingEntries, type NumberRange, type Setting, type TrainConfig } from '../train/config.ts';
import { nearestName } from '../tensor/options.ts';

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

/** The flags that only digit scenes take (--data voc refuses them given). */
export const DIGIT_ONLY_FLAGS: readonly string[] = settingEntries()
  .filter(([, s]) => s.digitsOnly)
  .map(([, s]) => s.flag);

/** A setting's --help line: its help, its choices or range. */
function settingHelp(s: Setting): string {
  if (s.kind === 'choice')
    return `${s.help}: ${Object.entries(s.choices)
      .map(([k, what]) => (what ? `${k} (${what as string})` : k))
      .join(' | ')}`;
  if (s.kind === 'number') return `${s.help}; ${rangeText(s.range)}`;
  return s.help;
}

/**
 * `hemgpu train`'s flags: one per training setting (TRAIN_SETTINGS, src/train/config.ts: help,
 * default, range), plus the CLI's own --allow-change and --quiet.
 */
export const TRAIN_SPEC: Spec = {
  ...Object.fromEntries(
    settingEntries().map(([, s]) => [s.flag, { type: 'string' as const, help: settingHelp(s), ...(s.default === null ? {} : { default: String(s.default) }) }]),
  ),
  'allow-change': {
    type: 'string',
    help: "with --resume: comma-separated training flags (e.g. lr,steps) or 'all' that may differ from the checkpoint's; each change is recorded in the checkpoint's history. Only an unchanged config (same --steps too: the poly schedule is planned over it) continues exactly",
  },
  quiet: { type: 'boolean', help: 'no progress bar' },
};

/** A number as people write it on a command line: decimal, with an optional fraction and exponent (not 0x10, 0b1, 1_000). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** A number flag's value, checked: a UsageError names the flag, the valid range and what was given. */
export function num(flag: string, v: string | undefined, range: NumberRange = {}): number {
  const x = Number(v);
  const bad =
    v === undefined ||
    !DECIMAL.test(v.trim()) ||
    !Number.isFinite(x) ||
    (range.int && !Number.isInteger(x)) ||
    (range.min !== undefined && (range.minExclusive ? x <= range.min : x < range.min)) ||
    (range.max !== undefined && x > range.max);
  const got = v === undefined || v === '' ? 'nothing (the flag needs a value)' : `'${v}'`;
  if (bad) throw new UsageError(`--${flag}: expected ${rangeText(range)}, got ${got}.`);
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
  const shape = MODEL_SHAPE_FIELDS.map((k) => TRAIN_SETTINGS[k].flag);
  const known = settingEntries()
    .filter(([, s]) => s.training && !s.shapesModel)
    .map(([, s]) => s.flag);
  for (const n of names) {
    if (shape.includes(n))
      throw new UsageError(`--allow-change: --${n} shapes the model's weights, which a checkpoint cannot change; train a new run (without --resume) for another --${n}.`);
    if (!known.includes(n)) throw new UsageError(`--allow-change: '${n}' is not a training flag; use 'all' or a comma-separated list of: ${known.join(', ')}.`);
  }
  return names;
}

/** A setting's value from its flag's text (`raw`; undefined: the flag is not in the command's spec, so the setting's default), checked against the setting (`range`: a number setting's range narrowed by another setting). */
function settingValue(s: Setting, raw: string | boolean | undefined, range?: NumberRange): TrainConfig[keyof TrainConfig] {
  if (raw === undefined) return s.default;
  const text = String(raw);
  if (s.kind === 'number') return num(s.flag, text, range ?? s.range);
  if (s.kind === 'choice') {
    if (!Object.hasOwn(s.choices, text)) throw new UsageError(`--${s.flag}: unknown value '${text}'; use ${expectedText(s)}.`);
    return text;
  }
  if (text === '') throw new UsageError(`--${s.flag}: expected a path, got nothing (the flag needs a value).`);
  return text;
}

/**
 * Parse and validate `hemgpu train` flags; null means --help was asked for. Each flag is checked
 * against its setting (TRAIN_SETTINGS: type, range, choices), with the bounds one digit-scene
 * setting puts on another; the other rules between settings follow.
 */
export function parseTrainFlags(argv: string[], command = 'train', spec: Spec = TRAIN_SPEC): TrainFlags | null {
  const v = parse(command, spec, argv);
  if (v.help) return null;
  const givenFlags = String(v.given).split(',');
  const given = (k: keyof TrainConfig): boolean => givenFlags.includes(TRAIN_SETTINGS[k].flag);
  // A flag of the other data source would be accepted and ignored. (demo and ablate leave their
  // recipe's digit flags out with --data voc: recipeFlags.)
  const voc = v.data === 'voc';
  if (!voc && given('vocRoot')) throw new UsageError('--voc-root: applies to --data voc only; add --data voc, or drop --voc-root to train on digit scenes.');
  const digitOnly = DIGIT_ONLY_FLAGS.filter((k) => givenFlags.includes(k));
  if (voc && digitOnly.length) {
    throw new UsageError(
      `${digitOnly.map((k) => `--${k}`).join(', ')}: ${digitOnly.length > 1 ? 'apply' : 'applies'} to digit scenes only, and --data voc ignores ${digitOnly.length > 1 ? 'them' : 'it'}; drop ${digitOnly.length > 1 ? 'them' : 'it'} (VOC's size is --size, its validation images --val-scenes).`,
    );
  }
  // The groups task needs a whole digit of each of its two classes: a given --min-digits must be
  // ≥ 2, and the default becomes 2 (--task is checked against its choices below).
  const groups = !voc && v.task === 'groups';
  const c = {} as Record<keyof TrainConfig, unknown> & TrainConfig;
  // In the table's order, which puts each setting after those that bound it (size before the
  // digit sizes, min before max).
  for (const [k, s] of settingEntries()) {
    let range = s.kind === 'number' ? s.range : undefined;
    if (!voc && range) {
      if (k === 'maxDigits') range = { ...range, min: Math.max(c.minDigits, groups ? 2 : 1) };
      if (k === 'fragment' || ((k === 'minScale' || k === 'maxScale') && given(k))) range = { ...range, max: c.size };
      if (k === 'maxScale' && given(k)) range = { ...range, min: c.minScale };
    }
    (c as Record<string, unknown>)[k] = settingValue(s, v[s.flag], range);
    if (k === 'minDigits' && groups && c.minDigits < 2) {
      if (given('minDigits'))
        throw new UsageError(
          `--min-digits: --task groups needs at least 2 digits per scene (a whole digit of each of its two classes), got ${c.minDigits}; give --min-digits 2 or more (3 or more gives every scene a fragment).`,
        );
      c.minDigits = 2;
    }
    // The digit sizes' defaults are capped at the canvas (as digitScenes caps them); given values must fit it.
    if (!voc && (k === 'minScale' || k === 'maxScale') && !given(k)) c[k] = Math.max(Math.min(c[k], c.size), k === 'maxScale' ? c.minScale : TRAIN_SETTINGS.minScale.range.min!);
  }

  // The other rules between settings.
  if (voc && !c.vocRoot) throw new UsageError('--voc-root: --data voc needs the path of a PASCAL VOC directory.');
  // η is the config's for the units that take it (SEG_MODEL_UNITS); emanet's is 1, plain has none.
  const unit = SEG_MODEL_UNITS[c.model];
  if (given('eta') && unit.eta !== 'config') {
    if (unit.unit === null) throw new UsageError(`--eta: ${c.model} has no EM unit, so no η; leave --eta out (or choose a model with one: ${etaModels()}).`);
    if (c.eta !== unit.eta)
      throw new UsageError(
        `--eta: ${c.model} is EMANet's EM unit, η = ${unit.eta} by definition; --eta ${String(v.eta)} applies to ${etaModels()} only (leave it out or use --model hemnet).`,
      );
  }
  if (c.task === 'digits' && given('fragment')) throw new UsageError('--fragment: applies to --task context or groups only (drop it, or add --task context or --task groups).');
  return {
    ...c,
    quiet: Boolean(v.quiet),
    overwrite: v.overwrite === true,
    given: String(v.given).split(',').filter(Boolean),
    allowChange: allowChange(v['allow-change'] as string | undefined, Boolean(v.resume)),
  };
}
