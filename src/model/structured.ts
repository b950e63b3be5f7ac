/**
 * The networks of the structured-layer experiments (issue 13) on digit scenes, NHWC throughout.
 * Both share one small backbone, 3×3 conv-BN-ReLU with strides 2, 2, 1 (output stride 4), so a
 * 32×32 scene gives an 8×8 map of `channels` features:
 *
 *   MultiLabelNet: backbone → head → Linear → 10 logits (which digits the scene holds), the head
 *     'avg' (average pooling: C features) or 'o2p' (second-order pooling log(XᵀX/N + εI): C² features);
 *   NcutsNet: backbone → 1×1 conv to `embed` channels → features [B, n, embed] for the
 *     normalized-cuts layer (src/ops/ncuts.ts), n = the map's pixels.
 */
import { mean } from '../ops/reduce.ts';
import { reshape } from '../ops/layout.ts';
import { o2p } from '../ops/o2p.ts';
import { fmt } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';
import { Conv2d } from '../nn/conv2d.ts';
import { ConvBnRelu } from '../nn/conv-bn-relu.ts';
import { Linear } from '../nn/linear.ts';
import { Module } from '../nn/module.ts';
import { positiveInt } from '../nn/check.ts';

export interface BackboneConfig {
  inChannels: number;
  /** Stem width w: channels w, 2w, then `channels`. */
  width: number;
  /** Channels of the output map. */
  channels: number;
  seed: number;
}

/** Three 3×3 conv-BN-ReLU blocks, strides 2, 2, 1: [B, H, W, in] → [B, H/4, W/4, channels]. */
export class SceneBackbone extends Module {
  readonly blocks: ConvBnRelu[];

  constructor(readonly config: BackboneConfig) {
    super();
    checkOptions('SceneBackbone', config, optionKeys<BackboneConfig>({ inChannels: true, width: true, channels: true, seed: true }));
    const w = positiveInt('SceneBackbone', 'width', config.width);
    const c = positiveInt('SceneBackbone', 'channels', config.channels);
    const s = config.seed;
    const block = (i: number, o: number, stride: number, seed: number): ConvBnRelu => new ConvBnRelu({ inChannels: i, outChannels: o, kernelSize: 3, stride, seed });
    this.blocks = [
      this.child('b0', block(positiveInt('SceneBackbone', 'inChannels', config.inChannels), w, 2, s + 10)),
      this.child('b1', block(w, 2 * w, 2, s + 20)),
      this.child('b2', block(2 * w, c, 1, s + 30)),
    ];
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[3] !== this.config.inChannels) {
      throw new Error(`SceneBackbone.forward: images must be [B, H, W, ${this.config.inChannels}], got ${fmt(x.shape)}.`);
    }
    let h = x;
    for (const b of this.blocks) h = b.forward(h);
    return h;
  }
}

function backboneOf(c: BackboneConfig): BackboneConfig {
  return { inChannels: c.inChannels, width: c.width, channels: c.channels, seed: c.seed };
}

/** `h` [B, H, W, C] as a set of vectors [B, H·W, C]. */
function asSet(h: Tensor): Tensor {
  const [B, H, W, C] = h.shape as [number, number, number, number];
  return reshape(h, [B, H * W, C]);
}

type SceneHead = 'avg' | 'o2p';

export interface MultiLabelConfig extends BackboneConfig {
  head: SceneHead;
  labels: number;
  /** O2P's ε (default 1e-3). */
  eps?: number;
}

export class MultiLabelNet extends Module {
  readonly backbone: SceneBackbone;
  readonly classifier: Linear;

  constructor(readonly config: MultiLabelConfig) {
    super();
    checkOptions('MultiLabelNet', config, optionKeys<MultiLabelConfig>({ inChannels: true, width: true, channels: true, seed: true, head: true, labels: true, eps: true }));
    if (config.head !== 'avg' && config.head !== 'o2p') throw new Error(`MultiLabelNet: head must be 'avg' or 'o2p', got ${String(config.head)}.`);
    this.backbone = this.child('backbone', new SceneBackbone(backboneOf(config)));
    const features = config.head === 'o2p' ? config.channels ** 2 : config.channels;
    this.classifier = this.child('classifier', new Linear({ inFeatures: features, outFeatures: positiveInt('MultiLabelNet', 'labels', config.labels), seed: config.seed + 40 }));
  }

  /** Logits [B, labels]. */
  forward(x: Tensor): Tensor {
    const set = asSet(this.backbone.forward(x));
    const [B, , C] = set.shape as [number, number, number];
    const pooled = this.config.head === 'o2p' ? reshape(o2p(set, { eps: this.config.eps ?? 1e-3 }), [B, C * C]) : mean(set, 1);
    return this.classifier.forward(pooled);
  }
}

export interface NcutsNetConfig extends BackboneConfig {
  /** Channels of the embedding the affinity is built from. */
  embed: number;
}

export class NcutsNet extends Module {
  readonly backbone: SceneBackbone;
  readonly embed: Conv2d;

  constructor(readonly config: NcutsNetConfig) {
    super();
    checkOptions('NcutsNet', config, optionKeys<NcutsNetConfig>({ inChannels: true, width: true, channels: true, seed: true, embed: true }));
    this.backbone = this.child('backbone', new SceneBackbone(backboneOf(config)));
    this.embed = this.child(
      'embed',
      new Conv2d({ inChannels: config.channels, outChannels: positiveInt('NcutsNet', 'embed', config.embed), kernelSize: 1, seed: config.seed + 40 }),
    );
  }

  /** Pixel features [B, n, embed] (n = H/4 · W/4). */
  forward(x: Tensor): Tensor {
    return asSet(this.embed.forward(this.backbone.forward(x)));
  }
}
