/**
 * The demo's recipe has one source (issue 12, point 2): demoConfig() is exactly the TrainConfig
 * `hemgpu demo` trains each model with, as its command line parses it (recipe flags as defaults,
 * the CPU driver's steps unless --steps is given), so a page that trains with demoConfig() runs
 * the CLI's numbers.
 */
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { parseTrainFlags } from '../../src/cli/args.ts';
import { DEMO_SPEC, recipeFlags, verdictLine, type ModelRuns } from '../../src/cli/demo.ts';

/** The TrainConfig fields of the config runDemo trains `model` with, from `argv`, on a CPU driver. */
function demoCliConfig(model: hg.SegModelName, argv: string[] = []): Record<string, unknown> {
  const steps = argv.includes('--steps') ? [] : ['--steps', String(hg.DEMO_STEPS.cpu)];
  const flags = parseTrainFlags([...recipeFlags(argv), ...steps, ...argv], 'demo', DEMO_SPEC)!;
  const f: hg.TrainConfig = { ...flags, model, out: join(flags.out, model) };
  return Object.fromEntries(Object.keys(hg.demoConfig()).map((k) => [k, f[k as keyof hg.TrainConfig]]));
}

describe('demoConfig', () => {
  test('equals what `hemgpu demo` parses, for each model, every field', () => {
    for (const model of ['hemnet', 'emanet', 'pooling', 'plain'] as const) {
      expect(hg.demoConfig({ model })).toEqual(demoCliConfig(model));
    }
    expect(hg.demoConfig()).toEqual(demoCliConfig('hemnet'));
    expect(hg.demoConfig()).toMatchObject({ steps: 500, task: 'context', size: 32, dilation: 1, batch: 8, basesAverage: 'plain' });
  });

  test('overrides are the command line flags', () => {
    expect(hg.demoConfig({ steps: hg.DEMO_STEPS.gpu, eta: 0.8, model: 'emanet' })).toEqual(demoCliConfig('emanet', ['--steps', '3000', '--eta', '0.8']));
    expect(hg.DEMO_STEPS.gpu).toBe(3000);
  });

  test('the context task is the default; --task digits brings the 64-px digit scenes unless their flags are given', () => {
    expect(demoCliConfig('hemnet', ['--task', 'context'])).toEqual(demoCliConfig('hemnet'));
    expect(demoCliConfig('hemnet', ['--task', 'digits'])).toMatchObject({ task: 'digits', size: 64, minDigits: 1, maxDigits: 3, minScale: 28, maxScale: 36, dilation: 2 });
    expect(demoCliConfig('hemnet', ['--task=digits', '--size', '48', '--dilation', '1'])).toMatchObject({ task: 'digits', size: 48, minDigits: 1, dilation: 1 });
  });

  test('--task groups brings 3–4 digits per scene (a whole digit of each class and a fragment or two) unless they are given', () => {
    expect(demoCliConfig('hemnet', ['--task', 'groups'])).toMatchObject({ task: 'groups', minDigits: 3, maxDigits: 4 });
    expect(demoCliConfig('hemnet', ['--task=groups', '--min-digits', '2'])).toMatchObject({ task: 'groups', minDigits: 2, maxDigits: 4 });
    // The last --task given counts, as the parser takes it; an unknown task brings nothing (the parser refuses it).
    expect(demoCliConfig('hemnet', ['--task', 'context', '--task', 'groups'])).toMatchObject({ task: 'groups', minDigits: 3, maxDigits: 4 });
    expect(recipeFlags(['--task', 'toString'])).toEqual(recipeFlags(['--task', 'context']));
  });
});

/** A model's runs with these validation mIoUs (fractions), seeds 1, 2, … */
function runsOf(mious: number[]): ModelRuns {
  return { results: mious.map((miou) => ({ miou }) as hg.TrainResult), seeds: mious.map((_, i) => i + 1) };
}

describe('verdictLine', () => {
  test("says whether plain's 95 % interval lies below both EM models', with the paired differences", () => {
    const runs = { hemnet: runsOf([0.44, 0.45, 0.46]), emanet: runsOf([0.42, 0.43, 0.44]), pooling: runsOf([0.4, 0.41, 0.42]), plain: runsOf([0.3, 0.31, 0.32]) };
    const v = verdictLine(runs)!;
    // plain: mean 31, s = 1, half-width t(0.975, 2) / √3 = 2.48: [28.5, 33.5]; emanet [40.5, 45.5].
    expect(v).toContain("plain's 95 % interval lies below both EM models'");
    expect(v).toContain('plain [28.5, 33.5]');
    expect(v).toContain('emanet [40.5, 45.5]');
    expect(v).toMatch(/hemnet − plain \+14\.00/);
    expect(v).toMatch(/pooling − plain \+10\.00/);
  });

  test('says so when the intervals overlap, and needs three seeds and both EM models', () => {
    const runs = { hemnet: runsOf([0.44, 0.3, 0.46]), emanet: runsOf([0.42, 0.43, 0.44]), plain: runsOf([0.3, 0.31, 0.32]) };
    expect(verdictLine(runs)).toContain('does NOT lie below');
    expect(verdictLine({ ...runs, hemnet: runsOf([0.44, 0.45]), emanet: runsOf([0.42, 0.43]), plain: runsOf([0.3, 0.31]) })).toBeNull();
    expect(verdictLine({ hemnet: runs.hemnet, plain: runs.plain })).toBeNull();
  });
});
