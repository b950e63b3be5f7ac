/**
 * The fused backward pass: the adjoint of the R-step, then of each iteration from the last to the
 * first, from the state the fused forward saved. Per iteration (docs/math.md, "Backward of one
 * iteration"): through the normalisation (EMANet), the N-step's adjoint (`nstep_prep`), the
 * E-step's (`estep_grad`), dX (`dx`) and dμ⁽ᵗ⁾ (`wsum` + `dmu_finish`).
 */
import { launchDmuFinish, launchNormalizeGrad, launchNstepPrep, launchWsumFinish } from '../../kernels/hem.ts';
import type { HemKernels } from '../../kernels/hem-kernels.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { full } from '../create.ts';
import { matmul } from '../matmul.ts';
import type { RealSizes, Saved } from './fused-forward.ts';
import type { ResolvedHemOptions } from './options.ts';
import type { HemObserver } from './trace.ts';

const OP = 'hem backward';

/** What every iteration's backward reads. */
interface Context {
  /** The kernels the forward ran. */
  k: HemKernels;
  x: Tensor;
  s: Saved;
  o: ResolvedHemOptions;
  real: RealSizes;
  observer: HemObserver | null;
  /** s = 1/τ ('dot') or 2/τ ('rbf'): the logits' derivative scale */
  scale: number;
}

/**
 * Gradients of X̃ = hem(x, mu0) for the output gradient g, on padded operands:
 * [dx, dmu0] (null for an input that does not require grad), on the kernels k the forward ran.
 */
export function fusedBackward(
  k: HemKernels,
  g: Tensor,
  x: Tensor,
  mu0: Tensor,
  s: Saved,
  o: ResolvedHemOptions,
  real: RealSizes,
  observer: HemObserver | null,
): [dx: Tensor | null, dmu0: Tensor | null] {
  const T = o.iterations;
  const c: Context = { k, x, s, o, real, observer, scale: (o.estep === 'rbf' ? 2 : 1) / o.temperature };
  const muT = s.mus[T]!;
  // R-step X̃ = γ μ: dμ⁽ᵀ⁾ = γᵀ dX̃ (a reduction over N: the chunked wsum kernel, which keeps a GPU
  // busy where a product with a K × C output and N-long dot products would not), dγ⁽ᵀ⁾ = dX̃ μᵀ.
  let dmu = transposedProduct(k, s.gammas[T - 1]!, g);
  const dgammaR = matmul(g, muT, { transB: true }); // [B, N, K4]
  observer?.onGradMu?.(T, dmu, muT.shape);
  const dx = full(x.shape, 0);
  for (let t = T - 1; t >= 0; t--) {
    // The R-step's dγ joins the last iteration's E-step adjoint (which consumes it).
    dmu = iterationBackward(c, t, dmu, dx, t === T - 1 ? dgammaR : null);
  }
  return [x.requiresGrad ? dx : (dx.dispose(), null), mu0.requiresGrad ? dmu : (dmu.dispose(), null)];
}

/** Wᵀ X for W [B, N, K4], X [B, N, C] → [B, K4, C]: wsum over row chunks, then wsum_finish. */
function transposedProduct(k: HemKernels, w: Tensor, x: Tensor): Tensor {
  const ws = k.wsum(OP, x, w);
  const out = launchWsumFinish(OP, ws);
  ws.part.dispose();
  ws.sums.dispose();
  return out;
}

/**
 * Iteration t: from dμ⁽ᵗ⁺¹⁾ (consumed) add the iteration's share to dx and return dμ⁽ᵗ⁾.
 * `dgammaIn` is a dγ⁽ᵗ⁺¹⁾ from a later use (the R-step's), consumed.
 */
function iterationBackward(c: Context, t: number, dnext: Tensor, dx: Tensor, dgammaIn: Tensor | null): Tensor {
  const gamma = c.s.gammas[t]!;
  const mu = c.s.mus[t]!;
  const dhat = throughNormalize(c.s.muHats[t] ?? null, dnext);
  // N-step: dF = η dμ̂, dA = dF / (N + ε), dN = −Σ_c dF F / (N + ε).
  const { dA, dN } = launchNstepPrep(OP, dhat, c.s.fs[t]!, c.s.counts[t]!, c.o.eta);
  // E-step: dγ = X dAᵀ + 1 dNᵀ (+ dgammaIn), dS = γ ⊙ (dγ − rowsum(dγ ⊙ γ)).
  const dS = c.k.estepGrad(OP, c.x, dA, dN, gamma, dgammaIn);
  const dxOperands = { gamma, dS, dA, mu, scale: c.scale };
  c.observer?.onBackwardIteration?.(t, { ...dxOperands, channels: c.real.channels, kernels: c.k });
  // dX += γ dA (N-step) + s dS μ (E-step).
  c.k.dx(OP, dxOperands, dx);
  const dmu = gradMu(c, dS, mu, dhat);
  for (const tmp of [dhat, dA, dN, dS]) tmp.dispose();
  c.observer?.onGradMu?.(t, dmu, mu.shape);
  return dmu;
}

/** Through μ = μ̂ / (‖μ̂‖ + ε) when the bases were normalised (dmu is consumed); else dmu itself. */
function throughNormalize(muHat: Tensor | null, dmu: Tensor): Tensor {
  if (!muHat) return dmu;
  const dhat = launchNormalizeGrad(OP, muHat, dmu);
  dmu.dispose();
  return dhat;
}

/** dμ⁽ᵗ⁾ = (1 − η) dμ̂ (the highway) + s (dSᵀ X − [rbf] colsum(dS) μ). */
function gradMu(c: Context, dS: Tensor, mu: Tensor, dhat: Tensor): Tensor {
  const ws = c.k.wsum(OP, c.x, dS);
  const dmu = launchDmuFinish(OP, ws, mu, dhat, { eta: c.o.eta, scale: c.scale, rbf: c.o.estep === 'rbf' });
  ws.part.dispose();
  ws.sums.dispose();
  return dmu;
}
