/**
 * `hemgpu demo`, the main job: train hemnet, emanet, pooling (the EM unit with one base: global
 * pooling) and plain (no EM unit) on the context task's digit scenes with the same budget and
 * seeds, print their validation mIoU over the seeds with the EM unit's diagnostics (attention or
 * pooling), say whether plain's interval lies below both EM models', and write the figures (loss
 * and mIoU curves, the gradient-flow figure, attention maps, segmentation samples) under --out.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adapterInfo } from '../index.node.ts';
import { startEngine } from './start-engine.ts';
import { DIGIT_ONLY_FLAGS, UsageError, givenFlags, parseTrainFlags, quickShrink, takeIntFlag, usage, TRAIN_SPEC, type Spec, type TrainFlags } from './args.ts';
import { formatSpread, halfWidth95, meanOf } from '../train/stats.ts';
import type { SegModelName } from '../model/seg-models.ts';
import type { DigitTask } from '../data/digit-scenes.ts';
import { TRAIN_SETTINGS, type TrainConfig } from '../train/config.ts';
import { train, type TrainResult } from '../train/trainer.ts';
import { sceneSeed } from '../train/setup.ts';
import { DEMO_FIGURES, DEMO_SEEDS, DEMO_STEPS, demoRecipeFlags } from '../train/recipes.ts';
import { figurePaths, writeAttentionMaps, writeGradientFlow, writeLossCurves, writeMiouCurves, writeSamples } from './figures.ts';
import { consoleHooks, printResult } from './console.ts';
import type { Interrupts } from './interrupt.ts';
import { lockOutDir } from './out-dir.ts';

/**
 * The demo's recipe as flags: the settings it changes, with their values from demoConfig()
 * (src/train/recipes.ts, the one source of the recipe, which a browser page trains with too).
 * Flags given on the command line override it.
 */
export const DEMO_RECIPE: Record<string, string> = demoRecipeFlags();

/** Steps per model: what fits the demo's 10-minute budget on a 2-core CPU driver, or 3000 on a GPU. */
function demoSteps(software: boolean): number {
  return software ? DEMO_STEPS.cpu : DEMO_STEPS.gpu;
}

/** The models the demo trains, in the order it trains them and prints them. */
const DEMO_MODELS: readonly SegModelName[] = ['hemnet', 'emanet', 'pooling', 'plain'];
const DEMO_WHAT = `Train ${DEMO_MODELS.join(', ')} with the same budget and seeds; print validation mIoU and the EM unit's diagnostics; write figures.`;

/**
 * The demo's flags: the training flags less --model (it trains all four), --resume and
 * --allow-change (it trains from scratch), with the recipe's values as their defaults, plus --quick. --help lists exactly these.
 */
export const DEMO_SPEC: Spec = {
  ...Object.fromEntries(
    Object.entries(TRAIN_SPEC)
      .filter(([k]) => k !== 'model' && k !== 'resume' && k !== 'allow-change')
      .map(([k, v]) => [k, DEMO_RECIPE[k] !== undefined ? { ...v, default: DEMO_RECIPE[k] } : v]),
  ),
  'data-seed': {
    ...TRAIN_SPEC['data-seed']!,
    help: "seed of the digit scenes every model and seed trains and validates on (validation: this + 1), so the seeds differ only in initialisation and batch order; 0: each run draws its own seed's scenes (the demo before 2026-12-07)",
    shown: 'the first seed, --seed',
  },
  steps: { ...TRAIN_SPEC.steps!, shown: `${demoSteps(true)} on a CPU driver, ${demoSteps(false)} on a GPU` },
  out: { type: 'string', help: 'output directory (one subdirectory per model, figures at the top)', default: 'runs/demo' },
  seeds: {
    type: 'string',
    help: 'train every model with seeds seed, seed + 1, …; the table shows each model over them (from 3 on with the 95 % interval of the mean)',
    default: String(DEMO_SEEDS),
  },
  overwrite: { type: 'boolean', help: 'replace the checkpoints an earlier run left in --out (without it, the demo refuses a directory holding them)' },
  quick: { type: 'boolean', help: '3 steps of batch 4 on 16 training and 8 validation scenes, one seed, where those flags are not given (a smoke test, not a result)' },
};

