/**
 * PASCAL VOC segmentation data from its directory layout (Node only: reads files with node:fs).
 *
 *   <root>/JPEGImages/<id>.jpg                 RGB photos (decoded with jpeg-js)
 *   <root>/SegmentationClass/<id>.png          palette masks: index = class 0-20, 255 = ignore
 *   <root>/ImageSets/Segmentation/<split>.txt  one id per line (train, val, trainval, ...)
 *
 * Masks are read as palette INDICES, never as colours: pngjs always expands a palette PNG to RGBA,
 * so the loader first swaps the PNG's PLTE chunk for the identity palette (entry i = (i, 0, 0)),
 * after which the decoded red channel is exactly the index, whatever the file's palette says
 * (duplicate palette colours included). Greyscale masks (e.g. SegmentationClassAug) are read as
 * their values; RGB masks are mapped back through the VOC colour map.
 *
 * Augmentation (EMANet's scale, pad, crop and flip in one resampling pass) is in voc-augment.ts;
 * `full(i)` gives the whole image for exact evaluation. Output is NHWC float32, labels Int32.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { decode as decodeJpegRaw } from 'jpeg-js';
import { PNG } from 'pngjs';
import type { SampleSource } from './batches.ts';
import { DataRng } from './rng.ts';
import { IGNORE_LABEL } from '../ops/cross-entropy.ts';
import { VOC_CLASSES, vocColormap } from './voc-classes.ts';
import { augmentSample, drawAugment, IMAGENET_MEAN, IMAGENET_STD, type AugmentOptions, type AugmentParams, type LabelImage, type RgbImage } from './voc-augment.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

export { VOC_CLASSES, vocColormap };
export { augmentSample, drawAugment, IMAGENET_MEAN, IMAGENET_STD, type AugmentOptions, type AugmentParams, type LabelImage, type RgbImage } from './voc-augment.ts';

// ---------------------------------------------------------------------------------------------
// Decoding

/** Decodes a JPEG (any component count) to 8-bit RGB. `what` names the file in errors. */
export function decodeJpeg(buf: Uint8Array, what = 'image'): RgbImage {
  let img: { data: Uint8Array; width: number; height: number };
  try {
    img = decodeJpegRaw(buf, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
  } catch (e) {
    throw new Error(`voc: cannot decode JPEG ${what}: ${(e as Error).message}`);
  }
  if (img.data.length !== img.width * img.height * 3) {
    throw new Error(`voc: JPEG ${what} decoded to ${img.data.length} bytes for ${img.width}×${img.height}, expected RGB.`);
  }
  return { data: img.data, width: img.width, height: img.height };
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * A copy of a palette PNG whose PLTE entries are the identity (entry i = (i, 0, 0)), its CRC
 * recomputed (zlib's crc32), for pngjs to decode: pngjs always expands a palette to colours and
 * has no way to return the indices, so the palette is made to spell them.
 */
function withIdentityPalette(buf: Uint8Array, what: string): Buffer {
  const out = Buffer.from(buf);
  for (let pos = 8; pos + 12 <= out.length;) {
    const len = out.readUInt32BE(pos);
    if (pos + 12 + len > out.length) throw new Error(`voc: truncated PNG mask ${what}.`);
    const type = out.toString('latin1', pos + 4, pos + 8);
    if (type === 'PLTE') {
      for (let i = 0; i < len; i++) out[pos + 8 + i] = i % 3 === 0 ? i / 3 : 0;
      out.writeUInt32BE(crc32(out.subarray(pos + 4, pos + 8 + len)), pos + 8 + len);
    }
    if (type === 'PLTE' || type === 'IEND') break;
    pos += 12 + len;
  }
  return out;
}

/**
 * Decodes a segmentation mask PNG to one byte per pixel: palette PNGs give their palette indices,
 * greyscale PNGs (bit depth ≤ 8) their values, RGB(A) PNGs the VOC colour map index of each colour.
 */
export function decodeLabelPng(buf: Uint8Array, what = 'mask'): LabelImage {
  if (buf.length < 33 || PNG_SIGNATURE.some((b, i) => buf[i] !== b)) throw new Error(`voc: mask ${what} is not a PNG file.`);
  const colorType = buf[25]!;
  const depth = buf[24]!;
  let png: { data: Buffer; width: number; height: number };
  try {
    if (colorType === 3) png = PNG.sync.read(withIdentityPalette(buf, what));
    else png = PNG.sync.read(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength), { skipRescale: true });
  } catch (e) {
    throw new Error(`voc: cannot decode PNG mask ${what}: ${(e as Error).message}`);
  }
  const { width, height } = png;
  const out = new Uint8Array(width * height);
  if (colorType === 3 || ((colorType === 0 || colorType === 4) && depth <= 8)) {
    for (let i = 0; i < out.length; i++) out[i] = png.data[4 * i]!;
  } else if (colorType === 2 || colorType === 6) {
    const lookup = new Map<number, number>();
    vocColormap(256).forEach(([r, g, b], i) => lookup.set((r << 16) | (g << 8) | b, i));
    for (let i = 0; i < out.length; i++) {
      const key = (png.data[4 * i]! << 16) | (png.data[4 * i + 1]! << 8) | png.data[4 * i + 2]!;
      const idx = lookup.get(key);
      if (idx === undefined) {
        throw new Error(
          `voc: RGB mask ${what} has colour (${key >> 16}, ${(key >> 8) & 255}, ${key & 255}) at pixel (${i % width}, ${Math.floor(i / width)}), ` +
            'which is not in the VOC colour map; save masks as palette PNGs.',
        );
      }
      out[i] = idx;
    }
  } else {
    throw new Error(`voc: mask ${what} is a ${depth}-bit PNG of colour type ${colorType}; use palette (indexed) or 8-bit greyscale masks.`);
  }
  return { data: out, width, height };
}

// ---------------------------------------------------------------------------------------------
// The dataset

export interface VocOptions {
  /** The VOC directory (e.g. VOCdevkit/VOC2012), holding JPEGImages/, SegmentationClass/, ImageSets/Segmentation/. */
  root: string;
  /** List name in ImageSets/Segmentation (default 'train'). */
  split?: string;
  /** Side of the square crops batches() produces (default 320). */
  cropSize?: number;
  /** Random scale/crop/flip (default: on for split 'train', off otherwise). */
  augment?: boolean;
  /** Default [0.5, 2.0]. */
  scaleRange?: readonly [number, number];
  /** Random horizontal flip when augmenting (default true). */
  flip?: boolean;
  /** Mask folder (default 'SegmentationClass'; e.g. 'SegmentationClassAug'). */
  maskDir?: string;
  /** Use only the first `limit` ids of the list. */
  limit?: number;
  /** Keep decoded images in memory after first use (default false). */
  cache?: boolean;
  mean?: readonly [number, number, number];
  std?: readonly [number, number, number];
}

export interface VocFull {
  id: string;
  /** height × width × 3, normalised. */
  x: Float32Array;
  labels: Int32Array;
  height: number;
  width: number;
}

/** A VOC split as a SampleSource for batches(); construct with vocDataset(). */
export class VocDataset implements SampleSource {
  readonly root: string;
  readonly split: string;
  readonly ids: readonly string[];
  readonly count: number;
  readonly cropSize: number;
  readonly height: number;
  readonly width: number;
  readonly channels = 3;
  readonly classes = VOC_CLASSES.length;
  readonly classNames = VOC_CLASSES;
  readonly palette = vocColormap(VOC_CLASSES.length);
  readonly augment: boolean;
  private readonly options: VocOptions;
  private readonly mean: readonly number[];
  private readonly std: readonly number[];
  private readonly maskDir: string;
  private readonly memo = new Map<number, { image: RgbImage; label: LabelImage }>();

  constructor(options: VocOptions) {
    const op = 'voc';
    if (!options || typeof options.root !== 'string' || options.root === '') throw new Error(`${op}: options.root (the VOC directory) is required.`);
    checkOptions(
      op,
      options,
      optionKeys<VocOptions>({
        root: true,
        split: true,
        cropSize: true,
        augment: true,
        scaleRange: true,
        flip: true,
        maskDir: true,
        limit: true,
        cache: true,
        mean: true,
        std: true,
      }),
    );
    const root = options.root;
    const split = options.split ?? 'train';
    const cropSize = options.cropSize ?? 320;
    if (!Number.isInteger(cropSize) || cropSize < 1) throw new Error(`${op}: cropSize must be an integer ≥ 1, got ${String(cropSize)}.`);
    const [lo, hi] = options.scaleRange ?? [0.5, 2.0];
    if (!(lo > 0 && hi >= lo && Number.isFinite(hi))) throw new Error(`${op}: scaleRange must be [lo, hi] with 0 < lo ≤ hi, got [${lo}, ${hi}].`);
    if (options.limit !== undefined && (!Number.isInteger(options.limit) || options.limit < 1)) {
      throw new Error(`${op}: limit must be an integer ≥ 1, got ${String(options.limit)}.`);
    }
    if (!existsSync(root) || !statSync(root).isDirectory()) {
      throw new Error(
        `${op}: data directory '${root}' does not exist. Expected the PASCAL VOC layout (e.g. VOCdevkit/VOC2012): ` +
          'JPEGImages/*.jpg, SegmentationClass/*.png, ImageSets/Segmentation/{train,val}.txt.',
      );
    }
    const maskDir = options.maskDir ?? 'SegmentationClass';
    for (const dir of ['JPEGImages', maskDir]) {
      if (!existsSync(join(root, dir))) throw new Error(`${op}: '${join(root, dir)}' is missing; '${root}' does not have the PASCAL VOC layout.`);
    }
    const listDir = join(root, 'ImageSets', 'Segmentation');
    const listFile = join(listDir, `${split}.txt`);
    if (!existsSync(listFile)) {
      const have = existsSync(listDir)
        ? readdirSync(listDir)
            .filter((f) => f.endsWith('.txt'))
            .map((f) => f.slice(0, -4))
        : [];
      throw new Error(
        `${op}: list file '${listFile}' for split '${split}' not found` + (have.length ? `; available splits: ${have.sort().join(', ')}.` : `; '${listDir}' has no list files.`),
      );
    }
    let ids = readFileSync(listFile, 'utf8')
      .split(/\r?\n/)
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter((l) => l !== '');
    if (ids.length === 0) throw new Error(`${op}: list file '${listFile}' lists no ids.`);
    if (options.limit !== undefined) ids = ids.slice(0, options.limit);
    for (const [kind, dir, ext] of [
      ['image', 'JPEGImages', '.jpg'],
      ['mask', maskDir, '.png'],
    ] as const) {
      const missing = ids.filter((id) => !existsSync(join(root, dir, id + ext)));
      if (missing.length > 0) {
        const shown = missing
          .slice(0, 5)
          .map((id) => `'${id}' (${join(root, dir, id + ext)})`)
          .join(', ');
        throw new Error(`${op}: ${missing.length} id(s) listed in '${listFile}' have no ${kind}: ${shown}${missing.length > 5 ? ', ...' : ''}.`);
      }
    }
    this.root = root;
    this.split = split;
    this.ids = ids;
    this.count = ids.length;
    this.cropSize = cropSize;
    this.height = cropSize;
    this.width = cropSize;
    this.augment = options.augment ?? split === 'train';
    this.options = options;
    this.maskDir = maskDir;
    this.mean = options.mean ?? IMAGENET_MEAN;
    this.std = options.std ?? IMAGENET_STD;
  }

  /** Decoded image and mask of sample i, unaugmented; sizes and label values checked. */
  load(index: number): { id: string; image: RgbImage; label: LabelImage } {
    if (!Number.isInteger(index) || index < 0 || index >= this.count) {
      throw new Error(`voc: sample index ${String(index)} is outside [0, ${this.count}).`);
    }
    const id = this.ids[index]!;
    const hit = this.memo.get(index);
    if (hit) return { id, ...hit };
    const imagePath = join(this.root, 'JPEGImages', `${id}.jpg`);
    const maskPath = join(this.root, this.maskDir, `${id}.png`);
    const image = decodeJpeg(readFileSync(imagePath), `'${imagePath}'`);
    const label = decodeLabelPng(readFileSync(maskPath), `'${maskPath}'`);
    if (image.width !== label.width || image.height !== label.height) {
      throw new Error(`voc: '${id}': image is ${image.width}×${image.height} (${imagePath}) but its mask is ${label.width}×${label.height} (${maskPath}).`);
    }
    for (let i = 0; i < label.data.length; i++) {
      const v = label.data[i]!;
      if (v >= this.classes && v !== IGNORE_LABEL) {
        throw new Error(
          `voc: mask '${maskPath}' has label ${v} at pixel (${i % label.width}, ${Math.floor(i / label.width)}); ` +
            `expected classes 0-${this.classes - 1} or ${IGNORE_LABEL} (ignore).`,
        );
      }
    }
    if (this.options.cache) this.memo.set(index, { image, label });
    return { id, image, label };
  }

  /** The augmentation parameters sample i gets from `rng` (what write() uses). */
  params(index: number, rng: DataRng): AugmentParams {
    const { image } = this.load(index);
    return drawAugment(rng, image.width, image.height, this.augmentOptions());
  }

  private augmentOptions(): AugmentOptions {
    const o: AugmentOptions = { cropSize: this.cropSize, augment: this.augment, flip: this.options.flip ?? true };
    if (this.options.scaleRange) o.scaleRange = this.options.scaleRange;
    return o;
  }

  write(index: number, rng: DataRng, x: Float32Array, xOffset: number, labels: Int32Array, labelOffset: number): void {
    const { image, label } = this.load(index);
    const params = drawAugment(rng, image.width, image.height, this.augmentOptions());
    augmentSample(image, label, params, this.cropSize, x, xOffset, labels, labelOffset, this.mean, this.std);
  }

  /** Sample i at full size, normalised, no augmentation (for exact whole-image evaluation). */
  full(index: number): VocFull {
    const { id, image, label } = this.load(index);
    const { width, height } = image;
    const x = new Float32Array(width * height * 3);
    for (let i = 0; i < width * height; i++) {
      for (let c = 0; c < 3; c++) x[i * 3 + c] = (image.data[i * 3 + c]! / 255 - this.mean[c]!) / this.std[c]!;
    }
    return { id, x, labels: Int32Array.from(label.data), height, width };
  }
}

/** Opens a VOC split; checks the layout, the list and every listed file up front (see VocDataset). */
export function vocDataset(options: VocOptions): VocDataset {
  return new VocDataset(options);
}
