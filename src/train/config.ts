/**
 * TrainConfig: everything a training run needs — the model, the data, the optimizer and its
 * schedule, the number of steps, the seed, and (for the Node run loop) the output directory,
 * resuming and how often to validate and save. Flat, so it is stored as is in a checkpoint's
 * metadata; the CLI builds it from its flags (src/cli/args.ts).
 */
import type { SegModelName } from '../model/segnet.ts';

export type DataName = 'digits' | 'voc';
export type OptimizerName = 'sgd' | 'adamw';

export interface TrainConfig {
  // The model (SegNetConfig's fields; inChannels and classes come from the data).
  model: SegModelName;
  /** HEM step size η (hemnet only: emanet is EMANet's η = 1 and ignores it). */
  eta: number;
  /** EM iterations T during training. */
  iterations: number;
  /** EM bases K. */
  bases: number;
  /** Channels C entering the EM unit. */
  channels: number;
  /** Backbone width w (stem channels w, 2w, 2w; head 2w). */
  width: number;
  /** Dilation of the 3×3 convs at output stride 4. */
  dilation: number;
  /** Initial γ of the norm closing the EM unit's residual branch (0: the unit starts as the identity). */
  emGamma: number;

  // The data.
  data: DataName;
  /** PASCAL VOC directory (data 'voc'). */
  vocRoot: string | null;
  /** Image side (digits: canvas; voc: crop). */
  size: number;
  trainScenes: number;
  valScenes: number;
  /** Digits per scene, uniform in [minDigits, maxDigits]. */
  minDigits: number;
  maxDigits: number;
  /** Side of a pasted digit in pixels, uniform in [minScale, maxScale]. */
  minScale: number;
  maxScale: number;
  /** Digit intensity from which a pixel is labelled as the digit. */
  threshold: number;
  /** Largest share of a digit's square another digit's square may cover (1: independent positions). */
  maxOverlap: number;
  /** Share of background pixels kept in the training loss (the rest ignored; 1: all). */
  bgKeep: number;

  // The optimizer and its schedule.
  optimizer: OptimizerName;
  /** Base learning rate (poly schedule, power 0.9). */
  lr: number;
  /** Linear learning-rate warm-up steps before the poly schedule. */
  warmup: number;
  /** Optimizer steps. */
  steps: number;
  /** Images per step. */
  batch: number;
  /** Seed of the initialisation, the data and the batch order. */
  seed: number;

  // The run (the Node run loop, src/train/trainer.ts).
  /** Output directory (checkpoints). */
  out: string;
  /** Continue from this checkpoint exactly where it stopped. */
  resume: string | null;
  /** Validate every N steps (0: only at the end). */
  evalEvery: number;
  /** Write a checkpoint every N steps (0: only at the end). */
  checkpointEvery: number;
}
