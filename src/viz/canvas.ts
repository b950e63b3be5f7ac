/**
 * A small RGBA raster for the PNG figures: anti-aliased thick lines and dots (coverage from the
 * distance to the segment), rectangles, text in the built-in bitmap font, and image blits with a
 * colour map. Platform-neutral; src/viz/png.ts writes the result with pngjs.
 */
import { GLYPH_ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, glyph, textWidth } from './font.ts';

export type Rgb = readonly [number, number, number];

export const WHITE: Rgb = [255, 255, 255];
export const BLACK: Rgb = [0, 0, 0];

/** Parses '#rrggbb' (or passes an [r, g, b] triple through). */
export function rgb(color: string | Rgb): Rgb {
  if (typeof color !== 'string') return color;
  const m = /^#?([0-9a-f]{6})$/i.exec(color.trim());
  if (!m) throw new Error(`viz: colour '${color}' is not of the form '#rrggbb'.`);
  const v = parseInt(m[1]!, 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** matplotlib's tab10 colours, for series. */
export const SERIES_COLORS: readonly Rgb[] = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
].map((c) => rgb(c));

const VIRIDIS: readonly Rgb[] = [
  '#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725',
].map((c) => rgb(c));

export type Colormap = 'gray' | 'viridis';

/** The colour of t ∈ [0, 1] under a colour map (NaN → magenta, so it is never mistaken for data). */
export function colormap(t: number, map: Colormap): Rgb {
  if (Number.isNaN(t)) return [255, 0, 255];
  const u = Math.min(Math.max(t, 0), 1);
  if (map === 'gray') {
    const v = Math.round(u * 255);
    return [v, v, v];
  }
  const f = u * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(f), VIRIDIS.length - 2);
  const w = f - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[i + 1]!;
  return [Math.round(a[0] + (b[0] - a[0]) * w), Math.round(a[1] + (b[1] - a[1]) * w), Math.round(a[2] + (b[2] - a[2]) * w)];
}

export interface TextOptions {
  scale?: number;
  align?: 'left' | 'center' | 'right';
  /** Rotated 90° counter-clockwise (reads bottom to top), centred on (x, y). */
  vertical?: boolean;
  /** Drawn twice, one pixel apart (titles). */
  bold?: boolean;
}

export class Canvas {
  readonly width: number;
  readonly height: number;
  /** RGBA, row-major, alpha always 255. */
  readonly data: Uint8Array;
  /** Drawing is limited to [x0, x1) × [y0, y1) while set. */
  clip: [number, number, number, number] | null = null;

