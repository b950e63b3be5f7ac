/**
 * The PASCAL VOC loader (src/data/voc.ts) on a tiny fixture the test writes itself in the VOC
 * layout: JPEGs from jpeg-js, palette PNG masks from a minimal PNG encoder below (pngjs cannot
 * write palette PNGs; node:zlib deflates, the CRCs are computed here), greyscale and RGB masks
 * from pngjs. Checks: masks decode to palette INDICES (also with a palette whose colours are all
 * equal, and at 4 bits per pixel), images round-trip, the unaugmented crop, the augmentation's
 * invariants (label set, crop size, padding, scale-2 nearest labels, bilinear image values,
 * exact flip symmetry, seeded determinism), and every error by its message.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { encode as encodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as hg from '../../src/index.node.ts';

// ---------------------------------------------------------------------------------------------
// A minimal palette PNG encoder (independent of the loader's code)

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(crc(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, tail]);
}
/** A palette PNG (colour type 3) of the given indices, bit depth 8 or 4, filter 0 rows. */
function palettePng(indices: Uint8Array, width: number, height: number, palette: Array<[number, number, number]>, depth: 4 | 8 = 8): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = depth;
  ihdr[9] = 3;
  const rowBytes = depth === 8 ? width : Math.ceil(width / 2);
  const raw = Buffer.alloc(height * (rowBytes + 1));
  for (let y = 0; y < height; y++) {
    const o = y * (rowBytes + 1);
    raw[o] = 0;
    for (let x = 0; x < width; x++) {
      const v = indices[y * width + x]!;
      if (depth === 8) raw[o + 1 + x] = v;
      else raw[o + 1 + (x >> 1)]! |= x & 1 ? v : v << 4;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('PLTE', Buffer.from(palette.flat())),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
/** An 8-bit PNG written by pngjs: colour type 0 (grey = value) or 2 (RGB). */
function pngjsPng(width: number, height: number, rgb: (i: number) => [number, number, number], colorType: 0 | 2): Buffer {
  const png = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = rgb(i);
    png.data[4 * i] = r;
    png.data[4 * i + 1] = g;
    png.data[4 * i + 2] = b;
    png.data[4 * i + 3] = 255;
  }
  return PNG.sync.write(png, { colorType });
}

// ---------------------------------------------------------------------------------------------
// The fixture

interface Item {
  id: string;
  w: number;
  h: number;
  rgb: Uint8Array;
  mask: Uint8Array;
}

/** A smooth RGB picture (JPEG-friendly) and a mask of a few classes with a 255 border band. */
function makeItem(id: string, w: number, h: number, classes: number[], border = true): Item {
  const rgb = new Uint8Array(w * h * 3);
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      rgb[3 * i] = Math.round(40 + (180 * x) / (w - 1));
      rgb[3 * i + 1] = Math.round(30 + (190 * y) / (h - 1));
      rgb[3 * i + 2] = Math.round(128 + 60 * Math.sin((x + y) / 6));
      const region = Math.min(classes.length - 1, Math.floor((x * classes.length) / w));
      mask[i] = border && x === Math.round(w / classes.length) ? 255 : classes[region]!;
    }
  }
  return { id, w, h, rgb, mask };
}

function jpeg(item: { w: number; h: number; rgb: Uint8Array }, quality = 100): Buffer {
  const rgba = Buffer.alloc(item.w * item.h * 4);
  for (let i = 0; i < item.w * item.h; i++) {
    rgba[4 * i] = item.rgb[3 * i]!;
    rgba[4 * i + 1] = item.rgb[3 * i + 1]!;
    rgba[4 * i + 2] = item.rgb[3 * i + 2]!;
    rgba[4 * i + 3] = 255;
  }
  return encodeJpeg({ data: rgba, width: item.w, height: item.h }, quality).data;
}

const VOC_PALETTE = hg.vocColormap(256);
const ALL_BLACK: Array<[number, number, number]> = Array.from({ length: 256 }, () => [0, 0, 0]);

