/**
 * The unfused HEM layer: the same math composed from the core ops (matmul, softmax, sum, div, …)
 * through the generic tape. The reference for the fused kernels and the benchmark's baseline.
 */
import { hook } from '../../autograd/hook.ts';
import { noGrad } from '../../autograd/tape.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { add, div, mul, sqrt, sub } from '../elementwise.ts';
import { reshape } from '../layout.ts';
import { matmul } from '../matmul.ts';
import { sum } from '../reduce.ts';
import { softmax } from '../softmax.ts';
import type { HemDims } from './operands.ts';
import { HEM_EPS, type ResolvedHemOptions } from './options.ts';
import type { HemObserver } from './trace.ts';

/** `v` itself, or an identity that shows `fn` the gradient passing through this use of `v`. */
function watch(v: Tensor, fn: ((g: Tensor) => void) | undefined): Tensor {
  return fn ? hook(v, fn) : v;
}

export function hemUnfused(x: Tensor, mu0: Tensor, o: ResolvedHemOptions, d: HemDims, observer: HemObserver | null): { out: Tensor; mu: Tensor; gamma: Tensor } {
  const { B, K } = d;
  const scale = 1 / o.temperature;
  const ob: HemObserver = observer ?? {};
  const gradMu = (t: number, mu: Tensor): ((g: Tensor) => void) | undefined => ob.onGradMu && ((g) => ob.onGradMu!(t, g, mu.shape));
  const gradX = (t: number, step: 'nstep' | 'estep'): ((g: Tensor) => void) | undefined => ob.onGradX && ((g) => ob.onGradX!(t, step, g));
  const run = (): { out: Tensor; mu: Tensor; gamma: Tensor } => {
    let mu = mu0;
    let gamma: Tensor | null = null;
    for (let t = 0; t < o.iterations; t++) {
      const muT = watch(mu, gradMu(t, mu));
      const xE = watch(x, gradX(t, 'estep'));
      let logits = matmul(xE, muT, { transB: true }); // [B, N, K]
      if (o.estep === 'rbf') {
        // S = −‖x − μ‖² = 2 x·μ − ‖x‖² − ‖μ‖²
        const x2 = sum(mul(xE, xE), -1, { keepdim: true }); // [B, N, 1]
        const m2 = reshape(sum(mul(muT, muT), -1), [...muT.shape.slice(0, -2), 1, K]); // [(B,) 1, K]
        logits = sub(sub(mul(logits, 2), x2), m2);
      }
      gamma = softmax(logits, { scale }); // γ = softmax(S / τ)
      const xN = watch(x, gradX(t, 'nstep'));
      const counts = reshape(sum(gamma, 1), [B, K, 1]); // N_k
      const A = matmul(gamma, xN, { transA: true }); // γᵀ X, [B, K, C]
      const F = div(A, add(counts, HEM_EPS));
      let next = add(mul(muT, 1 - o.eta), mul(F, o.eta)); // the highway: (1 − η) μ + η F
      if (o.normalizeBases) {
        next = div(next, add(sqrt(sum(mul(next, next), -1, { keepdim: true })), HEM_EPS));
      }
      ob.onIteration?.(t, { x, mu, next, gamma, bases: K, channels: d.C, temperature: o.temperature });
      mu = next;
    }
    const muT = watch(mu, gradMu(o.iterations, mu));
    const out = matmul(gamma!, muT); // R-step X̃ = γ μ
    return { out, mu, gamma: gamma! };
  };
  const r = o.detach ? noGrad(run) : run();
  return { out: r.out, mu: r.mu.detach(), gamma: r.gamma.detach() };
}
