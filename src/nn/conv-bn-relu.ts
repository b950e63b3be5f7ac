/** ConvBnRelu: Conv2d (no bias) → BatchNorm → ReLU, the backbone's building block. */
import type { Tensor } from '../tensor/tensor.ts';
import { BatchNorm } from './batchnorm.ts';
import { Conv2d, type Conv2dLayerOptions } from './conv2d.ts';
import { Module } from './module.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

/** The convolution's options; the norm makes a bias redundant, so there is none. */
export type ConvBnReluOptions = Omit<Conv2dLayerOptions, 'bias'>;

export class ConvBnRelu extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm;

  constructor(options: ConvBnReluOptions) {
    super();
    checkOptions('ConvBnRelu', options, optionKeys<ConvBnReluOptions>({ inChannels: true, outChannels: true, kernelSize: true, stride: true, dilation: true, seed: true }));
    this.conv = this.child('conv', new Conv2d({ ...options, bias: false }));
    this.bn = this.child('bn', new BatchNorm({ channels: options.outChannels }));
  }

  /** ReLU(BN(conv(x))), the ReLU and its adjoint inside the batch norm's passes. */
  forward(x: Tensor): Tensor {
    return this.bn.forward(this.conv.forward(x), { relu: true });
  }
}
