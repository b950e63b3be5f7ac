/**
 * Issue 23's table: every flag a subcommand accepts changes the run or its output. For each flag
 * of `train`, `demo`, `ablate`, `eval` and `structured`, a value other than the default is parsed
 * into the run's plan, and the plan must differ from the default plan in the field the flag names.
 * The tables must list every flag of the spec, so a new flag without an effect (or a test) fails
 * here. (`tune`'s three flags are tried end to end in tuning.test.ts.)
 */
import { describe, expect, test } from 'vitest';
import { parseTrainFlags, quickShrink, type TrainFlags } from '../../src/cli/args.ts';
import { TRAIN_CMD_SPEC } from '../../src/cli/train.ts';
import { STRUCTURED_SPEC, structuredPlan } from '../../src/cli/structured.ts';
import { DEMO_SPEC, demoPlan } from '../../src/cli/demo.ts';
import { ABLATE_SPEC, ablatePlan } from '../../src/cli/ablate.ts';
import { EVAL_SPEC, evalPlan } from '../../src/cli/eval.ts';
import { parse } from '../../src/cli/args.ts';

describe('every accepted flag takes effect', () => {
  // flag → [the argv that sets it (with what it needs beside it), the TrainFlags fields that must
  // change against the same argv without the flag (or, for a flag that cannot be left out there,
  // with another value: the fourth entry)]
  const TRAIN: Record<string, [string[], (keyof TrainFlags)[], string[]?]> = {
    model: [['--model', 'plain'], ['model']],
    eta: [['--eta', '0.25'], ['eta']],
    iterations: [['--iterations', '5'], ['iterations']],
    steps: [['--steps', '7'], ['steps']],
    batch: [['--batch', '3'], ['batch']],
    lr: [['--lr', '0.5'], ['lr']],
    optimizer: [['--optimizer', 'adamw'], ['optimizer']],
    seed: [['--seed', '9'], ['seed']],
    'data-seed': [['--data-seed', '5'], ['dataSeed']],
    data: [['--data', 'voc', '--voc-root', '/tmp/voc'], ['data'], ['--data', 'digits']],
    'voc-root': [['--data', 'voc', '--voc-root', '/tmp/voc2'], ['vocRoot'], ['--data', 'voc', '--voc-root', '/tmp/voc']],
    size: [['--size', '48'], ['size']],
    'train-scenes': [['--train-scenes', '11'], ['trainScenes']],
    'val-scenes': [['--val-scenes', '13'], ['valScenes']],
    'min-digits': [['--min-digits', '2'], ['minDigits']],
    'max-digits': [['--max-digits', '2'], ['maxDigits']],
    'min-scale': [['--min-scale', '22'], ['minScale']],
    'max-scale': [['--max-scale', '30'], ['maxScale']],
    threshold: [['--threshold', '0.3'], ['threshold']],
    'max-overlap': [['--max-overlap', '0.2'], ['maxOverlap']],
    task: [['--task', 'context'], ['task']],
    fragment: [['--task', 'context', '--fragment', '6'], ['fragment']],
    bases: [['--bases', '4'], ['bases']],
    channels: [['--channels', '8'], ['channels']],
    width: [['--width', '8'], ['width']],
    dilation: [['--dilation', '2'], ['dilation']],
    'bases-average': [['--bases-average', 'l2norm'], ['basesAverage']],
    'em-gamma': [['--em-gamma', '1'], ['emGamma']],
    warmup: [['--warmup', '5'], ['warmup']],
    'bg-keep': [['--bg-keep', '0.5'], ['bgKeep']],
    out: [['--out', 'runs/elsewhere'], ['out']],
    resume: [['--resume', 'a/checkpoint.safetensors'], ['resume']],
    'allow-change': [['--resume', 'a/checkpoint.safetensors', '--allow-change', 'lr'], ['allowChange']],
    'eval-every': [['--eval-every', '10'], ['evalEvery']],
    'checkpoint-every': [['--checkpoint-every', '10'], ['checkpointEvery']],
    quiet: [['--quiet'], ['quiet']],
    overwrite: [['--overwrite'], ['overwrite']],
  };

  test('train: the table covers every flag', () => {
    expect(Object.keys(TRAIN).sort()).toEqual(Object.keys(TRAIN_CMD_SPEC).sort());
  });

  test.each(Object.entries(TRAIN))('train --%s', (flag, [argv, fields, other]) => {
    // The baseline: the same argv without the flag (and its value), so the change is the flag's own.
    const i = argv.indexOf(`--${flag}`);
    const beside = other ?? [...argv.slice(0, i), ...argv.slice(i + (TRAIN_CMD_SPEC[flag]!.type === 'boolean' ? 1 : 2))];
    const without = parseTrainFlags(beside, 'train', TRAIN_CMD_SPEC)!;
    const withIt = parseTrainFlags(argv, 'train', TRAIN_CMD_SPEC)!;
    for (const f of fields) expect(withIt[f], `--${flag} → ${f}`).not.toEqual(without[f]);
    expect(withIt.given).toContain(flag);
  });

  test('--quick (demo, ablate) shrinks only the size flags not given', () => {
    const f = parseTrainFlags(['--steps', '50', '--batch', '6'])!;
    const q = quickShrink(f, new Set(['steps', 'batch']), { steps: 2, 'train-scenes': 8, 'val-scenes': 4, batch: 2, 'eval-every': 0 });
    expect(q).toMatchObject({ steps: 50, batch: 6, trainScenes: 8, valScenes: 4, evalEvery: 0 });
    expect(f).toMatchObject({ trainScenes: 2000 }); // the input is left as it was
  });

  test('a flag of the other data source is refused, not ignored', () => {
    expect(() => parseTrainFlags(['--voc-root', '/tmp/voc'], 'train', TRAIN_CMD_SPEC)).toThrow(
      '--voc-root: applies to --data voc only; add --data voc, or drop --voc-root to train on digit scenes.',
    );
    expect(() => parseTrainFlags(['--data', 'voc', '--voc-root', 'v', '--min-digits', '2'], 'train', TRAIN_CMD_SPEC)).toThrow(
      /^--min-digits: applies to digit scenes only, and --data voc ignores it; drop it/,
    );
    expect(() => parseTrainFlags(['--data', 'voc', '--voc-root', 'v', '--task', 'context', '--train-scenes', '5'], 'train', TRAIN_CMD_SPEC)).toThrow(
      /^--train-scenes, --task: apply to digit scenes only/,
    );
    expect(parseTrainFlags(['--data', 'voc', '--voc-root', 'v', '--size', '32', '--val-scenes', '5'], 'train', TRAIN_CMD_SPEC)).toMatchObject({
      data: 'voc',
      size: 32,
      valScenes: 5,
    });
  });

  const STRUCTURED: Record<string, [string[], (r: ReturnType<typeof structuredPlan>) => unknown]> = {
    seeds: [['--seeds', '2'], (p) => p.runs.length],
    steps: [['--steps', '5'], (p) => p.runs[0]!.steps],
    batch: [['--batch', '3'], (p) => p.runs[0]!.batch],
    lr: [['--lr', '0.5'], (p) => p.runs[0]!.lr],
    'train-scenes': [['--train-scenes', '9'], (p) => p.runs[0]!.trainScenes],
    'val-scenes': [['--val-scenes', '9'], (p) => p.runs[0]!.valScenes],
    size: [['--size', '24'], (p) => p.runs[0]!.size],
    channels: [['--channels', '5'], (p) => p.runs[0]!.channels],
    sigma: [['--sigma', '0.7'], (p) => p.runs[0]!.sigma],
    out: [['--out', 'runs/x'], (p) => p.out],
    quick: [['--quick'], (p) => p.runs.map((r) => [r.steps, r.trainScenes, r.valScenes, r.batch])],
  };

  test('structured: the table covers every flag', () => {
    expect(Object.keys(STRUCTURED).sort()).toEqual(Object.keys(STRUCTURED_SPEC).sort());
  });

  test.each(Object.entries(STRUCTURED))('structured --%s, also under --quick', (flag, [argv, read]) => {
    const task = flag === 'sigma' ? 'ncuts' : 'o2p';
    expect(read(structuredPlan([task, ...argv], true)), `--${flag}`).not.toEqual(read(structuredPlan([task], true)));
    // --quick shrinks only what is not given: a given flag keeps its effect under it.
    if (flag !== 'quick') expect(read(structuredPlan([task, '--quick', ...argv], true)), `--quick --${flag}`).not.toEqual(read(structuredPlan([task, '--quick'], true)));
  });

  // The demo and ablate put their recipe (the context task on 32-px scenes, AdamW, ...) under the
  // flags given: each value here differs from the recipe's.
  const RECIPE_VALUES: Record<string, string[]> = {
    eta: ['--eta', '0.25'],
    iterations: ['--iterations', '5'],
    steps: ['--steps', '7'],
    batch: ['--batch', '3'],
    lr: ['--lr', '0.5'],
    optimizer: ['--optimizer', 'sgd'],
    seed: ['--seed', '9'],
    'data-seed': ['--data-seed', '5'],
    data: ['--data', 'voc', '--voc-root', '/tmp/voc'],
    'voc-root': ['--data', 'voc', '--voc-root', '/tmp/voc2'],
    size: ['--size', '40'],
    'train-scenes': ['--train-scenes', '11'],
    'val-scenes': ['--val-scenes', '13'],
    'min-digits': ['--min-digits', '3'],
    'max-digits': ['--max-digits', '3'],
    'min-scale': ['--min-scale', '12'],
    'max-scale': ['--max-scale', '16'],
    threshold: ['--threshold', '0.3'],
    'max-overlap': ['--max-overlap', '0.3'],
    task: ['--task', 'groups'],
    fragment: ['--fragment', '5'],
    bases: ['--bases', '4'],
    channels: ['--channels', '8'],
    width: ['--width', '8'],
    dilation: ['--dilation', '2'],
    'bases-average': ['--bases-average', 'l2norm'],
    'em-gamma': ['--em-gamma', '1'],
    warmup: ['--warmup', '5'],
    'bg-keep': ['--bg-keep', '0.5'],
    out: ['--out', 'runs/elsewhere'],
    'eval-every': ['--eval-every', '10'],
    'checkpoint-every': ['--checkpoint-every', '10'],
    quiet: ['--quiet'],
    overwrite: ['--overwrite'],
  };
  /** The argv without the flag's own words (for voc-root: --data voc with the other root; for data: nothing). */
  const baselineOf = (flag: string, argv: string[]): string[] => {
    if (flag === 'voc-root') return ['--data', 'voc', '--voc-root', '/tmp/voc'];
    if (flag === 'data') return [];
    const i = argv.indexOf(`--${flag}`);
    return argv.length === 1 ? [] : [...argv.slice(0, i), ...argv.slice(i + 2)];
  };

  const DEMO: Record<string, [string[], (p: ReturnType<typeof demoPlan>) => unknown]> = {
    ...Object.fromEntries(
      Object.keys(DEMO_SPEC)
        .filter((k) => RECIPE_VALUES[k])
        .map((k) => [k, [RECIPE_VALUES[k]!, (p: ReturnType<typeof demoPlan>) => p.base]]),
    ),
    seeds: [['--seeds', '2'], (p) => p.seeds],
    quick: [['--quick'], (p) => [p.base.steps, p.base.batch, p.seeds]],
  };

  test('demo: the table covers every flag', () => {
    expect(Object.keys(DEMO).sort()).toEqual(Object.keys(DEMO_SPEC).sort());
  });

  test.each(Object.entries(DEMO))('demo --%s, also under --quick', (flag, [argv, read]) => {
    const base = baselineOf(flag, argv);
    expect(read(demoPlan(argv, true)), `--${flag}`).not.toEqual(read(demoPlan(base, true)));
    if (flag !== 'quick') expect(read(demoPlan(['--quick', ...argv], true)), `--quick --${flag}`).not.toEqual(read(demoPlan(['--quick', ...base], true)));
  });

  const ABLATE: Record<string, [string[], (p: ReturnType<typeof ablatePlan>) => unknown]> = {
    ...Object.fromEntries(
      Object.keys(ABLATE_SPEC)
        .filter((k) => RECIPE_VALUES[k])
        .map((k) => [k, [RECIPE_VALUES[k]!, (p: ReturnType<typeof ablatePlan>) => p.base]]),
    ),
    seeds: [['--seeds', '2'], (p) => p.seeds],
    quick: [['--quick'], (p) => [p.base.steps, p.Ts, p.etas]],
    't-train': [['--t-train', '2,5'], (p) => p.Ts],
    etas: [['--etas', '0.3,1'], (p) => p.etas],
    'second-seeds': [['--second-seeds', '0'], (p) => p.second],
  };

  test('ablate: the table covers every flag', () => {
    expect(Object.keys(ABLATE).sort()).toEqual(Object.keys(ABLATE_SPEC).sort());
  });

  test.each(Object.entries(ABLATE))('ablate --%s, also under --quick', (flag, [argv, read]) => {
    const base = baselineOf(flag, argv);
    expect(read(ablatePlan(argv, true)), `--${flag}`).not.toEqual(read(ablatePlan(base, true)));
    if (flag !== 'quick') expect(read(ablatePlan(['--quick', ...argv], true)), `--quick --${flag}`).not.toEqual(read(ablatePlan(['--quick', ...base], true)));
  });

  const EVAL: Record<string, [string[], (p: ReturnType<typeof evalPlan>) => unknown]> = {
    checkpoint: [['--checkpoint', 'b.safetensors'], (p) => p.paths],
    iterations: [['--iterations', '1-3'], (p) => p.Ts],
    'val-scenes': [['--val-scenes', '7'], (p) => p.valScenes],
    batch: [['--batch', '3'], (p) => p.batch],
    figures: [['--figures', 'figs'], (p) => p.figures],
  };

  test('eval: the table covers every flag', () => {
    expect(Object.keys(EVAL).sort()).toEqual(Object.keys(EVAL_SPEC).sort());
  });

  test.each(Object.entries(EVAL))('eval --%s', (flag, [argv, read]) => {
    const plan = (a: string[]): ReturnType<typeof evalPlan> => evalPlan(parse('eval', EVAL_SPEC, flag === 'checkpoint' ? a : ['--checkpoint', 'a.safetensors', ...a]));
    const base = flag === 'checkpoint' ? ['--checkpoint', 'a.safetensors'] : [];
    expect(read(plan(argv)), `--${flag}`).not.toEqual(read(plan(base)));
  });

  test('an unknown flag names the nearest one and lists those the command takes', () => {
    expect(() => demoPlan(['--setps', '5'], true)).toThrow(
      /^hemgpu demo: unknown flag --setps; did you mean --steps\? It takes --bases, .*--seeds, .*--steps, .* \(hemgpu demo --help describes them\)\.$/,
    );
    // ablate fills η and T per cell: they are not offered.
    const err = (() => {
      try {
        ablatePlan(['--frobnicate'], true);
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })();
    expect(err).toMatch(/^hemgpu ablate: unknown flag --frobnicate\. It takes /);
    expect(err).toContain('--etas');
    expect(err).not.toMatch(/--eta,|--iterations/);
  });
});
