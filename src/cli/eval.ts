/**
 * `hemgpu eval`: validation metrics of a checkpoint, at the T it was trained with or another
 * (T_eval). Several checkpoints (the seeds of one configuration) and a list of T_eval give the
 * paper's Table 2 as a table: each T_eval's metrics over the checkpoints, with their spread.
 */
import { existsSync, statSync } from 'node:fs';
import { makeDirectory } from '../io/make-directory.ts';
import { basename, dirname, join, resolve } from 'node:path';
import { startEngine } from './start-engine.ts';
import { loadCheckpoint } from '../io/checkpoint-file.ts';
import { UsageError, num, parse, usage } from './args.ts';
import { MAX_EM_ITERATIONS, TRAIN_SETTINGS } from '../train/config.ts';
import { SEG_MODEL_UNITS, takesEta, unitEta } from '../model/seg-models.ts';
import { loadData } from '../train/trainer.ts';
import { buildModel } from '../train/setup.ts';
import { evaluate, type Evaluation } from '../train/evaluate.ts';
import { restoreModel } from '../train/checkpoint.ts';
import { verifyCheckpoint } from '../train/checkpoint-verify.ts';
import type { TrainConfig } from '../train/config.ts';
import { emDiagnostics, formatEmDiagnostics, type EmDiagnostics } from '../train/em-diagnostics.ts';
import type { SegNet } from '../model/segnet.ts';
import type { Dataset } from '../train/batch.ts';
import { formatSpread } from '../train/stats.ts';
import { classLegend, evalProgress, regionLine } from './console.ts';
import { writeAttentionMaps, writeSamples } from './figures.ts';

export const EVAL_SPEC = {
  checkpoint: { type: 'string' as const, help: 'checkpoint file written by hemgpu train; several, comma-separated (seeds of one configuration), give a table over them' },
  iterations: {
    type: 'string' as const,
    help: `EM iterations at evaluation: T_eval (default: as trained), or several for Table 2, e.g. 1-8 or 1,2,4 (each 1 to ${MAX_EM_ITERATIONS})`,
  },
  'val-scenes': { type: 'string' as const, help: 'validation scenes (default: as trained)' },
  batch: { type: 'string' as const, help: 'images per forward pass', default: '16' },
  figures: {
    type: 'string' as const,
    help: "directory for each checkpoint's figures: <run>-samples.png (validation scenes, truth and prediction) and, for hemnet and emanet, <run>-attention.png (Fig. 4 on validation scene 0: the bases attending most to the ink, per iteration); <run> is the checkpoint's directory name",
  },
};

const DESCRIPTION = 'Validation mIoU and per-class IoU of a checkpoint; with several checkpoints or T_eval values, the table of Table 2 (--iterations 1-8).';

/** "3", "1-8", "1,2,4" or "1-3,6" as T values (each an integer ≥ 1, each once), in the order given. */
export function parseIterationList(v: string): number[] {
  const out: number[] = [];
  for (const part of v.split(',')) {
    if (part.trim() === '') throw new UsageError(`--iterations: an empty entry in '${v}'; write T values or ranges separated by single commas, e.g. 1-8 or 1,2,4.`);
    const range = /^(\d+)-(\d+)$/.exec(part.trim());
    if (!range) {
      out.push(num('iterations', part, TRAIN_SETTINGS.iterations.range));
      continue;
    }
    const [lo, hi] = [num('iterations', range[1], TRAIN_SETTINGS.iterations.range), Number(range[2])];
    if (hi < lo) throw new UsageError(`--iterations: the range ${part} runs backwards; write it as ${hi}-${lo}.`);
    if (hi > MAX_EM_ITERATIONS)
      throw new UsageError(`--iterations: the range ${part} goes past ${MAX_EM_ITERATIONS}, the most EM iterations a flag accepts; end it at ${MAX_EM_ITERATIONS} or below.`);
    for (let t = lo; t <= hi; t++) out.push(t);
  }
  const twice = out.find((t, i) => out.indexOf(t) !== i);
  if (twice !== undefined) throw new UsageError(`--iterations: T_eval ${twice} appears twice in '${v}'; list each T_eval once.`);
  return out;
}

/** --checkpoint's comma-separated paths: no empty entry, no file twice (it would count as two seeds). */
export function parseCheckpointList(v: string): string[] {
  const paths = v.split(',');
  if (paths.some((p) => p.trim() === '')) throw new UsageError(`--checkpoint: an empty entry in '${v}'; give checkpoint paths separated by single commas.`);
  const twice = paths.find((p, i) => paths.findIndex((q) => resolve(q) === resolve(p)) !== i);
  if (twice !== undefined) throw new UsageError(`--checkpoint: ${twice} is given twice; each checkpoint counts as one seed, so list it once.`);
  return paths;
}