/** A setting's default (a fresh `hemgpu train`'s value), as a flag's text. */
const fresh = (k: keyof TrainConfig): string => String(TRAIN_SETTINGS[k].default);

/**
 * What a task changes in the demo's recipe (the context task on 32×32 scenes):
 * - digits: the digit scenes of the earlier demo (docs/experiments/digit-scenes.md): 1–3 digits of
 *   28–36 px on 64×64, with dilated convs whose receptive field covers a digit (no fragments, so
 *   no context is needed: the models tie there);
 * - groups: 3–4 digits, a whole digit of each of the two classes and one or two fragments (with
 *   2–4, a third of the scenes would have none).
 */
const TASK_RECIPES: Partial<Record<DigitTask, Record<string, string | null>>> = {
  // null: the recipe's flag is left out (--fragment applies to context and groups only).
  digits: { size: fresh('size'), 'min-digits': fresh('minDigits'), 'max-digits': '3', 'min-scale': '28', 'max-scale': fresh('maxScale'), dilation: '2', fragment: null },
  groups: { 'min-digits': '3', 'max-digits': fresh('maxDigits') },
};

/** The --task value `argv` gives (the last one, as parseArgs takes it), or null. */
function taskOf(argv: string[]): string | null {
  let task: string | null = null;
  argv.forEach((a, i) => {
    if (a.startsWith('--task=')) task = a.slice('--task='.length);
    else if (a === '--task' && argv[i + 1] !== undefined) task = argv[i + 1]!;
  });
  return task;
}

/** The recipe's flags that `argv` does not set itself, to put before `argv` (with --task, what that task changes: TASK_RECIPES). */
export function recipeFlags(argv: string[], recipe: Record<string, string> = DEMO_RECIPE): string[] {
  const given = givenFlags(argv);
  const task = taskOf(argv);
  const full = { ...recipe, ...(task !== null && Object.hasOwn(TASK_RECIPES, task) ? TASK_RECIPES[task as DigitTask] : {}) };
  // PASCAL VOC has no digits: the recipe's digit-scene flags are left out (given ones are refused).
  const voc = argv.some((a, i) => a === '--data=voc' || (a === '--data' && argv[i + 1] === 'voc'));
  return Object.entries(full).flatMap(([k, v]) => (v === null || given.has(k) || (voc && DIGIT_ONLY_FLAGS.includes(k)) ? [] : [`--${k}`, v]));
}

export async function runDemo(args: string[], interrupts: Interrupts | null = null): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(usage('demo', DEMO_WHAT, DEMO_SPEC));
    console.log(
      `\nThe defaults are the demo's recipe (docs/experiments/demo-recipe.md; --task digits for the plain digit scenes); --quick sets 3 steps, 16 training and 8 validation scenes, batch 4, no intermediate validation and one seed, where those flags are not given.`,
    );
    return;
  }
  // Every flag and the output directory are checked before the device starts (the steps' default
  // waits for the adapter: a CPU driver trains fewer).
  const checked = demoPlan(args, true);
  refuseEarlierDemo(checked.base, checked.seeds);
  const unlock = lockOutDir(checked.base.out, 'demo');
  try {
    await startEngine();
    const a = adapterInfo();
    const { base, seeds } = demoPlan(args, a.software);
    console.log(
      `hemgpu demo on ${a.description || a.device} (${a.software ? 'CPU driver' : 'GPU'}): ${base.steps} steps × ${base.batch} ${base.data === 'voc' ? 'VOC images' : 'digit scenes'} per model, ${seeds > 1 ? `seeds ${base.seed}–${base.seed + seeds - 1}` : `seed ${base.seed}`}, ${base.data === 'voc' ? `PASCAL VOC at ${base.size}×${base.size}` : `${base.task} task on ${base.size}×${base.size} scenes (${base.dataSeed ? `data seed ${base.dataSeed} for every seed` : "each seed's own scenes"})`}`,
    );
    await demoRuns(base, seeds, a, interrupts);
  } finally {
    unlock();
  }
}

