/**
 * The segmentation network of the HEMNet experiments at small scale (NHWC throughout):
 *   backbone (3×3 conv-BN-ReLU, strides 2, 2, 1: output stride 4) → 3×3 conv-BN-ReLU to C →
 *   EM unit in EMANet's frame (1×1 conv → HEM/EM → ReLU → 1×1 conv + BN → + input → ReLU) →
 *   3×3 conv-BN-ReLU → dropout → 1×1 classifier → bilinear upsampling to the input size.
 * Variants: 'hemnet' (η, T from the flags, τ = √C, gradients through every iteration),
 * 'emanet' (the EMANet preset), 'plain' (no EM unit) — identical otherwise, for fair comparison.
 */
import { noGrad } from '../autograd/tape.ts';
import { randn, zeros, ones } from '../ops/create.ts';
import { add, mul, relu } from '../ops/elementwise.ts';
import { reshape } from '../ops/layout.ts';
import { conv2d } from '../ops/conv2d.ts';
import { batchNorm } from '../ops/batchnorm.ts';
import { dropout } from '../ops/dropout.ts';
import { upsampleBilinear } from '../ops/upsample.ts';
import { fmt } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { HEM, EMAU } from '../nn/hem-module.ts';
import type { HemTrace } from '../ops/hem/index.ts';
import { Module } from '../nn/module.ts';

export type SegModelName = 'hemnet' | 'emanet' | 'plain';

export interface SegNetConfig {
  model: SegModelName;
  inChannels: number;
  classes: number;
  /** Channels C entering the EM unit. */
  channels: number;
  /** EM bases K. */
  bases: number;
  /** HEM step size (hemnet). */
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
}

/** He-normal initialisation; the seed is the layer's own (config seed + a per-layer offset), so
 * two models built from one config are identical (a resumed run depends on it). */
function heNormal(shape: number[], fanIn: number, seed: number): Tensor {
  return noGrad(() => randn(shape, { seed: (seed * 7919) >>> 0, std: Math.sqrt(2 / fanIn) }));
}

export class Conv extends Module {
  constructor(
    readonly cin: number,
    readonly cout: number,
    readonly k: number,
    readonly stride: number,
    seed: number,
    bias: boolean,
    readonly dilation = 1,
  ) {
    super();
    this.param('weight', heNormal([k, k, cin, cout], k * k * cin, seed));
    if (bias) this.param('bias', noGrad(() => zeros([cout])));
  }
  forward(x: Tensor): Tensor {
    const p = this.parameters();
    return conv2d(x, p.get('weight')!, { stride: this.stride, padding: ((this.k - 1) >> 1) * this.dilation, dilation: this.dilation, bias: p.get('bias') });
  }
}

export class BatchNorm extends Module {
  constructor(readonly channels: number, gamma0 = 1) {
    super();
    this.param('gamma', noGrad(() => (gamma0 === 1 ? ones([channels]) : gamma0 === 0 ? zeros([channels]) : mul(ones([channels]), gamma0))));
    this.param('beta', noGrad(() => zeros([channels])));
    this.buffer('runningMean', noGrad(() => zeros([channels])));
    this.buffer('runningVar', noGrad(() => ones([channels])));
  }
  forward(x: Tensor): Tensor {
    const p = this.parameters();
    const b = this.buffers();
    return batchNorm(x, p.get('gamma')!, p.get('beta')!, { runningMean: b.get('runningMean')!, runningVar: b.get('runningVar')! }, { training: this.training });
  }
}

export class ConvBnRelu extends Module {
  readonly conv: Conv;
  readonly bn: BatchNorm;
  constructor(cin: number, cout: number, k: number, stride: number, seed: number, dilation = 1) {
    super();
    this.conv = this.child('conv', new Conv(cin, cout, k, stride, seed, false, dilation));
    this.bn = this.child('bn', new BatchNorm(cout));
  }
  forward(x: Tensor): Tensor {
    return relu(this.bn.forward(this.conv.forward(x)));
  }
}

