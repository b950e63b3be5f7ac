/**
 * A grid of heat maps (attention maps γ·k, reconstructions per iteration): each map colour-mapped
 * into a raster of ours, the grid, titles and colour bar laid out by Vega-Lite (grid.ts).
 * Platform-neutral; `toUrl` encodes a raster (pngDataUrl in Node).
 */
import type { ChartSpec } from './spec.ts';
import { gridSpec } from './grid.ts';
import { colormapStops, finiteRange, hex, mapRaster, type Colormap, type Raster } from './raster.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

export interface HeatmapOptions {
  rows: number;
  cols: number;
  /** Size of each map in values. */
  width: number;
  height: number;
  /** One per map, drawn above it. */
  titles?: string[];
  /** Drawn above the grid. */
  title?: string;
  /** Pixels per value (default: each map drawn at least 128 px on its longer side). */
  scale?: number;
  /** Colour map for single-channel maps (default 'viridis'). */
  colormap?: Colormap;
  /** Normalise each map to its own range (default), all maps to the common range, or a fixed [lo, hi]; a shared range gets a colour bar. */
  range?: 'each' | 'all' | readonly [number, number];
}

/**
 * The maps as rasters, row-major. A map of width·height values is colour-mapped; one of
 * width·height·3 values is shown as RGB (HWC), normalised over its three channels together.
 * Also returns the shared range, when there is one.
 */
export function heatmapRasters(maps: ArrayLike<number>[], options: HeatmapOptions): { rasters: Raster[]; shared: [number, number] | null } {
  const op = 'writeHeatmaps';
  checkOptions(op, options, optionKeys<HeatmapOptions>({ rows: true, cols: true, width: true, height: true, titles: true, title: true, scale: true, colormap: true, range: true }));
  const { rows, cols, width: w, height: h } = options;
  for (const [k, v] of [
    ['rows', rows],
    ['cols', cols],
    ['width', w],
    ['height', h],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${op}: ${k} must be an integer ≥ 1, got ${String(v)}.`);
  }
  if (!Array.isArray(maps) || maps.length === 0 || maps.length > rows * cols) {
    throw new Error(`${op}: ${Array.isArray(maps) ? maps.length : 'no'} maps for a ${rows}×${cols} grid; pass 1 to ${rows * cols}.`);
  }
  maps.forEach((m, i) => {
    if (!m || (m.length !== w * h && m.length !== w * h * 3)) {
      throw new Error(`${op}: map ${i} has ${m ? m.length : 0} values; expected ${w}×${h} = ${w * h} (or ×3 for RGB).`);
    }
  });
  if (options.titles && options.titles.length > maps.length) {
    throw new Error(`${op}: ${options.titles.length} titles for ${maps.length} maps.`);
  }
  const scale = options.scale ?? Math.max(1, Math.ceil(128 / Math.max(w, h)));
  const range = options.range ?? 'each';
  const map = options.colormap ?? 'viridis';
  const shared: [number, number] | null =
    range === 'each' ? null : range === 'all' ? maps.map(finiteRange).reduce((a, b) => [Math.min(a[0], b[0]), Math.max(a[1], b[1])]) : [range[0], range[1]];
  const rasters = maps.map((m) => {
    const [lo, hi] = shared ?? finiteRange(m);
    return mapRaster(m, w, h, lo, hi, map, scale);
  });
  return { rasters, shared };
}

/** The Vega-Lite spec of the grid of heat maps; see heatmapRasters. */
export function heatmapSpec(maps: ArrayLike<number>[], options: HeatmapOptions, toUrl: (r: Raster) => string): ChartSpec {
  const { rasters, shared } = heatmapRasters(maps, options);
  const cells = rasters.map((r, i) => ({ url: toUrl(r), width: r.width, height: r.height, title: options.titles?.[i] }));
  const stops = colormapStops(options.colormap ?? 'viridis').map(hex);
  return gridSpec(cells, {
    cols: options.cols,
    title: options.title,
    colorBar: shared ? { lo: shared[0], hi: shared[1], stops } : undefined,
  });
}