/**
 * What `hemgpu demo <args>` trains on an adapter (`software`: a CPU driver): the shared flags of
 * every run (the recipe, the flags given, --quick's sizes where not given) and the seeds per model.
 * Flags the demo does not take are refused here. On digit scenes every seed trains and validates
 * on the same scenes, --data-seed's or else the first seed's (dataSeed is set to it): the interval
 * over the seeds is then the spread of training, not of the scenes drawn (demo-recipe.md). A
 * given --data-seed 0 keeps 0: each run draws its own seed's scenes.
 */
export function demoPlan(args: string[], software: boolean): { base: TrainFlags; seeds: number } {
  const { value: seedsGiven, rest: argv } = takeIntFlag(args, 'seeds', 1, null);
  const quick = argv.includes('--quick');
  const given = givenFlags(argv);
  if (given.has('resume')) throw new UsageError('--resume: the demo trains from scratch; use hemgpu train --resume.');
  if (given.has('model')) throw new UsageError(`--model: the demo trains all four models (${DEMO_MODELS.join(', ')}); use hemgpu train --model for one.`);
  const steps = given.has('steps') ? [] : ['--steps', String(demoSteps(software))];
  const parsed = parseTrainFlags([...recipeFlags(argv), ...steps, ...argv.filter((a) => a !== '--quick')], 'demo', DEMO_SPEC)!;
  const flags = parsed.data === 'digits' && !given.has('data-seed') ? { ...parsed, dataSeed: sceneSeed(parsed) } : parsed;
  return {
    base: quick ? quickShrink(flags, given, { steps: 3, 'train-scenes': 16, 'val-scenes': 8, batch: 4, 'eval-every': 0 }) : flags,
    // --quick is a smoke test: one seed unless --seeds asks for more.
    seeds: seedsGiven ?? (quick ? 1 : DEMO_SEEDS),
  };
}

/** The directory of one model's run: one seed keeps the layout of before (<out>/<model>); several write <out>/<model>-seed<s>. */
function runDir(out: string, model: SegModelName, seed: number, seeds: number): string {
  return join(out, seeds > 1 ? `${model}-seed${seed}` : model);
}

/**
 * The demo trains from scratch, so it would replace the checkpoints an earlier run left where it
 * writes its own: refused, before any GPU work, unless --overwrite is given.
 */
function refuseEarlierDemo(flags: TrainFlags, seeds: number): void {
  if (flags.overwrite) return;
  const found = DEMO_MODELS.flatMap((m) => Array.from({ length: seeds }, (_, k) => join(runDir(flags.out, m, flags.seed + k, seeds), 'checkpoint.safetensors'))).filter((p) =>
    existsSync(p),
  );
  if (!found.length) return;
  const more = found.length > 1 ? ` and ${found.length - 1} more` : '';
  throw new UsageError(
    `--out ${flags.out}: it holds the checkpoints of an earlier run (${found[0]}${more}), which this demo would replace. ` +
      `Give another --out, or add --overwrite to replace them (npm run demo -- --overwrite).`,
  );
}

/** What one model did over the demo's seeds. */
export interface ModelRuns {
  results: TrainResult[];
  seeds: number[];
}

