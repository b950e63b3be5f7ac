/** Linear: y = x W + b over the last axis, weight [in, out] (He-normal from the layer's seed), bias [out]. */
import { noGrad } from '../autograd/tape.ts';
import { zeros } from '../ops/create.ts';
import { add } from '../ops/elementwise.ts';
import { matmul } from '../ops/matmul.ts';
import { fmt } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkOptions } from '../tensor/options.ts';
import { heNormal } from './conv2d.ts';
import { Module } from './module.ts';
import { positiveInt } from './check.ts';

export interface LinearOptions {
  inFeatures: number;
  outFeatures: number;
  /** A learned bias (default true). */
  bias?: boolean;
  /** The layer's own seed for its initial weights (default 0). */
  seed?: number;
}

export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(options: LinearOptions) {
    super();
    checkOptions('Linear', options, ['inFeatures', 'outFeatures', 'bias', 'seed']);
    this.inFeatures = positiveInt('Linear', 'inFeatures', options.inFeatures);
    this.outFeatures = positiveInt('Linear', 'outFeatures', options.outFeatures);
    this.param('weight', heNormal([this.inFeatures, this.outFeatures], this.inFeatures, options.seed ?? 0));
    if (options.bias ?? true)
      this.param(
        'bias',
        noGrad(() => zeros([this.outFeatures])),
      );
  }

  /** x [..., in] → [..., out]. */
  forward(x: Tensor): Tensor {
    if (x.rank < 1 || x.shape[x.rank - 1] !== this.inFeatures) {
      throw new Error(`Linear.forward: input must be [..., ${this.inFeatures}], got ${fmt(x.shape)}.`);
    }
    const p = this.parameters();
    const y = matmul(x, p.get('weight')!);
    const b = p.get('bias');
    return b ? add(y, b) : y;
  }
}
