/**
 * What a TrainConfig builds, shared by Node and browsers: the digit-scene data sets, the model,
 * the optimizer (decay on weights, none on norms and biases, as EMANet) and the learning rate of
 * each step (linear warm-up, then the poly schedule).
 */
import { SegNet } from '../model/segnet.ts';
import { digitScenes, type DigitSource } from '../data/digit-scenes.ts';
import { SGD } from '../optim/sgd.ts';
import { AdamW } from '../optim/adamw.ts';
import { polyLr } from '../optim/schedule.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { Dataset } from './batch.ts';
import { TRAIN_SETTINGS, type TrainConfig } from './config.ts';

type SceneConfig = Pick<TrainConfig, 'size' | 'trainScenes' | 'valScenes' | 'seed'> &
  Partial<Pick<TrainConfig, 'dataSeed' | 'minDigits' | 'maxDigits' | 'minScale' | 'maxScale' | 'threshold' | 'maxOverlap' | 'task' | 'fragment'>>;

/**
 * The training and validation digit scenes of a config: seeded with its data seed (its seed when
 * dataSeed is 0 or absent), validation with that seed + 1.
 * `source` defaults to the registered digit source (the mnist package under Node).
 */
export function digitSceneData(config: SceneConfig, source?: DigitSource): { train: Dataset; val: Dataset } {
  // Checkpoints from before the scene options existed carry none: digitScenes' defaults apply.
  const scene = {
    size: config.size,
    minDigits: config.minDigits,
    maxDigits: config.maxDigits,
    minScale: config.minScale,
    maxScale: config.maxScale,
    threshold: config.threshold,
    maxOverlap: config.maxOverlap,
    // The fragment side means something for the context and groups tasks only (digitScenes refuses
    // it otherwise); the groups task's scenes are RGB (its groups are told apart by colour).
    ...(config.task === 'context' || config.task === 'groups' ? { task: config.task, fragment: config.fragment } : {}),
    ...(config.task === 'groups' ? { channels: 3 as const } : {}),
    ...(source ? { source } : {}),
  };
  const seed = sceneSeed(config);
  const train = digitScenes({ split: 'train', count: config.trainScenes, seed, ...scene });
  const val = digitScenes({ split: 'val', count: config.valScenes, seed: seed + 1, ...scene });
  return { train, val };
}

/** The seed a config's digit scenes are drawn with: its data seed, or its seed when that is 0 or absent. */
export function sceneSeed(config: Pick<TrainConfig, 'seed'> & Partial<Pick<TrainConfig, 'dataSeed'>>): number {
  return config.dataSeed ? config.dataSeed : config.seed;
}

/** The model a config describes, for data with `data.channels` channels and `data.classes` classes. */
export function buildModel(
  config: Pick<TrainConfig, 'model' | 'channels' | 'bases' | 'eta' | 'iterations' | 'seed'> & Partial<Pick<TrainConfig, 'width' | 'dilation' | 'emGamma' | 'basesAverage'>>,
  data: Pick<Dataset, 'channels' | 'classes'>,
): SegNet {
  return new SegNet({
    model: config.model,
    inChannels: data.channels,
    classes: data.classes,
    channels: config.channels,
    bases: config.bases,
    eta: config.eta,
    iterations: config.iterations,
    seed: config.seed,
    width: config.width,
    dilation: config.dilation,
    emGamma: config.emGamma, // only the initial value: a checkpoint's γ is loaded over it
    // A config from before the field trained with the rule its absence means.
    basesAverage: config.basesAverage ?? TRAIN_SETTINGS.basesAverage.absent!,
  });
}

/** Parameters with weight decay (conv weights) and without (norms, biases), as EMANet. */
function paramGroups(model: SegNet): { decay: Tensor[]; noDecay: Tensor[] } {
  const decay: Tensor[] = [];
  const noDecay: Tensor[] = [];
  for (const [name, p] of model.parameters()) (name.endsWith('.weight') ? decay : noDecay).push(p);
  return { decay, noDecay };
}

/** The optimizer a config asks for: decay on weights, none on norms and biases (as EMANet). */
export function makeOptimizer(model: SegNet, config: Pick<TrainConfig, 'optimizer' | 'lr'>): SGD | AdamW {
  const { decay, noDecay } = paramGroups(model);
  if (config.optimizer === 'adamw') {
    return new AdamW(
      [
        { params: decay, weightDecay: 1e-2 },
        { params: noDecay, weightDecay: 0 },
      ],
      { lr: config.lr },
    );
  }
  return new SGD(
    [
      { params: decay, weightDecay: 1e-4 },
      { params: noDecay, weightDecay: 0 },
    ],
    { lr: config.lr, momentum: 0.9 },
  );
}

/** The learning rate of a step: linear warm-up over config.warmup steps, then the poly schedule. */
export function learningRate(config: Pick<TrainConfig, 'lr' | 'steps'> & Partial<Pick<TrainConfig, 'warmup'>>, step: number): number {
  const warm = config.warmup ?? 0;
  const poly = polyLr(config.lr, step, config.steps);
  return step < warm ? (poly * (step + 1)) / (warm + 1) : poly;
}
