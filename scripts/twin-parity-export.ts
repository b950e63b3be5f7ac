/**
 * hemgpu's half of the PyTorch twin's parity check (python/parity.py): for one model, optimizer and
 * rule of the bases' moving average, a small SegNet trained two steps on seeded random data, then
 * one step on a fixed batch, written as three safetensors files:
 *   init.safetensors     the checkpoint before the step (saveWeights: weights, buffers, optimizer
 *                        state with non-zero moments, step 2), what the twin loads;
 *   stepped.safetensors  the checkpoint after it (step 3), what the twin's own step must reproduce;
 *   expect.safetensors   the batch (x NHWC, labels), the training-mode logits and loss of the step,
 *                        every parameter's gradient ('grad.<name>', hemgpu layout; a parameter
 *                        that got none, EMANet's conv1, has no entry), and the eval-mode logits of
 *                        the stepped model on the same batch; metadata 'case' (JSON).
 * Dropout is off (p = 0): hemgpu's masks come from a hash of (seed, index) on the GPU, PyTorch's
 * from its own generator, so with p > 0 the two could not see the same network.
 */
import {
  crossEntropy,
  encodeSafetensors,
  IGNORE_LABEL,
  learningRate,
  makeOptimizer,
  noGrad,
  randn,
  saveWeights,
  SegNet,
  tensor,
  tidy,
  trainStep,
  demoConfig,
  type BasesAverage,
  type SegModelName,
  type TrainConfig,
} from '../src/index.node.ts';
import { DataRng, mixSeed } from '../src/data/rng.ts';
import { joinParts } from '../src/io/safetensors.ts';

export interface ParityCase {
  model: SegModelName;
  optimizer: 'sgd' | 'adamw';
  /**
   * How μ⁽⁰⁾ follows the batches (TrainConfig.basesAverage); 'absent': a checkpoint from before
   * the field, its stored config without it, trained with the rule its absence means ('l2norm').
   */
  basesAverage: BasesAverage | 'absent';
}

/** A case's folder name: model-optimizer, with the rule appended unless it is the default 'plain'. */
export function parityCaseName(c: ParityCase): string {
  return `${c.model}-${c.optimizer}${c.basesAverage === 'plain' ? '' : `-${c.basesAverage}`}`;
}

/**
 * Every model against both optimizers with the default rule ('plain'), then the old rule twice:
 * stored as 'l2norm', and absent from the stored config (how every checkpoint written before the
 * field reads, and must come back byte-identical from the twin).
 */
export const PARITY_CASES: readonly ParityCase[] = [
  ...(['hemnet', 'emanet', 'pooling', 'plain'] as const).flatMap((model) =>
    (['sgd', 'adamw'] as const).map((optimizer): ParityCase => ({ model, optimizer, basesAverage: 'plain' })),
  ),
  { model: 'hemnet', optimizer: 'sgd', basesAverage: 'l2norm' },
  { model: 'emanet', optimizer: 'adamw', basesAverage: 'absent' },
];

/** The shape of the parity model: small enough for a CPU driver, with every layer kind in it. */
const SHAPE = { inChannels: 3, classes: 21, size: 32, batch: 2 } as const;
/** Steps before the compared one, so that BN statistics, bases and optimizer moments are not at their initial values. */
const WARM_STEPS = 2;

/**
 * The TrainConfig the case trains with (a VOC-shaped run: 3 input channels, 21 classes), as
 * readWeights gives it back: for 'absent', basesAverage 'l2norm' (storedConfig leaves it out).
 */
export function parityConfig(c: ParityCase): TrainConfig {
  return demoConfig({
    model: c.model,
    basesAverage: c.basesAverage === 'absent' ? 'l2norm' : c.basesAverage,
    optimizer: c.optimizer,
    eta: 0.5,
    iterations: 3,
    bases: 4,
    channels: 16,
    width: 4,
    dilation: 2,
    emGamma: 0.5, // not 0: the EM unit's branch, and the gradients through HEM, must count
    data: 'voc',
    vocRoot: 'parity',
    size: SHAPE.size,
    batch: SHAPE.batch,
    lr: c.optimizer === 'sgd' ? 0.05 : 0.01,
    warmup: 0,
    steps: 10,
    bgKeep: 1,
    seed: 7,
    out: 'parity',
  });
}

