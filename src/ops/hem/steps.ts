/**
 * The fused E-step and N-step alone: the kernels hem() runs for every iteration, exposed for
 * benchmarks and for EM variants built from the pieces. Forward only: they refuse inputs that
 * would need a gradient (hem() is the differentiable layer).
 */
import { noGrad } from '../../autograd/tape.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { eStep, nStep } from './fused-forward.ts';
import { hemKernels } from '../../kernels/hem-kernels.ts';
import { checkGamma, checkInputs, forwardOnly, padOperands, unpad } from './operands.ts';
import { resolveHemOptions, type EStepForm } from './options.ts';
import { checkOptions, optionKeys } from '../../tensor/options.ts';

/**
 * γ = softmax(S / τ) with S = X μᵀ ('dot') or −‖x − μ‖² ('rbf'), in one kernel (logits and an
 * online softmax over k; the logits are never stored).
 * x: [B, N, C]; mu: [K, C] (shared) or [B, K, C] → γ [B, N, K]. Forward only.
 */
export function hemEStep(x: Tensor, mu: Tensor, options: { temperature?: number; estep?: EStepForm } = {}): Tensor {
  const op = 'hemEStep';
  checkOptions(op, options, optionKeys<{ temperature?: number; estep?: EStepForm }>({ temperature: true, estep: true }));
  const d = checkInputs(x, mu, op);
  const o = resolveHemOptions(d.C, { temperature: options.temperature, estep: options.estep }, op);
  forwardOnly(op, [x, mu]);
  return noGrad(() => {
    const p = padOperands(x, mu);
    const gamma = eStep(hemKernels(), op, p.x, p.mu, d.K, o);
    p.release();
    return unpad(gamma, [d.B, d.N, d.K]);
  });
}

/**
 * The N-step (eqs. 11-13): N_k = Σ_n γ_nk, F = γᵀX / (N + ε), and the highway
 * μ' = (1 − η) μ + η F — the chunked reduction over N and its finishing kernel, as in hem().
 * x: [B, N, C]; gamma: [B, N, K]; mu: [K, C] or [B, K, C] → μ' [B, K, C]. Forward only.
 */
export function hemNStep(x: Tensor, gamma: Tensor, mu: Tensor, options: { eta?: number } = {}): Tensor {
  const op = 'hemNStep';
  checkOptions(op, options, optionKeys<{ eta?: number }>({ eta: true }));
  const d = checkInputs(x, mu, op);
  checkGamma(op, gamma, d, x, mu);
  const o = resolveHemOptions(d.C, { eta: options.eta }, op);
  forwardOnly(op, [x, gamma, mu]);
  return noGrad(() => {
    const p = padOperands(x, mu, gamma);
    const { next, f, counts } = nStep(hemKernels(), op, p.x, p.gamma!, p.mu, o.eta);
    f.dispose();
    counts.dispose();
    p.release();
    return unpad(next, [d.B, d.K, d.C]);
  });
}
