/**
 * The tuning cache (issue 24): which matmul tile shape and which HEM kernel path win on an
 * adapter is measured there, once, and kept — as cuDNN's benchmark mode and TVM's tuning logs
 * keep their winners — instead of guessed from the kind of adapter. `tune()` times the
 * candidates of tuneMatmul and tuneHem on the current engine, installs the winners and returns a
 * record; a platform store (Node: a JSON file; browser: IndexedDB) keeps one record per adapter
 * and hemgpu version, and `init({ tune: true })` installs the stored winners, timing them first
 * only where none are stored. A record is for the adapter it was timed on (`tuningKey`) and the
 * hemgpu version that timed it (the kernels change between versions); any other is ignored.
 */
import { adapterInfo, engine, type AdapterSummary } from '../device/engine.ts';
import { checkMatmulConfig, setMatmulConfig, type MatmulConfig } from '../kernels/matmul-config.ts';
import { setHemKernelConfig, type HemKernelConfig } from '../kernels/hem-config.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';
import { HEMGPU_VERSION } from '../version.ts';
import { tuneHem, type HemTuneResult } from './hem-tune.ts';
import { tuneMatmul, type TuneResult } from './matmul-tune.ts';

export interface TuningRecord {
  /** The adapter the winners were timed on: tuningKey(adapterInfo()). */
  key: string;
  /** The hemgpu version that timed them. */
  version: string;
  /** When (ISO 8601). */
  date: string;
  /** The winners, installed by applyTuning. */
  matmul: MatmulConfig;
  hem: HemKernelConfig;
  /** Every candidate that ran, fastest first (median milliseconds). */
  timings: { matmul: TuneResult[]; hem: HemTuneResult[] };
}

/** Where a platform keeps the records: one per (key, version). */
export interface TuningStore {
  /** Where the records live, for messages (a file path, or "IndexedDB 'hemgpu'"). */
  readonly where: string;
  /** The record for `key` and `version`, or null. A store it cannot read counts as empty (with a warning). */
  load(key: string, version: string): Promise<TuningRecord | null>;
  /** Keep `record`, replacing the one of its key and version. */
  save(record: TuningRecord): Promise<void>;
}

let store: TuningStore | null = null;

/** Install the platform's store (index.node.ts, index.browser.ts); returns the one it replaces. */
export function setTuningStore(s: TuningStore | null): TuningStore | null {
  const prev = store;
  store = s;
  return prev;
}

export function getTuningStore(): TuningStore | null {
  return store;
}

/** An adapter's identity for the cache: what it is, how it is reached, and the settings that change kernel speed. */
export function tuningKey(a: AdapterSummary): string {
  return [a.platform, a.vendor, a.architecture, a.device, a.description, `robustness ${a.robustness ? 'on' : 'off'}`, `subgroups ${a.subgroupSize ?? 'none'}`].join(' | ');
}

export interface TuneOptions {
  /** Fewer repetitions and smaller shapes (a smoke test; the winners are noisier). Default false. */
  quick?: boolean;
  /** The candidates to time (default: MATMUL_CANDIDATES and HEM_CANDIDATES). */
  candidates?: { matmul?: MatmulConfig[]; hem?: HemKernelConfig[] };
}

/**
 * Time the matmul and HEM candidates on the current engine, install the fastest of each, and
 * return the record (not stored: `init({ tune: true })` and `hemgpu tune` store it). The shapes
 * are fixed: matmul 512³ and the HEM layer at B 1, N 4096, C 64, K 64 (quick: 128³ and N 256,
 * C 16, K 8), so the winners suit products and layers of about that size.
 */