/** The fields a table over checkpoints needs them to share (the seed, and only it, may differ). */
const SHARED: (keyof TrainConfig)[] = ['model', 'iterations', 'eta', 'basesAverage', 'task', 'data', 'size', 'steps', 'bases', 'channels', 'width'];

/** What `hemgpu eval` evaluates, from its parsed flags (checked; nothing read yet). */
export interface EvalPlan {
  paths: string[];
  /** T_eval values (null: as trained). */
  Ts: number[] | null;
  /** Validation scenes (null: as trained). */
  valScenes: number | null;
  batch: number;
  /** The figures' directory (null: no figures). */
  figures: string | null;
}

export function evalPlan(values: Record<string, string | boolean | undefined>): EvalPlan {
  if (values.checkpoint === undefined || values.checkpoint === '') throw new UsageError('--checkpoint: the checkpoint to evaluate is required.');
  const int = (k: string): number | null => (values[k] === undefined ? null : num(k, values[k] as string, { int: true, min: 1 }));
  return {
    paths: parseCheckpointList(values.checkpoint as string),
    Ts: values.iterations === undefined ? null : parseIterationList(values.iterations as string),
    valScenes: int('val-scenes'),
    batch: int('batch')!,
    figures: (values.figures as string | undefined) ?? null,
  };
}

export async function runEval(argv: string[]): Promise<void> {
  const values = parse('eval', EVAL_SPEC, argv);
  if (values.help) {
    console.log(usage('eval', DESCRIPTION, EVAL_SPEC));
    return;
  }
  // The values are checked before the checkpoints are read and before any GPU work.
  const { paths, Ts, valScenes, batch, figures } = evalPlan(values);
  if (figures !== null) prepareFigureDir(figures);
  await startEngine();
  const loaded = await Promise.all(paths.map(async (path) => ({ path, ck: await loadCheckpoint(path) })));
  const configs = loaded.map(({ path, ck }) => {
    const info = verifyCheckpoint(ck, path);
    if (!info.checksummed) console.warn(`${path}: a checkpoint from before format version 2 (no checksums): loaded without checksum verification.`);
    return info.config;
  });
  const first = configs[0]!;
  for (const [i, c] of configs.entries()) {
    const k = SHARED.find((f) => c[f] !== first[f]);
    if (k)
      throw new UsageError(
        `--checkpoint: ${paths[i]} has ${k} ${String(c[k])} but ${paths[0]} has ${String(first[k])}; a table over checkpoints needs one configuration (only the seed may differ). Run eval once per configuration.`,
      );
  }
  if (SEG_MODEL_UNITS[first.model].unit === null && Ts) {
    throw new UsageError(`--iterations: the plain model has no EM unit, so there is no T to evaluate at; leave --iterations out for ${paths[0]}.`);
  }
  const iterations = Ts ?? [first.iterations];
  const single = paths.length === 1 && iterations.length === 1;
  const rows = new Map<number, Evaluation[]>(iterations.map((t) => [t, []]));
  for (const [i, { path, ck }] of loaded.entries()) {
    const saved = configs[i]!;
    const { val } = loadData({ ...saved, valScenes: valScenes ?? saved.valScenes, trainScenes: 1 });
    const model = buildModel(saved, val);
    try {
      restoreModel(ck, path, model, saved);
      const em = await emDiagnostics(model, val, { batch });
      if (em) console.log(`${path}: ${formatEmDiagnostics(em)}`);
      if (figures !== null) {
        const written = await writeFigures(join(figures, figureStem(paths, i)), model, val, saved, em);
        console.log(`${path}: figures ${written.join(', ')}`);
      }
      for (const T of iterations) {
        const progress = single ? evalProgress(val.count) : null;
        let r: Evaluation;
        try {
          r = await evaluate(model, val, { batch, iterations: T, onProgress: progress?.update });
        } finally {
          progress?.stop();
        }
        rows.get(T)!.push(r);
        if (single) printOne(path, saved, T, val.count, r, classLegend(val));
        else
          console.log(
            `${path}: T_eval ${T}: mIoU ${r.miou.toFixed(4)}  pixel accuracy ${r.pixelAccuracy.toFixed(4)}${regionLine(r.regionAccuracy) ? `  ${regionLine(r.regionAccuracy)}` : ''}`,
          );
      }
    } finally {
      model.dispose();
    }
  }
  if (!single) console.log(`\n${tableOverCheckpoints(first, paths.length, rows)}`);
}

