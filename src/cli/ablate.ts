/**
 * `hemgpu ablate`: the paper's Table 1 at small scale — train a grid of T_train × η (η = 1.0 is
 * EMANet) with the same budget per run, every cell over `--seeds` seeds (seed, seed + 1, …), or
 * with one seed and the best cells rerun with a second seed (`--second-seeds`), so that a
 * difference is not read into noise. Writes ablation.md (a table like Table 1: mean, the 95 %
 * interval of the mean from 3 seeds on, min–max) and ablation.csv (every run), both rewritten
 * after every cell. Resumable by cell: run again with the same flags and --out, and the cells that
 * ablation.csv already holds are skipped (ablation.json records the flags they were trained with;
 * other training flags are refused, naming the field); a cell stopped by Ctrl-C resumes from its
 * checkpoint.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { adapterInfo } from '../index.node.ts';
import { startEngine } from './start-engine.ts';
import { TRAIN_SPEC, UsageError, givenFlags, num, parseTrainFlags, quickShrink, takeIntFlag, takeListFlag, usage, type Spec, type TrainFlags } from './args.ts';
import { train } from '../train/trainer.ts';
import { DEMO_RECIPE, recipeFlags } from './demo.ts';
import type { Interrupts } from './interrupt.ts';
import { lockOutDir } from './out-dir.ts';
import { regionLine } from './console.ts';
import { formatSpread } from '../train/stats.ts';
import { TRAIN_SETTINGS, pickTrainConfig, settingEntries, withAbsentFields, type TrainConfig } from '../train/config.ts';
import { writeFileAtomic } from '../viz/render.ts';
import { loadCheckpoint } from '../io/checkpoint-file.ts';
import { verifyCheckpoint } from '../train/checkpoint-verify.ts';
import { configChanges } from '../train/run.ts';

/** The demo's recipe, evaluated only at the end of each run (--eval-every at its default). */
const ABLATE_RECIPE: Record<string, string> = Object.fromEntries(Object.entries(DEMO_RECIPE).filter(([k]) => k !== 'eval-every'));

/**
 * Steps per run when --steps is not given: 400 on a CPU driver (the demo's count until it went to
 * 500 on 2026-12-07; the grids committed so far ran 400, and a grid resumes with the steps it
 * started with), or 1200 on a GPU.
 */
const ABLATE_STEPS = { cpu: 400, gpu: 1200 } as const;

function ablateSteps(software: boolean): number {
  return software ? ABLATE_STEPS.cpu : ABLATE_STEPS.gpu;
}

/** Training flags a cell sets itself (model and η from --etas, T from --t-train) or that a grid cannot take. */
const NOT_ABLATE: Record<string, string> = {
  model: 'each cell trains hemnet (η < 1) or emanet (η = 1); choose the columns with --etas',
  eta: 'each column is an η; give them with --etas, e.g. --etas 0.5,1',
  iterations: 'each row is a T_train; give them with --t-train, e.g. --t-train 1,3,6',
  resume: 'the grid resumes by cell: rerun the same command with the same --out',
  'allow-change': 'the grid resumes by cell with the flags its cells were trained with (ablation.json)',
};

/**
 * ablate's flags: the training flags less those of NOT_ABLATE, with the recipe's values as their
 * defaults (what --help shows is what runs), plus the grid's own.
 */
