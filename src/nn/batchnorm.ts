/**
 * BatchNorm: batch normalisation over the channel (last) axis with learned γ, β and running
 * statistics kept as buffers (runningMean, runningVar) for eval mode.
 */
import { noGrad } from '../autograd/tape.ts';
import { ones, zeros } from '../ops/create.ts';
import { mul } from '../ops/elementwise.ts';
import { batchNorm } from '../ops/batchnorm.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { Module } from './module.ts';
import { positiveInt } from './check.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

export interface BatchNormLayerOptions {
  channels: number;
  /** Initial γ (default 1; 0 makes a residual branch closed by this norm start as zero). */
  gamma?: number;
}

export class BatchNorm extends Module {
  readonly channels: number;

  constructor(options: BatchNormLayerOptions) {
    super();
    checkOptions('BatchNorm', options, optionKeys<BatchNormLayerOptions>({ channels: true, gamma: true }));
    const C = positiveInt('BatchNorm', 'channels', options.channels);
    const g = options.gamma ?? 1;
    if (!Number.isFinite(g)) throw new Error(`BatchNorm: gamma must be a finite number, got ${String(options.gamma)}.`);
    this.channels = C;
    this.param(
      'gamma',
      noGrad(() => (g === 1 ? ones([C]) : g === 0 ? zeros([C]) : mul(ones([C]), g))),
    );
    this.param(
      'beta',
      noGrad(() => zeros([C])),
    );
    this.buffer(
      'runningMean',
      noGrad(() => zeros([C])),
    );
    this.buffer(
      'runningVar',
      noGrad(() => ones([C])),
    );
  }

  /** The normalised x; with `relu`, ReLU of it in the same passes (batchNorm's `relu` option). */
  forward(x: Tensor, options: { relu?: boolean } = {}): Tensor {
    checkOptions('BatchNorm.forward', options, optionKeys<{ relu?: boolean }>({ relu: true }));
    const p = this.parameters();
    const b = this.buffers();
    return batchNorm(
      x,
      p.get('gamma')!,
      p.get('beta')!,
      { runningMean: b.get('runningMean')!, runningVar: b.get('runningVar')! },
      { training: this.training, relu: options.relu ?? false },
    );
  }
}