/** Creates `dir` (with its parents) for --figures, or refuses it naming why: before any checkpoint is read. */
function prepareFigureDir(dir: string): void {
  if (dir === '') throw new UsageError('--figures: expected a directory, got an empty value.');
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`--figures: '${dir}' is a file, not a directory.`);
  try {
    makeDirectory(dir);
  } catch (err) {
    throw new UsageError(`--figures: cannot create the directory '${dir}' (${(err as Error).message}).`);
  }
}

/** The figures' file-name stem of checkpoint i: its directory's name, with its place in the list where two share one. */
export function figureStem(paths: readonly string[], i: number): string {
  const stem = (p: string): string => basename(dirname(p)) || 'checkpoint';
  const own = stem(paths[i]!);
  return paths.filter((p) => stem(p) === own).length > 1 ? `${own}-${i + 1}` : own;
}

/**
 * Fig. 4 for a unit with several bases (hemnet, emanet: attentionMaps reruns the model's own unit
 * at its η; plain has no unit and pooling one base) and the samples of one checkpoint's model;
 * returns the files written.
 */
async function writeFigures(stem: string, model: SegNet, val: Dataset, saved: TrainConfig, em: EmDiagnostics | null): Promise<string[]> {
  const out: string[] = [];
  const eta = unitEta(saved.model, saved.eta);
  if (eta !== null && model.em!.em.mu0.shape[0]! > 1) {
    await writeAttentionMaps(`${stem}-attention.png`, model, val, Math.max(saved.iterations, 3), eta, em);
    out.push(`${stem}-attention.png`);
  }
  await writeSamples(`${stem}-samples.png`, model, val);
  out.push(`${stem}-samples.png`);
  return out;
}

function printOne(path: string, saved: TrainConfig, T: number, scenes: number, r: Evaluation, legend: string): void {
  console.log(
    SEG_MODEL_UNITS[saved.model].unit === null
      ? `${path}: ${saved.model} (no EM unit) on ${scenes} validation scenes`
      : `${path}: ${saved.model}, trained with T = ${saved.iterations}${takesEta(saved.model) ? `, η = ${saved.eta}` : ''}; evaluated with T = ${T} on ${scenes} validation scenes`,
  );
  console.log(`mIoU ${r.miou.toFixed(4)}  pixel accuracy ${r.pixelAccuracy.toFixed(4)}`);
  console.log(`per-class IoU (${legend}): ${r.iou.map((v) => (Number.isNaN(v) ? '  -  ' : v.toFixed(3))).join(' ')}`);
  const regions = regionLine(r.regionAccuracy);
  if (regions) console.log(regions);
}

/** Table 2's layout: a row per T_eval, each metric over the checkpoints in percent with its spread. */
function tableOverCheckpoints(c: TrainConfig, n: number, rows: Map<number, Evaluation[]>): string {
  const regions = [...new Set([...rows.values()].flatMap((es) => es.flatMap((e) => Object.keys(e.regionAccuracy))))];
  const head = ['T_eval', 'mIoU (%)', 'pixel accuracy (%)', ...regions.map((k) => `pixel accuracy on ${k} (%)`)];
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  const body = [...rows.entries()].map(([T, es]) => [
    SEG_MODEL_UNITS[c.model].unit === null ? '- (no EM unit)' : T === c.iterations ? `${T} (= T_train)` : String(T),
    formatSpread(es.map((e) => 100 * e.miou)),
    formatSpread(es.map((e) => 100 * e.pixelAccuracy)),
    ...regions.map((k) => formatSpread(es.map((e) => 100 * (e.regionAccuracy[k] ?? NaN)))),
  ]);
  const what = SEG_MODEL_UNITS[c.model].unit === null ? c.model : `${c.model}, T_train ${c.iterations}${takesEta(c.model) ? `, η ${c.eta}` : ''}`;
  const spread = n >= 3 ? "mean ± half-width of the 95 % interval of the mean (Student's t), (min–max, n seeds)" : n === 2 ? 'mean (min–max, 2 seeds)' : 'one checkpoint';
  return [`${what}, ${n} checkpoint${n > 1 ? 's' : ''}; ${spread}.`, '', line(head), line(head.map(() => '---')), ...body.map(line)].join('\n');
}
