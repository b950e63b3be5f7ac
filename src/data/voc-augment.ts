/**
 * Training augmentation of segmentation samples, as in EMANet, in one resampling pass per sample:
 * random scale in [0.5, 2.0] (image bilinear, label nearest), padding to the crop size at the
 * bottom and right (image with the mean, which is 0 after normalisation; label with the ignore
 * label), a random crop, and a random horizontal flip. Without augmentation (validation) a sample
 * is centre-cropped or padded at the bottom/right to the crop size. Images are normalised with the
 * ImageNet mean and std. Platform-neutral: it works on decoded pixels (src/data/voc.ts decodes).
 */
import { IGNORE_LABEL } from '../ops/cross-entropy.ts';
import type { DataRng } from './rng.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

export interface RgbImage {
  /** width × height × 3, row-major. */
  data: Uint8Array;
  width: number;
  height: number;
}

export interface LabelImage {
  /** width × height, row-major. */
  data: Uint8Array;
  width: number;
  height: number;
}

// ---------------------------------------------------------------------------------------------
// Augmentation

export interface AugmentParams {
  /** Resize factor applied before cropping. */
  scale: number;
  /** Top-left corner of the crop in the scaled, padded image. */
  offsetX: number;
  offsetY: number;
  flip: boolean;
}

export interface AugmentOptions {
  cropSize: number;
  augment: boolean;
  scaleRange?: readonly [number, number];
  flip?: boolean;
}

function scaledSize(n: number, scale: number): number {
  return Math.max(1, Math.round(n * scale));
}

/**
 * The random parameters of one sample (scale, crop corner, flip), or, without augmentation, the
 * deterministic centre crop / bottom-right padding at scale 1.
 */
export function drawAugment(rng: DataRng, width: number, height: number, options: AugmentOptions): AugmentParams {
  checkOptions('drawAugment', options, optionKeys<AugmentOptions>({ cropSize: true, augment: true, scaleRange: true, flip: true }));
  const crop = options.cropSize;
  if (!options.augment) {
    return { scale: 1, offsetX: Math.max(0, Math.floor((width - crop) / 2)), offsetY: Math.max(0, Math.floor((height - crop) / 2)), flip: false };
  }
  const [lo, hi] = options.scaleRange ?? [0.5, 2.0];
  const scale = rng.uniform(lo, hi);
  const sw = scaledSize(width, scale);
  const sh = scaledSize(height, scale);
  const offsetX = rng.int(0, Math.max(sw, crop) - crop);
  const offsetY = rng.int(0, Math.max(sh, crop) - crop);
  const flip = (options.flip ?? true) && rng.next() < 0.5;
  return { scale, offsetX, offsetY, flip };
}

/**
 * Resamples one image/label pair into a cropSize² crop: scale, pad (image: mean → 0 after
 * normalisation; label: 255), crop at the offsets, flip; normalises (v/255 − mean)/std per channel.
 */
export function augmentSample(
  image: RgbImage,
  label: LabelImage,
  params: AugmentParams,
  cropSize: number,
  x: Float32Array,
  xOffset: number,
  labels: Int32Array,
  labelOffset: number,
  mean: readonly number[] = IMAGENET_MEAN,
  std: readonly number[] = IMAGENET_STD,
): void {
  const { width: w, height: h } = image;
  const sw = scaledSize(w, params.scale);
  const sh = scaledSize(h, params.scale);
  const fx = w / sw;
  const fy = h / sh;
  const src = image.data;
  const m0 = mean[0]!,
    m1 = mean[1]!,
    m2 = mean[2]!;
  const s0 = 1 / (255 * std[0]!),
    s1 = 1 / (255 * std[1]!),
    s2 = 1 / (255 * std[2]!);
  const d0 = m0 / std[0]!,
    d1 = m1 / std[1]!,
    d2 = m2 / std[2]!;
  for (let oy = 0; oy < cropSize; oy++) {
    const py = params.offsetY + oy;
    const inY = py < sh;
    const syf = Math.min(Math.max((py + 0.5) * fy - 0.5, 0), h - 1);
    const y0 = Math.floor(syf);
    const y1 = Math.min(y0 + 1, h - 1);
    const wy = syf - y0;
    const ly = Math.min(Math.floor((py + 0.5) * fy), h - 1);
    for (let ox = 0; ox < cropSize; ox++) {
      const px = params.offsetX + (params.flip ? cropSize - 1 - ox : ox);
      const o = xOffset + (oy * cropSize + ox) * 3;
      const lo = labelOffset + oy * cropSize + ox;
      if (!inY || px >= sw) {
        x[o] = 0;
        x[o + 1] = 0;
        x[o + 2] = 0;
        labels[lo] = IGNORE_LABEL;
        continue;
      }
      const sxf = Math.min(Math.max((px + 0.5) * fx - 0.5, 0), w - 1);
      const x0 = Math.floor(sxf);
      const x1 = Math.min(x0 + 1, w - 1);
      const wx = sxf - x0;
      const a = (y0 * w + x0) * 3,
        b = (y0 * w + x1) * 3,
        c = (y1 * w + x0) * 3,
        d = (y1 * w + x1) * 3;
      const w00 = (1 - wx) * (1 - wy),
        w01 = wx * (1 - wy),
        w10 = (1 - wx) * wy,
        w11 = wx * wy;
      x[o] = (src[a]! * w00 + src[b]! * w01 + src[c]! * w10 + src[d]! * w11) * s0 - d0;
      x[o + 1] = (src[a + 1]! * w00 + src[b + 1]! * w01 + src[c + 1]! * w10 + src[d + 1]! * w11) * s1 - d1;
      x[o + 2] = (src[a + 2]! * w00 + src[b + 2]! * w01 + src[c + 2]! * w10 + src[d + 2]! * w11) * s2 - d2;
      const lx = Math.min(Math.floor((px + 0.5) * fx), w - 1);
      labels[lo] = label.data[ly * w + lx]!;
    }
  }
}
