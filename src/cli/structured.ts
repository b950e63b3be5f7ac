/**
 * `hemgpu structured <o2p|ncuts>`: the structured-layer experiments of issue 13 (src/train/structured.ts)
 * — both variants of the task, each seed in turn, paired (a seed gives both variants the same
 * scenes, batches and backbone initialisation). Prints a results table (mean ± standard deviation
 * over seeds, and the per-seed difference), and writes into --out: results.json (every run, its
 * loss per step and metrics), results.md (the table) and loss.png/.svg (the training loss of
 * every run). Ctrl-C stops after the current step: the runs finished so far are written.
 */
import { meanOf, sdOf } from '../train/stats.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adapterInfo } from '../index.node.ts';
import { startEngine } from './start-engine.ts';
import {
  STRUCTURED_DEFAULTS,
  STRUCTURED_VARIANTS,
  checkStructuredConfig,
  trainStructured,
  type StructuredConfig,
  type StructuredResult,
  type StructuredTask,
} from '../train/structured.ts';
import { movingAverage } from '../viz/training-charts.ts';
import { writeLineChart, writeSegmentation } from '../viz/png.ts';
import { writeFileAtomic } from '../viz/render.ts';
import { UsageError, givenFlags, num, parse, quickShrink, usage, type Spec } from './args.ts';
import type { Interrupts, StopWords } from './interrupt.ts';
import { lockOutDir } from './out-dir.ts';

/** Steps per run when --steps is not given (CPU driver / GPU): both tasks then fit ~10 minutes on 2 SwiftShader cores. */
const STEPS: Record<StructuredTask, { cpu: number; gpu: number }> = { o2p: { cpu: 300, gpu: 1500 }, ncuts: { cpu: 150, gpu: 1000 } };

/** Ctrl-C: the run in progress is dropped (short runs keep no checkpoint); the finished ones are written. */
export const STRUCTURED_STOP: StopWords = {
  stopping: 'writing the results of the runs finished so far (the run in progress is not counted)',
  again: 'without writing results.',
};

export const STRUCTURED_SPEC: Spec = {
  seeds: { type: 'string', help: 'seeds per variant (1, 2, ...; each seed pairs the two variants)', default: '3' },
  steps: { type: 'string', help: 'optimizer steps per run', shown: 'o2p 300, ncuts 150 on a CPU driver; o2p 1500, ncuts 1000 on a GPU' },
  batch: { type: 'string', help: 'scenes per step', default: String(STRUCTURED_DEFAULTS.batch) },
  lr: { type: 'string', help: 'AdamW learning rate (10-step linear warm-up)', default: String(STRUCTURED_DEFAULTS.lr) },
  'train-scenes': { type: 'string', help: 'training scenes', default: String(STRUCTURED_DEFAULTS.trainScenes) },
  'val-scenes': { type: 'string', help: 'validation scenes the metrics are computed on', default: String(STRUCTURED_DEFAULTS.valScenes) },
  size: { type: 'string', help: 'scene side in pixels, a multiple of 4 (the feature map is size/4 square; ncuts: ≤ 64)', default: String(STRUCTURED_DEFAULTS.size) },
  channels: { type: 'string', help: 'backbone output channels C (O2P pools a C×C matrix)', default: String(STRUCTURED_DEFAULTS.channels) },
  sigma: { type: 'string', help: 'ncuts: bandwidth σ of the Gaussian affinity', default: String(STRUCTURED_DEFAULTS.sigma) },
  out: { type: 'string', help: 'output directory', shown: 'runs/structured-<task>' },
  quick: { type: 'boolean', help: '2 steps of 4 on 16 scenes, 1 seed, where those flags are not given (a smoke test)' },
};

const SUMMARY = `The structured-layer experiments (issue 13) on digit scenes:
  o2p    multi-label classification (which digits a scene holds): O2P head log(XᵀX/N + εI) vs average pooling
  ncuts  segmentation by a normalized-cuts layer: trained end to end through the eigenvectors (projector loss)
         vs the same network trained on its affinity alone`;

/** The metrics each task reports, the first being its headline (higher is better for all but projectorError). */
const METRICS: Record<StructuredTask, { key: string; label: string; percent: boolean }[]> = {
  o2p: [
    { key: 'mAP', label: 'mAP (%)', percent: true },
    { key: 'exactMatch', label: 'exact match (%)', percent: true },
    { key: 'valLoss', label: 'val loss', percent: false },
  ],
  ncuts: [
    { key: 'pairAccuracy', label: 'pair accuracy (%)', percent: true },
    { key: 'projectorError', label: '½‖Π − P‖² per scene', percent: false },
    { key: 'pairAccuracyOneSegment', label: 'one segment, for reference (%)', percent: true },
  ],
};

