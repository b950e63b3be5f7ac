/**
 * The HEM layer: T unrolled iterations of generalized EM with a Newton-Raphson (convex, step η)
 * M-step on a Gaussian mixture of K bases over N feature vectors, then the reconstruction
 * X̃ = γ μ (Song, Kim, Shim: Highway Expectation Maximization Networks, AAAI 2021; EMANet,
 * Li et al. 2019, is η = 1 with normalised, detached iterations). Formulas: docs/math.md.
 *
 *   fused: true  (default) — per iteration one E-step kernel and the N-step kernels
 *                (kernels/hem.wgsl), one tape node with a hand-written backward (fused.ts);
 *   fused: false — the same math composed from the core ops through the generic tape
 *                (unfused.ts): the reference for the fused kernels and the benchmark's baseline.
 */
import type { Tensor } from '../../tensor/tensor.ts';
import { hemFused } from './fused.ts';
import { checkInputs } from './operands.ts';
import { resolveHemOptions, type HemOptions, type ResolvedHemOptions } from './options.ts';
import { HemTrace } from './trace.ts';
import { hemUnfused } from './unfused.ts';

export interface HemResult {
  /** The reconstruction X̃ = γ⁽ᵀ⁾ μ⁽ᵀ⁾, [B, N, C]. Gradients flow from here to x and μ⁽⁰⁾. */
  out: Tensor;
  /** The final bases μ⁽ᵀ⁾, [B, K, C] (detached: no gradient flows back through it). */
  mu: Tensor;
  /** The final responsibilities γ⁽ᵀ⁾, [B, N, K] (detached). */
  gamma: Tensor;
  /** Per-iteration diagnostics when `trace: true`, else null. */
  trace: HemTrace | null;
  /** The options in effect after presets and defaults. */
  options: ResolvedHemOptions;
}

/**
 * One HEM layer: T iterations from bases mu0 over features x, then the reconstruction.
 * x: [B, N, C]; mu0: [K, C] (shared by the batch) or [B, K, C]. See HemOptions.
 * NaN in x is not checked for (that would need a read-back): the call completes, and the batch
 * element holding it gets NaN in mu and in every entry of out (other batch elements are unaffected).
 */
export function hem(x: Tensor, mu0: Tensor, options: HemOptions = {}): HemResult {
  const dims = checkInputs(x, mu0);
  const o = resolveHemOptions(dims.C, options);
  const trace = o.trace ? new HemTrace(o.iterations) : null;
  const r = o.fused ? hemFused(x, mu0, o, dims, trace) : hemUnfused(x, mu0, o, dims, trace);
  return { ...r, trace, options: o };
}
