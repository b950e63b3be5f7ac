/**
 * The ELBO of the HEM layer's Gaussian mixture (docs/math.md, "ELBO and Proposition 1"): the
 * `elbo` kernel's per-row terms, summed. Used by the trace after every iteration, and public.
 */
import { noGrad } from '../../autograd/tape.ts';
import { launchElbo } from '../../kernels/hem.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { sumAll } from '../../kernels/reduce.ts';
import { checkGamma, checkInputs, forwardOnly, padOperands } from './operands.ts';
import { checkOptions, optionKeys } from '../../tensor/options.ts';

/**
 * Σ over batch and rows of the ELBO terms, for operands padded or not: `bases` and `channels`
 * are the real K and C (the padded bases and channels are left out). A scalar tensor.
 */
export function elboSum(x: Tensor, mu: Tensor, gamma: Tensor, real: { bases: number; channels: number; temperature: number }): Tensor {
  const p = padOperands(x, mu, gamma);
  const rows = launchElbo('elbo', p.x, p.mu, p.gamma!, { bases: real.bases, channels: real.channels, invTau: 1 / real.temperature });
  p.release();
  const total = sumAll('elbo', rows, 1);
  rows.dispose();
  return total;
}

/**
 * The ELBO of an isotropic Gaussian mixture with equal weights and variance v = τ/2
 * (docs/math.md): Σ_n Σ_k γ_nk ln N(x_n | μ_k, vI) − γ_nk ln γ_nk, summed over the batch.
 * x: [B, N, C]; mu: [K, C] or [B, K, C]; gamma: [B, N, K]. A scalar tensor; no gradient (inputs
 * that require grad are refused unless under noGrad()).
 */
export function elbo(x: Tensor, mu: Tensor, gamma: Tensor, options: { temperature?: number } = {}): Tensor {
  checkOptions('elbo', options, optionKeys<{ temperature?: number }>({ temperature: true }));
  const d = checkInputs(x, mu, 'elbo');
  checkGamma('elbo', gamma, d, x, mu);
  const tau = options.temperature ?? Math.sqrt(d.C);
  if (!(tau > 0) || !Number.isFinite(tau)) throw new Error(`elbo: temperature must be a finite number > 0, got ${tau}.`);
  forwardOnly('elbo', [x, mu, gamma], 'a diagnostic');
  return noGrad(() => elboSum(x, mu, gamma, { bases: d.K, channels: d.C, temperature: tau }));
}
