/**
 * The tuning cache (issue 24, src/ops/tuning.ts and tuning-store.ts): tune() times candidates,
 * installs and stores the winners; applyTuning refuses a record of another adapter or version;
 * init({ tune: true }) installs a stored record and times nothing; the Node store's file (atomic,
 * a corrupt file counts as empty with a warning); `hemgpu tune` on the command line, and the
 * other commands starting from the stored winners. The browser's IndexedDB store is tested in
 * Chromium (test/browser/browser.test.ts).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { getHemKernelConfig, REGISTER_HEM_CONFIG, setHemKernelConfig } from '../../src/kernels/hem-config.ts';
import {
  DEFAULT_MATMUL_CONFIG,
  getMatmulConfig,
  matmulConfig,
  NARROW_MATMUL_CONFIG,
  setMatmulConfig,
  SMALL_MATMUL_CONFIG,
  tunedShapeConfigs,
} from '../../src/kernels/matmul-config.ts';
import { timeMatmulCandidates } from '../../src/ops/matmul-tune.ts';
import { getTuningStore, setTuningStore, type TuningRecord, type TuningStore } from '../../src/ops/tuning-store.ts';
import { TuningFile, tuningFilePath } from '../../src/io/tuning-file.ts';
import { HEMGPU_VERSION } from '../../src/version.ts';
import { main } from '../../src/cli/main.ts';
import pkg from '../../package.json';

let dir: string;
let nodeStore: TuningStore | null;

beforeAll(async () => {
  await hg.init();
  dir = mkdtempSync(join(tmpdir(), 'hemgpu-tuning-'));
  nodeStore = getTuningStore();
});

afterEach(() => {
  setMatmulConfig(DEFAULT_MATMUL_CONFIG);
  setHemKernelConfig(REGISTER_HEM_CONFIG);
  setTuningStore(nodeStore);
  vi.restoreAllMocks();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const FEW = {
  matmul: [
    { kind: 'register' as const, BM: 2, BN: 1, WG_X: 8, WG_Y: 8 },
    { kind: 'register' as const, BM: 1, BN: 1, WG_X: 8, WG_Y: 8 },
  ],
  hem: [REGISTER_HEM_CONFIG],
};

function memoryStore(): TuningStore & { records: TuningRecord[]; saves: number } {
  const records: TuningRecord[] = [];
  return {
    where: 'memory',
    records,
    saves: 0,
    async load(key, version) {
      return records.find((r) => r.key === key && r.version === version) ?? null;
    },
    async save(r) {
      this.saves++;
      records.splice(0, records.length, ...records.filter((x) => !(x.key === r.key && x.version === r.version)), r);
    },
  };
}

/** A record of this adapter and version with `matmul` as the square winner; `extra` overrides any field. */
function thisAdapterRecord(matmul: hg.MatmulConfig, extra: Partial<TuningRecord> = {}): TuningRecord {
  return { key: hg.tuningKey(hg.adapterInfo()), version: HEMGPU_VERSION, date: '', matmul, hem: REGISTER_HEM_CONFIG, timings: { matmul: [], hem: [] }, ...extra };
}

