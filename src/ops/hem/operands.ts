/**
 * The HEM op's operands: shape checks (before any GPU work, naming the op and the shapes) and the
 * zero-padding of channels and bases to multiples of 4 that every hem.wgsl kernel expects.
 * Padded channels add nothing to dot products or distances; padded bases are masked out of the
 * softmax (γ = 0) and of the ELBO. padTo and sliceTo are recorded ops, so where gradients are on
 * they flow back through the padding.
 */
import { isGradEnabled } from '../../autograd/tape.ts';
import { ceil4 } from '../../kernels/dispatch.ts';
import { fmt, type Shape } from '../../tensor/shape.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { checkTensor } from '../check.ts';
import { padTo, sliceTo } from '../layout.ts';

/** x [B, N, C]; bases [K, C] (shared by the batch) or [B, K, C]. */
export interface HemDims {
  B: number;
  N: number;
  C: number;
  K: number;
  shared: boolean;
}

export function checkInputs(x: Tensor, mu0: Tensor, op = 'hem'): HemDims {
  checkTensor(op, x, 'x');
  checkTensor(op, mu0, 'mu0');
  if (x.rank !== 3) throw new Error(`${op}: x must be [B, N, C] (N = H·W positions), got ${fmt(x.shape)}.`);
  const [B, N, C] = x.shape as [number, number, number];
  if (mu0.rank !== 2 && mu0.rank !== 3) {
    throw new Error(`${op}: mu0 must be [K, C] (shared) or [B, K, C], got ${fmt(mu0.shape)}.`);
  }
  const [K, Cm] = mu0.shape.slice(-2) as [number, number];
  if (Cm !== C) {
    throw new Error(`${op}: x ${fmt(x.shape)} has C = ${C} channels but mu0 ${fmt(mu0.shape)} has ${Cm}; the bases must live in the feature space.`);
  }
  if (mu0.rank === 3 && mu0.shape[0] !== B) {
    throw new Error(`${op}: mu0 ${fmt(mu0.shape)} has batch ${mu0.shape[0]} but x ${fmt(x.shape)} has ${B}; use [K, C] to share bases.`);
  }
  return { B, N, C, K, shared: mu0.rank === 2 };
}

/** Responsibilities γ must be [B, N, K] for x [B, N, C] and bases mu [(B,) K, C]. */
export function checkGamma(op: string, gamma: Tensor, d: HemDims, x: Tensor, mu: Tensor): void {
  checkTensor(op, gamma, 'gamma');
  if (gamma.rank !== 3 || gamma.shape[0] !== d.B || gamma.shape[1] !== d.N || gamma.shape[2] !== d.K) {
    throw new Error(`${op}: gamma must be [B, N, K] = ${fmt([d.B, d.N, d.K])} for x ${fmt(x.shape)} and mu ${fmt(mu.shape)}, got ${fmt(gamma.shape)}.`);
  }
}

/**
 * hemEStep, hemNStep and elbo record no gradient: refuse inputs that would need one, rather than
 * cut the gradient silently.
 */
export function forwardOnly(op: string, inputs: Tensor[], what = 'a forward-only building block'): void {
  if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    const instead = op === 'elbo' ? '' : 'use hem() for a differentiable layer (its backward is fused across iterations), or ';
    throw new Error(`${op}: ${what} (no gradient is recorded), but an input requires grad; ${instead}call this under noGrad().`);
  }
}

interface PaddedOperands {
  /** [B, N, C4] */
  x: Tensor;
  /** [(B,) K4, C4] */
  mu: Tensor;
  /** [B, N, K4] when γ was given */
  gamma: Tensor | null;
  /** Dispose the padded copies (not the operands that needed no padding). */
  release(): void;
}

/** Zero-pad x [B, N, C], bases [(B,) K, C] and optionally γ [B, N, K] to C4 = ⌈C⌉₄, K4 = ⌈K⌉₄. */
export function padOperands(x: Tensor, mu: Tensor, gamma: Tensor | null = null): PaddedOperands {
  const [B, N, C] = x.shape as [number, number, number];
  const K = mu.shape[mu.rank - 2]!;
  const C4 = ceil4(C);
  const K4 = ceil4(K);
  const xp = C4 !== C ? padTo(x, [B, N, C4]) : x;
  const mp = C4 !== C || K4 !== K ? padTo(mu, [...mu.shape.slice(0, -2), K4, C4]) : mu;
  const gp = gamma && K4 !== K ? padTo(gamma, [B, N, K4]) : gamma;
  return {
    x: xp,
    mu: mp,
    gamma: gp,
    release: () => {
      for (const [padded, orig] of [
        [xp, x],
        [mp, mu],
        [gp, gamma],
      ] as const)
        if (padded !== orig) padded?.dispose();
    },
  };
}

/** `t` cut back to `shape` (the padded tensor is disposed), or `t` itself when it has that shape. */
export function unpad(t: Tensor, shape: Shape): Tensor {
  if (t.shape.every((d, i) => d === shape[i])) return t;
  const out = sliceTo(t, shape);
  t.dispose();
  return out;
}
