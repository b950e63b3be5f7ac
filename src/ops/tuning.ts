/**
 * Timing for the tuning cache (issue 24): `tune()` times the candidates of tuneMatmul and
 * tuneHem on the current engine, installs the fastest and keeps the record in the platform's
 * store (./tuning-store.ts), from which `init({ tune: true })` installs it in later runs — as
 * cuDNN's benchmark mode and TVM's tuning logs keep their winners, instead of guessing them
 * from the kind of adapter.
 */
import { adapterInfo } from '../device/engine.ts';
import type { MatmulConfig } from '../kernels/matmul-config.ts';
import type { HemKernelConfig } from '../kernels/hem-config.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';
import { HEMGPU_VERSION } from '../version.ts';
import { tuneHem } from './hem-tune.ts';
import { tuneMatmul } from './matmul-tune.ts';
import { applyTuning, getTuningStore, markApplied, tuningKey, type TuningRecord } from './tuning-store.ts';

export interface TuneOptions {
  /** Fewer repetitions and smaller shapes (a smoke test; the winners are noisier). Default false. */
  quick?: boolean;
  /** The candidates to time (default: MATMUL_CANDIDATES and HEM_CANDIDATES). */
  candidates?: { matmul?: MatmulConfig[]; hem?: HemKernelConfig[] };
  /** Keep the record in the platform's store (default true). */
  store?: boolean;
}

/**
 * Time the matmul and HEM candidates on the current engine, install the fastest of each, keep
 * the record in the platform's store (unless `store: false`) and return it. The shapes are
 * fixed: matmul 512³ and the HEM layer at B 1, N 4096, C 64, K 64 (quick: 128³ and N 256, C 16,
 * K 8), so the winners suit products and layers of about that size.
 */
export async function tune(options: TuneOptions = {}): Promise<TuningRecord> {
  checkOptions('tune', options, optionKeys<TuneOptions>({ quick: true, candidates: true, store: true }));
  const { quick = false, store: keep = true } = options;
  if (typeof quick !== 'boolean') throw new Error(`tune: quick must be true or false, got ${JSON.stringify(quick)}.`);
  if (typeof keep !== 'boolean') throw new Error(`tune: store must be true or false, got ${JSON.stringify(keep)}.`);
  const cand = options.candidates ?? {};
  checkOptions('tune candidates', cand, optionKeys<NonNullable<TuneOptions['candidates']>>({ matmul: true, hem: true }));
  const matmul = await tuneMatmul({ ...(quick ? { n: 128, reps: 1 } : { n: 512, reps: 3 }), ...(cand.matmul ? { candidates: cand.matmul } : {}) });
  const hem = await tuneHem({ ...(quick ? { N: 256, C: 16, K: 8, reps: 1 } : { N: 4096, C: 64, K: 64, reps: 3 }), ...(cand.hem ? { candidates: cand.hem } : {}) });
  if (!matmul[0] || !hem[0]) throw new Error('tune: no candidate ran correctly on this adapter; the defaults stay in place.');
  const record: TuningRecord = {
    key: tuningKey(adapterInfo()),
    version: HEMGPU_VERSION,
    date: new Date().toISOString(),
    matmul: matmul[0].config,
    hem: hem[0].config,
    timings: { matmul: matmul.map(({ config, ms }) => ({ config, ms })), hem },
  };
  applyTuning(record);
  const s = keep ? getTuningStore() : null;
  if (s) await s.save(record);
  markApplied(record, s?.where ?? null);
  return record;
}
