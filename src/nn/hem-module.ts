/**
 * HEM and EMAU modules: the HEM layer with its initial bases μ⁽⁰⁾ held as a buffer (not a
 * parameter) that follows the moving average the paper cites (BatchNorm's running mean; EMANet's
 * train.py) during training:
 *   μ⁽⁰⁾ ← m · μ⁽⁰⁾ + (1 − m) · mean over the batch of μ⁽ᵀ⁾,  m = 0.9   (basesAverage 'plain'),
 * with no normalisation after the average: HEMNet's μ⁽ᵀ⁾ lives at the features' scale and μ⁽⁰⁾
 * follows it there. Initialisation as EMANet: N(0, 2/K) per entry, each base l2-normalised.
 * basesAverage 'l2norm' is the rule hemgpu used before (each base of the average l2-normalised),
 * kept to reproduce runs trained with it; it pulls HEMNet's bases onto the image mean (they
 * collapse into one) unless the features' spread is large against τ (docs/math.md).
 */
import { noGrad } from '../autograd/tape.ts';
import { randn } from '../ops/create.ts';
import { add, div, mul, sqrt } from '../ops/elementwise.ts';
import { mean, sum } from '../ops/reduce.ts';
import { tidy } from '../tensor/scope.ts';
import { fmt } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { hem, HEM_EPS, HEM_OPTION_KEYS, type HemOptions, type HemResult } from '../ops/hem/index.ts';
import { Module } from './module.ts';
import { checkOptions } from '../tensor/options.ts';
import { BASES_AVERAGES, type BasesAverage } from './bases-average.ts';

export interface HemModuleOptions extends Omit<HemOptions, 'trace'> {
  /** Feature channels C. */
  channels: number;
  /** Number of bases K. */
  bases: number;
  /** Moving-average momentum of μ⁽⁰⁾ (EMANet: 0.9). */
  momentum?: number;
  /**
   * How μ⁽⁰⁾ follows the batches' μ⁽ᵀ⁾: 'plain' (default), the moving average the paper cites,
   * not normalised; 'l2norm', the average with each base l2-normalised (hemgpu before issue 22).
   */
  basesAverage?: BasesAverage;
  /** Seed for the initial bases. */
  seed?: number;
}

function l2normRows(m: Tensor): Tensor {
  return div(m, add(sqrt(sum(mul(m, m), -1, { keepdim: true })), HEM_EPS));
}

export class HEM extends Module {
  readonly momentum: number;
  readonly basesAverage: BasesAverage;
  readonly options: HemOptions;

  /** The initial bases μ⁽⁰⁾, [K, C] (l2-normalised rows at initialisation): the buffer 'mu0', replaced (not mutated) by updates. */
  get mu0(): Tensor {
    return this.buffers().get('mu0')!;
  }

  constructor(readonly config: HemModuleOptions) {
    super();
    const name = this instanceof EMAU ? 'EMAU' : 'HEM';
    checkOptions(name, config, [...HEM_OPTION_KEYS.filter((k) => k !== 'trace'), 'channels', 'bases', 'momentum', 'basesAverage', 'seed']);
    const { channels: C, bases: K } = config;
    for (const [name, v] of [
      ['channels', C],
      ['bases', K],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`HEM: ${name} must be a positive integer, got ${String(v)}.`);
    }
    this.momentum = config.momentum ?? 0.9;
    if (!(this.momentum >= 0 && this.momentum < 1)) {
      throw new Error(`HEM: momentum must be in [0, 1), got ${String(config.momentum)}.`);
    }
    this.basesAverage = config.basesAverage ?? 'plain';
    if (!BASES_AVERAGES.includes(this.basesAverage)) {
      throw new Error(`${name}: basesAverage must be ${BASES_AVERAGES.map((r) => `'${r}'`).join(' or ')}, got ${JSON.stringify(config.basesAverage)}.`);
    }
    const { channels: _c, bases: _k, momentum: _m, basesAverage: _a, seed: _s, ...opts } = config;
    this.options = opts;
    this.buffer(
      'mu0',
      tidy(() => noGrad(() => l2normRows(randn([K, C], { seed: config.seed ?? 1, std: Math.sqrt(2 / K) })))),
    );
  }

  /** Run the layer on x [B, N, C]; in training mode, then update μ⁽⁰⁾ by the moving average. */
  forward(x: Tensor, extra: Pick<HemOptions, 'trace' | 'iterations'> = {}): HemResult {
    if (x.rank !== 3 || x.shape[2] !== this.config.channels) {
      throw new Error(`HEM.forward: x must be [B, N, ${this.config.channels}], got ${fmt(x.shape)}.`);
    }
    // The layer's backward reads μ⁽⁰⁾, and the update below replaces (disposes) this.mu0: give the
    // layer its own handle on the storage, living as long as the output it differentiates.
    const mu0 = this.mu0.alias();
    let r: HemResult;
    try {
      r = hem(x, mu0, { ...this.options, ...extra });
    } catch (err) {
      mu0.dispose();
      throw err;
    }
    r.out.own(mu0);
    if (this.training) this.updateBases(r.mu);
    return r;
  }

  /** μ⁽⁰⁾ ← m μ⁽⁰⁾ + (1 − m) mean_b μ⁽ᵀ⁾ ('plain'), or that average with each base l2-normalised ('l2norm'). */
  updateBases(muFinal: Tensor): void {
    const next = tidy(() =>
      noGrad(() => {
        const avg = add(mul(this.mu0, this.momentum), mul(mean(muFinal, 0), 1 - this.momentum));
        return this.basesAverage === 'l2norm' ? l2normRows(avg) : avg;
      }),
    );
    this.buffer('mu0', next); // disposes the previous bases
  }
}

/** EMANet's EM attention unit: the HEM module with the 'emanet' preset (η = 1, τ = 1, normalised, detached). */
export class EMAU extends HEM {
  constructor(config: HemModuleOptions) {
    super({ preset: 'emanet', ...config });
  }
}
