/**
 * A small autotuner for the matmul kernels: times candidate configs (register-tiled
 * kernels/matmul.wgsl and workgroup-memory kernels/matmul-shared.wgsl, each with its tile
 * shapes) on the current adapter, checks each candidate's result against the default
 * configuration's, and installs the fastest. What wins on a CPU driver (few invocations, big
 * register tiles, no barriers) differs from what wins on a GPU, so the choice is per adapter;
 * callers may persist it.
 */
import { tidy } from '../tensor/scope.ts';
import { medianMs } from './tune-timing.ts';
import { randn } from './create.ts';
import { matmul } from './matmul.ts';
import {
  checkMatmulConfig,
  getMatmulConfig,
  NARROW_BELOW_N,
  resetMatmulConfig,
  restoreMatmulConfigState,
  saveMatmulConfigState,
  setMatmulConfig,
  setTunedMatmulConfig,
  SMALL_OUTPUTS_AT_MOST,
  tunedShapeConfigs,
  type MatmulConfig,
} from '../kernels/matmul-config.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

export interface TuneResult {
  config: MatmulConfig;
  ms: number;
  gflops: number;
}

export const MATMUL_CANDIDATES: MatmulConfig[] = [
  { BM: 4, BN: 2, WG_X: 8, WG_Y: 8 },
  // 16 × 16 outputs per invocation: the fewest loads per multiply-add (CPU drivers' wide products)
  { BM: 4, BN: 4, WG_X: 4, WG_Y: 8 },
  { BM: 4, BN: 4, WG_X: 8, WG_Y: 8 },
  { BM: 4, BN: 2, WG_X: 16, WG_Y: 8 },
  { BM: 4, BN: 2, WG_X: 16, WG_Y: 16 },
  { BM: 4, BN: 1, WG_X: 16, WG_Y: 16 },
  { BM: 2, BN: 2, WG_X: 16, WG_Y: 16 },
  { BM: 2, BN: 2, WG_X: 8, WG_Y: 8 },
  { BM: 2, BN: 2, WG_X: 16, WG_Y: 8 },
  { BM: 2, BN: 2, WG_X: 4, WG_Y: 4 },
  { BM: 1, BN: 2, WG_X: 16, WG_Y: 16 },
  { BM: 2, BN: 1, WG_X: 16, WG_Y: 16 },
  { BM: 1, BN: 1, WG_X: 16, WG_Y: 16 },
  { BM: 1, BN: 1, WG_X: 8, WG_Y: 8 },
  // Workgroup-memory tiles of C per workgroup: 128×128 (8×8 per invocation, the classic 2-D block
  // tiling shape; bench/matmul.bench.ts times the first shared candidate when not tuning), 128×64,
  // and 64×64 with 64, 128 and 256 invocations.
  { kind: 'shared', TM: 8, TN: 8, TK: 8, WG_X: 16, WG_Y: 16 },
  { kind: 'shared', TM: 8, TN: 4, TK: 8, WG_X: 16, WG_Y: 16 },
  { kind: 'shared', TM: 8, TN: 8, TK: 8, WG_X: 8, WG_Y: 8 },
  { kind: 'shared', TM: 8, TN: 4, TK: 16, WG_X: 16, WG_Y: 8 },
  { kind: 'shared', TM: 4, TN: 4, TK: 16, WG_X: 16, WG_Y: 16 },
];

/**
 * Candidates for narrow products (N < 256: convolutions' products and weight gradients) and small
 * outputs (at most 64²): 16 × 16 tiles in narrow workgroups (CPU drivers' defaults), the general
 * default and smaller tiles, and a workgroup-memory tile of 64 × 64.
 */
export const MATMUL_SHAPE_CANDIDATES: MatmulConfig[] = [
  { BM: 4, BN: 4, WG_X: 1, WG_Y: 16 },
  { BM: 4, BN: 4, WG_X: 1, WG_Y: 8 },
  { BM: 4, BN: 4, WG_X: 1, WG_Y: 4 },
  { BM: 4, BN: 4, WG_X: 4, WG_Y: 8 },
  { BM: 4, BN: 2, WG_X: 8, WG_Y: 8 },
  { BM: 2, BN: 2, WG_X: 8, WG_Y: 8 },
  { BM: 2, BN: 2, WG_X: 4, WG_Y: 16 },
  { BM: 1, BN: 1, WG_X: 8, WG_Y: 8 },
  { BM: 1, BN: 1, WG_X: 16, WG_Y: 16 },
  { kind: 'shared', TM: 4, TN: 4, TK: 16, WG_X: 16, WG_Y: 16 },
];

/** A product to time candidates on: C = op(A) · op(B), [M, K] · [K, N]. */
export interface TuneShape {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
}

/** Which configs a timing installs: the general one (square and wide products) or one class's. */
export type TuneClass = 'wide' | 'narrow' | 'small';

/**
 * Time every candidate as the config of `cls` on one product (median of `reps`) and return the
 * results, fastest first, leaving the engine's configs as they were. Candidates whose output
 * differs from the default's are dropped.
 */