export async function tune(options: TuneOptions = {}): Promise<TuningRecord> {
  checkOptions('tune', options, optionKeys<TuneOptions>({ quick: true, candidates: true }));
  const quick = options.quick ?? false;
  if (typeof quick !== 'boolean') throw new Error(`tune: quick must be true or false, got ${JSON.stringify(quick)}.`);
  const cand = options.candidates ?? {};
  checkOptions('tune candidates', cand, optionKeys<NonNullable<TuneOptions['candidates']>>({ matmul: true, hem: true }));
  const matmul = await tuneMatmul({ ...(quick ? { n: 128, reps: 1 } : { n: 512, reps: 3 }), ...(cand.matmul ? { candidates: cand.matmul } : {}) });
  const hem = await tuneHem({ ...(quick ? { N: 256, C: 16, K: 8, reps: 1 } : { N: 4096, C: 64, K: 64, reps: 3 }), ...(cand.hem ? { candidates: cand.hem } : {}) });
  if (!matmul[0] || !hem[0]) throw new Error('tune: no candidate ran correctly on this adapter; the defaults stay in place.');
  return { key: tuningKey(adapterInfo()), version: HEMGPU_VERSION, date: new Date().toISOString(), matmul: matmul[0].config, hem: hem[0].config, timings: { matmul, hem } };
}

/**
 * Install a record's winners on the current engine. Refused, naming the reason, when the record
 * is for another adapter or hemgpu version, or its configs do not fit this engine.
 */
export function applyTuning(record: TuningRecord): void {
  if (!record || typeof record !== 'object') throw new Error(`applyTuning: expected a tuning record, got ${JSON.stringify(record)}.`);
  const key = tuningKey(adapterInfo());
  if (record.key !== key) throw new Error(`applyTuning: the record was timed on '${record.key}', not on this adapter ('${key}'); run tune() here.`);
  if (record.version !== HEMGPU_VERSION) throw new Error(`applyTuning: the record was timed by hemgpu ${record.version}, not ${HEMGPU_VERSION} (its kernels may differ); run tune() again.`);
  checkMatmulConfig(record.matmul);
  setHemKernelConfig(record.hem); // checks it against this engine first
  setMatmulConfig(record.matmul);
}

/** Per engine: the record installed by tuneCached or storedTuning, and where it came from. */
const applied = new WeakMap<object, { record: TuningRecord; where: string | null }>();

/** The tuning installed on the current engine by init({ tune }) or `hemgpu tune`, if any. */
export function appliedTuning(): { record: TuningRecord; where: string | null } | null {
  return applied.get(engine()) ?? null;
}

/**
 * Install the stored record of this adapter and version, if the store has one that applies;
 * returns it (null: nothing stored, and nothing changed). Times nothing.
 */
export async function storedTuning(): Promise<TuningRecord | null> {
  const s = store;
  if (!s) return null;
  const found = await s.load(tuningKey(adapterInfo()), HEMGPU_VERSION);
  if (!found) return null;
  try {
    applyTuning(found);
  } catch (err) {
    console.warn(`hemgpu: the stored tuning in ${s.where} does not apply (${(err as Error).message}); the defaults stay in place.`);
    return null;
  }
  applied.set(engine(), { record: found, where: s.where });
  return found;
}

/**
 * The winners for the current engine: the stored record if the store has one for this adapter
 * and version (installed as it is), else a new tune() (installed and stored). `refresh` times
 * anew even where a record is stored.
 */
export async function tuneCached(options: TuneOptions & { refresh?: boolean } = {}): Promise<{ record: TuningRecord; cached: boolean; where: string | null }> {
  const { refresh = false, ...rest } = options;
  const s = store;
  if (s && !refresh) {
    const found = await s.load(tuningKey(adapterInfo()), HEMGPU_VERSION);
    if (found) {
      try {
        applyTuning(found);
        applied.set(engine(), { record: found, where: s.where });
        return { record: found, cached: true, where: s.where };
      } catch (err) {
        console.warn(`hemgpu: the stored tuning in ${s.where} does not apply (${(err as Error).message}); timing the candidates again.`);
      }
    }
  }
  const record = await tune(rest);
  if (s) await s.save(record);
  applied.set(engine(), { record, where: s?.where ?? null });
  return { record, cached: false, where: s?.where ?? null };
}
