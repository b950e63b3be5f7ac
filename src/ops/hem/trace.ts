/**
 * Watching the HEM layer: `HemObserver`, the hooks both paths (fused and unfused) call at fixed
 * points of the forward and backward passes, and `HemTrace`, the observer behind
 * `hem(..., { trace: true })` that records the paper's per-iteration diagnostics (the ELBO of
 * Proposition 1, the size of each update, and the gradient flow of Fig. 3).
 */
import { noGrad } from '../../autograd/tape.ts';
import type { DxOperands, HemKernels } from '../../kernels/hem-kernels.ts';
import type { Shape } from '../../tensor/shape.ts';
import { keep } from '../../tensor/scope.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { abs, mul, sqrt, sub } from '../elementwise.ts';
import { sliceTo } from '../layout.ts';
import { sumAll, sumToShape } from '../../kernels/reduce.ts';
import { mean } from '../reduce.ts';
import { elboSum } from './elbo.ts';

/** One iteration's forward state. Fused: padded tensors; `bases`, `channels` are the real K, C. */
interface HemIteration {
  x: Tensor;
  /** μ⁽ᵗ⁾ */
  mu: Tensor;
  /** μ⁽ᵗ⁺¹⁾ */
  next: Tensor;
  /** γ⁽ᵗ⁺¹⁾ */
  gamma: Tensor;
  bases: number;
  channels: number;
  temperature: number;
}

/** The fused backward of iteration t: the operands of its dx kernel, and the real channels. */
interface HemBackwardIteration extends DxOperands {
  channels: number;
  /** The kernels the layer runs on. */
  kernels: HemKernels;
}

/** Hooks called by hem()'s paths; every one is optional, and none may change what it is shown. */
export interface HemObserver {
  /** After the N-step of iteration t (both paths). */
  onIteration?(t: number, s: HemIteration): void;
  /** Backward: the gradient reaching μ⁽ᵗ⁾ (t = T: the final bases), as a `muShape` tensor once
   * summed over a shared batch (both paths). */
  onGradMu?(t: number, grad: Tensor, muShape: Shape): void;
  /** Backward of the unfused path: the gradient x receives through iteration t's N-step or E-step. */
  onGradX?(t: number, step: 'nstep' | 'estep', grad: Tensor): void;
  /** Backward of the fused path, iteration t, after its E-step adjoint (dS) is known. */
  onBackwardIteration?(t: number, s: HemBackwardIteration): void;
}

export interface HemTraceValues {
  /** ELBO L(μ⁽ᵗ⁺¹⁾, γ⁽ᵗ⁺¹⁾) after iteration t (the 'rbf' Gaussian form, docs/math.md). */
  elbo: number[];
  /** ‖μ⁽ᵗ⁺¹⁾ − μ⁽ᵗ⁾‖ for t = 0 … T−1. */
  muStep: number[];
  /** After backward(): mean |∂E/∂X| that iteration t's N-step sends to x (Fig. 3b). */
  gradXFromNStep: number[];
  /** After backward(): mean |∂E/∂X| that iteration t's E-step sends to x (Fig. 3c). */
  gradXFromEStep: number[];
  /** After backward(): ‖∂E/∂μ⁽ᵗ⁾‖ for t = 0 … T (μ⁽ᵀ⁾ is the final bases). */
  gradMuNorm: number[];
}

type GradSlot = 'gradXFromNStep' | 'gradXFromEStep' | 'gradMuNorm';

/**
 * Diagnostics of one HEM call. Values are GPU scalars until `read()`; gradient entries fill in
 * when backward() runs through the layer. The trace keeps its scalars alive outside tidy();
 * call dispose() when done.
 */
export class HemTrace implements HemObserver {
  readonly elbo: Tensor[] = [];
  readonly muStep: Tensor[] = [];
  readonly gradXFromNStep: (Tensor | null)[];
  readonly gradXFromEStep: (Tensor | null)[];
  readonly gradMuNorm: (Tensor | null)[];

  constructor(readonly iterations: number) {
    this.gradXFromNStep = new Array(iterations).fill(null);
    this.gradXFromEStep = new Array(iterations).fill(null);
    this.gradMuNorm = new Array(iterations + 1).fill(null);
  }

  onIteration(_t: number, s: HemIteration): void {
    this.muStep.push(keep(distance(s.next, s.mu)));
    this.elbo.push(keep(noGrad(() => elboSum(s.x, s.next, s.gamma, s))));
  }

  onGradMu(t: number, grad: Tensor, muShape: Shape): void {
    const g = noGrad(() => sumToShape(grad, muShape));
    this.set('gradMuNorm', t, norm(g));
    g.dispose();
  }

  onGradX(t: number, step: 'nstep' | 'estep', grad: Tensor): void {
    this.set(step === 'nstep' ? 'gradXFromNStep' : 'gradXFromEStep', t, meanAbs(grad));
  }

  /** The dx kernel's two parts separately (the paper's Fig. 3b-c), mean over the real channels. */
  onBackwardIteration(t: number, s: HemBackwardIteration): void {
    for (const step of ['nstep', 'estep'] as const) {
      const piece = s.kernels.dx('hem trace', s, step);
      const [B, N, C] = piece.shape as [number, number, number];
      // Padded channels are 0: leave them out of the mean.
      const real = s.channels === C ? piece : noGrad(() => sliceTo(piece, [B, N, s.channels]));
      this.onGradX(t, step, real);
      if (real !== piece) real.dispose();
      piece.dispose();
    }
  }

  /** Store a scalar (kept out of tidy scopes) into one of the gradient slots. */
  set(slot: GradSlot, t: number, value: Tensor): void {
    const arr = this[slot];
    arr[t]?.dispose();
    arr[t] = keep(value);
  }

  async read(): Promise<HemTraceValues> {
    const get = async (v: (Tensor | null)[]): Promise<number[]> => Promise.all(v.map((t) => (t ? t.item() : NaN)));
    return {
      elbo: await get(this.elbo),
      muStep: await get(this.muStep),
      gradXFromNStep: await get(this.gradXFromNStep),
      gradXFromEStep: await get(this.gradXFromEStep),
      gradMuNorm: await get(this.gradMuNorm),
    };
  }

  dispose(): void {
    for (const list of [this.elbo, this.muStep, this.gradXFromNStep, this.gradXFromEStep, this.gradMuNorm]) {
      for (const t of list) t?.dispose();
    }
  }
}

/** ‖a − b‖ (Frobenius, broadcasting b), a scalar tensor; no gradient. */
function distance(a: Tensor, b: Tensor): Tensor {
  return noGrad(() => {
    const d = sub(a, b);
    const n = norm(d);
    d.dispose();
    return n;
  });
}

/** ‖a‖ (Frobenius), a scalar tensor; no gradient. */
function norm(a: Tensor): Tensor {
  return noGrad(() => {
    const a2 = mul(a, a);
    const s = sumAll('hem trace', a2, 1);
    a2.dispose();
    const n = sqrt(s);
    s.dispose();
    return n;
  });
}

/** mean |a|, a scalar tensor; no gradient. */
function meanAbs(a: Tensor): Tensor {
  return noGrad(() => {
    const m = abs(a);
    const r = mean(m);
    m.dispose();
    return r;
  });
}
