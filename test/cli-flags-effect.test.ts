/**
 * Issue 23's table: every flag a subcommand accepts changes the run or its output. For each flag
 * of `train` and `structured`, a value other than the default is parsed into the run's plan, and
 * the plan must differ from the default plan in the field the flag names. The tables must list
 * every flag of the spec, so a new flag without an effect (or a test) fails here.
 */
import { describe, expect, test } from 'vitest';
import { parseTrainFlags, quickShrink, type TrainFlags } from '../src/cli/args.ts';
import { TRAIN_CMD_SPEC } from '../src/cli/main.ts';
import { STRUCTURED_SPEC, structuredPlan } from '../src/cli/structured.ts';

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
    expect(() => parseTrainFlags(['--voc-root', '/tmp/voc'], 'train', TRAIN_CMD_SPEC)).toThrow('--voc-root: applies to --data voc only; add --data voc, or drop --voc-root to train on digit scenes.');
    expect(() => parseTrainFlags(['--data', 'voc', '--voc-root', 'v', '--min-digits', '2'], 'train', TRAIN_CMD_SPEC)).toThrow(/^--min-digits: applies to digit scenes only, and --data voc ignores it; drop it/);
    expect(() => parseTrainFlags(['--data', 'voc', '--voc-root', 'v', '--task', 'context', '--train-scenes', '5'], 'train', TRAIN_CMD_SPEC)).toThrow(/^--train-scenes, --task: apply to digit scenes only/);
    expect(parseTrainFlags(['--data', 'voc', '--voc-root', 'v', '--size', '32', '--val-scenes', '5'], 'train', TRAIN_CMD_SPEC)).toMatchObject({ data: 'voc', size: 32, valScenes: 5 });
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
});
