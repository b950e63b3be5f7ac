/**
 * `hemgpu demo`, the main job: train hemnet, emanet and plain on digit scenes with the same
 * budget and seed, print their validation mIoU, and write the figures (loss and mIoU curves, the
 * gradient-flow figure, attention maps, segmentation samples) under --out.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adapterInfo, init } from '../index.node.ts';
import { UsageError, parseTrainFlags, usage, TRAIN_SPEC, type Spec, type TrainFlags } from './args.ts';
import type { SegModelName } from '../model/segnet.ts';
import { train, type TrainResult } from '../train/trainer.ts';
import { DEMO_STEPS, demoFlagValues } from '../train/recipes.ts';
import { figurePaths, writeAttentionMaps, writeGradientFlow, writeLossCurves, writeMiouCurves, writeSamples } from './figures.ts';
import { consoleHooks, printResult } from './console.ts';
import type { Interrupts } from './interrupt.ts';
import { lockOutDir } from './out-dir.ts';

/**
 * The demo's recipe as flags: the flags it sets, with their values from demoConfig()
 * (src/train/recipes.ts, the one source of the recipe, which a browser page trains with too).
 * Flags given on the command line override it.
 */
export const DEMO_RECIPE: Record<string, string> = demoFlagValues([
  'size',
  'min-digits',
  'max-digits',
  'min-scale',
  'max-scale',
  'max-overlap',
  'threshold',
  'bg-keep',
  'width',
  'channels',
  'dilation',
  'optimizer',
  'lr',
  'warmup',
  'batch',
  'train-scenes',
  'val-scenes',
  'eval-every',
]);

/** Steps per model: what fits the demo's 10-minute budget on a 2-core CPU driver, or 3000 on a GPU. */
function demoSteps(software: boolean): number {
  return software ? DEMO_STEPS.cpu : DEMO_STEPS.gpu;
}

/**
 * The demo's flags: the training flags less --model (it trains all three), --resume and
 * --allow-change (it trains from scratch), with the recipe's values as their defaults, plus --quick. --help lists exactly these.
 */
export const DEMO_SPEC: Spec = {
  ...Object.fromEntries(
    Object.entries(TRAIN_SPEC)
      .filter(([k]) => k !== 'model' && k !== 'resume' && k !== 'allow-change')
      .map(([k, v]) => [k, DEMO_RECIPE[k] !== undefined ? { ...v, default: DEMO_RECIPE[k] } : v]),
  ),
  steps: { ...TRAIN_SPEC.steps!, shown: `${demoSteps(true)} on a CPU driver, ${demoSteps(false)} on a GPU` },
  out: { type: 'string', help: 'output directory (one subdirectory per model, figures at the top)', default: 'runs/demo' },
  quick: { type: 'boolean', help: 'a few steps on a few scenes (a smoke test, not a result)' },
};

/** The recipe's flags that `argv` does not set itself, to put before `argv`. */
export function recipeFlags(argv: string[], recipe: Record<string, string> = DEMO_RECIPE): string[] {
  const given = new Set(argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]!));
  return Object.entries(recipe).filter(([k]) => !given.has(k)).flatMap(([k, v]) => [`--${k}`, v]);
}

