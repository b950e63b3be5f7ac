/**
 * The HEM layer's kernel tuner: times the register-tiled kernels and candidate workgroup tiles of
 * the tiled kernels (src/kernels/hem-config.ts) on one forward+backward of the layer at a given
 * shape on the current adapter, checks each candidate's output and gradients against the
 * register path's, and installs the fastest. CPU drivers favour the register path, GPUs the
 * tiled one; which tiles win depends on the GPU and the shape, so callers tune for their shape.
 */
import { getHemKernelConfig, setHemKernelConfig, REGISTER_HEM_CONFIG, type HemKernelConfig } from '../kernels/hem-config.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';
import { tidy } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { randn } from './create.ts';
import { mul } from './elementwise.ts';
import { hem } from './hem/hem.ts';
import { sum } from './reduce.ts';
import { medianMs } from './tune-timing.ts';

export const HEM_CANDIDATES: HemKernelConfig[] = [
  REGISTER_HEM_CONFIG,
  { ...REGISTER_HEM_CONFIG, blocks: 2 },
  { path: 'tiled', TX: 8, TY: 8, RT: 16 },
  { path: 'tiled', TX: 8, TY: 16, RT: 16 },
  { path: 'tiled', TX: 16, TY: 8, RT: 8 },
  { path: 'tiled', TX: 8, TY: 8, RT: 32 },
  { path: 'tiled', TX: 4, TY: 16, RT: 16 },
  { path: 'tiled', TX: 16, TY: 16, RT: 8 },
  // The subgroup E-step kernels (dropped where the adapter has no fixed subgroup size).
  { ...REGISTER_HEM_CONFIG, subgroups: true },
  { path: 'tiled', TX: 8, TY: 8, RT: 16, subgroups: true },
];

export interface HemTuneResult {
  config: HemKernelConfig;
  /** Median milliseconds of one forward+backward (T = 3). */
  ms: number;
}

interface HemTuneOptions {
  /** The layer's shape: x [B, N, C], K bases. Default B 1, N 4096, C 64, K 64. */
  B?: number;
  N?: number;
  C?: number;
  K?: number;
  reps?: number;
  candidates?: HemKernelConfig[];
}

/**
 * Time every candidate (median of `reps` forward+backward calls after one warm-up), install the
 * fastest and return all, fastest first. Candidates the adapter cannot run (too much workgroup
 * memory) or whose results differ from the register path's are dropped.
 */
export async function tuneHem(options: HemTuneOptions = {}): Promise<HemTuneResult[]> {
  checkOptions('tuneHem', options, optionKeys<HemTuneOptions>({ B: true, N: true, C: true, K: true, reps: true, candidates: true }));
  const { B = 1, N = 4096, C = 64, K = 64, reps = 3, candidates = HEM_CANDIDATES } = options;
  for (const [k, v] of Object.entries({ B, N, C, K, reps })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`tuneHem: ${k} must be a positive integer, got ${v}.`);
  }
  const before = getHemKernelConfig();
  const x = randn([B, N, C], { seed: 21, requiresGrad: true }).keep();
  const mu0 = randn([K, C], { seed: 22, std: 1 / Math.sqrt(C), requiresGrad: true }).keep();
  const g = randn([B, N, C], { seed: 23 }).keep();
  const call = (): void => {
    x.zeroGrad();
    mu0.zeroGrad();
    tidy(() => sum(mul(hem(x, mu0, { eta: 0.5, iterations: 3 }).out, g)).backward());
  };
  const outputs = async (): Promise<Float32Array[]> => {
    call();
    return [await x.grad!.read(), await mu0.grad!.read()];
  };
  const results: HemTuneResult[] = [];
  try {
    setHemKernelConfig(REGISTER_HEM_CONFIG);
    const expected = await outputs();
    for (const config of candidates) {
      try {
        setHemKernelConfig(config);
      } catch {
        continue; // not runnable on this adapter (limits)
      }
      const got = await outputs();
      if (!got.every((v, i) => close(v, expected[i]!))) continue;
      results.push({ config, ms: await medianMs(reps, call) });
    }
  } finally {
    for (const t of [x, mu0, g] as Tensor[]) {
      t.zeroGrad();
      t.dispose();
    }
  }
  results.sort((a, b) => a.ms - b.ms);
  setHemKernelConfig(results[0]?.config ?? before);
  return results;
}

/** Gradients agree to 1e-3 of the largest magnitude (the paths sum in different orders). */
function close(a: Float32Array, b: Float32Array): boolean {
  let scale = 0;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i]! - b[i]!) <= 1e-3 * scale)) return false;
  return true;
}
