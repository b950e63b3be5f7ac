/**
 * FLOPs and bytes of one dispatch of each HEM kernel (kernels/hem.wgsl), as functions of the
 * layer's shape, for the roofline columns of bench/hem-profile.ts. One table, keyed by kernel name;
 * a variant's name (the base name plus `_tiled`, `_sg`, …) maps to its base kernel's formula,
 * since a variant does the same work differently.
 *
 * Conventions: an FMA counts 2 FLOPs, an exp, a division or a square root 1; the padded sizes
 * (C and K4 multiples of 4) are what the kernels compute. Bytes are the compulsory traffic: every
 * operand read once and every result written once (a kernel that re-reads an operand or uses
 * its output as scratch moves more, so its GB/s here is a lower bound on what it moves). The
 * bases μ count B·K4·C (per batch element, as in every iteration after the first, whose μ⁽⁰⁾ is
 * shared). Kernels of other files (matmul, softmax, elementwise: the unfused path) record no
 * shape in the profile, so they have no entry.
 */
import { wsumChunking } from '../src/kernels/hem-kernels.ts';
import type { HemKernelConfig } from '../src/kernels/hem-config.ts';

/** The layer's shape as the HEM kernels see it. */
export interface HemShape {
  B: number;
  N: number;
  /** Channels, padded to a multiple of 4. */
  C: number;
  /** Bases, padded to a multiple of 4. */
  K4: number;
  /** Chunks of rows that wsum's reduction over N is split into (the *_finish kernels add them). */
  chunks: number;
}

export interface KernelCost {
  flops: number;
  bytes: number;
}

const F32 = 4;

/**
 * The HEM shape for a layer of B×N positions, C channels and K bases on kernel path `config`
 * (padding, and the chunks of the reduction over N as src/kernels/hem.ts splits them on a CPU
 * driver, `software`, or a GPU).
 */
export function hemShape(B: number, N: number, C: number, K: number, config: HemKernelConfig, software: boolean): HemShape {
  const c = Math.ceil(C / 4) * 4;
  const k = Math.ceil(K / 4) * 4;
  return { B, N, C: c, K4: k, chunks: wsumChunking(N, k, c, config, software).chunks };
}

/** Per kernel: FLOPs and bytes of one dispatch. The comment gives the work in the paper's terms. */
export const HEM_COSTS: Record<string, (s: HemShape) => KernelCost> = {
  // S = X μᵀ (2NKC), then the online softmax: per (n, k) scale, max, subtract, exp, add, and in
  // the last pass subtract, exp, multiply (8). Reads X and μ, writes γ.
  hem_estep: ({ B, N, C, K4 }) => ({ flops: B * (2 * N * K4 * C + 8 * N * K4), bytes: F32 * B * (N * C + K4 * C + N * K4) }),
  // P = Wᵀ X per chunk (2NKC) and s = Σ W (NK). Reads X and W, writes the chunks' P and s.
  hem_wsum: ({ B, N, C, K4, chunks }) => ({ flops: B * (2 * N * K4 * C + N * K4), bytes: F32 * B * (N * C + N * K4 + chunks * K4 * C + chunks * K4) }),
  // A = Σ chunks P, N_k = Σ chunks s, F = A / (N + ε), μ' = (1 − η) μ + η F (4 per element).
  hem_nstep_finish: ({ B, C, K4, chunks }) => ({
    flops: B * (chunks * K4 * C + chunks * K4 + 4 * K4 * C),
    bytes: F32 * B * (chunks * K4 * C + chunks * K4 + K4 * C + 2 * K4 * C + K4),
  }),
  // Σ chunks P. Reads the chunks, writes one [K4, C].
  hem_wsum_finish: ({ B, C, K4, chunks }) => ({ flops: B * chunks * K4 * C, bytes: F32 * B * (chunks * K4 * C + K4 * C) }),
  // dμ = (1 − η) dμ' + s (Σ chunks P [− colsum ⊙ μ]) (3 per element for 'dot').
  hem_dmu_finish: ({ B, C, K4, chunks }) => ({
    flops: B * (chunks * K4 * C + chunks * K4 + 3 * K4 * C),
    bytes: F32 * B * (chunks * K4 * C + chunks * K4 + 3 * K4 * C),
  }),
  // ‖μ_k‖² (2C per base) and the scaling (C per base). Reads μ̂, writes μ.
  hem_normalize: ({ B, C, K4 }) => ({ flops: B * 3 * K4 * C, bytes: F32 * B * 2 * K4 * C }),
  // ‖u‖² and u·dy (4C per base), du = dy / (r + ε) − u k (3C per base). Reads u, dy, writes du.
  hem_normalize_grad: ({ B, C, K4 }) => ({ flops: B * 7 * K4 * C, bytes: F32 * B * 3 * K4 * C }),
  // dF = η dμ', Σ dF F, dA = dF / (N + ε) (4 per element). Reads dμ', F, N; writes dA, dN.
  hem_nstep_prep: ({ B, C, K4 }) => ({ flops: B * 4 * K4 * C, bytes: F32 * B * (3 * K4 * C + 2 * K4) }),
  // dγ = X dAᵀ (2NKC) + dN, r = Σ dγ γ, dS = γ (dγ − r) (6 per (n, k)). Reads X, dA, dN, γ;
  // writes dS.
  hem_estep_grad: ({ B, N, C, K4 }) => ({ flops: B * (2 * N * K4 * C + 6 * N * K4), bytes: F32 * B * (N * C + K4 * C + K4 + 2 * N * K4) }),
  // dX += γ dA + s dS μ: two products (4NKC) and the epilogue (3 per element). Reads γ, dS, dA, μ
  // and dX; writes dX.
  hem_dx: ({ B, N, C, K4 }) => ({ flops: B * (4 * N * K4 * C + 3 * N * C), bytes: F32 * B * (2 * N * K4 + 2 * K4 * C + 2 * N * C) }),
  // Per (n, k): ‖x_n − μ_k‖² (3C) and the γ terms (~6). Reads X, μ, γ; writes one value per row.
  hem_elbo: ({ B, N, C, K4 }) => ({ flops: B * (3 * N * K4 * C + 6 * N * K4), bytes: F32 * B * (N * C + K4 * C + N * K4 + N) }),
};

/** Suffixes of a kernel's variants (tiled, subgroup by bases or by rows), stripped to find the base kernel's formula. */
const VARIANT_SUFFIXES = ['_tiled', '_sg', '_rows'];

/** The base kernel name of a variant: hem_estep_tiled_sg → hem_estep. */
export function baseKernelName(name: string): string {
  let n = name;
  for (let again = true; again;) {
    again = false;
    for (const s of VARIANT_SUFFIXES) {
      if (n.endsWith(s) && n.length > s.length) {
        n = n.slice(0, -s.length);
        again = true;
      }
    }
  }
  return n;
}

/** FLOPs and bytes of one dispatch of kernel `name` at shape `s`, or undefined when the table has no formula. */
export function kernelCost(name: string, s: HemShape): KernelCost | undefined {
  return HEM_COSTS[baseKernelName(name)]?.(s);
}
