/**
 * One training step, the same in Node and in a browser: forward, cross-entropy (ignore label
 * 255), backward, a non-finite loss refused before the weights change, the optimizer's update.
 * `scheduledStep` is step `step` of a TrainConfig: its learning rate, its batch and background
 * pixels (seeded by (seed, step), so a resumed run repeats the uninterrupted one exactly) and
 * its dropout seed.
 */
import { tensor } from '../ops/create.ts';
import { crossEntropy, IGNORE_LABEL } from '../ops/cross-entropy.ts';
import { tidy } from '../tensor/scope.ts';
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
  checkOptions('trainStep', options, optionKeys<TrainStepOptions>({ dropoutSeed: true, ignoreIndex: true }));
  return optimizeLoss(model, optimizer, () => {
    const logits = model.forward(tensor(batch.x, [batch.n, batch.height, batch.width, batch.channels]), { dropoutSeed: options.dropoutSeed });
    return crossEntropy(logits, batch.labels, { ignoreIndex: options.ignoreIndex ?? IGNORE_LABEL });
  });
}

/**
 * One optimizer step on the scalar `loss()` (built inside a tidy scope, then backward): returns
 * its value; the gradients are cleared afterwards. A non-finite loss throws NonFiniteLossError
 * without updating anything.
 */
export async function optimizeLoss(model: Module, optimizer: Optimizer<object>, loss: () => Tensor): Promise<number> {
  const l = tidy(() => {
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
): Promise<{ loss: number; lr: number }> {
  const lr = learningRate(config, step);
  optimizer.setLr(lr);
  const idx = batchIndices(data.count, config.batch, step, config.seed);
  const { x, labels } = gatherBatch(data, idx, step, config.seed);
  sampleBackground(labels, config.bgKeep ?? 1, config.seed, step);
  const batch = { x, labels, n: idx.length, height: data.height, width: data.width, channels: data.channels };
  const loss = await trainStep(model, optimizer, batch, { dropoutSeed: (config.seed * 7919 + step) >>> 0 });
  return { loss, lr };
}
