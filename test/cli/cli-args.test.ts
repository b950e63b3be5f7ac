import { describe, expect, test } from 'vitest';
import { parseTrainFlags, usage, TRAIN_SPEC } from '../../src/cli/args.ts';
import { usageErrorOf } from './run-cli.ts';
import { demoPlan } from '../../src/cli/demo.ts';

describe('hemgpu train flags', () => {
  test('defaults and parsed values', () => {
    const f = parseTrainFlags([])!;
    expect(f).toMatchObject({ model: 'hemnet', eta: 0.5, iterations: 3, batch: 8, optimizer: 'sgd', data: 'digits', resume: null });
    const g = parseTrainFlags(['--model', 'emanet', '--eta', '1', '--steps', '12', '--batch', '2', '--resume', 'a.safetensors'])!;
    expect(g).toMatchObject({ model: 'emanet', eta: 1, steps: 12, batch: 2, resume: 'a.safetensors' });
  });

  test('scene, model-shape and loss flags: defaults (the old behaviour) and parsed values', () => {
    const f = parseTrainFlags([])!;
    expect(f).toMatchObject({ minDigits: 1, maxDigits: 4, minScale: 20, maxScale: 36, threshold: 0.5, maxOverlap: 1, width: 32, dilation: 1, emGamma: 0, warmup: 0, bgKeep: 1 });
    const g = parseTrainFlags([
      '--size',
      '48',
      '--min-digits',
      '2',
      '--max-digits',
      '3',
      '--min-scale',
      '24',
      '--max-scale',
      '48',
      '--threshold',
      '0.1',
      '--max-overlap',
      '0',
      '--width',
      '16',
      '--dilation',
      '2',
      '--em-gamma',
      '1',
      '--warmup',
      '20',
      '--bg-keep',
      '0.3',
    ])!;
    expect(g).toMatchObject({
      size: 48,
      minDigits: 2,
      maxDigits: 3,
      minScale: 24,
      maxScale: 48,
      threshold: 0.1,
      maxOverlap: 0,
      width: 16,
      dilation: 2,
      emGamma: 1,
      warmup: 20,
      bgKeep: 0.3,
    });
  });

  test('--task and --fragment: the digits task by default, the context task with its fragment side', () => {
    expect(parseTrainFlags([])!).toMatchObject({ task: 'digits', fragment: 12 });
    expect(parseTrainFlags(['--task', 'context', '--fragment', '10'])!).toMatchObject({ task: 'context', fragment: 10 });
    expect(parseTrainFlags(['--task', 'context'])!).toMatchObject({ task: 'context', fragment: 12 });
  });

  test('--task groups: its fragment side; the default --min-digits becomes 2 (a whole digit per class), a given one stays', () => {
    expect(parseTrainFlags(['--task', 'groups', '--fragment', '8'])!).toMatchObject({ task: 'groups', fragment: 8, minDigits: 2, maxDigits: 4 });
    expect(parseTrainFlags(['--task=groups', '--min-digits', '3'])!).toMatchObject({ task: 'groups', fragment: 12, minDigits: 3 });
    expect(parseTrainFlags(['--task', 'groups'])!.given).not.toContain('min-digits');
    expect(parseTrainFlags(['--task', 'context'])!).toMatchObject({ minDigits: 1 });
  });

  test('numbers in decimal notation, with a fraction or an exponent, are read', () => {
    expect(parseTrainFlags(['--lr', '1e-3', '--eta', '.5', '--steps', '+20', '--em-gamma', '-0.25', '--bg-keep', '1.'])!).toMatchObject({
      lr: 0.001,
      eta: 0.5,
      steps: 20,
      emGamma: -0.25,
      bgKeep: 1,
    });
  });

  test('--help returns null and the usage text lists every flag', () => {
    expect(parseTrainFlags(['--help'])).toBeNull();
    const u = usage('train', 'Train a model.', TRAIN_SPEC);
    for (const k of Object.keys(TRAIN_SPEC)) expect(u).toContain(`--${k}`);
  });

  test('bad flags are usage errors naming the flag', () => {
    const bad: [string[], RegExp][] = [
      [['--model', 'resnet'], /--model: unknown value 'resnet'; use 'hemnet', 'emanet', 'pooling' or 'plain'\./],
      [['--eta', '0'], /--eta: expected a number > 0 and ≤ 1, got '0'/],
      [['--eta', '1.5'], /--eta: .* got '1.5'/],
      [['--eta', 'abc'], /--eta:/],
      [['--batch', '0'], /--batch: expected an integer ≥ 1, got '0'/],
      [['--batch', '2.5'], /--batch: expected an integer/],
      // Decimal notation only: Number() would read 0x10 as 16, 0b11 as 3 and '' as 0.
      [['--steps', '0x10'], /^--steps: expected an integer ≥ 1, got '0x10'\.$/],
      [['--lr', '0b11'], /^--lr: expected a number > 0, got '0b11'\.$/],
      [['--batch', '1_000'], /^--batch: expected an integer ≥ 1, got '1_000'\.$/],
      [['--iterations', '0'], /--iterations:/],
      [['--data', 'voc'], /--voc-root: --data voc needs the path/],
      [['--data', 'coco'], /--data: unknown value 'coco'; use 'digits' or 'voc'\./],
      [['--optimizer', 'adam'], /--optimizer: unknown value 'adam'; use 'sgd' or 'adamw'\./],
      [['--frobnicate'], /unknown flag --frobnicate/],
      [['--min-digits', '0'], /--min-digits: expected an integer ≥ 1, got '0'/],
      [['--min-digits', '3', '--max-digits', '2'], /--max-digits: expected an integer ≥ 3, got '2'/],
      [['--max-scale', '80'], /--max-scale: expected an integer ≥ 20 and ≤ 64, got '80'/],
      [['--min-scale', '40', '--max-scale', '30'], /--max-scale: expected an integer ≥ 40 and ≤ 64, got '30'/],
      [['--min-scale', '3'], /--min-scale: expected an integer ≥ 4 and ≤ 64, got '3'/],
      [['--threshold', '0'], /--threshold: expected a number > 0 and ≤ 1, got '0'/],
      [['--max-overlap', '1.2'], /--max-overlap: expected a number ≥ 0 and ≤ 1, got '1.2'/],
      [['--width', '0'], /--width: expected an integer ≥ 1, got '0'/],
      [['--dilation', '1.5'], /--dilation: expected an integer/],
      [['--warmup=-1'], /--warmup: expected an integer ≥ 0, got '-1'/],
      [['--bg-keep', '0'], /--bg-keep: expected a number > 0 and ≤ 1, got '0'/],
      [['--em-gamma', 'x'], /--em-gamma: expected a number, got 'x'/],
      [['--task', 'scenes'], /--task: unknown value 'scenes'; use 'digits', 'context' or 'groups'\./],
      [['--task', 'context', '--fragment', '1'], /--fragment: expected an integer ≥ 2 and ≤ 64, got '1'/],
      [['--fragment', '10'], /--fragment: applies to --task context or groups only/],
      [['--task', 'groups', '--min-digits', '1'], /--min-digits: --task groups needs at least 2 digits per scene .*; give --min-digits 2 or more/],
      [['--task', 'groups', '--max-digits', '1'], /--max-digits: expected an integer ≥ 2, got '1'/],
      [['extra'], /unexpected argument 'extra'/],
    ];
    for (const [argv, re] of bad) expect(usageErrorOf(argv).message, argv.join(' ')).toMatch(re);
  });

  test("demo: every seed's runs share one data seed (--data-seed's, else --seed's; a given 0 lets each run draw its own); VOC has none", () => {
    expect(demoPlan([], true).base).toMatchObject({ seed: 1, dataSeed: 1 });
    expect(demoPlan(['--seed', '4'], true).base).toMatchObject({ seed: 4, dataSeed: 4 });
    expect(demoPlan(['--seed', '4', '--data-seed', '7'], true).base).toMatchObject({ seed: 4, dataSeed: 7 });
    // A given 0 stays 0: each run draws its own seed's scenes (the demo before the setting).
    expect(demoPlan(['--seed', '4', '--data-seed', '0'], true).base).toMatchObject({ seed: 4, dataSeed: 0 });
    expect(demoPlan(['--data', 'voc', '--voc-root', '/tmp/voc'], true).base).toMatchObject({ data: 'voc', dataSeed: 0 });
    expect(() => demoPlan(['--data', 'voc', '--voc-root', '/tmp/voc', '--data-seed', '3'], true)).toThrow(/^--data-seed: applies to digit scenes only/);
  });
});