describe('tuning', () => {
  test('the version the records carry is the package version', () => {
    expect(HEMGPU_VERSION).toBe(pkg.version);
  });

  test('tune() times the candidates, installs the winners and returns them with every timing', async () => {
    const store = memoryStore();
    setTuningStore(store);
    const r = await hg.tune({ quick: true, candidates: { ...FEW, matmulShapes: FEW.matmul } });
    expect(store.records).toEqual([r]);
    // Narrow and small products are timed at shapes of their own and get their own winners.
    for (const cls of ['narrow', 'small'] as const) {
      expect(r.timings.matmulShapes![cls]).toHaveLength(FEW.matmul.length);
      expect(r.timings.matmulShapes![cls][0]!.ms).toBeLessThanOrEqual(r.timings.matmulShapes![cls][1]!.ms);
      expect(r.matmulShapes![cls]).toEqual(r.timings.matmulShapes![cls][0]!.config);
    }
    expect(matmulConfig(512, 48)).toMatchObject(r.matmulShapes!.narrow!);
    expect(matmulConfig(64, 64)).toMatchObject(r.matmulShapes!.small!);
    expect(matmulConfig(512, 1024)).toMatchObject(r.matmul);
    expect(hg.appliedTuning()).toEqual({ record: r, where: 'memory' });
    expect(r.key).toBe(hg.tuningKey(hg.adapterInfo()));
    expect(r.version).toBe(HEMGPU_VERSION);
    expect(r.timings.matmul.map((t) => t.config)).toEqual(expect.arrayContaining(FEW.matmul.map((c) => expect.objectContaining({ BM: c.BM, BN: c.BN }))));
    expect(r.timings.matmul[0]!.ms).toBeLessThanOrEqual(r.timings.matmul[1]!.ms);
    expect(getMatmulConfig()).toMatchObject(r.matmul);
    expect(getHemKernelConfig()).toEqual(r.hem);
    const unkept = await hg.tune({ quick: true, candidates: FEW, store: false });
    expect(store.saves).toBe(1);
    expect(hg.appliedTuning()).toEqual({ record: unkept, where: null });
    await expect(hg.tune({ quick: 'yes' } as never)).rejects.toThrow(/tune: quick must be true or false, got "yes"/);
    await expect(hg.tune({ qiuck: true } as never)).rejects.toThrow(/tune.*qiuck/);
    await expect(hg.tune({ store: 1 } as never)).rejects.toThrow(/tune: store must be true or false, got 1/);
    await expect(hg.tune({ candidates: { matmulShape: [] } } as never)).rejects.toThrow(/tune candidates.*matmulShape/);
  });

  test("timing one class leaves the engine's configs as they were, defaults included", async () => {
    hg.resetMatmulConfig();
    const before = [matmulConfig(512, 48), matmulConfig(64, 64), matmulConfig(512, 1024), matmulConfig(12, 16)];
    const rs = await timeMatmulCandidates('narrow', { M: 64, N: 20, K: 36, transB: true }, FEW.matmul, 1);
    expect(rs.map((x) => x.config)).toEqual(expect.arrayContaining(FEW.matmul));
    expect([matmulConfig(512, 48), matmulConfig(64, 64), matmulConfig(512, 1024), matmulConfig(12, 16)]).toEqual(before);
    expect(tunedShapeConfigs()).toBeNull();
  });

  test('applyTuning installs a record of this adapter and version, and refuses others without changing anything', () => {
    const good: TuningRecord = thisAdapterRecord({ kind: 'register', BM: 2, BN: 2, WG_X: 4, WG_Y: 4 });
    hg.applyTuning(good);
    expect(getMatmulConfig()).toEqual(good.matmul);
    // A record timed before the per-class winners existed: narrow and small products keep their defaults.
    expect(tunedShapeConfigs()).toEqual({});
    expect(matmulConfig(512, 48)).toEqual(hg.adapterInfo().software ? NARROW_MATMUL_CONFIG : good.matmul);
    const narrow = { kind: 'register' as const, BM: 4 as const, BN: 2 as const, WG_X: 2, WG_Y: 8 };
    const small = { kind: 'shared' as const, TM: 4, TN: 4, TK: 16, WG_X: 16, WG_Y: 16 };
    hg.applyTuning({ ...good, matmulShapes: { narrow, small } });
    expect([matmulConfig(512, 48), matmulConfig(512, 255), matmulConfig(64, 64), matmulConfig(512, 256)]).toEqual([narrow, narrow, small, good.matmul]);
    expect(matmulConfig(8, 12)).toEqual(SMALL_MATMUL_CONFIG); // 2 × 3 of the small winner's 4 × 4 tiles: fewer than 8
    expect(() => hg.applyTuning({ ...good, matmulShapes: { narrow: { ...narrow, BM: 3 } as never } })).toThrow(/matmul config: BM must be 1, 2 or 4, got 3/);
    expect(matmulConfig(512, 48)).toEqual(narrow);
    setMatmulConfig(DEFAULT_MATMUL_CONFIG);
    expect(tunedShapeConfigs()).toBeNull();
    expect(() => hg.applyTuning({ ...good, key: 'another GPU' })).toThrow(/applyTuning: the record was timed on 'another GPU', not on this adapter/);
    expect(() => hg.applyTuning({ ...good, version: '0.0.1' })).toThrow(/applyTuning: the record was timed by hemgpu 0.0.1, not 0.1.0 .*run tune\(\) again/);
    expect(() => hg.applyTuning({ ...good, matmul: { kind: 'register', BM: 2, BN: 2, WG_X: 64, WG_Y: 64 } })).toThrow(/matmul config: workgroup 64×64/);
    expect(getMatmulConfig()).toEqual({ ...DEFAULT_MATMUL_CONFIG, kind: 'register' });
  });

  test('init({ tune: true }) installs the stored winners of this adapter; a bad value is refused', async () => {
    const store = memoryStore();
    setTuningStore(store);
    const rec: TuningRecord = thisAdapterRecord({ kind: 'register', BM: 1, BN: 2, WG_X: 16, WG_Y: 4 });
    await store.save(rec);
    await hg.init({ tune: true });
    expect(getMatmulConfig()).toEqual(rec.matmul);
    await expect(hg.init({ tune: 'yes' } as never)).rejects.toThrow(/hemgpu init: tune must be true or false, got "yes"/);
  });

  test("init({ tune: true }) with nothing stored keeps the defaults and times nothing; a stored record that no longer applies is refused with a warning; the CLI's commands say when they run tuned", async () => {
    const store = memoryStore();
    setTuningStore(store);
    await hg.init({ tune: true });
    expect(store.saves).toBe(0);
    expect(getMatmulConfig()).toEqual({ ...DEFAULT_MATMUL_CONFIG, kind: 'register' });
    const rec: TuningRecord = thisAdapterRecord({ kind: 'register', BM: 2, BN: 1, WG_X: 8, WG_Y: 4 }, { date: '2026-12-06T10:00:00.000Z' });
    await store.save({ ...rec, matmul: { kind: 'register', BM: 3, BN: 1, WG_X: 8, WG_Y: 8 } });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    await hg.init({ tune: true });
    expect(warn.mock.calls.flat().join(' ')).toMatch(/the stored tuning in memory does not apply .*BM.*the defaults stay in place/);
    expect(getMatmulConfig()).toEqual({ ...DEFAULT_MATMUL_CONFIG, kind: 'register' });
    await store.save(rec);
    const lines: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    expect(await main(['eval', '--checkpoint', join(dir, 'none.safetensors')])).toBe(1);
    expect(lines[0]).toBe('hemgpu: kernels tuned for this adapter (memory, 2026-12-06; hemgpu tune --show lists them)');
    expect(getMatmulConfig()).toEqual(rec.matmul);
    expect(hg.appliedTuning()?.record).toEqual(rec);
  });

  test('the Node store: ~/.cache by default, XDG_CACHE_HOME and HEMGPU_TUNING_CACHE; atomic; a corrupt file is ignored with a warning and replaced', async () => {
    expect(tuningFilePath({ HOME: '/home/u' })).toMatch(/\/\.cache\/hemgpu\/tuning\.json$/);
    expect(tuningFilePath({ XDG_CACHE_HOME: '/x' })).toBe('/x/hemgpu/tuning.json');
    expect(tuningFilePath({ HEMGPU_TUNING_CACHE: '/y/t.json', XDG_CACHE_HOME: '/x' })).toBe('/y/t.json');
    const file = new TuningFile(join(dir, 'deep', 'tuning.json'));
    const rec = (key: string, bm: number): TuningRecord => ({
      key,
      version: HEMGPU_VERSION,
      date: '',
      matmul: { kind: 'register', BM: bm, BN: 1, WG_X: 8, WG_Y: 8 },
      hem: REGISTER_HEM_CONFIG,
      timings: { matmul: [], hem: [] },
    });
    expect(await file.load('a', HEMGPU_VERSION)).toBeNull();
    await file.save(rec('a', 1));
    await file.save(rec('b', 2));
    await file.save(rec('a', 4));
    expect((await file.load('a', HEMGPU_VERSION))!.matmul).toMatchObject({ BM: 4 });
    expect((await file.load('b', HEMGPU_VERSION))!.matmul).toMatchObject({ BM: 2 });
    expect(await file.load('a', '9.9.9')).toBeNull();
    expect(file.records()).toHaveLength(2);
    writeFileSync(file.where, '{"records": [ {"key": 1} ]}');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect(await file.load('a', HEMGPU_VERSION)).toBeNull();
    expect(warn.mock.calls.flat().join(' ')).toMatch(
      /ignoring the tuning cache .*tuning\.json: expected \{ "records": \[ tuning records \] \}\. It is replaced at the next tuning\./,
    );
    await file.save(rec('c', 2));
    expect(JSON.parse(readFileSync(file.where, 'utf8')).records.map((r: TuningRecord) => r.key)).toEqual(['c']);
    expect(existsSync(`${file.where}.tmp-${process.pid}`)).toBe(false);
  });

  test('hemgpu tune: --show before and after a tuning, flags that contradict each other refused', async () => {
    const file = join(dir, 'cli', 'tuning.json');
    setTuningStore(new TuningFile(file));
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    const err = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    expect(await main(['tune', '--show'])).toBe(0);
    expect(lines.join('\n')).toMatch(/nothing stored for this adapter and hemgpu 0\.1\.0 in .*cli\/tuning\.json; run hemgpu tune\./);
    lines.length = 0;
    expect(await main(['tune', '--quick'])).toBe(0);
    expect(lines.join('\n')).toMatch(
      /matmul \(fastest first\):[\s\S]*matmul, narrow products \(fastest first\):[\s\S]*matmul, small outputs \(fastest first\):[\s\S]*HEM forward\+backward \(fastest first\):[\s\S]*winners: matmul \{.*\} \(narrow \{.*\}, small \{.*\}\), HEM \{.*\}\nstored in .*cli\/tuning\.json/,
    );
    expect(existsSync(file)).toBe(true);
    lines.length = 0;
    expect(await main(['tune', '--show'])).toBe(0);
    expect(lines.join('\n')).toMatch(/stored in .*cli\/tuning\.json, timed .* by hemgpu 0\.1\.0/);
    lines.length = 0;
    // Stored already: shown, not timed again (without --refresh).
    expect(await main(['tune', '--quick'])).toBe(0);
    expect(lines.join('\n')).toMatch(/already stored in .*cli\/tuning\.json \(--refresh times again\)/);
    lines.length = 0;
    // --refresh times again although a record is stored, and replaces it.
    const stored = readFileSync(file, 'utf8');
    expect(await main(['tune', '--quick', '--refresh'])).toBe(0);
    expect(lines.join('\n')).toMatch(/matmul \(fastest first\):[\s\S]*stored in .*cli\/tuning\.json/);
    expect(lines.join('\n')).not.toMatch(/already stored/);
    expect(readFileSync(file, 'utf8')).not.toBe(stored);
    lines.length = 0;
    expect(await main(['tune', '--show', '--refresh'])).toBe(2);
    expect(lines.join('\n')).toBe('--show prints the stored winners and times nothing; leave out --refresh and --quick.');
    log.mockRestore();
    err.mockRestore();
  }, 180_000);

  test('hemgpu tune --show with a record stored before the per-class winners: the square winner alone, the classes on their defaults', async () => {
    const file = new TuningFile(join(dir, 'old', 'tuning.json'));
    setTuningStore(file);
    const old: TuningRecord = thisAdapterRecord(
      { kind: 'register', BM: 2, BN: 2, WG_X: 8, WG_Y: 8 },
      {
        date: '2026-12-06T10:00:00.000Z',
        timings: { matmul: [{ config: { kind: 'register', BM: 2, BN: 2, WG_X: 8, WG_Y: 8 }, ms: 1.5 }], hem: [{ config: REGISTER_HEM_CONFIG, ms: 9 }] },
      },
    );
    await file.save(old);
    const lines: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    expect(await main(['tune', '--show'])).toBe(0);
    const out = lines.join('\n');
    expect(out).toMatch(/matmul \(fastest first\):\n +1\.50 ms +\{"kind":"register","BM":2,"BN":2,"WG_X":8,"WG_Y":8\}\nHEM forward\+backward/);
    expect(out).toMatch(/winners: matmul \{"kind":"register","BM":2,"BN":2,"WG_X":8,"WG_Y":8\}, HEM \{/);
    expect(out).not.toMatch(/narrow/);
    expect(matmulConfig(512, 48)).toEqual(hg.adapterInfo().software ? NARROW_MATMUL_CONFIG : old.matmul);
  });
});