/** EMANet's EM unit frame around the HEM layer. */
export class EmBlock extends Module {
  readonly conv1: Conv;
  readonly em: HEM;
  readonly conv2: Conv;
  readonly bn: BatchNorm;
  /** The last forward's trace (when asked for). */
  lastTrace: HemTrace | null = null;

  constructor(C: number, K: number, model: 'hemnet' | 'emanet', eta: number, iterations: number, seed: number, gamma0 = 1) {
    super();
    this.conv1 = this.child('conv1', new Conv(C, C, 1, 1, seed, true));
    this.em = this.child(
      'em',
      model === 'emanet' ? new EMAU({ channels: C, bases: K, iterations, seed }) : new HEM({ channels: C, bases: K, eta, iterations, seed }),
    );
    this.conv2 = this.child('conv2', new Conv(C, C, 1, 1, seed + 1, false));
    this.bn = this.child('bn', new BatchNorm(C, gamma0));
  }

  forward(x: Tensor, opts: { iterations?: number; trace?: boolean } = {}): Tensor {
    const [B, H, W, C] = x.shape as [number, number, number, number];
    const y = reshape(this.conv1.forward(x), [B, H * W, C]);
    const r = this.em.forward(y, opts.iterations ? { iterations: opts.iterations, trace: opts.trace } : { trace: opts.trace });
    this.lastTrace = r.trace;
    const z = relu(reshape(r.out, [B, H, W, C]));
    return relu(add(this.bn.forward(this.conv2.forward(z)), x));
  }
}

export class SegNet extends Module {
  readonly stem: ConvBnRelu[];
  readonly pre: ConvBnRelu;
  readonly em: EmBlock | null;
  readonly post: ConvBnRelu;
  readonly classifier: Conv;

  constructor(readonly config: SegNetConfig) {
    super();
    const s = config.seed;
    const C = config.channels;
    const w = config.width ?? 32;
    const d = config.dilation ?? 1;
    const g = config.emGamma ?? 0;
    if (!Number.isFinite(g)) throw new Error(`SegNet: emGamma must be a finite number, got ${String(config.emGamma)}.`);
    if (!Number.isInteger(w) || w < 1) throw new Error(`SegNet: width must be a positive integer, got ${String(config.width)}.`);
    if (!Number.isInteger(d) || d < 1) throw new Error(`SegNet: dilation must be a positive integer, got ${String(config.dilation)}.`);
    this.stem = [
      this.child('stem0', new ConvBnRelu(config.inChannels, w, 3, 2, s + 10)),
      this.child('stem1', new ConvBnRelu(w, 2 * w, 3, 2, s + 20)),
      this.child('stem2', new ConvBnRelu(2 * w, 2 * w, 3, 1, s + 30, d)),
    ];
    this.pre = this.child('pre', new ConvBnRelu(2 * w, C, 3, 1, s + 40, d));
    this.em = config.model === 'plain' ? null : this.child('em', new EmBlock(C, config.bases, config.model, config.eta, config.iterations, s + 50, g));
    this.post = this.child('post', new ConvBnRelu(C, 2 * w, 3, 1, s + 60, d));
    this.classifier = this.child('classifier', new Conv(2 * w, config.classes, 1, 1, s + 70, true));
  }

  /** Logits [B, H, W, classes] for images x [B, H, W, inChannels]. */
  forward(x: Tensor, opts: { iterations?: number; trace?: boolean; dropoutSeed?: number } = {}): Tensor {
    if (x.rank !== 4 || x.shape[3] !== this.config.inChannels) {
      throw new Error(`SegNet.forward: images must be [B, H, W, ${this.config.inChannels}], got ${fmt(x.shape)}.`);
    }
    let h = x;
    for (const l of this.stem) h = l.forward(h);
    h = this.pre.forward(h);
    if (this.em) h = this.em.forward(h, opts);
    h = this.post.forward(h);
    const p = this.config.dropout ?? 0.1;
    if (this.training && p > 0) h = dropout(h, { p, training: true, seed: opts.dropoutSeed ?? 0 });
    const logits = this.classifier.forward(h);
    return upsampleBilinear(logits, { size: [x.shape[1]!, x.shape[2]!] });
  }
}