export const ABLATE_SPEC: Spec = {
  ...Object.fromEntries(
    Object.entries(TRAIN_SPEC)
      .filter(([k]) => !Object.hasOwn(NOT_ABLATE, k))
      .map(([k, v]) => [k, ABLATE_RECIPE[k] !== undefined ? { ...v, default: ABLATE_RECIPE[k] } : v]),
  ),
  steps: { ...TRAIN_SPEC.steps!, shown: `${ablateSteps(true)} on a CPU driver, ${ablateSteps(false)} on a GPU` },
  out: { type: 'string' as const, help: 'output directory', default: 'runs/ablate' },
  quick: {
    type: 'boolean' as const,
    help: 'T ∈ {1, 2}, η ∈ {0.4, 1.0}, 2 steps of batch 2 on 8 training and 4 validation scenes, where those flags are not given (a smoke test for the test suite)',
  },
  seeds: { type: 'string' as const, help: 'seeds per cell (seed, seed + 1, …); from 3 on the table shows the 95 % interval of the mean', default: '1' },
  't-train': { type: 'string' as const, help: "the grid's rows: comma-separated T_train values", default: '1,2,3,4,6' },
  etas: { type: 'string' as const, help: "the grid's columns: comma-separated η ∈ (0, 1] (1 is EMANet)", default: '0.2,0.4,0.8,1' },
  'second-seeds': { type: 'string' as const, help: 'with --seeds 1: the best cells rerun with another seed', default: '3' },
};

export interface AblationCell {
  T: number;
  eta: number;
  seed: number;
  miou: number;
  /** Pixel accuracy on the validation set's regions (the context task: fragments, whole); {} without. */
  regions: Record<string, number>;
  /** The EM unit's diagnostics after training (src/train/em-diagnostics.ts); NaN when not recorded. */
  maxGamma: number;
  residual: number;
  rho: number;
  seconds: number;
}

/** The fields a grid's cells share: every training field but those a cell sets (model, η, T, seed). */
const PER_CELL: readonly (keyof TrainConfig)[] = ['model', 'eta', 'iterations', 'seed'];

function sharedFields(f: TrainFlags): Record<string, unknown> {
  const c = pickTrainConfig(f) as unknown as Record<string, unknown>;
  return Object.fromEntries(
    settingEntries()
      .filter(([k, spec]) => spec.training && !PER_CELL.includes(k as keyof TrainConfig))
      .map(([k]) => [k, c[k]]),
  );
}

/**
 * The cells an earlier run of the grid left in `out` (ablation.csv), after checking that it
 * trained them with the same shared flags (ablation.json); [] when there are none.
 */
function previousCells(out: string, base: TrainFlags): AblationCell[] {
  const csv = join(out, 'ablation.csv');
  if (!existsSync(csv)) return [];
  const json = join(out, 'ablation.json');
  if (!existsSync(json))
    throw new UsageError(
      `--out ${out}: ablation.csv is there but ablation.json (the flags its cells were trained with) is not, so its cells cannot be resumed; give another --out, or move ablation.csv away.`,
    );
  let stored: Record<string, unknown>;
  try {
    stored = (JSON.parse(readFileSync(json, 'utf8')) as { shared: Record<string, unknown> }).shared;
    if (!stored || typeof stored !== 'object') throw new Error('no "shared" object');
  } catch (err) {
    throw new UsageError(`--out ${out}: ablation.json cannot be read (${(err as Error).message}); give another --out, or move ablation.csv and ablation.json away.`);
  }
  // A grid from before a setting existed trained with the setting's `absent` value.
  stored = withAbsentFields(stored);
  const now = sharedFields(base);
  for (const [k, v] of Object.entries(now)) {
    if (stored[k] !== v) {
      const flag = TRAIN_SETTINGS[k as keyof TrainConfig].flag;
      throw new UsageError(
        `--${flag}: the cells in ${out} were trained with --${flag} ${String(stored[k])}; this grid asks for ${String(v)}. Give the same flags to continue that grid, or another --out for a new one.`,
      );
    }
  }
  const [head, ...lines] = readFileSync(csv, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const cols = head!.split(',');
  const at = (row: string[], name: string): number => {
    const v = cols.includes(name) ? row[cols.indexOf(name)]!.trim() : '';
    return v === '' ? NaN : Number(v);
  };
  const fixed = new Set(['T', 'eta', 'seed', 'miou', 'maxGamma', 'residual', 'rho', 'seconds']);
  const regionNames = cols.filter((c) => !fixed.has(c));
  return lines.map((line, i) => {
    const row = line.split(',');
    if (row.length !== cols.length || ['T', 'eta', 'seed', 'miou'].some((k) => !Number.isFinite(at(row, k)))) {
      throw new UsageError(`--out ${out}: ablation.csv line ${i + 2} is not a cell (${JSON.stringify(line)}); remove that line to continue the grid.`);
    }
    return {
      T: at(row, 'T'),
      eta: at(row, 'eta'),
      seed: at(row, 'seed'),
      miou: at(row, 'miou'),
      regions: Object.fromEntries(regionNames.map((k) => [k, at(row, k)])),
      maxGamma: at(row, 'maxGamma'),
      residual: at(row, 'residual'),
      rho: at(row, 'rho'),
      seconds: at(row, 'seconds'),
    };
  });
}

export async function runAblation(argv: string[], interrupts: Interrupts | null = null): Promise<AblationCell[]> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage('ablate', "The paper's T × η ablation (Table 1) at small scale; η = 1.0 is EMANet.", ABLATE_SPEC));
    console.log(`\nThe defaults are the demo's recipe (docs/experiments/demo-recipe.md), validated at the end of each run only; --task digits for the 64-px digit scenes.`);
    return [];
  }
  // Every flag and the output directory are checked before the device starts (the steps' default
  // waits for the adapter: a CPU driver trains fewer).
  const unlock = lockOutDir(ablatePlan(argv, true).base.out, 'ablate');
  try {
    await startEngine();
    const p = ablatePlan(argv, adapterInfo().software);
    return await grid(p.base, p.Ts, p.etas, p.seeds, p.second, interrupts);
  } finally {
    unlock();
  }
}

