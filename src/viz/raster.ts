/**
 * The pixels that are ours in the figures: colour maps and small RGBA rasters of heat maps and
 * label maps, each value upscaled to a square block (nearest neighbour), so a chart renderer only
 * places them 1:1 and never resamples. Platform-neutral: no Node API (PNG encoding is in png.ts).
 */

export type Rgb = readonly [number, number, number];

/** Parses '#rrggbb' (or passes an [r, g, b] triple through). */
export function rgb(color: string | Rgb): Rgb {
  if (typeof color !== 'string') return color;
  const m = /^#?([0-9a-f]{6})$/i.exec(color.trim());
  if (!m) throw new Error(`viz: colour '${color}' is not of the form '#rrggbb'.`);
  const v = parseInt(m[1]!, 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** '#rrggbb' of an [r, g, b] triple. */
export function hex(c: Rgb): string {
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/** matplotlib's tab10 colours, for series and digit classes. */
export const SERIES_COLORS: readonly Rgb[] = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'].map((c) => rgb(c));

/** viridis at 9 evenly spaced stops; colormap() interpolates linearly between them. */
const VIRIDIS_STOPS: readonly Rgb[] = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725'].map((c) => rgb(c));

export type Colormap = 'gray' | 'viridis';

/** The stops of a colour map, low to high (for a colour bar drawn by the chart library). */
export function colormapStops(map: Colormap): readonly Rgb[] {
  return map === 'gray'
    ? [
        [0, 0, 0],
        [255, 255, 255],
      ]
    : VIRIDIS_STOPS;
}

/** The colour of t ∈ [0, 1] under a colour map (NaN → magenta, so it is never mistaken for data). */
export function colormap(t: number, map: Colormap): Rgb {
  if (Number.isNaN(t)) return [255, 0, 255];
  const u = Math.min(Math.max(t, 0), 1);
  if (map === 'gray') {
    const v = Math.round(u * 255);
    return [v, v, v];
  }
  const f = u * (VIRIDIS_STOPS.length - 1);
  const i = Math.min(Math.floor(f), VIRIDIS_STOPS.length - 2);
  const w = f - i;
  const a = VIRIDIS_STOPS[i]!;
  const b = VIRIDIS_STOPS[i + 1]!;
  return [Math.round(a[0] + (b[0] - a[0]) * w), Math.round(a[1] + (b[1] - a[1]) * w), Math.round(a[2] + (b[2] - a[2]) * w)];
}

/** An opaque RGBA image, row-major. */
export interface Raster {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A w×h grid of colours (row-major), each upscaled to a `scale`×`scale` block. */
export function blockRaster(colors: (i: number) => Rgb, w: number, h: number, scale: number): Raster {
  const width = w * scale;
  const height = h * scale;
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const row = Math.floor(y / scale) * w;
    for (let x = 0; x < width; x++) {
      const c = colors(row + Math.floor(x / scale));
      const o = 4 * (y * width + x);
      data[o] = c[0];
      data[o + 1] = c[1];
      data[o + 2] = c[2];
      data[o + 3] = 255;
    }
  }
  return { width, height, data };
}

/** The smallest and largest finite value ([0, 1] when there is none). */
export function finiteRange(v: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (Number.isFinite(x)) {
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
  }
  return lo === Infinity ? [0, 1] : [lo, hi];
}

/**
 * A map as a raster: w·h values through the colour map, or w·h·3 values (HWC) as RGB; values are
 * normalised to [lo, hi] (clamped).
 */
export function mapRaster(m: ArrayLike<number>, w: number, h: number, lo: number, hi: number, map: Colormap, scale: number): Raster {
  const inv = hi > lo ? 1 / (hi - lo) : 0;
  if (m.length === w * h) return blockRaster((k) => colormap((m[k]! - lo) * inv, map), w, h, scale);
  const unit = (v: number): number => Math.round(Math.min(Math.max((v - lo) * inv, 0), 1) * 255);
  return blockRaster((k) => [unit(m[3 * k]!), unit(m[3 * k + 1]!), unit(m[3 * k + 2]!)], w, h, scale);
}
