/**
 * The demo's recipe as a TrainConfig, shared by Node and browsers: `hemgpu demo` derives its
 * flags' defaults from it (src/cli/demo.ts) and a page trains with `demoConfig()`, so both train
 * the same model on the same scenes with the same numbers.
 */
import type { SegModelName } from '../model/seg-models.ts';
import { checkOptions } from '../tensor/options.ts';
import { TRAIN_SETTINGS, trainDefaults, type TrainConfig } from './config.ts';

/**
 * Steps per model of the demo: what fits its 10-minute budget on a 2-core CPU driver (500: 539 s
 * for the 12 runs and the figures on SwiftShader, docs/experiments/demo-recipe.md), or on a GPU.
 */
export const DEMO_STEPS = { cpu: 500, gpu: 3000 } as const;

/** Seeds per model of `hemgpu demo`: three, the fewest that give a 95 % interval of the mean. */
export const DEMO_SEEDS = 3;

/**
 * The demo's figures, as `hemgpu demo` and the page draw them: the gradient-flow figure (the
 * paper's Fig. 3b-c) at these η over at least 3 iterations, the attention maps (Fig. 4) of this
 * validation scene.
 */
export const DEMO_FIGURES = {
  flowEtas: [0.2, 0.5, 0.8, 1.0] as readonly number[],
  flowIterations: (trainedIterations: number): number => Math.max(trainedIterations, 3),
  attentionScene: 0,
} as const;

/**
 * The demo's recipe (docs/experiments/demo-recipe.md): the context task (a whole digit and 1–3
 * fragments of the same class per scene; a fragment's class is read only from the whole digit
 * elsewhere) on 32×32 scenes, 2–4 digits of 14–18 px, fragments of 6 px, at most 20% overlap,
 * labelled from intensity 0.1; 30% of the background pixels kept in the loss per step; a narrow
 * backbone (width 16, C = 48) with undilated 3×3 convs, whose receptive field is shorter than the
 * fragment-to-digit distances, so that only a unit with global context reads the fragments;
 * AdamW with a 20-step warm-up and 500 steps; validation every 150 steps. That trains four models ×
 * three seeds (all on the first seed's scenes: src/cli/demo.ts) within 10 minutes on a 2-core CPU
 * driver. What it does not set is the settings' defaults (TRAIN_SETTINGS: batch 8, lr 0.01, 200
 * validation scenes, ...); test/train/recipes.test.ts pins the whole config and checks that the
 * CLI parses to exactly this.
 */
const DEMO_CHANGES: Partial<TrainConfig> = {
  channels: 48,
  width: 16,
  size: 32,
  trainScenes: 4800,
  minDigits: 2,
  minScale: 14,
  maxScale: 18,
  threshold: 0.1,
  maxOverlap: 0.2,
  task: 'context',
  fragment: 6,
  bgKeep: 0.3,
  optimizer: 'adamw',
  warmup: 20,
  steps: DEMO_STEPS.cpu,
  evalEvery: 150,
};

/**
 * The exact TrainConfig `hemgpu demo` trains `model` with (hemnet unless overridden; steps as on
 * a CPU driver, DEMO_STEPS.cpu, unless overridden; out 'runs/demo/<model>' as the CLI's). Unknown
 * override keys are refused.
 */
export function demoConfig(overrides: Partial<TrainConfig> = {}): TrainConfig {
  checkOptions('demoConfig', overrides, Object.keys(TRAIN_SETTINGS));
  const model: SegModelName = overrides.model ?? TRAIN_SETTINGS.model.default;
  return { ...trainDefaults(), ...DEMO_CHANGES, out: `runs/demo/${model}`, ...overrides };
}

/**
 * The demo recipe as command-line flags: each setting it changes from the defaults but `steps`
 * (which the demo chooses by adapter) and `out`, by flag, as the command line writes it.
 */
export function demoRecipeFlags(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(DEMO_CHANGES)
      .filter(([k]) => k !== 'steps' && k !== 'out')
      .map(([k, v]) => [TRAIN_SETTINGS[k as keyof TrainConfig].flag, String(v)]),
  );
}
