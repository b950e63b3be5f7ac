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
import { DEFAULT_MATMUL_CONFIG, checkMatmulConfig, getMatmulConfig, setMatmulConfig, setTunedMatmulConfig, type MatmulConfig } from '../kernels/matmul-config.ts';
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
 * Time every candidate on an n×n×n product (median of `reps`), install the fastest, and return
 * all results, fastest first. Candidates whose output differs from the default's are dropped.
 */
export async function tuneMatmul(options: { n?: number; reps?: number; candidates?: MatmulConfig[] } = {}): Promise<TuneResult[]> {
  checkOptions('tuneMatmul', options, optionKeys<NonNullable<Parameters<typeof tuneMatmul>[0]>>({ n: true, reps: true, candidates: true }));
  const n = options.n ?? 512;
  const reps = options.reps ?? 3;
  const candidates = options.candidates ?? MATMUL_CANDIDATES;
  const before = getMatmulConfig();
  const a = randn([n, n], { seed: 11 });
  const b = randn([n, n], { seed: 12 });
  const results: TuneResult[] = [];
  try {
    setMatmulConfig(DEFAULT_MATMUL_CONFIG);
    const ref = matmul(a, b);
    const expected = await ref.read();
    ref.dispose();
    for (const config of candidates) {
      checkMatmulConfig(config);
      setMatmulConfig(config);
      const c = matmul(a, b);
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
          matmul(a, b);
        }),
      );
      results.push({ config, ms, gflops: (2 * n * n * n) / (ms * 1e6) });
    }
  } finally {
    a.dispose();
    b.dispose();
  }
  results.sort((x, y) => x.ms - y.ms);
  if (results[0]) setTunedMatmulConfig(results[0].config);
  else setMatmulConfig(before);
  return results;
}
