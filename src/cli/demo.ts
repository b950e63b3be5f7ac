/**
 * `hemgpu demo`, the main job: train hemnet, emanet and plain on digit scenes with the same
 * budget and seed, print their validation mIoU, and write the figures (loss and mIoU curves, the
 * gradient-flow figure, attention maps, segmentation samples) under --out.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adapterInfo, init } from '../index.node.ts';
import { UsageError, parseTrainFlags, usage, TRAIN_SPEC, type TrainFlags } from './args.ts';
import type { SegModelName } from '../model/segnet.ts';
import { train, type TrainResult } from '../train/trainer.ts';
import { figurePaths, writeAttentionMaps, writeGradientFlow, writeLossCurves, writeMiouCurves, writeSamples } from './figures.ts';
import { consoleHooks, printResult } from './console.ts';

/** The demo takes the training flags (their defaults are the demo's recipe) plus --quick. */
export const DEMO_SPEC = {
  ...TRAIN_SPEC,
  out: { type: 'string' as const, help: 'output directory (one subdirectory per model, figures at the top)', default: 'runs/demo' },
  quick: { type: 'boolean' as const, help: 'a few steps on a few scenes (a smoke test, not a result)' },
};

/**
 * The demo's recipe (docs/experiments/digit-scenes.md, recipe #25 with em-gamma 0): 1–3 digits of
 * 28–36 px per 64×64 scene, placed with at most 20% overlap and labelled from intensity 0.1, so
 * that output stride 4 can resolve them; 30% of the background pixels kept in the loss per step;
 * a narrow backbone (width 16, C = 48) with dilated 3×3 convs for a receptive field that covers a
 * digit; AdamW at 0.01 with a 20-step warm-up, batch 4. Flags given on the command line override it.
 */
export const DEMO_RECIPE: Record<string, string> = {
  size: '64',
  'min-digits': '1',
  'max-digits': '3',
  'min-scale': '28',
  'max-scale': '36',
  'max-overlap': '0.2',
  threshold: '0.1',
  'bg-keep': '0.3',
  width: '16',
  channels: '48',
  dilation: '2',
  optimizer: 'adamw',
  lr: '0.01',
  warmup: '20',
  batch: '4',
  'train-scenes': '4800',
  'val-scenes': '200',
  'eval-every': '330',
};

/** Steps per model: what fits the demo's 10-minute budget on a 2-core CPU driver, or 3000 on a GPU. */
function demoSteps(software: boolean): number {
  return software ? 660 : 3000;
}

/** The recipe's flags that `argv` does not set itself, to put before `argv`. */
export function recipeFlags(argv: string[], recipe: Record<string, string> = DEMO_RECIPE): string[] {
  const given = new Set(argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]!));
  return Object.entries(recipe).filter(([k]) => !given.has(k)).flatMap(([k, v]) => [`--${k}`, v]);
}

export async function runDemo(argv: string[]): Promise<void> {
  const quick = argv.includes('--quick');
  const given = new Set(argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]!));
  const recipe = recipeFlags(argv);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage('demo', 'Train hemnet, emanet and plain with the same budget and seed; print validation mIoU; write figures.', DEMO_SPEC));
    console.log(`\nThe demo's recipe (overridable): ${Object.entries(DEMO_RECIPE).map(([k, v]) => `--${k} ${v}`).join(' ')}; --steps ${demoSteps(true)} on a CPU driver, ${demoSteps(false)} on a GPU.`);
    return;
  }
  await init();
  const steps = given.has('steps') ? [] : ['--steps', String(demoSteps(adapterInfo().software))];
  const flags = parseTrainFlags([...recipe, ...steps, ...argv.filter((a) => a !== '--quick')], 'demo', DEMO_SPEC);
  if (!flags) {
    console.log(usage('demo', 'Train hemnet, emanet and plain with the same budget and seed; print validation mIoU; write figures.', DEMO_SPEC));
    return;
  }
  if (flags.resume) throw new UsageError('--resume: the demo trains from scratch; use hemgpu train --resume.');
  const base: TrainFlags = quick ? { ...flags, steps: Math.min(flags.steps, 3), trainScenes: 16, valScenes: 8, batch: Math.min(flags.batch, 4), evalEvery: 0 } : flags;
  const a = adapterInfo();
  console.log(`hemgpu demo on ${a.description || a.device} (${a.software ? 'CPU driver' : 'GPU'}): ${base.steps} steps × ${base.batch} digit scenes per model, seed ${base.seed}`);
  mkdirSync(base.out, { recursive: true });
  const results: Partial<Record<SegModelName, TrainResult>> = {};
  const t0 = performance.now();
  for (const model of ['hemnet', 'emanet', 'plain'] as const) {
    const f: TrainFlags = { ...base, model, out: join(base.out, model) };
    const hooks = consoleHooks(model, base.quiet);
    const started = performance.now();
    try {
      results[model] = await train(f, hooks);
    } finally {
      hooks.stop();
    }
    printResult(model, results[model]!);
    console.log(`  ${((performance.now() - started) / 1000).toFixed(0)} s`);
    if (results[model]!.interrupted) break;
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
  console.log(`\n${seconds.toFixed(0)} s in all; figures in ${base.out}: ${Object.values(figs).map((p) => p.split('/').pop()).join(', ')}`);
  for (const r of Object.values(results)) r!.model.dispose();
}
