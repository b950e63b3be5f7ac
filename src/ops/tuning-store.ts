/**
 * The tuning cache's light half (issue 24): the record of an adapter's measured winners, the
 * platform store that keeps them (Node: a JSON file; browser: IndexedDB; installed by each entry
 * point), and installing a stored record — what `init({ tune: true })` does, without timing
 * anything (so an app that never times pulls in no tuner). Timing lives in ./tuning.ts (tune()).
 * A record is for the adapter it was timed on (`tuningKey`) and the hemgpu version that timed it
 * (the kernels change between versions); any other is refused.
 */
import { adapterInfo, engine, type AdapterSummary } from '../device/engine.ts';
import { checkMatmulConfig, setTunedMatmulConfig, type MatmulConfig, type TunedShapeConfigs } from '../kernels/matmul-config.ts';
import { setHemKernelConfig, type HemKernelConfig } from '../kernels/hem-config.ts';
import { HEMGPU_VERSION } from '../version.ts';

/** One candidate's timing, as tuneMatmul and tuneHem report it. */
interface CandidateTiming<C> {
  config: C;
  ms: number;
}

export interface TuningRecord {
  /** The adapter the winners were timed on: tuningKey(adapterInfo()). */
  key: string;
  /** The hemgpu version that timed them. */
  version: string;
  /** When (ISO 8601). */
  date: string;
  /** The winners, installed by applyTuning: matmul for square and wide products, matmulShapes for narrow and small ones (records timed before 2026-12-07 have none: those classes keep their defaults). */
  matmul: MatmulConfig;
  matmulShapes?: TunedShapeConfigs;
  hem: HemKernelConfig;
  /** Every candidate that ran, fastest first (median milliseconds). */
  timings: {
    matmul: CandidateTiming<MatmulConfig>[];
    matmulShapes?: { narrow: CandidateTiming<MatmulConfig>[]; small: CandidateTiming<MatmulConfig>[] };
    hem: CandidateTiming<HemKernelConfig>[];
  };
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

/**
 * Install a record's winners on the current engine. Refused, naming the reason, when the record
 * is for another adapter or hemgpu version, or its configs do not fit this engine.
 */
export function applyTuning(record: TuningRecord): void {
  if (!record || typeof record !== 'object') throw new Error(`applyTuning: expected a tuning record, got ${JSON.stringify(record)}.`);
  const key = tuningKey(adapterInfo());
  if (record.key !== key) throw new Error(`applyTuning: the record was timed on '${record.key}', not on this adapter ('${key}'); run tune() here.`);
  if (record.version !== HEMGPU_VERSION)
    throw new Error(`applyTuning: the record was timed by hemgpu ${record.version}, not ${HEMGPU_VERSION} (its kernels may differ); run tune() again.`);
  checkMatmulConfig(record.matmul);
  const shapes = record.matmulShapes ?? {};
  if (shapes.narrow) checkMatmulConfig(shapes.narrow);
  if (shapes.small) checkMatmulConfig(shapes.small);
  setHemKernelConfig(record.hem); // checks it against this engine first
  setTunedMatmulConfig(record.matmul, shapes);
}

/** Per engine: the record installed by init({ tune: true }), tune() or `hemgpu tune`, and where it is kept. */
const applied = new WeakMap<object, { record: TuningRecord; where: string | null }>();

/** The tuning installed on the current engine, if any. */
export function appliedTuning(): { record: TuningRecord; where: string | null } | null {
  return applied.get(engine()) ?? null;
}

export function markApplied(record: TuningRecord, where: string | null): void {
  applied.set(engine(), { record, where });
}

/**
 * Install the stored record of this adapter and version, if the store has one that applies;
 * returns it (null: nothing stored, or it does not apply — a warning says why — and nothing
 * changed). Times nothing.
 */
export async function storedTuning(): Promise<TuningRecord | null> {
  const s = store;
  if (!s) return null;
  const found = await s.load(tuningKey(adapterInfo()), HEMGPU_VERSION);
  if (!found) return null;
  try {
    applyTuning(found);
  } catch (err) {
    console.warn(`hemgpu: the stored tuning in ${s.where} does not apply (${(err as Error).message}); the defaults stay in place. Run tune() (hemgpu tune) again.`);
    return null;
  }
  markApplied(found, s.where);
  return found;
}