/** What `hemgpu ablate <argv>` trains. */
export interface AblationPlan {
  /** The flags every cell shares (a cell sets model, η, T, seed and its directory). */
  base: TrainFlags;
  /** The grid's rows (T_train) and columns (η). */
  Ts: number[];
  etas: number[];
  /** Seeds per cell, and with one seed how many of the best cells rerun with a second. */
  seeds: number;
  second: number;
}

/**
 * The grid `hemgpu ablate <argv>` trains on an adapter (`software`: a CPU driver). Flags a grid
 * sets per cell (NOT_ABLATE) are refused here.
 */
export function ablatePlan(argv: string[], software: boolean): AblationPlan {
  const quick = argv.includes('--quick');
  const s1 = takeIntFlag(
    argv.filter((a) => a !== '--quick'),
    'second-seeds',
    0,
    null,
  );
  const s2 = takeIntFlag(s1.rest, 'seeds', 1, 1);
  const s3 = takeListFlag(s2.rest, 't-train', (e) => num('t-train', e, TRAIN_SETTINGS.iterations.range), quick ? [1, 2] : [1, 2, 3, 4, 6]);
  const s4 = takeListFlag(s3.rest, 'etas', (e) => num('etas', e, TRAIN_SETTINGS.eta.range), quick ? [0.4, 1.0] : [0.2, 0.4, 0.8, 1.0]);
  const [second, seeds, Ts, etas, rest] = [s1.value, s2.value, s3.value, s4.value, s4.rest];
  if (seeds > 1 && second !== null && second > 0) {
    throw new UsageError(`--second-seeds: applies with --seeds 1 only (every cell already runs ${seeds} seeds); drop one of them.`);
  }
  const given = givenFlags(rest);
  for (const k of Object.keys(NOT_ABLATE)) if (given.has(k)) throw new UsageError(`--${k}: ${NOT_ABLATE[k]}.`);
  // η and T are parsed at their defaults (every cell sets its own; given ones were refused above).
  const steps = given.has('steps') ? [] : ['--steps', String(ablateSteps(software))];
  const flags = parseTrainFlags([...recipeFlags(rest, ABLATE_RECIPE), ...steps, ...rest], 'ablate', {
    ...ABLATE_SPEC,
    eta: { ...TRAIN_SPEC.eta!, internal: true },
    iterations: { ...TRAIN_SPEC.iterations!, internal: true },
  })!;
  const base: TrainFlags = { ...(quick ? quickShrink(flags, given, { steps: 2, 'train-scenes': 8, 'val-scenes': 4, batch: 2, 'eval-every': 0 }) : flags), quiet: true };
  const rerun = seeds > 1 ? 0 : (second ?? 3);
  return { base, Ts, etas, seeds, second: quick ? Math.min(rerun, 1) : rerun };
}

