/**
 * The HEM layer's four heavy products — the E-step, its adjoint, the split-N reduction `wsum` and
 * dX — come in a register path (kernels/hem.wgsl), a tiled path (kernels/hem-tiled.wgsl) and
 * subgroup E-steps (kernels/hem-subgroups.wgsl). `hemKernels()` picks an engine's set once per
 * kernel configuration (src/kernels/hem-config.ts): an op takes the set when it starts and hands
 * it down, so its launchers never re-read the configuration, and a backward runs the kernels its
 * forward ran.
 */
import { Tensor } from '../tensor/tensor.ts';
import { getHemKernelConfig, subgroupMapping, type HemKernelConfig } from './hem-config.ts';
import { registerPath } from './hem.ts';
import { launchEstepGradSubgroups, launchEstepSubgroups } from './hem-subgroups.ts';
import { tiledPath } from './hem-tiled.ts';

/** Partial sums over chunks of rows, for one of the *_finish launchers (src/kernels/hem.ts). */
export interface WeightedSums {
  /** Σ_{n in chunk} W_nᵀ ⊗ x_n, [B, chunks, K4, C]. */
  part: Tensor;
  /** Σ_{n in chunk} W_n, [B, chunks, K4]. */
  sums: Tensor;
}

/** The operands of `dx`: γ and dS [B, N, K4], dA [B, K4, C], the bases μ⁽ᵗ⁾ and s (1/τ or 2/τ). */
export interface DxOperands {
  gamma: Tensor;
  dS: Tensor;
  dA: Tensor;
  mu: Tensor;
  scale: number;
}

/** DxOperands with the bases' batch stride (0: shared [K4, C]). */
export interface DxPart extends DxOperands {
  muStride: number;
}

/** One path's heavy products (the launchers' shared contract). */
export interface PathKernels {
  estep(op: string, x: Tensor, mu: Tensor, p: { bases: number; invTau: number; rbf: boolean; muStride: number }): Tensor;
  estepGrad(op: string, x: Tensor, dA: Tensor, dN: Tensor, gamma: Tensor, dgammaIn: Tensor | null): Tensor;
  wsum(op: string, x: Tensor, w: Tensor): WeightedSums;
  dx(op: string, d: DxPart, out: Tensor, part: 0 | 1 | 2): void;
  /** How `wsum` splits N into chunks of rows on a CPU driver (`software`) or a GPU. */
  chunking(N: number, K4: number, C: number, software: boolean): { chunks: number; rows: number };
}

/**
 * An engine's HEM kernels. Every operand is already padded (channels C and bases K4 multiples of 4;
 * `bases` the real K ≤ K4); x [B, N, C]; bases μ [K4, C] (shared) or [B, K4, C]; γ, dS [B, N, K4].
 */
export interface HemKernels {
  readonly config: HemKernelConfig;
  /** γ = softmax(S / τ) over the first `bases` of K4 bases (the rest 0), S = X μᵀ, or 2 X μᵀ − ‖μ‖² when `rbf`. → [B, N, K4]. */
  estep(op: string, x: Tensor, mu: Tensor, p: { bases: number; invTau: number; rbf: boolean }): Tensor;
  /**
   * dγ = X dAᵀ + 1 dNᵀ (+ dgammaIn), then the softmax adjoint dS = γ ⊙ (dγ − rowsum(dγ ⊙ γ)).
   * → dS [B, N, K4]; a given `dgammaIn` is consumed (dS is computed in its storage).
   */
  estepGrad(op: string, x: Tensor, dA: Tensor, dN: Tensor, gamma: Tensor, dgammaIn: Tensor | null): Tensor;
  /** The chunked reduction over N of Wᵀ X and of W, for x [B, N, C] and w [B, N, K4]. */
  wsum(op: string, x: Tensor, w: Tensor): WeightedSums;
  /**
   * The gradient one iteration sends to X, γ dA (N-step) + s · dS μ (E-step). With a tensor `into`
   * [B, N, C] both parts are added to it in place (and it is returned); with 'nstep' or 'estep'
   * that part alone is written to a new [B, N, C] tensor.
   */
  dx(op: string, d: DxOperands, into: Tensor | 'nstep' | 'estep'): Tensor;
}

const muStride = (mu: Tensor): number => (mu.rank === 2 ? 0 : mu.shape[mu.rank - 2]! * mu.shape[mu.rank - 1]!);

/** The path a configuration names (its tiles or blocks bound in). */
function pathOf(config: HemKernelConfig): PathKernels {
  return config.path === 'tiled' ? tiledPath(config) : registerPath(config);
}

const made = new WeakMap<HemKernelConfig, HemKernels>();

/** The current engine's HEM kernels, made once per kernel configuration. */
export function hemKernels(): HemKernels {
  const config = getHemKernelConfig();
  let k = made.get(config);
  if (!k) {
    const path = pathOf(config);
    const mapping = subgroupMapping(config);
    const estep: PathKernels['estep'] = mapping ? (...a) => launchEstepSubgroups(mapping, ...a) : path.estep;
    const estepGrad: PathKernels['estepGrad'] = mapping ? (...a) => launchEstepGradSubgroups(mapping, ...a) : path.estepGrad;
    k = {
      config,
      estep: (op, x, mu, p) => estep(op, x, mu, { ...p, muStride: muStride(mu) }),
      estepGrad,
      wsum: path.wsum,
      dx: (op, d, into) => {
        const [B, N] = d.gamma.shape as [number, number];
        const out = into instanceof Tensor ? into : Tensor.empty([B, N, d.dA.shape[2]!], op);
        path.dx(op, { ...d, muStride: muStride(d.mu) }, out, into === 'nstep' ? 1 : into === 'estep' ? 2 : 0);
        return out;
      },
    };
    made.set(config, k);
  }
  return k;
}

/** How `wsum` splits N into chunks of rows on kernel configuration `config` and a CPU driver (`software`) or a GPU (the profile's byte counts). */
export function wsumChunking(N: number, K4: number, C: number, config: HemKernelConfig, software: boolean): { chunks: number; rows: number } {
  return pathOf(config).chunking(N, K4, C, software);
}
