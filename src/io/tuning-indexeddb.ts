/**
 * The browser tuning store: the records in IndexedDB (database 'hemgpu', object store 'tuning',
 * keyed by adapter key and version), so a page or Worker times its adapter once per origin. A
 * database that cannot be opened (a private window, storage disabled) counts as empty, with a
 * warning, and saving to it warns instead of failing: it is a cache.
 */
import type { TuningRecord, TuningStore } from '../ops/tuning-store.ts';

const DB = 'hemgpu';
const STORE = 'tuning';

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

function open(): Promise<IDBDatabase> {
  const r = indexedDB.open(DB, 1);
  r.onupgradeneeded = () => {
    r.result.createObjectStore(STORE, { keyPath: ['key', 'version'] });
  };
  return request(r);
}

export class TuningIndexedDb implements TuningStore {
  readonly where = `IndexedDB '${DB}', object store '${STORE}'`;

  async load(key: string, version: string): Promise<TuningRecord | null> {
    try {
      const db = await open();
      try {
        const r = (await request(db.transaction(STORE, 'readonly').objectStore(STORE).get([key, version]))) as TuningRecord | undefined;
        return r ?? null;
      } finally {
        db.close();
      }
    } catch (err) {
      console.warn(`hemgpu: the tuning cache (${this.where}) cannot be read: ${(err as Error).message}; timing the candidates.`);
      return null;
    }
  }

  async save(record: TuningRecord): Promise<void> {
    try {
      const db = await open();
      try {
        const tx = db.transaction(STORE, 'readwrite');
        tx.objectStore(STORE).put(record);
        await new Promise<void>((resolve, reject) => {
          tx.oncomplete = () => resolve();
          tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
        });
      } finally {
        db.close();
      }
    } catch (err) {
      console.warn(`hemgpu: the tuning could not be kept (${this.where}): ${(err as Error).message}; it applies to this page only.`);
    }
  }
}
