/**
 * The segmentation network of the HEMNet experiments at small scale (NHWC throughout):
 *   backbone (3×3 conv-BN-ReLU, strides 2, 2, 1: output stride 4) → 3×3 conv-BN-ReLU to C →
 *   EM unit in EMANet's frame (1×1 conv → HEM/EM → ReLU → 1×1 conv + BN → + input → ReLU) →
 *   3×3 conv-BN-ReLU → dropout → 1×1 classifier → bilinear upsampling to the input size.
 * Variants: 'hemnet' (η, T from the config, τ = √C, gradients through every iteration),
 * 'emanet' (the EMANet preset, η = 1), 'pooling' (hemnet's unit with one base, K = 1: γ = 1 at
 * every pixel, so the unit returns one vector per image, a blend of μ⁽⁰⁾ and the image's mean
 * feature — global average pooling in the same frame, the baseline attention must beat),
 * 'plain' (no EM unit) — identical otherwise, for fair comparison. The layers are src/nn/'s; their names are the checkpoint keys.
 */
import { dropout } from '../ops/dropout.ts';
import { upsampleBilinear } from '../ops/upsample.ts';
import { fmt } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { Conv2d } from '../nn/conv2d.ts';
import { ConvBnRelu } from '../nn/conv-bn-relu.ts';
import { EmBlock, type EmBlockOptions } from '../nn/em-block.ts';
import type { BasesAverage } from '../nn/bases-average.ts';
import { Module } from '../nn/module.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';
import { SEG_MODEL_UNITS, SEG_MODELS, unitEta, type SegModelName } from './seg-models.ts';

export interface SegNetConfig {
  model: SegModelName;
  inChannels: number;
  classes: number;
  /** Channels C entering the EM unit. */
  channels: number;
  /** EM bases K ('pooling' has one, whatever is given here). */
  bases: number;
  /**
   * HEM step size η, used by 'hemnet' and 'pooling': 'emanet' is EMANet's η = 1 whatever is given
   * here (so one config can describe every variant), and 'plain' has no EM unit.
   */
  eta: number;
  /** EM iterations T during training. */
  iterations: number;
  seed: number;
  /** Dropout before the classifier (EMANet: 0.1). */
  dropout?: number;
  /** Backbone width w: stem channels w, 2w, 2w and the head's 2w (default 32). */
  width?: number;
  /** Dilation of the 3×3 convs at output stride 4 (stem2, pre, post; default 1), to widen the receptive field. */
  dilation?: number;
  /**
   * Initial γ of the norm that closes the EM unit's residual branch (default 0: the unit starts
   * as the identity on its input, as zero-γ residual blocks do, so a short run is not set back by
   * a random branch; EMANet initialises it to 1).
   */
  emGamma?: number;
  /** How the EM unit's μ⁽⁰⁾ follows the batches (HemModuleOptions.basesAverage; default 'plain', the paper's). */
  basesAverage?: BasesAverage;
}

export class SegNet extends Module {
  readonly stem: ConvBnRelu[];
  readonly pre: ConvBnRelu;
  readonly em: EmBlock | null;
  readonly post: ConvBnRelu;
  readonly classifier: Conv2d;

  constructor(readonly config: SegNetConfig) {
    super();
    checkOptions(
      'SegNet',
      config,
      optionKeys<SegNetConfig>({
        model: true,
        inChannels: true,
        classes: true,
        channels: true,
        bases: true,
        eta: true,
        iterations: true,
        seed: true,
        dropout: true,
        width: true,
        dilation: true,
        emGamma: true,
        basesAverage: true,
      }),
      'config field',
    );
    if (!(SEG_MODELS as readonly string[]).includes(config.model)) throw new Error(`SegNet: unknown model '${String(config.model)}'; use ${SEG_MODELS.join(', ')}.`);
    const s = config.seed;
    const C = config.channels;
    const w = config.width ?? 32;
    const d = config.dilation ?? 1;
    const g = config.emGamma ?? 0;
    if (!Number.isFinite(g)) throw new Error(`SegNet: emGamma must be a finite number, got ${String(config.emGamma)}.`);
    if (!Number.isInteger(w) || w < 1) throw new Error(`SegNet: width must be a positive integer, got ${String(config.width)}.`);
    if (!Number.isInteger(d) || d < 1) throw new Error(`SegNet: dilation must be a positive integer, got ${String(config.dilation)}.`);
    const block = (inChannels: number, outChannels: number, stride: number, seed: number, dilation = 1): ConvBnRelu =>
      new ConvBnRelu({ inChannels, outChannels, kernelSize: 3, stride, dilation, seed });
    this.stem = [
      this.child('stem0', block(config.inChannels, w, 2, s + 10)),
      this.child('stem1', block(w, 2 * w, 2, s + 20)),
      this.child('stem2', block(2 * w, 2 * w, 1, s + 30, d)),
    ];
    this.pre = this.child('pre', block(2 * w, C, 1, s + 40, d));
    this.em = SEG_MODEL_UNITS[config.model].unit === null ? null : this.child('em', new EmBlock(emUnit(config, s + 50, g)));
    this.post = this.child('post', block(C, 2 * w, 1, s + 60, d));
    this.classifier = this.child('classifier', new Conv2d({ inChannels: 2 * w, outChannels: config.classes, kernelSize: 1, bias: true, seed: s + 70 }));
  }

  /** Logits [B, H, W, classes] for images x [B, H, W, inChannels]. */
  forward(x: Tensor, opts: { iterations?: number; trace?: boolean; dropoutSeed?: number } = {}): Tensor {
    checkOptions('SegNet.forward', opts, optionKeys<{ iterations?: number; trace?: boolean; dropoutSeed?: number }>({ iterations: true, trace: true, dropoutSeed: true }));
    if (x.rank !== 4 || x.shape[3] !== this.config.inChannels) {
      throw new Error(`SegNet.forward: images must be [B, H, W, ${this.config.inChannels}], got ${fmt(x.shape)}.`);
    }
    let h = x;
    for (const l of this.stem) h = l.forward(h);
    h = this.pre.forward(h);
    if (this.em) h = this.em.forward(h, { iterations: opts.iterations, trace: opts.trace });
    h = this.post.forward(h);
    const p = this.config.dropout ?? 0.1;
    if (this.training && p > 0) h = dropout(h, { p, training: true, seed: opts.dropoutSeed ?? 0 });
    const logits = this.classifier.forward(h);
    return upsampleBilinear(logits, { size: [x.shape[1]!, x.shape[2]!] });
  }
}

/** The EM block of a model with a unit, as SEG_MODEL_UNITS (src/model/seg-models.ts) decides it. */
function emUnit(config: SegNetConfig, seed: number, gamma: number): EmBlockOptions {
  const of = SEG_MODEL_UNITS[config.model];
  const common = {
    channels: config.channels,
    bases: of.bases === 'config' ? config.bases : of.bases!,
    iterations: config.iterations,
    seed,
    gamma,
    ...(config.basesAverage === undefined ? {} : { basesAverage: config.basesAverage }),
  };
  if (of.unit === 'emau') return { unit: 'emau', ...common };
  return { unit: 'hem', eta: unitEta(config.model, config.eta)!, ...common };
}
