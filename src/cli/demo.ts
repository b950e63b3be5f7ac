/**
 * `hemgpu demo`, the main job: train hemnet, emanet and plain on digit scenes with the same
 * budget and seed, print their validation mIoU, and write the figures (loss and mIoU curves, the
 * gradient-flow figure, attention maps, segmentation samples) under --out.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adapterInfo, init } from '../index.node.ts';
import { UsageError, parseTrainFlags, usage, TRAIN_SPEC, type ModelName, type TrainFlags } from './args.ts';
import { train, type TrainResult } from '../train/trainer.ts';
import { figurePaths, writeAttentionMaps, writeGradientFlow, writeLossCurves, writeMiouCurves, writeSamples } from './figures.ts';
import { consoleHooks, printResult } from './console.ts';

/** The demo takes the training flags (their defaults are the demo's recipe) plus --quick. */
export const DEMO_SPEC = {
  ...TRAIN_SPEC,
  out: { type: 'string' as const, help: 'output directory (one subdirectory per model, figures at the top)', default: 'runs/demo' },
  quick: { type: 'boolean' as const, help: 'a few steps on a few scenes (a smoke test, not a result)' },
};

export async function runDemo(argv: string[]): Promise<void> {
  const quick = argv.includes('--quick');
  const flags = parseTrainFlags(argv.filter((a) => a !== '--quick'), 'demo', DEMO_SPEC);
  if (!flags) {
    console.log(usage('demo', 'Train hemnet, emanet and plain with the same budget and seed; print validation mIoU; write figures.', DEMO_SPEC));
    return;
  }
  if (flags.resume) throw new UsageError('--resume: the demo trains from scratch; use hemgpu train --resume.');
  const base: TrainFlags = quick ? { ...flags, steps: Math.min(flags.steps, 3), trainScenes: 16, valScenes: 8, batch: Math.min(flags.batch, 4), evalEvery: 0 } : flags;
  await init();
  const a = adapterInfo();
  console.log(`hemgpu demo on ${a.description || a.device} (${a.software ? 'CPU driver' : 'GPU'}): ${base.steps} steps × ${base.batch} digit scenes per model, seed ${base.seed}`);
  mkdirSync(base.out, { recursive: true });
  const results: Partial<Record<ModelName, TrainResult>> = {};
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
  writeLossCurves(figs.loss!, runs);
  if (runs.some((r) => r.history.val.length > 1)) writeMiouCurves(figs.miou!, runs);
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