export async function runDemo(argv: string[], interrupts: Interrupts | null = null): Promise<void> {
  const quick = argv.includes('--quick');
  const given = new Set(argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]!));
  const recipe = recipeFlags(argv);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage('demo', 'Train hemnet, emanet and plain with the same budget and seed; print validation mIoU; write figures.', DEMO_SPEC));
    console.log(`\nThe defaults are the demo's recipe (docs/experiments/digit-scenes.md); --quick caps them at 3 steps, 16 training and 8 validation scenes, batch ≤ 4.`);
    return;
  }
  // Flags the demo does not take are refused here, before any GPU work.
  if (given.has('resume')) throw new UsageError('--resume: the demo trains from scratch; use hemgpu train --resume.');
  if (given.has('model')) throw new UsageError('--model: the demo trains all three models (hemnet, emanet, plain); use hemgpu train --model for one.');
  parseTrainFlags([...recipe, '--steps', '1', ...argv.filter((a) => a !== '--quick')], 'demo', DEMO_SPEC);
  await init();
  const steps = given.has('steps') ? [] : ['--steps', String(demoSteps(adapterInfo().software))];
  const flags = parseTrainFlags([...recipe, ...steps, ...argv.filter((a) => a !== '--quick')], 'demo', DEMO_SPEC);
  if (!flags) {
    console.log(usage('demo', 'Train hemnet, emanet and plain with the same budget and seed; print validation mIoU; write figures.', DEMO_SPEC));
    return;
  }
  const base: TrainFlags = quick ? { ...flags, steps: Math.min(flags.steps, 3), trainScenes: 16, valScenes: 8, batch: Math.min(flags.batch, 4), evalEvery: 0 } : flags;
  const a = adapterInfo();
  console.log(`hemgpu demo on ${a.description || a.device} (${a.software ? 'CPU driver' : 'GPU'}): ${base.steps} steps × ${base.batch} digit scenes per model, seed ${base.seed}`);
  const unlock = lockOutDir(base.out, 'demo');
  try {
    await demoRuns(base, a, interrupts);
  } finally {
    unlock();
  }
}

async function demoRuns(base: TrainFlags, a: ReturnType<typeof adapterInfo>, interrupts: Interrupts | null): Promise<void> {
  const results: Partial<Record<SegModelName, TrainResult>> = {};
  const t0 = performance.now();
  for (const model of ['hemnet', 'emanet', 'plain'] as const) {
    const f: TrainFlags = { ...base, model, out: join(base.out, model) };
    const hooks = consoleHooks(model, base.quiet, interrupts);
    const started = performance.now();
    try {
      results[model] = await train(f, hooks);
    } finally {
      hooks.stop();
    }
    printResult(model, results[model]!);
    console.log(`  ${((performance.now() - started) / 1000).toFixed(0)} s`);
    if (results[model]!.interrupted) {
      for (const r of Object.values(results)) r!.model.dispose();
      return;
    }
  }
  const figs = figurePaths(base.out);
  const runs = Object.entries(results).map(([name, r]) => ({ name, history: r!.history }));
  await writeLossCurves(figs.loss!, runs);
  if (runs.some((r) => r.history.val.length > 1)) await writeMiouCurves(figs.miou!, runs);
  const hem = results.hemnet;
  let flow: unknown = null;
  if (hem) {
    flow = await writeGradientFlow(figs.gradientFlow!, hem.model, hem.val, [0.2, 0.5, 0.8, 1.0], Math.max(base.iterations, 3));
    await writeAttentionMaps(figs.attention!, hem.model, hem.val, Math.max(base.iterations, 3), base.eta);
    await writeSamples(figs.samples!, hem.model, hem.val);
  }
  const seconds = (performance.now() - t0) / 1000;
  const summary = Object.fromEntries(Object.entries(results).map(([k, r]) => [k, { miou: r!.miou, iou: r!.iou, pixelAccuracy: r!.pixelAccuracy, imagesPerSecond: r!.imagesPerSecond, steps: r!.steps }]));
  writeFileSync(join(base.out, 'demo.json'), JSON.stringify({ adapter: a, flags: base, seconds, results: summary, gradientFlow: flow }, null, 2));
  console.log('');
  console.log('| model | validation mIoU | images/s |');
  console.log('| --- | --- | --- |');
  for (const [k, r] of Object.entries(results)) console.log(`| ${k} | ${r!.miou.toFixed(4)} | ${r!.imagesPerSecond.toFixed(1)} |`);
  const written = Object.values(figs).filter((p) => existsSync(p));
  console.log(`\n${seconds.toFixed(0)} s in all; figures in ${base.out}: ${written.map((p) => p.split('/').pop()).join(', ')}`);
  for (const r of Object.values(results)) r!.model.dispose();
}