/**
 * The checkpoint a cell's directory already holds, to resume: a cell stopped by Ctrl-C left it,
 * and the rerun of the grid continues it (as an uninterrupted run would have gone on). A
 * checkpoint trained with other flags than the cell's is not this grid's: refused, naming the
 * flags, rather than replaced. Null when there is none.
 */
async function cellCheckpoint(cell: TrainFlags): Promise<string | null> {
  const path = join(cell.out, 'checkpoint.safetensors');
  if (!existsSync(path)) return null;
  const saved = verifyCheckpoint(await loadCheckpoint(path), path).config;
  const differs = configChanges(saved, cell, 0);
  if (differs.length) {
    const list = differs.map((c) => `--${c.flag} ${String(c.old)} (this cell: ${String(c.new)})`).join(', ');
    throw new UsageError(`${path}: a checkpoint trained with ${list}, not this grid's cell, which would replace it. Move it away, or give another --out.`);
  }
  return path;
}

async function grid(base: TrainFlags, Ts: number[], etas: number[], seeds: number, second: number, interrupts: Interrupts | null): Promise<AblationCell[]> {
  const cells = previousCells(base.out, base);
  const has = (T: number, eta: number, seed: number): boolean => cells.some((c) => c.T === T && c.eta === eta && c.seed === seed);
  const planned = seeds * Ts.length * etas.length;
  const done = cells.filter((c) => Ts.includes(c.T) && etas.includes(c.eta) && c.seed >= base.seed && c.seed < base.seed + seeds).length;
  if (cells.length) console.log(`resuming the grid in ${base.out}: ${done} of its ${planned} runs are in ablation.csv (skipped); ${planned - done} to go.`);
  const cellFlags = (T: number, eta: number, seed: number): TrainFlags => ({
    ...base,
    model: eta === 1 ? 'emanet' : 'hemnet',
    eta,
    iterations: T,
    seed,
    out: join(base.out, `T${T}-eta${eta}-seed${seed}`),
  });
  // A foreign checkpoint in a cell's directory is refused before the first cell trains.
  for (let k = 0; k < seeds; k++) for (const T of Ts) for (const eta of etas) if (!has(T, eta, base.seed + k)) await cellCheckpoint(cellFlags(T, eta, base.seed + k));
  writeFileAtomic(join(base.out, 'ablation.json'), `${JSON.stringify({ shared: sharedFields(base) }, null, 2)}\n`);
  const stopped = (): boolean => (interrupts?.signal ?? null) !== null;
  const run = async (T: number, eta: number, seed: number): Promise<AblationCell | null> => {
    const t0 = performance.now();
    const cell = cellFlags(T, eta, seed);
    const resume = await cellCheckpoint(cell);
    if (resume) console.log(`T=${T} η=${eta} seed ${seed}: resuming ${resume}`);
    const r = await train({ ...cell, resume }, { shouldStop: stopped });
    r.model.dispose();
    if (r.interrupted) {
      console.log(
        `T=${T} η=${eta} seed ${seed}: ${r.checkpoint === null ? 'stopped before its first step; nothing written' : `interrupted at step ${r.steps}; checkpoint ${r.checkpoint}`}`,
      );
      return null;
    }
    const result = {
      T,
      eta,
      seed,
      miou: r.miou,
      regions: r.regionAccuracy,
      maxGamma: r.em?.maxGamma ?? NaN,
      residual: r.em?.residual ?? NaN,
      rho: r.em?.rho ?? NaN,
      seconds: (performance.now() - t0) / 1000,
    };
    const regions = regionLine(r.regionAccuracy);
    const em = r.em ? `, max_k γ ${r.em.maxGamma.toFixed(3)} (1/K ${(1 / r.em.bases).toFixed(3)}), residual ${r.em.residual.toFixed(3)}` : '';
    console.log(`T=${T} η=${eta}${eta === 1 ? ' (EMANet)' : ''} seed ${seed}: mIoU ${r.miou.toFixed(4)}${regions ? `, ${regions}` : ''}${em} (${result.seconds.toFixed(0)} s)`);
    return result;
  };
  // On Ctrl-C / SIGTERM the running cell saves its checkpoint and the grid stops; the files hold the cells done.
  const add = (c: AblationCell | null): boolean => {
    if (!c) return false;
    cells.push(c);
    writeTables(base.out, cells, Ts, etas);
    return true;
  };
  outer: for (let k = 0; k < seeds; k++)
    for (const T of Ts)
      for (const eta of etas) {
        if (has(T, eta, base.seed + k)) continue;
        if (!add(await run(T, eta, base.seed + k))) break outer;
      }
  const best = stopped()
    ? []
    : [...cells]
        .filter((c) => c.seed === base.seed)
        .sort((a, b) => b.miou - a.miou)
        .slice(0, second);
  for (const c of best) {
    if (has(c.T, c.eta, base.seed + 1)) continue;
    if (!add(await run(c.T, c.eta, base.seed + 1))) break;
  }
  const md = writeTables(base.out, cells, Ts, etas);
  console.log(`\n${md}`);
  return cells;
}

