/**
 * EmBlock: EMANet's EM unit frame around an EM layer,
 *   x → 1×1 conv (bias) → EM layer (HEM or EMAU) → ReLU → 1×1 conv → BatchNorm → + x → ReLU,
 * on NHWC features [B, H, W, C] (the EM layer sees them as [B, H·W, C]).
 */
import { add, relu } from '../ops/elementwise.ts';
import { reshape } from '../ops/layout.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { HemTrace } from '../ops/hem/index.ts';
import { HEM, EMAU } from './hem-module.ts';
import type { BasesAverage } from './bases-average.ts';
import { BatchNorm } from './batchnorm.ts';
import { Conv2d } from './conv2d.ts';
import { Module } from './module.ts';
import { positiveInt } from './check.ts';
import { checkOptions } from '../tensor/options.ts';

interface EmBlockCommon {
  /** Feature channels C. */
  channels: number;
  /** EM bases K. */
  bases: number;
  /** EM iterations T during training. */
  iterations: number;
  /** Seed of the initial weights and bases (the second 1×1 conv uses seed + 1). */
  seed: number;
  /** Initial γ of the norm closing the residual branch (default 1, EMANet's; 0 starts as the identity). */
  gamma?: number;
  /** How the EM layer's μ⁽⁰⁾ follows the batches (HemModuleOptions.basesAverage; default 'plain'). */
  basesAverage?: BasesAverage;
}

/**
 * 'hem': the HEM layer with step size `eta` (default the HEM preset's, 0.5). 'emau': EMANet's
 * EM attention unit, which is η = 1 by definition and takes no `eta` (one given is refused).
 */
export type EmBlockOptions = EmBlockCommon & ({ unit: 'hem'; eta?: number } | { unit: 'emau'; eta?: never });

export class EmBlock extends Module {
  readonly conv1: Conv2d;
  readonly em: HEM;
  readonly conv2: Conv2d;
  readonly bn: BatchNorm;
  /** The last forward's trace (when asked for). */
  lastTrace: HemTrace | null = null;

  constructor(options: EmBlockOptions) {
    super();
    checkOptions('EmBlock', options, ['unit', 'channels', 'bases', 'iterations', 'seed', 'gamma', 'eta', 'basesAverage']);
    const C = positiveInt('EmBlock', 'channels', options.channels);
    const seed = options.seed;
    this.conv1 = this.child('conv1', new Conv2d({ inChannels: C, outChannels: C, kernelSize: 1, bias: true, seed }));
    this.em = this.child('em', EmBlock.emLayer(options));
    this.conv2 = this.child('conv2', new Conv2d({ inChannels: C, outChannels: C, kernelSize: 1, bias: false, seed: seed + 1 }));
    this.bn = this.child('bn', new BatchNorm({ channels: C, gamma: options.gamma ?? 1 }));
  }

  private static emLayer(o: EmBlockOptions): HEM {
    const { channels, bases, iterations, seed } = o;
    const common = { channels, bases, iterations, seed, ...(o.basesAverage === undefined ? {} : { basesAverage: o.basesAverage }) };
    const eta = (o as { eta?: unknown }).eta; // typed `never` for 'emau': refused here for untyped callers
    if (o.unit === 'emau') {
      if (eta !== undefined) {
        throw new Error(`EmBlock: the 'emau' unit is EMANet's EM attention (η = 1) and takes no eta, got eta ${String(eta)}; use unit 'hem' for another step size.`);
      }
      return new EMAU(common);
    }
    if (o.unit !== 'hem') throw new Error(`EmBlock: unknown unit '${String((o as { unit: unknown }).unit)}'; use 'hem' or 'emau'.`);
    return new HEM(o.eta === undefined ? common : { ...common, eta: o.eta });
  }

  forward(x: Tensor, opts: { iterations?: number; trace?: boolean } = {}): Tensor {
    checkOptions('EmBlock.forward', opts, ['iterations', 'trace']);
    const [B, H, W, C] = x.shape as [number, number, number, number];
    const y = reshape(this.conv1.forward(x), [B, H * W, C]);
    const r = this.em.forward(y, opts.iterations ? { iterations: opts.iterations, trace: opts.trace } : { trace: opts.trace });
    this.lastTrace = r.trace;
    const z = relu(reshape(r.out, [B, H, W, C]));
    return relu(add(this.bn.forward(this.conv2.forward(z)), x));
  }
}
