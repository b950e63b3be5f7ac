/**
 * The Node tuning store: one JSON file of records, by default ~/.cache/hemgpu/tuning.json
 * ($XDG_CACHE_HOME/hemgpu/tuning.json where set; $HEMGPU_TUNING_CACHE names another file).
 * Written atomically (temporary file, then rename). A file that cannot be read or parsed counts
 * as empty, with a warning naming it, and is replaced at the next save: it is a cache.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TuningRecord, TuningStore } from '../ops/tuning-store.ts';
import { makeDirectory } from './make-directory.ts';

export function tuningFilePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HEMGPU_TUNING_CACHE) return env.HEMGPU_TUNING_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'hemgpu', 'tuning.json');
}

function isRecord(r: unknown): r is TuningRecord {
  const o = r as Partial<TuningRecord> | null;
  return (
    !!o && typeof o === 'object' && typeof o.key === 'string' && typeof o.version === 'string' && !!o.matmul && typeof o.matmul === 'object' && !!o.hem && typeof o.hem === 'object'
  );
}

export class TuningFile implements TuningStore {
  constructor(readonly where: string = tuningFilePath()) {}

  /** Every record the file holds ([] when it is missing or unreadable). */
  records(): TuningRecord[] {
    if (!existsSync(this.where)) return [];
    try {
      const doc = JSON.parse(readFileSync(this.where, 'utf8')) as { records?: unknown };
      if (!doc || !Array.isArray(doc.records) || !doc.records.every(isRecord)) throw new Error('expected { "records": [ tuning records ] }');
      return doc.records;
    } catch (err) {
      console.warn(`hemgpu: ignoring the tuning cache ${this.where}: ${(err as Error).message}. It is replaced at the next tuning.`);
      return [];
    }
  }

  async load(key: string, version: string): Promise<TuningRecord | null> {
    return this.records().find((r) => r.key === key && r.version === version) ?? null;
  }

  async save(record: TuningRecord): Promise<void> {
    const records = [...this.records().filter((r) => !(r.key === record.key && r.version === record.version)), record];
    makeDirectory(dirname(this.where));
    const tmp = `${this.where}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify({ records }, null, 2)}\n`);
    renameSync(tmp, this.where);
  }
}