  constructor(width: number, height: number, background: Rgb = WHITE) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new Error(`viz: canvas size must be positive integers, got ${width}×${height}.`);
    }
    this.width = width;
    this.height = height;
    this.data = new Uint8Array(width * height * 4);
    for (let i = 0; i < width * height; i++) {
      this.data[4 * i] = background[0];
      this.data[4 * i + 1] = background[1];
      this.data[4 * i + 2] = background[2];
      this.data[4 * i + 3] = 255;
    }
  }

  /** Blends `color` over pixel (x, y) with opacity a ∈ [0, 1]; outside the canvas it is a no-op. */
  blend(x: number, y: number, color: Rgb, a = 1): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height || !(a > 0)) return;
    const c = this.clip;
    if (c && (x < c[0] || y < c[1] || x >= c[2] || y >= c[3])) return;
    const o = (y * this.width + x) * 4;
    const d = this.data;
    if (a >= 1) {
      d[o] = color[0];
      d[o + 1] = color[1];
      d[o + 2] = color[2];
      return;
    }
    d[o] = Math.round(d[o]! + (color[0] - d[o]!) * a);
    d[o + 1] = Math.round(d[o + 1]! + (color[1] - d[o + 1]!) * a);
    d[o + 2] = Math.round(d[o + 2]! + (color[2] - d[o + 2]!) * a);
  }

  fillRect(x: number, y: number, w: number, h: number, color: Rgb, a = 1): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) this.blend(xx, yy, color, a);
  }

  /** A 1-pixel rectangle outline covering [x, x+w) × [y, y+h). */
  strokeRect(x: number, y: number, w: number, h: number, color: Rgb): void {
    this.fillRect(x, y, w, 1, color);
    this.fillRect(x, y + h - 1, w, 1, color);
    this.fillRect(x, y, 1, h, color);
    this.fillRect(x + w - 1, y, 1, h, color);
  }

  /**
   * An anti-aliased segment of the given width between pixel-centre coordinates, with round caps:
   * coverage = clamp(width/2 + 0.5 − distance, 0, 1). With `mask` (one float per canvas pixel) the
   * coverage is max-accumulated there instead of drawn, so the joints of a polyline are not
   * blended twice.
   */
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, width = 1, mask?: Float32Array): void {
    if (![x0, y0, x1, y1].every(Number.isFinite)) return;
    const r = width / 2;
    const minX = Math.max(0, Math.floor(Math.min(x0, x1) - r - 1));
    const maxX = Math.min(this.width - 1, Math.ceil(Math.max(x0, x1) + r + 1));
    const minY = Math.max(0, Math.floor(Math.min(y0, y1) - r - 1));
    const maxY = Math.min(this.height - 1, Math.ceil(Math.max(y0, y1) + r + 1));
    const dx = x1 - x0;
    const dy = y1 - y0;
    const len2 = dx * dx + dy * dy;
    for (let y = minY; y <= maxY; y++) {
      for (let x = minX; x <= maxX; x++) {
        let t = len2 > 0 ? ((x - x0) * dx + (y - y0) * dy) / len2 : 0;
        t = Math.min(Math.max(t, 0), 1);
        const ex = x0 + t * dx - x;
        const ey = y0 + t * dy - y;
        const cov = Math.min(Math.max(r + 0.5 - Math.sqrt(ex * ex + ey * ey), 0), 1);
        if (!(cov > 0)) continue;
        if (mask) {
          const i = y * this.width + x;
          if (cov > mask[i]!) mask[i] = cov;
        } else {
          this.blend(x, y, color, cov);
        }
      }
    }
  }

  /**
   * A polyline through the points; non-finite points break it. `dash` = [on, off] lengths in
   * pixels along the line.
   */
  polyline(xs: readonly number[], ys: readonly number[], color: Rgb, width = 2, dash?: readonly [number, number]): void {
    const mask = new Float32Array(this.width * this.height);
    let along = 0;
    for (let i = 1; i < xs.length; i++) {
      const ax = xs[i - 1]!, ay = ys[i - 1]!, bx = xs[i]!, by = ys[i]!;
      if (![ax, ay, bx, by].every(Number.isFinite)) continue;
      if (!dash) {
        this.line(ax, ay, bx, by, color, width, mask);
        continue;
      }
      const len = Math.hypot(bx - ax, by - ay);
      const period = dash[0] + dash[1];
      let s = 0;
      while (s < len) {
        const phase = (along + s) % period;
        const on = phase < dash[0];
        const step = Math.min(on ? dash[0] - phase : period - phase, len - s);
        if (on && step > 0) {
          const t0 = s / len, t1 = (s + step) / len;
          this.line(ax + (bx - ax) * t0, ay + (by - ay) * t0, ax + (bx - ax) * t1, ay + (by - ay) * t1, color, width, mask);
        }
        s += Math.max(step, 1e-6);
      }
      along += len;
    }
    for (let i = 0; i < mask.length; i++) {
      if (mask[i]! > 0) this.blend(i % this.width, Math.floor(i / this.width), color, mask[i]!);
    }
  }

  /** A filled anti-aliased disc. */
  dot(cx: number, cy: number, radius: number, color: Rgb): void {
    this.line(cx, cy, cx, cy, color, radius * 2);
  }

  /** Text in the bitmap font. Horizontal: (x, y) is the top of the line at the alignment point. */
  text(str: string, x: number, y: number, color: Rgb = BLACK, options: TextOptions = {}): void {
    if (options.bold) {
      const plain = { ...options, bold: false };
      this.text(str, x, y, color, plain);
      this.text(str, options.vertical ? x : x + 1, options.vertical ? y - 1 : y, color, plain);
      return;
    }
    const s = Math.max(1, Math.round(options.scale ?? 1));
    const w = textWidth(str) * s;
    const chars = [...str];
    if (options.vertical) {
      // Rotated CCW: font x runs up the canvas, font y runs right.
      const left = Math.round(x - (GLYPH_HEIGHT * s) / 2);
      const bottom = Math.round(y + w / 2);
      chars.forEach((ch, k) => {
        const g = glyph(ch);
        for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
          for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
            if (!g[gy * GLYPH_WIDTH + gx]) continue;
            const fx = (k * GLYPH_ADVANCE + gx) * s;
            this.fillRect(left + gy * s, bottom - fx - s, s, s, color);
          }
        }
      });
      return;
    }
    const align = options.align ?? 'left';
    const left = Math.round(align === 'left' ? x : align === 'center' ? x - w / 2 : x - w);
    const top = Math.round(y);
    chars.forEach((ch, k) => {
      const g = glyph(ch);
      for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
        for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
          if (g[gy * GLYPH_WIDTH + gx]) this.fillRect(left + (k * GLYPH_ADVANCE + gx) * s, top + gy * s, s, s, color);
        }
      }
    });
  }

  /** Width of `str` in canvas pixels at a text scale. */
  static textWidth(str: string, scale = 1): number {
    return textWidth(str) * Math.max(1, Math.round(scale));
  }

  /** Draws a w×h grid of colours (row-major), each cell upscaled to `scale`×`scale` pixels at (x, y). */
  blit(colors: (i: number) => Rgb, w: number, h: number, x: number, y: number, scale = 1): void {
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) this.fillRect(x + c * scale, y + r * scale, scale, scale, colors(r * w + c));
    }
  }
}
