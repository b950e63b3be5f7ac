import { describe, expect, test } from 'vitest';
import { parseTrainFlags, usage, TRAIN_SPEC, UsageError } from '../src/cli/args.ts';

describe('hemgpu train flags', () => {
  test('defaults and parsed values', () => {
    const f = parseTrainFlags([])!;
    expect(f).toMatchObject({ model: 'hemnet', eta: 0.5, iterations: 3, batch: 8, optimizer: 'sgd', data: 'digits', resume: null });
    const g = parseTrainFlags(['--model', 'emanet', '--eta', '1', '--steps', '12', '--batch', '2', '--resume', 'a.safetensors'])!;
    expect(g).toMatchObject({ model: 'emanet', eta: 1, steps: 12, batch: 2, resume: 'a.safetensors' });
  });

  test('--help returns null and the usage text lists every flag', () => {
    expect(parseTrainFlags(['--help'])).toBeNull();
    const u = usage('train', 'Train a model.', TRAIN_SPEC);
    for (const k of Object.keys(TRAIN_SPEC)) expect(u).toContain(`--${k}`);
  });

  test('bad flags are usage errors naming the flag', () => {
    const bad: [string[], RegExp][] = [
      [['--model', 'resnet'], /--model: unknown model 'resnet'/],
      [['--eta', '0'], /--eta: expected a number > 0 and ≤ 1, got '0'/],
      [['--eta', '1.5'], /--eta: .* got '1.5'/],
      [['--eta', 'abc'], /--eta:/],
      [['--batch', '0'], /--batch: expected an integer ≥ 1, got '0'/],
      [['--batch', '2.5'], /--batch: expected an integer/],
      [['--iterations', '0'], /--iterations:/],
      [['--data', 'voc'], /--voc-root: --data voc needs the path/],
      [['--data', 'coco'], /--data: unknown data source 'coco'/],
      [['--optimizer', 'adam'], /--optimizer: unknown optimizer 'adam'/],
      [['--frobnicate'], /unknown flag --frobnicate/],
      [['extra'], /unexpected argument 'extra'/],
    ];
    for (const [argv, re] of bad) {
      let err: unknown;
      try {
        parseTrainFlags(argv);
      } catch (e) {
        err = e;
      }
      expect(err, argv.join(' ')).toBeInstanceOf(UsageError);
      expect((err as Error).message, argv.join(' ')).toMatch(re);
    }
  });
});