/** The config the case's checkpoints store: parityConfig, without basesAverage for 'absent'. */
function storedConfig(c: ParityCase): TrainConfig {
  const config = parityConfig(c);
  if (c.basesAverage !== 'absent') return config;
  const { basesAverage: _old, ...rest } = config;
  return rest as TrainConfig; // JSON.stringify(pickTrainConfig(rest)) leaves the field out
}

/** A seeded batch: x ~ N(0, 1) NHWC, labels uniform over the classes with ~10% ignored (255). */
async function randomBatch(seed: number): Promise<{ x: Float32Array; labels: Int32Array }> {
  const { batch: n, size, inChannels, classes } = SHAPE;
  const t = randn([n, size, size, inChannels], { seed });
  const x = await t.read();
  t.dispose();
  const rng = new DataRng(mixSeed(seed, 0x1abe1));
  const labels = Int32Array.from({ length: n * size * size }, () => (rng.next() < 0.1 ? IGNORE_LABEL : rng.int(0, classes - 1)));
  return { x, labels };
}

export interface ParityFiles {
  init: Uint8Array;
  stepped: Uint8Array;
  expect: Uint8Array;
}

/** The three files of one case (see the file comment). */
export async function exportParityCase(c: ParityCase): Promise<ParityFiles> {
  const config = parityConfig(c);
  const { inChannels, classes, size } = SHAPE;
  const model = new SegNet({
    model: c.model,
    inChannels,
    classes,
    channels: config.channels,
    bases: config.bases,
    eta: config.eta,
    iterations: config.iterations,
    seed: config.seed,
    width: config.width,
    dilation: config.dilation,
    emGamma: config.emGamma,
    basesAverage: config.basesAverage,
    dropout: 0,
  });
  const stored = storedConfig(c);
  const optimizer = makeOptimizer(model, config);
  const history = { loss: [] as number[], lr: [] as number[], val: [] as { step: number; miou: number }[] };
  const scheduleLr = (s: number): number => {
    const lr = learningRate(config, s);
    optimizer.setLr(lr);
    history.lr.push(lr);
    return lr;
  };
  try {
    for (let s = 0; s < WARM_STEPS; s++) {
      const b = await randomBatch(100 + s);
      scheduleLr(s);
      history.loss.push(await trainStep(model, optimizer, { ...b, n: SHAPE.batch, height: size, width: size, channels: inChannels }));
    }
    const init = await saveWeights({ model, optimizer, step: WARM_STEPS, config: stored, history });

    const b = await randomBatch(200);
    const lr = scheduleLr(WARM_STEPS);
    const [loss, logits] = tidy(() => {
      const lg = model.forward(tensor(b.x, [SHAPE.batch, size, size, inChannels]));
      const l = crossEntropy(lg, b.labels, { ignoreIndex: IGNORE_LABEL });
      l.backward();
      return [l, lg.detach()];
    });
    const lossValue = await loss.item();
    const out: Record<string, { data: Float32Array | Int32Array; shape: number[] }> = {
      x: { data: b.x, shape: [SHAPE.batch, size, size, inChannels] },
      labels: { data: b.labels, shape: [SHAPE.batch, size, size] },
      logits: { data: await logits.read(), shape: [...logits.shape] },
      loss: { data: Float32Array.of(lossValue), shape: [1] },
    };
    loss.dispose();
    logits.dispose();
    for (const [name, p] of model.parameters()) if (p.grad) out[`grad.${name}`] = { data: await p.grad.read(), shape: [...p.shape] };
    optimizer.step();
    model.zeroGrad();
    history.loss.push(lossValue);
    const stepped = await saveWeights({ model, optimizer, step: WARM_STEPS + 1, config: stored, history });

    model.eval();
    const evalLogits = tidy(() => noGrad(() => model.forward(tensor(b.x, [SHAPE.batch, size, size, inChannels]))));
    out.eval_logits = { data: await evalLogits.read(), shape: [...evalLogits.shape] };
    evalLogits.dispose();
    const meta = { case: JSON.stringify({ ...c, name: parityCaseName(c), lr, step: WARM_STEPS, dropout: 0, inChannels, classes, ignoreIndex: IGNORE_LABEL }) };
    return { init, stepped, expect: joinParts(encodeSafetensors(out, meta, 'twin parity')) };
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}