export async function timeMatmulCandidates(cls: TuneClass, shape: TuneShape, candidates: MatmulConfig[], reps: number): Promise<TuneResult[]> {
  const { M, N, K, transA = false, transB = false } = shape;
  const state = saveMatmulConfigState();
  const general = getMatmulConfig();
  const a = randn(transA ? [K, M] : [M, K], { seed: 11 });
  const b = randn(transB ? [N, K] : [K, N], { seed: 12 });
  const product = (): Tensor => matmul(a, b, { transA, transB });
  const install = (c: MatmulConfig): void => (cls === 'wide' ? setMatmulConfig(c) : setTunedMatmulConfig(general, { [cls]: c }));
  const results: TuneResult[] = [];
  try {
    resetMatmulConfig();
    const ref = product();
    const expected = await ref.read();
    ref.dispose();
    for (const config of candidates) {
      checkMatmulConfig(config);
      install(config);
      const c = product();
      const got = await c.read();
      c.dispose();
      let bad = false;
      for (let i = 0; i < got.length; i++) {
        if (!(Math.abs(got[i]! - expected[i]!) <= 1e-3 * (1 + Math.abs(expected[i]!)))) {
          bad = true;
          break;
        }
      }
      if (bad) continue;
      const ms = await medianMs(reps, () =>
        tidy(() => {
          product();
        }),
      );
      results.push({ config, ms, gflops: (2 * M * N * K) / (ms * 1e6) });
    }
  } finally {
    a.dispose();
    b.dispose();
    restoreMatmulConfigState(state);
  }
  return results.sort((x, y) => x.ms - y.ms);
}

/** tuneMatmul's options. */
export interface TuneMatmulOptions {
  /** Time an n×n×n product (default 512). Not with `shape`. */
  n?: number;
  /** Time this product instead (`transA`, `transB` optional). */
  shape?: TuneShape;
  /**
   * Which config the winner becomes: 'wide' (default) the general one, used for products with
   * N ≥ 256 and wherever no class winner applies; 'narrow' the one for products with N < 256;
   * 'small' the one for outputs of at most 64² (where it holds 8 of its tiles). The shape must
   * belong to the class.
   */
  class?: TuneClass;
  /** Calls per candidate, the median timed (default 3). */
  reps?: number;
  /** Default: MATMUL_CANDIDATES for 'wide', MATMUL_SHAPE_CANDIDATES for the others. */
  candidates?: MatmulConfig[];
}

/** Why `shape` cannot be timed as `cls`, or null. */
function shapeProblem(cls: TuneClass, s: TuneShape): string | null {
  for (const k of ['M', 'N', 'K'] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 1) return `shape.${k} must be a positive integer, got ${JSON.stringify(s[k])}`;
  }
  for (const k of ['transA', 'transB'] as const) {
    if (s[k] !== undefined && typeof s[k] !== 'boolean') return `shape.${k} must be true or false, got ${JSON.stringify(s[k])}`;
  }
  if (cls === 'small' && s.M * s.N > SMALL_OUTPUTS_AT_MOST) return `a 'small' product has at most 64² outputs, and ${s.M} × ${s.N} has ${s.M * s.N}`;
  if (cls === 'narrow' && (s.N >= NARROW_BELOW_N || s.M * s.N <= SMALL_OUTPUTS_AT_MOST))
    return `a 'narrow' product has N < ${NARROW_BELOW_N} and more than 64² outputs, and ${s.M} × ${s.N} has N = ${s.N}, ${s.M * s.N} outputs`;
  return null;
}

/**
 * Time every candidate on one product (median of `reps`), install the fastest as the config of
 * its class, and return all results, fastest first. Candidates whose output differs from the
 * default's are dropped. Without `shape` and `class`: n×n×n, the general config.
 */
export async function tuneMatmul(options: TuneMatmulOptions = {}): Promise<TuneResult[]> {
  checkOptions('tuneMatmul', options, optionKeys<TuneMatmulOptions>({ n: true, shape: true, class: true, reps: true, candidates: true }));
  const cls = options.class ?? 'wide';
  if (!['wide', 'narrow', 'small'].includes(cls)) throw new Error(`tuneMatmul: class must be 'wide', 'narrow' or 'small', got ${JSON.stringify(cls)}.`);
  if (options.n !== undefined && options.shape !== undefined) throw new Error('tuneMatmul: give n (an n×n×n product) or shape, not both.');
  if (options.shape !== undefined) checkOptions('tuneMatmul shape', options.shape, optionKeys<TuneShape>({ M: true, N: true, K: true, transA: true, transB: true }), 'field');
  if (options.shape === undefined && cls !== 'wide') throw new Error(`tuneMatmul: class '${cls}' needs a shape of that class ({ M, N, K }).`);
  const n = options.n ?? 512;
  const shape = options.shape ?? { M: n, N: n, K: n };
  const problem = shapeProblem(cls, shape);
  if (problem) throw new Error(`tuneMatmul: ${problem}.`);
  const candidates = options.candidates ?? (cls === 'wide' ? MATMUL_CANDIDATES : MATMUL_SHAPE_CANDIDATES);
  const results = await timeMatmulCandidates(cls, shape, candidates, options.reps ?? 3);
  const best = results[0]?.config;
  if (best) {
    const shapes = tunedShapeConfigs() ?? {};
    if (cls === 'wide') setTunedMatmulConfig(best, shapes);
    else setTunedMatmulConfig(saveMatmulConfigState().config ?? null, { ...shapes, [cls]: best });
  }
  return results;
}
