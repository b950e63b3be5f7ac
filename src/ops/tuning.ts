/**
 * Timing for the tuning cache (issue 24): `tune()` times the matmul candidates per product class
 * (square, narrow, small) and tuneHem's on the current engine, installs the fastest and keeps
 * the record in the platform's store (./tuning-store.ts), from which `init({ tune: true })`
 * installs it in later runs — as
 * cuDNN's benchmark mode and TVM's tuning logs keep their winners, instead of guessing them
 * from the kind of adapter.
 */
import { adapterInfo } from '../device/engine.ts';
import type { MatmulConfig } from '../kernels/matmul-config.ts';
import type { HemKernelConfig } from '../kernels/hem-config.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';
import { HEMGPU_VERSION } from '../version.ts';
import { tuneHem } from './hem-tune.ts';
import { MATMUL_CANDIDATES, MATMUL_SHAPE_CANDIDATES, timeMatmulCandidates, type TuneClass, type TuneResult, type TuneShape } from './matmul-tune.ts';
import { applyTuning, getTuningStore, markApplied, tuningKey, type TuningRecord } from './tuning-store.ts';

export interface TuneOptions {
  /** Fewer repetitions and smaller shapes (a smoke test; the winners are noisier). Default false. */
  quick?: boolean;
  /** The candidates to time (default: MATMUL_CANDIDATES, MATMUL_SHAPE_CANDIDATES for narrow and small products, HEM_CANDIDATES). */
  candidates?: { matmul?: MatmulConfig[]; matmulShapes?: MatmulConfig[]; hem?: HemKernelConfig[] };
  /** Keep the record in the platform's store (default true). */
  store?: boolean;
}

/** The products tune() times each matmul class on (quick: the smaller ones). */
const SHAPES: Record<'full' | 'quick', Record<TuneClass, TuneShape>> = {
  // Square; a 3 × 3 convolution's product at 48 channels over 2048 pixels; a weight gradient (γᵀX) with a long K.
  full: { wide: { M: 512, N: 512, K: 512 }, narrow: { M: 2048, N: 48, K: 432 }, small: { M: 64, N: 64, K: 1024, transA: true } },
  quick: { wide: { M: 128, N: 128, K: 128 }, narrow: { M: 256, N: 16, K: 64 }, small: { M: 48, N: 48, K: 128, transA: true } },
};

/**
 * Time the matmul and HEM candidates on the current engine, install the fastest of each, keep
 * the record in the platform's store (unless `store: false`) and return it. The shapes are
 * fixed: matmul 512³ for square and wide products, 2048 × 48 × 432 for narrow ones (N < 256)
 * and 64 × 64 × 1024 (transA) for small outputs, and the HEM layer at B 1, N 4096, C 64, K 64
 * (quick: 128³, 256 × 16 × 64, 48 × 48 × 128 and N 256, C 16, K 8), so the winners suit products
 * and layers of about those sizes.
 */
export async function tune(options: TuneOptions = {}): Promise<TuningRecord> {
  checkOptions('tune', options, optionKeys<TuneOptions>({ quick: true, candidates: true, store: true }));
  const { quick = false, store: keep = true } = options;
  if (typeof quick !== 'boolean') throw new Error(`tune: quick must be true or false, got ${JSON.stringify(quick)}.`);
  if (typeof keep !== 'boolean') throw new Error(`tune: store must be true or false, got ${JSON.stringify(keep)}.`);
  const cand = options.candidates ?? {};
  checkOptions('tune candidates', cand, optionKeys<NonNullable<TuneOptions['candidates']>>({ matmul: true, matmulShapes: true, hem: true }));
  const shapes = SHAPES[quick ? 'quick' : 'full'];
  const reps = quick ? 1 : 3;
  const matmul = await timeMatmulCandidates('wide', shapes.wide, cand.matmul ?? MATMUL_CANDIDATES, reps);
  const narrow = await timeMatmulCandidates('narrow', shapes.narrow, cand.matmulShapes ?? MATMUL_SHAPE_CANDIDATES, reps);
  const small = await timeMatmulCandidates('small', shapes.small, cand.matmulShapes ?? MATMUL_SHAPE_CANDIDATES, reps);
  const hem = await tuneHem({ ...(quick ? { N: 256, C: 16, K: 8, reps: 1 } : { N: 4096, C: 64, K: 64, reps: 3 }), ...(cand.hem ? { candidates: cand.hem } : {}) });
  if (!matmul[0] || !narrow[0] || !small[0] || !hem[0]) throw new Error('tune: no candidate ran correctly on this adapter; the defaults stay in place.');
  const timings = (rs: TuneResult[]) => rs.map(({ config, ms }) => ({ config, ms }));
  const record: TuningRecord = {
    key: tuningKey(adapterInfo()),
    version: HEMGPU_VERSION,
    date: new Date().toISOString(),
    matmul: matmul[0].config,
    matmulShapes: { narrow: narrow[0].config, small: small[0].config },
    hem: hem[0].config,
    timings: { matmul: timings(matmul), matmulShapes: { narrow: timings(narrow), small: timings(small) }, hem },
  };
  applyTuning(record);
  const s = keep ? getTuningStore() : null;
  if (s) await s.save(record);
  markApplied(record, s?.where ?? null);
  return record;
}