/** ablation.md and ablation.csv for the cells so far (written atomically); the markdown. */
function writeTables(out: string, cells: AblationCell[], Ts: number[], etas: number[]): string {
  const names = [...new Set(cells.flatMap((c) => Object.keys(c.regions)))];
  const spread = "cells with several seeds show the mean, from 3 seeds on ± the half-width of the 95 % interval of the mean (Student's t), and (min–max over the seeds, n seeds).";
  const md = [
    table(cells, Ts, etas, (c) => c.miou, `Validation mIoU (%), digit scenes; ${spread}`),
    ...names.map((k) => table(cells, Ts, etas, (c) => c.regions[k] ?? NaN, `Validation pixel accuracy (%) on the ${k} pixels; ${spread}`)),
    table(cells, Ts, etas, (c) => c.maxGamma, `The EM unit's mean max_k γ after training (%; uniform responsibilities read 100/K); ${spread}`),
  ].join('\n');
  writeFileAtomic(join(out, 'ablation.md'), md);
  const num = (v: number, digits: number): string => (Number.isFinite(v) ? v.toFixed(digits) : '');
  const csv = cells.map((c) =>
    [c.T, c.eta, c.seed, c.miou, ...names.map((k) => c.regions[k] ?? ''), num(c.maxGamma, 6), num(c.residual, 6), num(c.rho, 6), c.seconds.toFixed(1)].join(','),
  );
  writeFileAtomic(join(out, 'ablation.csv'), [['T', 'eta', 'seed', 'miou', ...names, 'maxGamma', 'residual', 'rho', 'seconds'].join(','), ...csv].join('\n') + '\n');
  return md;
}

function table(cells: AblationCell[], Ts: number[], etas: number[], metric: (c: AblationCell) => number, caption: string): string {
  const head = `| T_train \\ η | ${etas.map((e) => (e === 1 ? '1.0 (EMANet)' : String(e))).join(' | ')} |`;
  const rows = Ts.map((T) => {
    const vals = etas.map((eta) => formatSpread(cells.filter((c) => c.T === T && c.eta === eta).map((c) => metric(c) * 100)));
    return `| ${T} | ${vals.join(' | ')} |`;
  });
  return [caption, '', head, `| --- | ${etas.map(() => '---').join(' | ')} |`, ...rows].join('\n') + '\n';
}