async function demoRuns(base: TrainFlags, seeds: number, a: ReturnType<typeof adapterInfo>, interrupts: Interrupts | null): Promise<void> {
  const models = DEMO_MODELS;
  const runs: Partial<Record<SegModelName, ModelRuns>> = {};
  const t0 = performance.now();
  // The first seed's models draw the figures; a later seed's model is freed once it is measured.
  const kept: TrainResult[] = [];
  const free = (): void => {
    for (const r of kept.splice(0)) r.model.dispose();
  };
  for (let k = 0; k < seeds; k++) {
    const seed = base.seed + k;
    for (const model of models) {
      const f: TrainFlags = { ...base, model, seed, out: runDir(base.out, model, seed, seeds) };
      const label = seeds > 1 ? `${model} seed ${seed}` : model;
      const hooks = consoleHooks(label, base.quiet, interrupts);
      const started = performance.now();
      let r: TrainResult;
      try {
        r = await train(f, hooks);
      } finally {
        hooks.stop();
      }
      printResult(label, r);
      console.log(`  ${((performance.now() - started) / 1000).toFixed(0)} s`);
      const m = (runs[model] ??= { results: [], seeds: [] });
      m.results.push(r);
      m.seeds.push(seed);
      if (k === 0) kept.push(r);
      else r.model.dispose();
      if (r.interrupted) return free();
    }
  }
  const first = Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, r!.results[0]!])) as Record<SegModelName, TrainResult>;
  const figs = figurePaths(base.out);
  const curves = Object.entries(first).map(([name, r]) => ({ name, history: r.history }));
  await writeLossCurves(figs.loss!, curves);
  if (curves.some((r) => r.history.val.length > 1)) await writeMiouCurves(figs.miou!, curves);
  const hem = first.hemnet;
  const flow = await writeGradientFlow(figs.gradientFlow!, hem.model, hem.val, DEMO_FIGURES.flowEtas, DEMO_FIGURES.flowIterations(base.iterations));
  await writeAttentionMaps(figs.attention!, hem.model, hem.val, DEMO_FIGURES.flowIterations(base.iterations), base.eta, hem.em);
  await writeSamples(figs.samples!, hem.model, hem.val);
  const seconds = (performance.now() - t0) / 1000;
  const summary = Object.fromEntries(Object.entries(runs).map(([k, m]) => [k, modelSummary(m!)]));
  writeFileSync(join(base.out, 'demo.json'), JSON.stringify({ adapter: a, flags: base, seeds: runs.hemnet!.seeds, seconds, results: summary, gradientFlow: flow }, null, 2));
  console.log('');
  console.log(summaryTable(runs));
  const verdict = verdictLine(runs);
  if (verdict) console.log(`\n${verdict}`);
  const written = Object.values(figs).filter((p) => existsSync(p));
  console.log(`\n${seconds.toFixed(0)} s in all; figures (seed ${base.seed}) in ${base.out}: ${written.map((p) => p.split('/').pop()).join(', ')}`);
  free();
}

/** demo.json's entry of a model: the mean over its seeds, and every seed's figures. */
function modelSummary(m: ModelRuns): Record<string, unknown> {
  const per = m.results.map((r, i) => ({
    seed: m.seeds[i],
    miou: r.miou,
    iou: r.iou,
    pixelAccuracy: r.pixelAccuracy,
    regionAccuracy: r.regionAccuracy,
    imagesPerSecond: r.imagesPerSecond,
    steps: r.steps,
  }));
  const miou = per.map((r) => r.miou);
  return {
    miou: meanOf(miou),
    miouHalfWidth95: miou.length > 1 ? halfWidth95(miou) : null,
    pixelAccuracy: meanOf(per.map((r) => r.pixelAccuracy)),
    seeds: per.map((r, i) => ({ ...r, em: m.results[i]!.em })),
  };
}

