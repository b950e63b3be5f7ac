/**
 * One training step, the same in Node and in a browser: forward, cross-entropy (ignore label
 * 255), backward, a non-finite loss refused before the weights change, the optimizer's update.
 * `scheduledStep` is step `step` of a TrainConfig: its learning rate, its batch and background
 * pixels (seeded by (seed, step), so a resumed run repeats the uninterrupted one exactly) and
 * its dropout seed.
 */
import { tensor } from '../ops/create.ts';
import { crossEntropy, IGNORE_LABEL } from '../ops/cross-entropy.ts';
import { tidy, tidyAsync } from '../tensor/scope.ts';
import { backwardPausing } from '../autograd/tape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { Module } from '../nn/module.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { batchIndices, gatherBatch, sampleBackground, type Dataset } from './batch.ts';
import type { TrainConfig } from './config.ts';
import { learningRate } from './setup.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

/** What a step needs of a model: logits [B, H, W, classes] from images [B, H, W, C] (SegNet is one). */
export interface SegmentationModel extends Module {
  forward(x: Tensor, opts?: { iterations?: number; dropoutSeed?: number }): Tensor;
}

/** Host images [n, height, width, channels] and labels [n, height, width] (data/batches.ts' Batch is one). */
export interface StepBatch {
  x: Float32Array;
  labels: Int32Array;
  n: number;
  height: number;
  width: number;
  channels: number;
}

export interface TrainStepOptions {
  /** Seed of the model's dropout masks this step (default 0). */
  dropoutSeed?: number;
  /** Label the loss skips (default 255). */
  ignoreIndex?: number;
  /** optimizeLoss's `pause`: a step that a stop request may abandon part-way (StepStopped). */
  pause?: () => Promise<boolean>;
}

/** A step abandoned before the update because `pause()` asked to stop: the weights and the optimizer are as before it. */
export class StepStopped extends Error {
  constructor() {
    super('the step was stopped before the update; the weights and the optimizer state are as before it.');
  }
}

/** The loss was NaN or ±∞: the gradients were dropped and the weights left as they were. */
export class NonFiniteLossError extends Error {
  constructor(readonly loss: number) {
    super(`the loss is ${loss}; training stopped before updating the weights.`);
  }
}

/**
 * One optimizer step on one batch; returns the loss. The gradients are cleared afterwards. A
 * non-finite loss throws NonFiniteLossError without updating anything.
 */
export async function trainStep(model: SegmentationModel, optimizer: Optimizer<object>, batch: StepBatch, options: TrainStepOptions = {}): Promise<number> {
  checkOptions('trainStep', options, optionKeys<TrainStepOptions>({ dropoutSeed: true, ignoreIndex: true, pause: true }));
  const loss = (): Tensor => {
    const logits = model.forward(tensor(batch.x, [batch.n, batch.height, batch.width, batch.channels]), { dropoutSeed: options.dropoutSeed });
    return crossEntropy(logits, batch.labels, { ignoreIndex: options.ignoreIndex ?? IGNORE_LABEL });
  };
  return optimizeLoss(model, optimizer, loss, options.pause ? { pause: options.pause } : {});
}

/**
 * One optimizer step on the scalar `loss()` (built inside a tidy scope, then backward): returns
 * its value; the gradients are cleared afterwards. A non-finite loss throws NonFiniteLossError
 * without updating anything.
 *
 * `pause` (the Node trainer's first step, whose recording compiles the GPU pipelines for seconds
 * on a CPU driver): awaited after the forward and during the backward walk (backwardPausing); when
 * it answers true the step is abandoned before the update with StepStopped. The forward has run
 * by then, so buffers it updates in place (batch norm's running statistics, the EM bases' moving
 * average) hold this batch: the caller must not save that state (the trainer exits without
 * writing, its last checkpoint being the state before the step).
 */
export async function optimizeLoss(model: Module, optimizer: Optimizer<object>, loss: () => Tensor, options: { pause?: () => Promise<boolean> } = {}): Promise<number> {
  const pause = options.pause;
  const l = pause
    ? await tidyAsync(async () => {
        const out = loss();
        if ((await pause()) || !(await backwardPausing(out, pause))) {
          model.zeroGrad();
          throw new StepStopped();
        }
        return out;
      })
    : tidy(() => {
        const out = loss();
        out.backward();
        return out;
      });
  const value = await l.item();
  l.dispose();
  if (!Number.isFinite(value)) {
    model.zeroGrad();
    throw new NonFiniteLossError(value);
  }
  optimizer.step();
  model.zeroGrad();
  return value;
}

/** The parts of a TrainConfig a step reads. */
export type StepConfig = Pick<TrainConfig, 'lr' | 'steps' | 'batch' | 'seed'> & Partial<Pick<TrainConfig, 'warmup' | 'bgKeep'>>;

/** Step `step` (0-based) of a config's run on `data`: sets the learning rate, trains one batch. */
export async function scheduledStep(
  model: SegmentationModel,
  optimizer: Optimizer<object>,
  data: Dataset,
  config: StepConfig,
  step: number,
  options: Pick<TrainStepOptions, 'pause'> = {},
): Promise<{ loss: number; lr: number }> {
  const lr = learningRate(config, step);
  optimizer.setLr(lr);
  const idx = batchIndices(data.count, config.batch, step, config.seed);
  const { x, labels } = gatherBatch(data, idx, step, config.seed);
  sampleBackground(labels, config.bgKeep ?? 1, config.seed, step);
  const batch = { x, labels, n: idx.length, height: data.height, width: data.width, channels: data.channels };
  const loss = await trainStep(model, optimizer, batch, { dropoutSeed: (config.seed * 7919 + step) >>> 0, ...options });
  return { loss, lr };
}
