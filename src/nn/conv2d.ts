/**
 * Conv2d: a 2-D convolution layer over NHWC images, weight [k, k, in, out] (He-normal
 * initialisation from the layer's seed) and an optional bias [out]; 'same' padding for odd k.
 */
import { noGrad } from '../autograd/tape.ts';
import { randn, zeros } from '../ops/create.ts';
import { conv2d } from '../ops/conv2d.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { Module } from './module.ts';
import { positiveInt } from './check.ts';
import { checkOptions } from '../tensor/options.ts';

export interface Conv2dLayerOptions {
  inChannels: number;
  outChannels: number;
  /** Square kernel side k. */
  kernelSize: number;
  /** Default 1. */
  stride?: number;
  /** Default 1; the padding ((k − 1) / 2) · dilation keeps the size at stride 1. */
  dilation?: number;
  /** A learned bias per output channel (default true). */
  bias?: boolean;
  /** The layer's own seed for its initial weights (default 0): equal seeds, equal weights. */
  seed?: number;
}

/**
 * He-normal initialisation N(0, 2 / fanIn); the seed is the layer's own, so two models built from
 * one config are identical (a resumed run depends on it).
 */
export function heNormal(shape: number[], fanIn: number, seed: number): Tensor {
  return noGrad(() => randn(shape, { seed: (seed * 7919) >>> 0, std: Math.sqrt(2 / fanIn) }));
}

const CONV2D_KEYS = ['inChannels', 'outChannels', 'kernelSize', 'stride', 'dilation', 'bias', 'seed'] as const satisfies readonly (keyof Conv2dLayerOptions)[];

export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly stride: number;
  readonly dilation: number;

  constructor(options: Conv2dLayerOptions) {
    super();
    checkOptions('Conv2d', options, CONV2D_KEYS);
    this.inChannels = positiveInt('Conv2d', 'inChannels', options.inChannels);
    this.outChannels = positiveInt('Conv2d', 'outChannels', options.outChannels);
    this.kernelSize = positiveInt('Conv2d', 'kernelSize', options.kernelSize);
    this.stride = positiveInt('Conv2d', 'stride', options.stride ?? 1);
    this.dilation = positiveInt('Conv2d', 'dilation', options.dilation ?? 1);
    const k = this.kernelSize;
    this.param('weight', heNormal([k, k, this.inChannels, this.outChannels], k * k * this.inChannels, options.seed ?? 0));
    if (options.bias ?? true)
      this.param(
        'bias',
        noGrad(() => zeros([this.outChannels])),
      );
  }

  forward(x: Tensor): Tensor {
    const p = this.parameters();
    return conv2d(x, p.get('weight')!, {
      stride: this.stride,
      padding: ((this.kernelSize - 1) >> 1) * this.dilation,
      dilation: this.dilation,
      bias: p.get('bias'),
    });
  }
}