/** The closing table: each model's mIoU (and region accuracies) over the seeds, in percent, with the spread, and its EM unit's diagnostics. */
function summaryTable(runs: Partial<Record<SegModelName, ModelRuns>>): string {
  const entries = Object.entries(runs) as [SegModelName, ModelRuns][];
  const regions = [...new Set(entries.flatMap(([, m]) => m.results.flatMap((r) => Object.keys(r.regionAccuracy))))];
  const n = entries[0]![1].results.length;
  const head = [
    'model',
    `validation mIoU (%)${n > 1 ? `, ${n} seeds` : ''}`,
    ...regions.map((k) => `pixel accuracy on ${k} (%)`),
    'mean max_k γ (1/K)',
    'centred residual',
    'images/s',
  ];
  const em = (m: ModelRuns, f: (d: NonNullable<TrainResult['em']>) => number): number[] => m.results.flatMap((r) => (r.em ? [f(r.em)] : []));
  const rows = entries.map(([k, m]) => {
    const K = m.results.find((r) => r.em)?.em?.bases;
    return [
      k,
      formatSpread(
        m.results.map((r) => 100 * r.miou),
        2,
      ),
      ...regions.map((g) =>
        formatSpread(
          m.results.map((r) => 100 * (r.regionAccuracy[g] ?? NaN)),
          2,
        ),
      ),
      K === undefined ? '- (no EM unit)' : `${formatMean(em(m, (d) => d.maxGamma))} (${(1 / K).toFixed(3)})`,
      K === undefined ? '-' : formatMean(em(m, (d) => d.residual)),
      meanOf(m.results.map((r) => r.imagesPerSecond)).toFixed(1),
    ];
  });
  const line = (c: string[]): string => `| ${c.join(' | ')} |`;
  const legend = [
    n >= 3
      ? "mIoU and accuracies: mean ± half-width of the 95 % interval of the mean (Student's t), (min–max, seeds)"
      : n === 2
        ? 'mIoU and accuracies: mean (min–max, seeds)'
        : '',
    'max_k γ: the largest responsibility of a pixel, averaged over validation pixels (1/K: every base alike, i.e. pooling; K = 1 is pooling by construction);',
    'centred residual: ‖X_c − X̃_c‖²/‖X_c‖² of the unit\'s reconstruction (1: global pooling, lower: the bases tell pixels apart). docs/math.md, "Diagnostics".',
  ].filter(Boolean);
  return [line(head), line(head.map(() => '---')), ...rows.map(line), '', ...legend].join('\n');
}

/** A diagnostic over seeds: the mean, with (min–max) from two seeds on. */
function formatMean(v: readonly number[]): string {
  if (!v.length) return '-';
  return v.length === 1 ? v[0]!.toFixed(3) : `${meanOf(v).toFixed(3)} (${Math.min(...v).toFixed(3)}–${Math.max(...v).toFixed(3)})`;
}

/**
 * With three seeds or more: whether plain's 95 % interval of the mean mIoU lies below the
 * intervals of hemnet and emanet (the demo's claim: the EM unit carries the context a local
 * CNN cannot see), and each EM model's paired difference to plain (same seed, same scenes).
 * Null when a model is missing or there are fewer than three seeds.
 */
export function verdictLine(runs: Partial<Record<SegModelName, ModelRuns>>): string | null {
  const plain = runs.plain;
  const ems = (['hemnet', 'emanet', 'pooling'] as const).filter((k) => runs[k]);
  if (!plain || plain.results.length < 3 || !runs.hemnet || !runs.emanet) return null;
  const interval = (m: ModelRuns): [number, number] => {
    const v = m.results.map((r) => 100 * r.miou);
    const h = halfWidth95(v);
    return [meanOf(v) - h, meanOf(v) + h];
  };
  const [, plainHi] = interval(plain);
  const below = (['hemnet', 'emanet'] as const).every((k) => interval(runs[k]!)[0] > plainHi);
  const paired = ems.map((k) => {
    const d = runs[k]!.results.map((r, i) => 100 * (r.miou - (plain.results[i]?.miou ?? NaN)));
    return `${k} − plain ${formatSpread(d, 2).replace(/^(?=\d)/, '+')}`;
  });
  const show = (k: string, m: ModelRuns): string =>
    `${k} [${interval(m)
      .map((x) => x.toFixed(1))
      .join(', ')}]`;
  return [
    `plain's 95 % interval ${below ? 'lies below' : 'does NOT lie below'} both EM models' (mIoU %: ${show('plain', plain)}, ${show('hemnet', runs.hemnet)}, ${show('emanet', runs.emanet)}).`,
    `Paired by seed (mIoU points): ${paired.join('; ')}.`,
  ].join('\n');
}