/** The runs `hemgpu structured` would train, from its argv (the task first); usage errors come before any GPU work. */
export function structuredPlan(argv: string[], software: boolean): { task: StructuredTask; runs: StructuredConfig[]; out: string } {
  const [task, ...rest] = argv;
  if (task !== 'o2p' && task !== 'ncuts')
    throw new UsageError(
      `hemgpu structured: the first argument must be the task, o2p or ncuts; got ${task === undefined ? 'nothing' : `'${task}'`}.\n\n${usage('structured <o2p|ncuts>', SUMMARY, STRUCTURED_SPEC)}`,
    );
  const v = parse('structured', STRUCTURED_SPEC, rest);
  const int = (k: string, min = 1): number => num(k, v[k] as string, { int: true, min });
  const quick = v.quick === true;
  const given = givenFlags(rest);
  if (task === 'o2p' && given.has('sigma')) throw new UsageError("--sigma: the Gaussian affinity's bandwidth applies to ncuts only; leave it out for o2p.");
  const base: Omit<StructuredConfig, 'variant' | 'seed'> = {
    ...STRUCTURED_DEFAULTS,
    task,
    steps: v.steps === undefined ? STEPS[task][software ? 'cpu' : 'gpu'] : int('steps'),
    batch: int('batch'),
    lr: num('lr', v.lr as string, { min: 0, minExclusive: true }),
    trainScenes: int('train-scenes'),
    valScenes: int('val-scenes'),
    size: int('size', 8),
    channels: int('channels'),
    sigma: num('sigma', v.sigma as string, { min: 0, minExclusive: true }),
  };
  if (base.size % 4) throw new UsageError(`--size: must be a multiple of 4 (the backbone's output stride), got ${base.size}.`);
  if (task === 'ncuts' && base.size > 64) throw new UsageError(`--size: ncuts builds an (size/4)²-pixel affinity; keep --size ≤ 64 (got ${base.size}).`);
  // --quick shrinks what is not given; a flag given with it takes effect (and is checked) as always.
  const seeds = int('seeds');
  const b = quick ? quickShrink(base, given, { steps: 2, 'train-scenes': 16, 'val-scenes': 16, batch: 4 }) : base;
  const seedCount = quick && !given.has('seeds') ? 1 : seeds;
  const runs: StructuredConfig[] = [];
  for (let s = 1; s <= seedCount; s++) for (const variant of STRUCTURED_VARIANTS[task]) runs.push({ ...b, variant, seed: s });
  for (const r of runs) checkStructuredConfig(r);
  return { task, runs, out: (v.out as string | undefined) ?? `runs/structured-${task}` };
}

/** The results table: one row per variant (mean ± sd over seeds, per-seed values), one for the paired difference. */
export function resultsTable(task: StructuredTask, results: StructuredResult[]): string {
  const [a, b] = STRUCTURED_VARIANTS[task];
  const metrics = METRICS[task];
  const fmt = (x: number, pct: boolean): string => (pct ? (100 * x).toFixed(1) : x.toFixed(3));
  const cell = (vals: number[], pct: boolean): string =>
    vals.length > 1 ? `${fmt(meanOf(vals), pct)} ± ${fmt(sdOf(vals), pct)} (${vals.map((x) => fmt(x, pct)).join(', ')})` : fmt(vals[0]!, pct);
  const of = (variant: string, key: string): number[] => results.filter((r) => r.config.variant === variant).map((r) => r.metrics[key]!);
  // A variant without a finished run (Ctrl-C during its first) has no row.
  const rows = [a, b]
    .filter((variant) => results.some((r) => r.config.variant === variant))
    .map(
      (variant) =>
        `| ${variant} | ${metrics.map((m) => cell(of(variant, m.key), m.percent)).join(' | ')} | ${meanOf(results.filter((r) => r.config.variant === variant).map((r) => r.imagesPerSecond)).toFixed(1)} |`,
    );
  const seeds = [...new Set(results.map((r) => r.config.seed))].filter(
    (s) => results.some((r) => r.config.seed === s && r.config.variant === a) && results.some((r) => r.config.seed === s && r.config.variant === b),
  );
  const diff = (key: string): number[] =>
    seeds.map(
      (s) => results.find((r) => r.config.seed === s && r.config.variant === a)!.metrics[key]! - results.find((r) => r.config.seed === s && r.config.variant === b)!.metrics[key]!,
    );
  if (seeds.length) rows.push(`| ${a} − ${b} (paired by seed) | ${metrics.map((m) => cell(diff(m.key), m.percent)).join(' | ')} | |`);
  const c = results[0]!.config;
  return (
    [
      `${task === 'o2p' ? 'Multi-label digit classification' : 'Normalized-cuts segmentation'} on ${c.valScenes} validation scenes (${c.size}×${c.size}, 1–3 digits), ${c.steps} steps of ${c.batch}, ${seeds.length || results.length} seed(s): mean ± sd (per seed).`,
      '',
      `| variant | ${metrics.map((m) => m.label).join(' | ')} | train images/s |`,
      `| --- | ${metrics.map(() => '---').join(' | ')} | --- |`,
      ...rows,
    ].join('\n') + '\n'
  );
}

