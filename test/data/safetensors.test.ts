/**
 * Checkpoints in safetensors format (src/io/safetensors.ts): round trips of F32 / I32 / I64 host
 * arrays and f32 / i32 GPU tensors with metadata (bit for bit, NaN and −0 included); the bytes
 * of a written file checked one by one against the format's definition; files written by hand
 * the way other writers lay them out are read; every corruption is refused with an error naming
 * the file and the fault; saves are atomic (a failing tensor read, a failing rename or a missing
 * directory leave no file, no temporary file and any previous file unchanged).
 */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng } from '../helpers.ts';

let dir = '';
beforeAll(async () => {
  await hg.init();
  dir = await mkdtemp(join(tmpdir(), 'hemgpu-safetensors-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** Build a safetensors file by hand from a header object (or raw header text) and data bytes. */
function rawFile(header: object | string, data: Uint8Array | number[] = []): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function f32Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => v.setFloat32(i * 4, x, true));
  return out;
}

describe('round trip', () => {
  test('F32, I32 and I64 host arrays and f32 / i32 GPU tensors, with metadata, bit for bit', async () => {
    const rng = new Rng(7);
    const special = Float32Array.of(NaN, -0, 0, Infinity, -Infinity, 1e-45, 3.4028234663852886e38, -1.5);
    const f32 = rng.f32(3 * 5 * 7);
    const i32 = Int32Array.from({ length: 33 }, (_, i) => (i % 2 ? -1 : 1) * i * 65537);
    i32[0] = -2147483648;
    const i64 = BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n, 123456789012345n);
    const gpuF32 = hg.tensor(rng.f32(257), [257]);
    const gpuI32 = hg.Tensor.empty([2, 3], 'test', 'i32').write(Int32Array.of(0, -1, 2, -3, 4, 2147483647));
    const scalar = Float32Array.of(2.5);
    const metadata = { format: 'pt', config: JSON.stringify({ eta: 0.4, T: 3 }), 'ünïcode ✓': 'значение' };
    const path = join(dir, 'round-trip.safetensors');
    await hg.saveCheckpoint(path, {
      tensors: {
        'backbone.0.weight': { data: f32, shape: [3, 5, 7] },
        special: { data: special, shape: [2, 4] },
        labels: { data: i32, shape: [33] },
        'optim.step': { data: i64, shape: [5] },
        scalar: { data: scalar, shape: [] },
        gpu: gpuF32,
        'gpu.i32': gpuI32,
      },
      metadata,
    });
    const ck = await hg.loadCheckpoint(path);
    expect(ck.metadata).toEqual(metadata);
    expect(Object.keys(ck.tensors).sort()).toEqual(['backbone.0.weight', 'gpu', 'gpu.i32', 'labels', 'optim.step', 'scalar', 'special']);
    const t = ck.tensors;
    expect(t['backbone.0.weight']!.dtype).toBe('F32');
    expect(t['backbone.0.weight']!.shape).toEqual([3, 5, 7]);
    expect(Array.from(bits(t['backbone.0.weight']!.data as Float32Array))).toEqual(Array.from(bits(f32)));
    expect(Array.from(bits(t.special!.data as Float32Array))).toEqual(Array.from(bits(special)));
    expect(t.labels).toEqual({ dtype: 'I32', shape: [33], data: i32 });
    expect(t['optim.step']).toEqual({ dtype: 'I64', shape: [5], data: i64 });
    expect(t.scalar).toEqual({ dtype: 'F32', shape: [], data: scalar });
    expect(t.gpu!.shape).toEqual([257]);
    expect(Array.from(bits(t.gpu!.data as Float32Array))).toEqual(Array.from(bits(await gpuF32.read())));
    expect(t['gpu.i32']).toEqual({ dtype: 'I32', shape: [2, 3], data: Int32Array.of(0, -1, 2, -3, 4, 2147483647) });
    gpuF32.dispose();
    gpuI32.dispose();
  });

  test('saving over an existing checkpoint replaces it; no metadata gives an empty map', async () => {
    const path = join(dir, 'replace.safetensors');
    await hg.saveCheckpoint(path, { tensors: { a: { data: Float32Array.of(1), shape: [1] } }, metadata: { v: '1' } });
    await hg.saveCheckpoint(path, { tensors: { b: { data: Float32Array.of(2, 3), shape: [2] } } });
    const ck = await hg.loadCheckpoint(path);
    expect(ck).toEqual({ tensors: { b: { dtype: 'F32', shape: [2], data: Float32Array.of(2, 3) } }, metadata: {} });
    expect((await readdir(dir)).filter((f) => f.includes('replace'))).toEqual(['replace.safetensors']);
  });
});

describe('the format, byte by byte', () => {
  test('a written file: u64 LE header length, JSON header padded to 8 bytes, little-endian data back to back', async () => {
    const path = join(dir, 'layout.safetensors');
    await hg.saveCheckpoint(path, {
      tensors: { a: { data: Float32Array.of(1, -2), shape: [2] }, b: { data: Int32Array.of(7), shape: [1, 1] } },
      metadata: { format: 'pt' },
    });
    const file = new Uint8Array(await readFile(path));
    // The header as the spec defines it, written out by hand.
    const json = '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[1,1],"data_offsets":[8,12]}}';
    const padded = json + ' '.repeat((8 - (json.length % 8)) % 8);
    const n = padded.length;
    expect(n % 8).toBe(0);
    const expected = [
      n & 0xff,
      (n >> 8) & 0xff,
      0,
      0,
      0,
      0,
      0,
      0, // header length, u64 little-endian
      ...Array.from(padded, (c) => c.charCodeAt(0)), // the JSON header (ASCII here), space-padded
      0x00,
      0x00,
      0x80,
      0x3f, // 1.0f
      0x00,
      0x00,
      0x00,
      0xc0, // -2.0f
      0x07,
      0x00,
      0x00,
      0x00, // 7 (i32)
    ];
    expect(Array.from(file)).toEqual(expected);
    // The data section starts 8-byte aligned.
    expect((8 + n) % 8).toBe(0);
  });

  test('files laid out as other writers do are read: unpadded header, no metadata, data in another order', async () => {
    const path = join(dir, 'foreign.safetensors');
    // 'y' is stored before 'x' in the data section; the header lists x first.
    const data = [...f32Bytes([5, 6, 7]), ...f32Bytes([1.5])];
    await writeFile(
      path,
      rawFile(
        {
          x: { dtype: 'F32', shape: [1], data_offsets: [12, 16] },
          y: { dtype: 'F32', shape: [3], data_offsets: [0, 12] },
          e: { dtype: 'I64', shape: [0, 3], data_offsets: [16, 16] },
        },
        data,
      ),
    );
    const ck = await hg.loadCheckpoint(path);
    expect(ck.tensors.x).toEqual({ dtype: 'F32', shape: [1], data: Float32Array.of(1.5) });
    expect(ck.tensors.y).toEqual({ dtype: 'F32', shape: [3], data: Float32Array.of(5, 6, 7) });
    expect(ck.tensors.e).toEqual({ dtype: 'I64', shape: [0, 3], data: new BigInt64Array(0) });
    expect(ck.metadata).toEqual({});
  });
});

describe('corrupt files are refused, naming the file and the fault', () => {
  const good = (): Uint8Array =>
    rawFile({ __metadata__: { k: 'v' }, a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'I32', shape: [1], data_offsets: [8, 12] } }, [
      ...f32Bytes([1, 2]),
      7,
      0,
      0,
      0,
    ]);
  const t = (dtype: string, shape: number[], offsets: number[]): object => ({ dtype, shape, data_offsets: offsets });
  const cases: Array<[string, Uint8Array, string]> = [
    ['empty', new Uint8Array(0), 'the file is too short (0 bytes): a safetensors file starts with an 8-byte header length.'],
    ['5 bytes', new Uint8Array(5), 'the file is too short (5 bytes)'],
    [
      'truncated inside the header',
      good().subarray(0, 30),
      `the header length ${new DataView(good().buffer).getBigUint64(0, true)} runs past the end of the file (30 bytes, so at most 22); the file is truncated or not safetensors.`,
    ],
    ['truncated inside the data', good().subarray(0, good().length - 2), "tensor 'b' has data_offsets [8, 12] out of range: the data section has 10 bytes."],
    [
      'header length 2^64 − 1',
      (() => {
        const f = good();
        new DataView(f.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
        return f;
      })(),
      'the header length 18446744073709551615 runs past the end of the file',
    ],
    ['bad JSON', rawFile('{"a": {"dtype": '), 'the header is not valid JSON ('],
    ['not an object', rawFile('[1, 2]  '), "the header is not a JSON object (it must start with '{'"],
    ['not UTF-8', rawFile('{"a": 1}').map((b, i) => (i === 10 ? 0xff : b)), 'the header is not valid UTF-8.'],
    ['dtype BF16', rawFile({ a: t('BF16', [2], [0, 4]) }, [0, 0, 0, 0]), "tensor 'a' has dtype BF16; hemgpu reads F32, I32 and I64 only."],
    ['dtype F16', rawFile({ a: t('F16', [2], [0, 4]) }, [0, 0, 0, 0]), "tensor 'a' has dtype F16"],
    ['no dtype', rawFile({ a: { shape: [1], data_offsets: [0, 4] } }, [0, 0, 0, 0]), "tensor 'a' has no dtype."],
    ['negative dimension', rawFile({ a: t('F32', [-1], [0, 4]) }, [0, 0, 0, 0]), "tensor 'a' has shape [-1]; a shape is a list of integers ≥ 0."],
    ['shape vs byte length', rawFile({ a: t('F32', [3], [0, 8]) }, f32Bytes([1, 2])), "tensor 'a' of shape [3] and dtype F32 needs 12 bytes but its data_offsets [0, 8] hold 8."],
    ['I64 counted as 4 bytes', rawFile({ a: t('I64', [2], [0, 8]) }, f32Bytes([1, 2])), "tensor 'a' of shape [2] and dtype I64 needs 16 bytes but its data_offsets [0, 8] hold 8."],
    ['offsets past the data', rawFile({ a: t('F32', [2], [4, 12]) }, f32Bytes([1, 2])), "tensor 'a' has data_offsets [4, 12] out of range: the data section has 8 bytes."],
    ['begin after end', rawFile({ a: t('F32', [0], [8, 4]) }, f32Bytes([1, 2])), "tensor 'a' has data_offsets [8, 4] out of range"],
    ['offsets not integers', rawFile({ a: t('F32', [1], [0.5, 4.5]) }, f32Bytes([1])), "tensor 'a' has data_offsets [0.5,4.5]; they must be [begin, end], integers ≥ 0."],
    ['overlap', rawFile({ a: t('F32', [2], [0, 8]), b: t('F32', [2], [4, 12]) }, f32Bytes([1, 2, 3])), "tensors 'a' [0, 8) and 'b' [4, 12) overlap in the data section."],
    ['same bytes twice', rawFile({ a: t('F32', [1], [0, 4]), b: t('F32', [1], [0, 4]) }, f32Bytes([1])), "tensors 'a' [0, 4) and 'b' [0, 4) overlap in the data section."],
    ['a hole', rawFile({ a: t('F32', [1], [0, 4]), b: t('F32', [1], [8, 12]) }, f32Bytes([1, 2, 3])), 'bytes [4, 8) of the data section belong to no tensor.'],
    ['trailing data', rawFile({ a: t('F32', [1], [0, 4]) }, f32Bytes([1, 2])), 'bytes [4, 8) at the end of the data section belong to no tensor (the file has trailing data).'],
    ['metadata not strings', rawFile({ __metadata__: { step: 3 }, a: t('F32', [1], [0, 4]) }, f32Bytes([1])), "__metadata__ 'step' is 3, not a string."],
    ['tensor entry not an object', rawFile({ a: 5 }), "tensor 'a' is 5, not {dtype, shape, data_offsets}."],
  ];
  for (const [name, bytes, message] of cases) {
    test(name, async () => {
      const path = join(dir, `corrupt-${name.replace(/[^a-z0-9]+/gi, '-')}.safetensors`);
      await writeFile(path, bytes);
      await expect(hg.loadCheckpoint(path)).rejects.toThrow(`loadCheckpoint(${path}): ${message}`);
    });
  }

  test('the unmodified file of those cases is accepted; a missing file is named', async () => {
    const path = join(dir, 'good.safetensors');
    await writeFile(path, good());
    const ck = await hg.loadCheckpoint(path);
    expect(ck.tensors.a!.data).toEqual(Float32Array.of(1, 2));
    expect(ck.metadata).toEqual({ k: 'v' });
    const missing = join(dir, 'missing.safetensors');
    await expect(hg.loadCheckpoint(missing)).rejects.toThrow(`loadCheckpoint(${missing}): cannot read the file (ENOENT`);
  });
});

describe('atomic save: a failed save writes nothing and overwrites nothing', () => {
  const listing = async (d: string): Promise<string[]> => (await readdir(d)).sort();

  test('a failing GPU tensor read: the previous checkpoint is unchanged, no temporary file', async () => {
    const d = join(dir, 'read-fails');
    await mkdir(d);
    const path = join(d, 'ck.safetensors');
    await hg.saveCheckpoint(path, { tensors: { w: { data: Float32Array.of(1, 2, 3), shape: [3] } }, metadata: { step: '10' } });
    const before = await readFile(path);
    const ok = hg.tensor([4, 5, 6]);
    const gone = hg.tensor([7]);
    gone.dispose();
    await expect(hg.saveCheckpoint(path, { tensors: { w: ok, b: gone }, metadata: { step: '20' } })).rejects.toThrow(
      `saveCheckpoint(${path}): reading tensor 'b' from the GPU failed, nothing was written: read(): tensor`,
    );
    expect(Buffer.compare(await readFile(path), before)).toBe(0);
    expect(await listing(d)).toEqual(['ck.safetensors']);
    ok.dispose();
  });

  test('a failing rename (the target is a directory): the temporary file is removed', async () => {
    const d = join(dir, 'rename-fails');
    await mkdir(join(d, 'ck.safetensors'), { recursive: true });
    const path = join(d, 'ck.safetensors');
    await expect(hg.saveCheckpoint(path, { tensors: { w: { data: Float32Array.of(1), shape: [1] } } })).rejects.toThrow(
      new RegExp(
        `^saveCheckpoint\\(${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\): renaming the temporary file onto .* failed \\(.*\\); nothing was written and any existing file is unchanged\\.$`,
      ),
    );
    expect(await listing(d)).toEqual(['ck.safetensors']);
    expect(await listing(path)).toEqual([]);
  });

  test('a directory that does not exist, or cannot be written', async () => {
    const path = join(dir, 'no-such-dir', 'ck.safetensors');
    await expect(hg.saveCheckpoint(path, { tensors: { w: { data: Float32Array.of(1), shape: [1] } } })).rejects.toThrow(
      `saveCheckpoint(${path}): creating the temporary file failed (ENOENT`,
    );
    // A read-only directory stops everyone but root (these tests may run as root, which
    // ignores the mode; the failing read and rename cases above cover the rollback then).
    if (process.getuid?.() !== 0) {
      const d = join(dir, 'read-only');
      await mkdir(d);
      const ro = join(d, 'ck.safetensors');
      await hg.saveCheckpoint(ro, { tensors: { w: { data: Float32Array.of(1), shape: [1] } } });
      const before = await readFile(ro);
      await chmod(d, 0o555);
      try {
        await expect(hg.saveCheckpoint(ro, { tensors: { w: { data: Float32Array.of(2), shape: [1] } } })).rejects.toThrow('creating the temporary file failed (EACCES');
      } finally {
        await chmod(d, 0o755);
      }
      expect(Buffer.compare(await readFile(ro), before)).toBe(0);
      expect(await listing(d)).toEqual(['ck.safetensors']);
    }
  });

  test('bad input is refused before any file is touched', async () => {
    const path = join(dir, 'bad-input.safetensors');
    const w = { data: Float32Array.of(1), shape: [1] };
    await expect(hg.saveCheckpoint(path, { tensors: { w }, metadata: { step: 3 as unknown as string } })).rejects.toThrow(
      `saveCheckpoint(${path}): metadata 'step' is number; safetensors metadata values must be strings (JSON-encode it).`,
    );
    await expect(hg.saveCheckpoint(path, { tensors: { w: { data: Float32Array.of(1, 2), shape: [3] } } })).rejects.toThrow(
      `saveCheckpoint(${path}): tensor 'w' has 2 values for shape [3].`,
    );
    await expect(hg.saveCheckpoint(path, { tensors: { w: { data: new Float64Array(1) as unknown as Float32Array, shape: [1] } } })).rejects.toThrow(
      `saveCheckpoint(${path}): tensor 'w' has [object Float64Array] data; supported: Float32Array (F32), Int32Array (I32), BigInt64Array (I64).`,
    );
    await expect(hg.saveCheckpoint(path, { tensors: { __metadata__: w } })).rejects.toThrow(`saveCheckpoint(${path}): '__metadata__' is not a valid tensor name.`);
    expect((await readdir(dir)).some((f) => f.includes('bad-input'))).toBe(false);
  });
});

describe('optimizer state through a checkpoint', () => {
  test('SGD state saved with saveCheckpoint and restored from loadCheckpoint continues identically', async () => {
    const rng = new Rng(9);
    const init = [rng.f32(7), rng.f32(300)];
    const grads = Array.from({ length: 4 }, () => [rng.f32(7), rng.f32(300)]);
    const run = (params: hg.Tensor[], opt: hg.SGD, gs: Float32Array[][]): void => {
      for (const g of gs) {
        opt.zeroGrad();
        params.forEach((p, i) => (p.grad = hg.tensor(g[i]!).keep()));
        opt.step();
      }
      opt.zeroGrad();
    };
    const make = (): { params: hg.Tensor[]; opt: hg.SGD } => {
      const params = init.map((v) => hg.tensor(v, [v.length], { requiresGrad: true }).keep());
      return { params, opt: new hg.SGD([{ params: [params[0]!], weightDecay: 0 }, { params: [params[1]!] }], { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 }) };
    };
    const a = make();
    run(a.params, a.opt, grads);
    const b = make();
    run(b.params, b.opt, grads.slice(0, 2));
    const path = join(dir, 'optim.safetensors');
    const state = b.opt.state();
    await hg.saveCheckpoint(path, { tensors: { w0: b.params[0]!, w1: b.params[1]!, ...state.tensors }, metadata: { optim: state.meta } });
    for (const t of Object.values(state.tensors)) t.dispose();
    const ck = await hg.loadCheckpoint(path);
    const c = make();
    c.params.forEach((p, i) => p.write(ck.tensors[`w${i}`]!.data as Float32Array));
    c.opt.loadState({ tensors: ck.tensors, meta: ck.metadata.optim! });
    run(c.params, c.opt, grads.slice(2));
    for (let i = 0; i < 2; i++) expect(Array.from(await c.params[i]!.read())).toEqual(Array.from(await a.params[i]!.read()));
    for (const x of [a, b, c]) {
      x.opt.dispose();
      for (const p of x.params) p.dispose();
    }
  });
});
