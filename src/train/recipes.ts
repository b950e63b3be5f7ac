/**
 * The demo's recipe as a TrainConfig, shared by Node and browsers: `hemgpu demo` derives its
 * flags' defaults from it (src/cli/demo.ts) and a page trains with `demoConfig()`, so both train
 * the same model on the same scenes with the same numbers.
 */
import type { SegModelName } from '../model/segnet.ts';
import { checkOptions } from '../tensor/options.ts';
import { TRAIN_CONFIG_FIELDS, type TrainConfig } from './config.ts';

/** Steps per model of the demo: what fits its 10-minute budget on a 2-core CPU driver, or on a GPU. */
export const DEMO_STEPS = { cpu: 660, gpu: 3000 } as const;

/**
 * The demo's recipe (docs/experiments/digit-scenes.md, recipe #25 with em-gamma 0): 1–3 digits of
 * 28–36 px per 64×64 scene, placed with at most 20% overlap and labelled from intensity 0.1, so
 * that output stride 4 can resolve them; 30% of the background pixels kept in the loss per step;
 * a narrow backbone (width 16, C = 48) with dilated 3×3 convs for a receptive field that covers a
 * digit; AdamW at 0.01 with a 20-step warm-up, batch 4; validation every 330 steps. The other
 * fields are the CLI's defaults (test/recipes.test.ts checks the CLI parses to exactly this).
 */
const DEMO: Omit<TrainConfig, 'out'> = {
  model: 'hemnet',
  eta: 0.5,
  iterations: 3,
  bases: 16,
  channels: 48,
  width: 16,
  dilation: 2,
  emGamma: 0,
  basesAverage: 'plain',
  data: 'digits',
  vocRoot: null,
  size: 64,
  trainScenes: 4800,
  valScenes: 200,
  minDigits: 1,
  maxDigits: 3,
  minScale: 28,
  maxScale: 36,
  threshold: 0.1,
  maxOverlap: 0.2,
  task: 'digits',
  fragment: 12,
  bgKeep: 0.3,
  optimizer: 'adamw',
  lr: 0.01,
  warmup: 20,
  steps: DEMO_STEPS.cpu,
  batch: 4,
  seed: 1,
  resume: null,
  evalEvery: 330,
  checkpointEvery: 0,
};

/**
 * The exact TrainConfig `hemgpu demo` trains `model` with (hemnet unless overridden; steps as on
 * a CPU driver, DEMO_STEPS.cpu, unless overridden; out 'runs/demo/<model>' as the CLI's). Unknown
 * override keys are refused.
 */
export function demoConfig(overrides: Partial<TrainConfig> = {}): TrainConfig {
  checkOptions('demoConfig', overrides, Object.keys(TRAIN_CONFIG_FIELDS));
  const model: SegModelName = overrides.model ?? DEMO.model;
  return { ...DEMO, out: `runs/demo/${model}`, ...overrides };
}

/**
 * The demo recipe's value of each CLI flag in `flags` (TrainConfig fields by their flag names),
 * as the command line writes them.
 */
export function demoFlagValues(flags: readonly string[]): Record<string, string> {
  const config = demoConfig();
  const byFlag = new Map(Object.entries(TRAIN_CONFIG_FIELDS).map(([k, f]) => [f.flag, k as keyof TrainConfig]));
  return Object.fromEntries(
    flags.map((flag) => {
      const key = byFlag.get(flag);
      if (!key) throw new Error(`demoFlagValues: '${flag}' is not a TrainConfig flag.`);
      return [flag, String(config[key])];
    }),
  );
}
