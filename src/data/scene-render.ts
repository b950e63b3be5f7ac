/**
 * Drawing one digit scene from explicit placements: the bilinear resize of a 28×28 digit, the
 * compositing of the pasted digits into image and labels (the rules every task of digitScenes
 * shares, src/data/digit-scenes.ts), and the hue of a group's colour (task 'groups').
 */
import { checkOptions, optionKeys } from '../tensor/options.ts';

/** Side of an MNIST digit in pixels. */
export const DIGIT_SIZE = 28;

/** A digit pasted into a scene: its class, which sample, where and how large (pixels). */
export interface DigitPlacement {
  digit: number;
  sample: number;
  x: number;
  y: number;
  scale: number;
  /**
   * Task 'context': only this square of the pasted digit is drawn (its top-left corner and side,
   * in the pasted digit's own pixels); the rest of the digit is left out. Absent: the whole digit.
   */
  window?: { x: number; y: number; size: number };
  /**
   * Task 'groups': the digit's colour (RGB in [0, 1]); its pixels are its intensity times this
   * colour, per channel. Absent: grey (every channel the intensity).
   */
  color?: readonly [number, number, number];
}

const RENDER_KEYS = optionKeys<RenderOptions>({ size: true, channels: true, threshold: true });

/**
 * Bilinear resize of a 28×28 digit to scale×scale, half-pixel centres (align_corners = false),
 * edges clamped. At scale 28 it is the identity.
 */
export function resizeDigit(pixels: ArrayLike<number>, scale: number): Float32Array {
  const n = DIGIT_SIZE;
  const out = new Float32Array(scale * scale);
  const ratio = n / scale;
  for (let oy = 0; oy < scale; oy++) {
    const sy = Math.min(Math.max((oy + 0.5) * ratio - 0.5, 0), n - 1);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, n - 1);
    const wy = sy - y0;
    for (let ox = 0; ox < scale; ox++) {
      const sx = Math.min(Math.max((ox + 0.5) * ratio - 0.5, 0), n - 1);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, n - 1);
      const wx = sx - x0;
      const top = pixels[y0 * n + x0]! * (1 - wx) + pixels[y0 * n + x1]! * wx;
      const bottom = pixels[y1 * n + x0]! * (1 - wx) + pixels[y1 * n + x1]! * wx;
      out[oy * scale + ox] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

export interface RenderOptions {
  size: number;
  channels?: 1 | 3;
  threshold?: number;
}

/**
 * Renders one scene from explicit placements (in drawing order) into `image` (size·size·channels)
 * and `labels` (size·size) at the given offsets; exported so the rules can be tested on
 * constructed cases. A placement may extend past the canvas; the part outside is cut off.
 * Placements with a `color` (task 'groups') need channels 3: the image is then, per channel, the
 * max over the digits of intensity × colour (a placement without one counts as white); labels
 * follow the intensity as always.
 */
export function renderScene(
  digits: (placement: DigitPlacement) => ArrayLike<number>,
  placements: readonly DigitPlacement[],
  options: RenderOptions,
  image: Float32Array = new Float32Array(options.size * options.size * (options.channels ?? 1)),
  labels: Int32Array = new Int32Array(options.size * options.size),
  imageOffset = 0,
  labelOffset = 0,
): { image: Float32Array; labels: Int32Array } {
  checkOptions('renderScene', options, RENDER_KEYS);
  const { size } = options;
  const channels = options.channels ?? 1;
  const threshold = options.threshold ?? 0.5;
  const coloured = placements.some((p) => p.color !== undefined);
  if (coloured && channels !== 3) throw new Error(`renderScene: coloured digits need channels 3, got ${channels}.`);
  const grey = new Float32Array(size * size);
  // Coloured digits: the per-channel max of intensity × colour (HWC); grey scenes skip it.
  const rgb = coloured ? new Float32Array(size * size * 3) : null;
  const lab = new Int32Array(size * size);
  for (const p of placements) {
    const [r, g, b] = p.color ?? [1, 1, 1];
    const pix = resizeDigit(digits(p), p.scale);
    const w = p.window ?? { x: 0, y: 0, size: p.scale };
    for (let dy = Math.max(0, w.y); dy < Math.min(p.scale, w.y + w.size); dy++) {
      const y = p.y + dy;
      if (y < 0 || y >= size) continue;
      for (let dx = Math.max(0, w.x); dx < Math.min(p.scale, w.x + w.size); dx++) {
        const x = p.x + dx;
        if (x < 0 || x >= size) continue;
        const v = pix[dy * p.scale + dx]!;
        const at = y * size + x;
        if (v > grey[at]!) grey[at] = v;
        if (rgb) {
          rgb[3 * at] = Math.max(rgb[3 * at]!, v * r);
          rgb[3 * at + 1] = Math.max(rgb[3 * at + 1]!, v * g);
          rgb[3 * at + 2] = Math.max(rgb[3 * at + 2]!, v * b);
        }
        if (v >= threshold) lab[at] = 1 + p.digit;
      }
    }
  }
  for (let i = 0; i < size * size; i++) {
    if (rgb) for (let c = 0; c < 3; c++) image[imageOffset + i * 3 + c] = rgb[i * 3 + c]!;
    else for (let c = 0; c < channels; c++) image[imageOffset + i * channels + c] = grey[i]!;
    labels[labelOffset + i] = lab[i]!;
  }
  return { image, labels };
}

/** The RGB colour in [0, 1] of hue h (degrees) at saturation 1 and value 1 (the HSV cone's rim). */
export function hueColor(h: number): readonly [number, number, number] {
  const f = (n: number): number => {
    const k = (n + h / 60) % 6;
    return 1 - Math.max(0, Math.min(k, 4 - k, 1));
  };
  return [f(5), f(3), f(1)];
}