export async function runStructured(argv: string[], interrupts: Interrupts | null = null): Promise<StructuredResult[]> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage('structured <o2p|ncuts>', SUMMARY, STRUCTURED_SPEC));
    return [];
  }
  // Every flag and the output directory are checked before the device starts (the sizes' defaults
  // wait for the adapter: a CPU driver trains smaller runs).
  const unlock = lockOutDir(structuredPlan(argv, true).out, 'structured');
  const results: StructuredResult[] = [];
  try {
    await startEngine();
    const { task, runs, out } = structuredPlan(argv, adapterInfo().software);
    console.log(`hemgpu structured ${task}: ${runs.length} runs of ${runs[0]!.steps} steps on ${adapterInfo().description || adapterInfo().device}; output ${out}`);
    for (const c of runs) {
      if (interrupts?.signal) break;
      const r = await trainStructured(c, {
        shouldStop: () => interrupts?.signal != null,
        scoreIfStopped: false,
        onStep: (step, loss) => {
          if ((step + 1) % 50 === 0) console.log(`  ${c.variant} seed ${c.seed}: step ${step + 1}/${c.steps} loss ${loss.toFixed(4)}`);
        },
      });
      if (r.interrupted) {
        console.log(`${c.variant} seed ${c.seed}: stopped at step ${r.loss.length}; not counted.`);
        break;
      }
      results.push(r);
      console.log(
        `${c.variant} seed ${c.seed}: ${METRICS[task].map((m) => `${m.key} ${(m.percent ? 100 * r.metrics[m.key]! : r.metrics[m.key]!).toFixed(m.percent ? 1 : 4)}`).join(', ')} (${r.seconds.toFixed(0)} s)`,
      );
    }
    if (!results.length) return results;
    const md = resultsTable(task, results);
    writeFileAtomic(join(out, 'results.md'), md);
    // The samples are drawn below; the JSON keeps configs, losses and metrics.
    const saved = results.map(({ samples: _, ...r }) => r);
    writeFileSync(join(out, 'results.json'), JSON.stringify({ task, adapter: adapterInfo(), date: new Date().toISOString(), runs: saved }, null, 1));
    await writeLineChart(join(out, 'loss.png'), {
      title: `${task}: training loss (10-step moving average)`,
      xLabel: 'step',
      yLabel: task === 'o2p' ? 'sigmoid cross-entropy' : 'projector loss (e2e) / pairwise cross-entropy (affinity)',
      integerX: true,
      // ncuts plots two different losses (projector, pairwise cross-entropy): a log axis shows both.
      logY: task === 'ncuts',
      series: results.map((r) => ({
        name: `${r.config.variant} seed ${r.config.seed}`,
        values: movingAverage(r.loss),
        markers: false,
        dash: r.config.variant === STRUCTURED_VARIANTS[task][1],
      })),
    });
    const figures = ['loss.png'];
    for (const r of results.filter((x) => x.samples && x.config.seed === results[0]!.config.seed)) {
      const s = r.samples!;
      const up = (l: Int32Array): Int32Array => upsample(l, s.count, s.side, s.size);
      const name = `samples-${r.config.variant}.png`;
      await writeSegmentation(join(out, name), s.images, up(s.truth), up(s.predicted), s.size, {
        title: `${r.config.variant}, seed ${r.config.seed}: scene | ground truth on the ${s.side}×${s.side} grid | normalized-cuts segments (each coloured by the label it mostly covers)`,
      });
      figures.push(name);
    }
    console.log(`\n${md}\nwrote ${join(out, 'results.md')}, results.json, ${figures.join(', ')}`);
    return results;
  } finally {
    unlock();
  }
}

/** Nearest-neighbour upsampling of label grids [count, side, side] to [count, size, size]. */
function upsample(l: Int32Array, count: number, side: number, size: number): Int32Array {
  const out = new Int32Array(count * size * size);
  const f = size / side;
  for (let b = 0; b < count; b++)
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) out[(b * size + y) * size + x] = l[(b * side + Math.floor(y / f)) * side + Math.floor(x / f)]!;
  return out;
}
