/**
 * The fused forward pass on padded operands: per iteration the E-step kernel (`estep`), the
 * N-step kernels (`wsum` + `nstep_finish`) and, for EMANet, `normalize`. It keeps what the fused
 * backward needs (docs/ARCHITECTURE.md, "The HEM layer").
 */
import { launchNormalize, launchNstepFinish } from '../../kernels/hem.ts';
import type { HemKernels } from '../../kernels/hem-kernels.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import type { ResolvedHemOptions } from './options.ts';
import type { HemObserver } from './trace.ts';

/** The real sizes behind padded operands. */
export interface RealSizes {
  /** K, the bases before padding to K4 */
  bases: number;
  /** C, the channels before padding to C4 */
  channels: number;
}

/** What the backward needs, per iteration t = 0 … T−1. */
export interface Saved {
  /** γ⁽ᵗ⁺¹⁾ [B, N, K4] */
  gammas: Tensor[];
  /** μ⁽ᵗ⁾ (μ⁽⁰⁾ may be shared, [K4, C4]); mus[T] = μ⁽ᵀ⁾ */
  mus: Tensor[];
  /** F⁽ᵗ⁾ [B, K4, C4] */
  fs: Tensor[];
  /** N⁽ᵗ⁾ [B, K4] */
  counts: Tensor[];
  /** the bases before normalisation when normalizeBases, else null */
  muHats: (Tensor | null)[];
}

/** The E-step on kernels k: γ = softmax(S / τ) over the real bases. */
export function eStep(k: HemKernels, op: string, x: Tensor, mu: Tensor, bases: number, o: Pick<ResolvedHemOptions, 'temperature' | 'estep'>): Tensor {
  return k.estep(op, x, mu, { bases, invTau: 1 / o.temperature, rbf: o.estep === 'rbf' });
}

/** The N-step on kernels k: N = Σ γ, F = γᵀX / (N + ε), μ̂' = (1 − η) μ + η F. */
export function nStep(k: HemKernels, op: string, x: Tensor, gamma: Tensor, mu: Tensor, eta: number): { next: Tensor; f: Tensor; counts: Tensor } {
  const ws = k.wsum(op, x, gamma);
  const r = launchNstepFinish(op, ws, mu, eta);
  ws.part.dispose();
  ws.sums.dispose();
  return r;
}

/** T iterations from mu0 over x (both padded) on kernels k; call without gradients. */
export function fusedForward(k: HemKernels, x: Tensor, mu0: Tensor, o: ResolvedHemOptions, real: RealSizes, observer: HemObserver | null): Saved {
  const s: Saved = { gammas: [], mus: [mu0], fs: [], counts: [], muHats: [] };
  for (let t = 0; t < o.iterations; t++) {
    const mu = s.mus[t]!;
    const gamma = eStep(k, 'hem', x, mu, real.bases, o);
    const { next: muHat, f, counts } = nStep(k, 'hem', x, gamma, mu, o.eta);
    const next = o.normalizeBases ? launchNormalize('hem', muHat) : muHat;
    s.muHats.push(o.normalizeBases ? muHat : null);
    s.gammas.push(gamma);
    s.fs.push(f);
    s.counts.push(counts);
    s.mus.push(next);
    observer?.onIteration?.(t, { x, mu, next, gamma, ...real, temperature: o.temperature });
  }
  return s;
}
