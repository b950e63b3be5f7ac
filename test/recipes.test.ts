/**
 * The demo's recipe has one source (issue 12, point 2): demoConfig() is exactly the TrainConfig
 * `hemgpu demo` trains each model with, as its command line parses it (recipe flags as defaults,
 * the CPU driver's steps unless --steps is given), so a page that trains with demoConfig() runs
 * the CLI's numbers.
 */
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import * as hg from '../src/index.node.ts';
import { parseTrainFlags } from '../src/cli/args.ts';
import { DEMO_SPEC, recipeFlags } from '../src/cli/demo.ts';

/** The TrainConfig fields of the config runDemo trains `model` with, from `argv`, on a CPU driver. */
function demoCliConfig(model: hg.SegModelName, argv: string[] = []): Record<string, unknown> {
  const steps = argv.includes('--steps') ? [] : ['--steps', String(hg.DEMO_STEPS.cpu)];
  const flags = parseTrainFlags([...recipeFlags(argv), ...steps, ...argv], 'demo', DEMO_SPEC)!;
  const f: hg.TrainConfig = { ...flags, model, out: join(flags.out, model) };
  return Object.fromEntries(Object.keys(hg.demoConfig()).map((k) => [k, f[k as keyof hg.TrainConfig]]));
}

describe('demoConfig', () => {
  test('equals what `hemgpu demo` parses, for each model, every field', () => {
    for (const model of ['hemnet', 'emanet', 'plain'] as const) {
      expect(hg.demoConfig({ model })).toEqual(demoCliConfig(model));
    }
    expect(hg.demoConfig()).toEqual(demoCliConfig('hemnet'));
    expect(hg.demoConfig().steps).toBe(660);
  });

  test('overrides are the command line flags', () => {
    expect(hg.demoConfig({ steps: hg.DEMO_STEPS.gpu, eta: 0.8, model: 'emanet' })).toEqual(demoCliConfig('emanet', ['--steps', '3000', '--eta', '0.8']));
    expect(hg.DEMO_STEPS.gpu).toBe(3000);
  });

  test('--task context brings 2–4 digits per scene unless the digit counts are given', () => {
    expect(demoCliConfig('hemnet', ['--task', 'context'])).toMatchObject({ task: 'context', minDigits: 2, maxDigits: 4 });
    expect(demoCliConfig('hemnet', ['--task=context', '--max-digits', '3'])).toMatchObject({ task: 'context', minDigits: 2, maxDigits: 3 });
    expect(demoCliConfig('hemnet', ['--task', 'digits'])).toMatchObject({ minDigits: 1, maxDigits: 3 });
  });

  test('--task groups brings 3–4 digits per scene (a whole digit of each class and a fragment or two) unless they are given', () => {
    expect(demoCliConfig('hemnet', ['--task', 'groups'])).toMatchObject({ task: 'groups', minDigits: 3, maxDigits: 4 });
    expect(demoCliConfig('hemnet', ['--task=groups', '--min-digits', '2'])).toMatchObject({ task: 'groups', minDigits: 2, maxDigits: 4 });
    // The last --task given counts, as the parser takes it; an unknown task brings nothing (the parser refuses it).
    expect(demoCliConfig('hemnet', ['--task', 'context', '--task', 'groups'])).toMatchObject({ task: 'groups', minDigits: 3, maxDigits: 4 });
    expect(recipeFlags(['--task', 'toString'])).toEqual(recipeFlags([]));
  });
});
