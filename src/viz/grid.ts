/**
 * The Vega-Lite spec of a grid of images (heat maps, segmentation panels): each cell is an `image`
 * mark placed 1:1 at its raster's size (the pixels are ours, src/viz/raster.ts), with its title
 * above it; optionally a colour bar at the right and class swatches below. Platform-neutral: the
 * image URLs come in from the caller (PNG data URLs in Node, canvas.toDataURL() in a browser).
 */
import type { TopLevelSpec } from 'vega-lite';
import type { ChartSpec } from './spec.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

export interface GridCell {
  /** A URL the renderer can load, e.g. a PNG data URL. */
  url: string;
  width: number;
  height: number;
  title?: string;
}

export interface GridOptions {
  /** Cells per row. */
  cols: number;
  /** The figure's title; lines separated by '\n' are set one under the other. */
  title?: string;
  /** A colour bar right of the grid: the colour map's stops ('#rrggbb', low to high) over [lo, hi]. */
  colorBar?: { lo: number; hi: number; stops: readonly string[] };
  /** Class swatches ('#rrggbb') with their names, below the grid. */
  legend?: { names: readonly string[]; colors: readonly string[] };
}

/** A non-breaking space: an untitled cell keeps a title line so the images of a row stay aligned. */
const BLANK_TITLE = '\u00a0';

function cellSpec(c: GridCell): Record<string, unknown> {
  return {
    width: c.width,
    height: c.height,
    title: { text: c.title || BLANK_TITLE, fontSize: 12, fontWeight: 'normal' },
    data: { values: [{ url: c.url }] },
    mark: { type: 'image', width: c.width, height: c.height, align: 'left', baseline: 'top', aspect: false, smooth: false, aria: false },
    encoding: { url: { field: 'url', type: 'nominal' }, x: { value: 0 }, y: { value: 0 } },
  };
}

function colorBarSpec(bar: NonNullable<GridOptions['colorBar']>, height: number): Record<string, unknown> {
  const { lo, hi } = bar;
  // Bands at least 3 px tall, so each shows its colour and not only anti-aliased edges.
  const n = Math.max(2, Math.min(64, Math.floor(height / 3)));
  const values = Array.from({ length: n }, (_, i) => ({ v0: lo + ((hi - lo) * i) / n, v1: lo + ((hi - lo) * (i + 1)) / n, v: lo + ((hi - lo) * (i + 0.5)) / n }));
  return {
    width: 16,
    height,
    title: { text: BLANK_TITLE, fontSize: 12 },
    data: { values },
    mark: { type: 'rect', aria: false },
    encoding: {
      y: { field: 'v0', type: 'quantitative', scale: { domain: [lo, hi], nice: false, zero: false }, axis: { title: null, orient: 'right', tickCount: 5 } },
      y2: { field: 'v1' },
      color: { field: 'v', type: 'quantitative', scale: { domain: [lo, hi], range: [...bar.stops], interpolate: 'rgb' }, legend: null },
    },
  };
}

function legendSpec(legend: NonNullable<GridOptions['legend']>): Record<string, unknown> {
  const long = legend.names.some((n) => n.length > 3);
  return {
    width: { step: long ? 26 : 30 },
    height: 14,
    data: { values: legend.names.map((name, i) => ({ name, color: legend.colors[i] })) },
    mark: { type: 'square', size: 150, filled: true, stroke: '#555', strokeWidth: 0.5, opacity: 1, aria: false },
    encoding: {
      x: { field: 'name', type: 'nominal', sort: null, axis: { title: null, labelAngle: long ? -40 : 0, domain: false, ticks: false, labelFontSize: 11, labelOverlap: false } },
      color: { field: 'color', type: 'nominal', scale: null },
    },
  };
}

/** The grid, row-major, `cols` cells per row. */
export function gridSpec(cells: readonly GridCell[], options: GridOptions): ChartSpec {
  return grid(cells, options);
}

/** gridSpec's spec, type-checked as vega-lite's. */
function grid(cells: readonly GridCell[], options: GridOptions): TopLevelSpec {
  checkOptions('gridSpec', options, optionKeys<GridOptions>({ cols: true, title: true, colorBar: true, legend: true }));
  const rows: Record<string, unknown>[] = [];
  for (let r = 0; r * options.cols < cells.length; r++) {
    rows.push({ hconcat: cells.slice(r * options.cols, (r + 1) * options.cols).map(cellSpec) });
  }
  let body: Record<string, unknown> = { vconcat: rows, spacing: 6 };
  if (options.colorBar) body = { hconcat: [body, colorBarSpec(options.colorBar, cells[0]?.height ?? 64)], spacing: 12 };
  if (options.legend) body = { vconcat: [body, legendSpec(options.legend)], spacing: 10 };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    // A title's lines ('\n') are Vega-Lite's text array: one line each, so a long title does not widen the figure.
    ...(options.title ? { title: { text: options.title.includes('\n') ? options.title.split('\n') : options.title, fontSize: 14 } } : {}),
    background: 'white',
    padding: 8,
    config: { view: { stroke: null }, concat: { spacing: 6 } },
    ...body,
  } as TopLevelSpec;
}