let root = '';
const items = {
  a: makeItem('2007_000001', 40, 30, [0, 15, 20]),
  b: makeItem('2007_000002', 24, 36, [0, 1, 12]),
  c: makeItem('2008_000003', 17, 13, [3, 0], false), // 4-bit palette: no 255
};

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'hemgpu-voc-'));
  for (const d of ['JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation']) mkdirSync(join(root, d), { recursive: true });
  const put = (rel: string, data: Buffer | string): void => writeFileSync(join(root, rel), data);
  put(`JPEGImages/${items.a.id}.jpg`, jpeg(items.a));
  put(`JPEGImages/${items.b.id}.jpg`, jpeg(items.b));
  put(`JPEGImages/${items.c.id}.jpg`, jpeg(items.c));
  put(`SegmentationClass/${items.a.id}.png`, palettePng(items.a.mask, 40, 30, VOC_PALETTE));
  // Every palette colour black: only the indices tell the classes apart.
  put(`SegmentationClass/${items.b.id}.png`, palettePng(items.b.mask, 24, 36, ALL_BLACK));
  put(`SegmentationClass/${items.c.id}.png`, palettePng(items.c.mask, 17, 13, VOC_PALETTE.slice(0, 16), 4));
  put('ImageSets/Segmentation/train.txt', `${items.a.id}\n${items.b.id}\n${items.c.id}\n`);
  put('ImageSets/Segmentation/val.txt', `${items.a.id}\r\n${items.b.id}\r\n\r\n`);
  // Broken entries, each under its own list.
  put('ImageSets/Segmentation/noimage.txt', `${items.a.id}\nghost_1\nghost_2\n`);
  put('JPEGImages/maskless.jpg', jpeg(makeItem('maskless', 8, 8, [0])));
  put('ImageSets/Segmentation/nomask.txt', 'maskless\n');
  const mm = makeItem('mismatch', 20, 16, [0, 5]);
  put('JPEGImages/mismatch.jpg', jpeg(mm));
  put('SegmentationClass/mismatch.png', palettePng(mm.mask.subarray(0, 20 * 15), 20, 15, VOC_PALETTE));
  put('ImageSets/Segmentation/mismatch.txt', 'mismatch\n');
  const bad = makeItem('badvalue', 8, 8, [0, 37]);
  put('JPEGImages/badvalue.jpg', jpeg(bad));
  put('SegmentationClass/badvalue.png', palettePng(bad.mask, 8, 8, VOC_PALETTE));
  put('ImageSets/Segmentation/badvalue.txt', 'badvalue\n');
  put('JPEGImages/notpng.jpg', jpeg(makeItem('notpng', 8, 8, [0])));
  put('SegmentationClass/notpng.png', 'this is not a PNG');
  put('ImageSets/Segmentation/notpng.txt', 'notpng\n');
  put('JPEGImages/notjpeg.jpg', 'this is not a JPEG');
  put('SegmentationClass/notjpeg.png', palettePng(new Uint8Array(64), 8, 8, VOC_PALETTE));
  put('ImageSets/Segmentation/notjpeg.txt', 'notjpeg\n');
  put('ImageSets/Segmentation/empty.txt', '\n\n');
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function sameInts(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

describe('VOC decoding', () => {
  it('palette masks decode to their indices: VOC palette, an all-black palette, 4-bit', () => {
    const m = items.a.mask;
    const dec = hg.decodeLabelPng(palettePng(m, 40, 30, VOC_PALETTE));
    expect([dec.width, dec.height]).toEqual([40, 30]);
    expect(sameInts(dec.data, m)).toBe(true);
    expect(new Set(dec.data)).toEqual(new Set([0, 15, 20, 255]));
    const black = hg.decodeLabelPng(palettePng(items.b.mask, 24, 36, ALL_BLACK));
    expect(sameInts(black.data, items.b.mask)).toBe(true);
    const four = hg.decodeLabelPng(palettePng(items.c.mask, 17, 13, VOC_PALETTE.slice(0, 16), 4));
    expect(sameInts(four.data, items.c.mask)).toBe(true);
  });

  it('greyscale masks give their values; RGB masks map back through the VOC colour map', () => {
    const m = items.a.mask;
    const grey = hg.decodeLabelPng(pngjsPng(40, 30, (i) => [m[i]!, m[i]!, m[i]!], 0));
    expect(sameInts(grey.data, m)).toBe(true);
    const rgbMask = hg.decodeLabelPng(pngjsPng(40, 30, (i) => VOC_PALETTE[m[i]!]!, 2));
    expect(sameInts(rgbMask.data, m)).toBe(true);
    expect(() =>
      hg.decodeLabelPng(
        pngjsPng(4, 4, () => [1, 2, 3], 2),
        'x.png',
      ),
    ).toThrow('voc: RGB mask x.png has colour (1, 2, 3) at pixel (0, 0), which is not in the VOC colour map; save masks as palette PNGs.');
  });

  it('JPEGs decode to RGB close to what was encoded (quality 100)', () => {
    const img = hg.decodeJpeg(jpeg(items.a));
    expect([img.width, img.height, img.data.length]).toEqual([40, 30, 40 * 30 * 3]);
    let sum = 0;
    for (let i = 0; i < img.data.length; i++) sum += Math.abs(img.data[i]! - items.a.rgb[i]!);
    // Quality-100 JPEG with 4:2:0 chroma: small mean error on a smooth picture.
    expect(sum / img.data.length).toBeLessThan(3);
  });
});

describe('VOC dataset', () => {
  it('opens a split: ids in list order (CRLF and blank lines ignored), 21 classes, crop size', () => {
    const train = hg.vocDataset({ root, split: 'train', cropSize: 24 });
    expect(train.ids).toEqual([items.a.id, items.b.id, items.c.id]);
    expect([train.count, train.classes, train.channels, train.height, train.width, train.augment]).toEqual([3, 21, 3, 24, 24, true]);
    const val = hg.vocDataset({ root, split: 'val', cropSize: 24 });
    expect(val.ids).toEqual([items.a.id, items.b.id]);
    expect(val.augment).toBe(false);
    expect(hg.vocDataset({ root, split: 'train', limit: 2 }).ids).toEqual([items.a.id, items.b.id]);
    expect(hg.VOC_CLASSES.length).toBe(21);
  });

  it('full(i): the whole image normalised with the ImageNet mean/std, labels = the mask', () => {
    const ds = hg.vocDataset({ root, split: 'train' });
    const f = ds.full(1);
    expect([f.id, f.width, f.height]).toEqual([items.b.id, 24, 36]);
    expect(sameInts(f.labels, items.b.mask)).toBe(true);
    const img = hg.decodeJpeg(jpeg(items.b));
    const ref = Array.from(img.data, (v, i) => (v / 255 - hg.IMAGENET_MEAN[i % 3]!) / hg.IMAGENET_STD[i % 3]!);
    // f32 storage of |x| ≤ 2.7: half an ULP ≤ 2.7·2^-24.
    expect(maxAbsDiff(f.x, ref)).toBeLessThanOrEqual(2.7 * 2 ** -24 + 1e-7);
  });

  it('validation crops: centred when larger, padded at the bottom/right (image 0 = mean, label 255)', () => {
    const ds = hg.vocDataset({ root, split: 'val', cropSize: 32 });
    const [b0] = [...hg.batches(ds, 2)];
    expect([b0!.n, b0!.height, b0!.width, b0!.channels]).toEqual([2, 32, 32, 3]);
    expect(b0!.x.length).toBe(2 * 32 * 32 * 3);
    expect(b0!.labels.length).toBe(2 * 32 * 32);
    // Sample 0 is 40×30: x offset (40 − 32)/2 = 4, rows 30-31 padding.
    const f = ds.full(0);
    let bad = 0;
    for (let oy = 0; oy < 32; oy++) {
      for (let ox = 0; ox < 32; ox++) {
        const o = oy * 32 + ox;
        if (oy >= 30) {
          if (b0!.labels[o] !== 255 || b0!.x[3 * o] !== 0 || b0!.x[3 * o + 1] !== 0 || b0!.x[3 * o + 2] !== 0) bad++;
          continue;
        }
        const s = oy * 40 + ox + 4;
        if (b0!.labels[o] !== f.labels[s]) bad++;
        for (let c = 0; c < 3; c++) if (Math.abs(b0!.x[3 * o + c]! - f.x[3 * s + c]!) > 1e-6) bad++;
      }
    }
    expect(bad).toBe(0);
  });

  it('augmented batches: crop size, labels only from {0..20, 255} and from the mask, finite normalised values', () => {
    const ds = hg.vocDataset({ root, split: 'train', cropSize: 24 });
    const lo = Math.min(...[0, 1, 2].map((c) => -hg.IMAGENET_MEAN[c]! / hg.IMAGENET_STD[c]!));
    const hi = Math.max(...[0, 1, 2].map((c) => (1 - hg.IMAGENET_MEAN[c]!) / hg.IMAGENET_STD[c]!));
    for (let epoch = 0; epoch < 6; epoch++) {
      for (const b of hg.batches(ds, 2, { shuffle: true, seed: 7, epoch })) {
        expect(b.x.length).toBe(b.n * 24 * 24 * 3);
        expect(b.labels.length).toBe(b.n * 24 * 24);
        for (let j = 0; j < b.n; j++) {
          const allowed = new Set([...ds.load(b.indices[j]!).label.data, 255]);
          for (let k = j * 576; k < (j + 1) * 576; k++) {
            const l = b.labels[k]!;
            if (!((l >= 0 && l <= 20) || l === 255) || !allowed.has(l)) throw new Error(`label ${l}`);
          }
        }
        for (const v of b.x) if (!(v >= lo - 1e-6 && v <= hi + 1e-6)) throw new Error(`value ${v}`);
      }
    }
  });

  it('augmentation parameters: scale in range, crop corner inside the scaled+padded image, both flips', () => {
    const opts = { cropSize: 24, augment: true, scaleRange: [0.5, 2.0] as const };
    const rng = new hg.DataRng(123);
    let flips = 0;
    for (let i = 0; i < 400; i++) {
      const p = hg.drawAugment(rng, 40, 30, opts);
      expect(p.scale).toBeGreaterThanOrEqual(0.5);
      expect(p.scale).toBeLessThan(2.0);
      const sw = Math.max(1, Math.round(40 * p.scale));
      const sh = Math.max(1, Math.round(30 * p.scale));
      expect(p.offsetX).toBeGreaterThanOrEqual(0);
      expect(p.offsetY).toBeGreaterThanOrEqual(0);
      expect(p.offsetX).toBeLessThanOrEqual(Math.max(sw, 24) - 24);
      expect(p.offsetY).toBeLessThanOrEqual(Math.max(sh, 24) - 24);
      if (p.flip) flips++;
    }
    // Fair coin over 400 draws: 200 ± 10 (sd); allow ±5 sd.
    expect(Math.abs(flips - 200)).toBeLessThan(50);
    expect(hg.drawAugment(rng, 40, 30, { ...opts, flip: false }).flip).toBe(false);
  });

  it('flip symmetry: the flipped crop is the exact mirror image, for image and labels', () => {
    const ds = hg.vocDataset({ root, split: 'train', cropSize: 28 });
    const { image, label } = ds.load(0);
    for (const p of [
      { scale: 1.37, offsetX: 9, offsetY: 5 },
      { scale: 0.6, offsetX: 0, offsetY: 0 },
      { scale: 1, offsetX: 6, offsetY: 2 },
    ]) {
      const n = 28 * 28;
      const x0 = new Float32Array(n * 3),
        l0 = new Int32Array(n);
      const x1 = new Float32Array(n * 3),
        l1 = new Int32Array(n);
      hg.augmentSample(image, label, { ...p, flip: false }, 28, x0, 0, l0, 0);
      hg.augmentSample(image, label, { ...p, flip: true }, 28, x1, 0, l1, 0);
      let bad = 0;
      for (let y = 0; y < 28; y++) {
        for (let x = 0; x < 28; x++) {
          const a = y * 28 + x;
          const m = y * 28 + (27 - x);
          if (l0[a] !== l1[m]) bad++;
          for (let c = 0; c < 3; c++) if (x0[3 * a + c] !== x1[3 * m + c]) bad++;
        }
      }
      expect(bad).toBe(0);
      // The flip really changes the crop (the picture is not symmetric).
      expect(sameInts(l0, l1) && maxAbsDiff(x0, x1) === 0).toBe(false);
    }
  });

  it('scale 2: labels are nearest (each mask pixel becomes 2×2), image bilinear (half-pixel centres)', () => {
    const ds = hg.vocDataset({ root, split: 'train', cropSize: 48 });
    const { image, label } = ds.load(2); // 17×13 → 34×26, padded to 48×48
    const x = new Float32Array(48 * 48 * 3);
    const l = new Int32Array(48 * 48);
    hg.augmentSample(image, label, { scale: 2, offsetX: 0, offsetY: 0, flip: false }, 48, x, 0, l, 0);
    let bad = 0;
    let worst = 0;
    for (let oy = 0; oy < 48; oy++) {
      for (let ox = 0; ox < 48; ox++) {
        const o = oy * 48 + ox;
        if (ox >= 34 || oy >= 26) {
          if (l[o] !== 255 || x[3 * o] !== 0) bad++;
          continue;
        }
        if (l[o] !== label.data[Math.floor(oy / 2) * 17 + Math.floor(ox / 2)]) bad++;
        const sx = Math.min(Math.max((ox + 0.5) / 2 - 0.5, 0), 16);
        const sy = Math.min(Math.max((oy + 0.5) / 2 - 0.5, 0), 12);
        const xa = Math.floor(sx),
          ya = Math.floor(sy),
          xb = Math.min(xa + 1, 16),
          yb = Math.min(ya + 1, 12);
        const wx = sx - xa,
          wy = sy - ya;
        for (let c = 0; c < 3; c++) {
          const px = (yy: number, xx: number): number => image.data[(yy * 17 + xx) * 3 + c]!;
          const v = (px(ya, xa) * (1 - wx) + px(ya, xb) * wx) * (1 - wy) + (px(yb, xa) * (1 - wx) + px(yb, xb) * wx) * wy;
          const ref = (v / 255 - hg.IMAGENET_MEAN[c]!) / hg.IMAGENET_STD[c]!;
          worst = Math.max(worst, Math.abs(x[3 * o + c]! - ref));
        }
      }
    }
    expect(bad).toBe(0);
    // Same formula in float64 on both sides, then one f32 rounding of |x| ≤ 2.7 (plus float64 reassociation).
    expect(worst).toBeLessThanOrEqual(2.7 * 2 ** -24 + 1e-12);
  });

  it('is deterministic by seed and epoch; epochs differ; skip resumes exactly', () => {
    const ds = hg.vocDataset({ root, split: 'train', cropSize: 20 });
    const run = (epoch: number, skip = 0): hg.Batch[] => [...hg.batches(ds, 1, { shuffle: true, seed: 4, epoch, skip })];
    const a = run(0);
    const b = run(0);
    const c = run(1);
    expect(a.map((x) => Array.from(x.indices))).toEqual(b.map((x) => Array.from(x.indices)));
    a.forEach((x, i) => {
      expect(maxAbsDiff(x.x, b[i]!.x)).toBe(0);
      expect(sameInts(x.labels, b[i]!.labels)).toBe(true);
    });
    const sameEpoch = a.every((x, i) => maxAbsDiff(x.x, c[i]!.x) === 0);
    expect(sameEpoch).toBe(false);
    const r = run(0, 2);
    expect(r.length).toBe(1);
    expect(maxAbsDiff(r[0]!.x, a[2]!.x)).toBe(0);
    // A sample's augmentation does not depend on the batch size.
    const big = [...hg.batches(ds, 3, { shuffle: true, seed: 4 })][0]!;
    expect(Array.from(big.indices)).toEqual(a.map((x) => x.indices[0]));
    expect(maxAbsDiff(big.x.subarray(0, 20 * 20 * 3), a[0]!.x)).toBe(0);
  });

  it('cache: the same samples with or without keeping decoded images', () => {
    const plain = hg.vocDataset({ root, split: 'train', cropSize: 20 });
    const cached = hg.vocDataset({ root, split: 'train', cropSize: 20, cache: true });
    for (let k = 0; k < 2; k++) {
      const p = [...hg.batches(plain, 3, { shuffle: true, seed: 1, epoch: k })][0]!;
      const q = [...hg.batches(cached, 3, { shuffle: true, seed: 1, epoch: k })][0]!;
      expect(maxAbsDiff(p.x, q.x)).toBe(0);
      expect(sameInts(p.labels, q.labels)).toBe(true);
    }
  });
});

describe('VOC errors', () => {
  it('a missing directory, a directory without the VOC layout', () => {
    expect(() => hg.vocDataset({ root: join(root, 'nope') })).toThrow(
      `voc: data directory '${join(root, 'nope')}' does not exist. Expected the PASCAL VOC layout (e.g. VOCdevkit/VOC2012): ` +
        'JPEGImages/*.jpg, SegmentationClass/*.png, ImageSets/Segmentation/{train,val}.txt.',
    );
    expect(() => hg.vocDataset({ root: join(root, 'ImageSets') })).toThrow(
      `voc: '${join(root, 'ImageSets', 'JPEGImages')}' is missing; '${join(root, 'ImageSets')}' does not have the PASCAL VOC layout.`,
    );
    expect(() => hg.vocDataset({ root: '' })).toThrow('voc: options.root (the VOC directory) is required.');
  });

  it('a missing list file names the available splits; an empty list', () => {
    const list = join(root, 'ImageSets', 'Segmentation', 'trainaug.txt');
    expect(() => hg.vocDataset({ root, split: 'trainaug' })).toThrow(
      `voc: list file '${list}' for split 'trainaug' not found; available splits: badvalue, empty, mismatch, noimage, nomask, notjpeg, notpng, train, val.`,
    );
    expect(() => hg.vocDataset({ root, split: 'empty' })).toThrow(`voc: list file '${join(root, 'ImageSets', 'Segmentation', 'empty.txt')}' lists no ids.`);
  });

  it('an id listed without its image or its mask', () => {
    const noimage = join(root, 'ImageSets', 'Segmentation', 'noimage.txt');
    expect(() => hg.vocDataset({ root, split: 'noimage' })).toThrow(
      `voc: 2 id(s) listed in '${noimage}' have no image: 'ghost_1' (${join(root, 'JPEGImages', 'ghost_1.jpg')}), 'ghost_2' (${join(root, 'JPEGImages', 'ghost_2.jpg')}).`,
    );
    const nomask = join(root, 'ImageSets', 'Segmentation', 'nomask.txt');
    expect(() => hg.vocDataset({ root, split: 'nomask' })).toThrow(
      `voc: 1 id(s) listed in '${nomask}' have no mask: 'maskless' (${join(root, 'SegmentationClass', 'maskless.png')}).`,
    );
  });

  it('mismatched image and mask sizes, a label outside the classes, undecodable files', () => {
    const mm = hg.vocDataset({ root, split: 'mismatch' });
    expect(() => mm.full(0)).toThrow(
      `voc: 'mismatch': image is 20×16 (${join(root, 'JPEGImages', 'mismatch.jpg')}) but its mask is 20×15 (${join(root, 'SegmentationClass', 'mismatch.png')}).`,
    );
    expect(() => [...hg.batches(mm, 1)]).toThrow(/image is 20×16 .* but its mask is 20×15/);
    const bad = hg.vocDataset({ root, split: 'badvalue' });
    expect(() => bad.full(0)).toThrow(`voc: mask '${join(root, 'SegmentationClass', 'badvalue.png')}' has label 37 at pixel (5, 0); expected classes 0-20 or 255 (ignore).`);
    expect(() => hg.vocDataset({ root, split: 'notpng' }).full(0)).toThrow(`voc: mask '${join(root, 'SegmentationClass', 'notpng.png')}' is not a PNG file.`);
    expect(() => hg.vocDataset({ root, split: 'notjpeg' }).full(0)).toThrow(
      new RegExp(`^voc: cannot decode JPEG '${join(root, 'JPEGImages', 'notjpeg.jpg').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}': `),
    );
  });

  it('bad options and indices', () => {
    expect(() => hg.vocDataset({ root, cropSize: 0 })).toThrow('voc: cropSize must be an integer ≥ 1, got 0.');
    expect(() => hg.vocDataset({ root, scaleRange: [2, 1] })).toThrow('voc: scaleRange must be [lo, hi] with 0 < lo ≤ hi, got [2, 1].');
    expect(() => hg.vocDataset({ root, limit: 0 })).toThrow('voc: limit must be an integer ≥ 1, got 0.');
    expect(() => hg.vocDataset({ root }).full(3)).toThrow('voc: sample index 3 is outside [0, 3).');
  });
});
