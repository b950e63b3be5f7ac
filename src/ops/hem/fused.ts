/**
 * The fused HEM layer: the forward kernels run without the tape, and the whole layer is recorded
 * as one tape node whose rule is the hand-written fused backward. What the backward needs lives
 * exactly as long as the output it differentiates (owned by it).
 */
import { noGrad, record } from '../../autograd/tape.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { matmul } from '../matmul.ts';
import { hemKernels } from '../../kernels/hem-kernels.ts';
import { sliceTo } from '../layout.ts';
import { fusedBackward } from './fused-backward.ts';
import { fusedForward, type Saved } from './fused-forward.ts';
import type { HemDims } from './operands.ts';
import { padOperands } from './operands.ts';
import type { ResolvedHemOptions } from './options.ts';
import type { HemObserver } from './trace.ts';

export function hemFused(x: Tensor, mu0: Tensor, o: ResolvedHemOptions, dims: HemDims, observer: HemObserver | null): { out: Tensor; mu: Tensor; gamma: Tensor } {
  const run = (): { out: Tensor; mu: Tensor; gamma: Tensor } => {
    // Odd C or K: zero-padded by recorded ops, so gradients are sliced back.
    const { x: xp, mu: mp } = padOperands(x, mu0);
    const real = { bases: dims.K, channels: dims.C };
    // The engine's kernels, taken once: the backward runs the ones the forward ran.
    const k = hemKernels();
    const saved = noGrad(() => fusedForward(k, xp, mp, o, real, observer));
    const T = o.iterations;
    const gammaT = saved.gammas[T - 1]!;
    const muT = saved.mus[T]!;
    const outP = noGrad(() => matmul(gammaT, muT)); // R-step X̃ = γ⁽ᵀ⁾ μ⁽ᵀ⁾
    const { B, N, C, K } = dims;
    const mu = noGrad(() => (muT.shape[1] !== K || muT.shape[2] !== C ? sliceTo(muT, [B, K, C]) : muT.alias()));
    const gamma = noGrad(() => (gammaT.shape[2] !== K ? sliceTo(gammaT, [B, N, K]) : gammaT.alias()));
    if (!o.detach && (xp.requiresGrad || mp.requiresGrad)) {
      record('hem', outP, [xp, mp], (g) => fusedBackward(k, g, xp, mp, saved, o, real, observer));
      for (const t of savedTensors(saved)) outP.own(t);
    } else {
      for (const t of savedTensors(saved)) t.dispose();
    }
    const out = xp.shape[2] !== C ? sliceTo(outP, [B, N, C]) : outP;
    return { out, mu, gamma };
  };
  return o.detach ? noGrad(run) : run();
}

/** Every tensor the forward made and the backward reads (μ⁽⁰⁾ is the caller's). */
function savedTensors(s: Saved): Tensor[] {
  return [...s.gammas, ...s.mus.slice(1), ...s.fs, ...s.counts, ...s.muHats.filter((t): t is Tensor => t !== null)];
}
