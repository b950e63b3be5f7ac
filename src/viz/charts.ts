/**
 * Line charts as Vega-Lite specs: a pure function from series to a spec object, no Node API, so
 * the same spec renders headless to SVG/PNG in Node (src/viz/render.ts) and live in a browser
 * (vega-embed).
 */
import type { TopLevelSpec } from 'vega-lite';
import type { ChartSpec } from './spec.ts';
import { SERIES_COLORS, hex, rgb, type Rgb } from './raster.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

export interface LineSeries {
  name: string;
  values: ArrayLike<number>;
  /** x of each value (default 0, 1, 2, ...). */
  x?: ArrayLike<number>;
  /** '#rrggbb' or [r, g, b]; default: the next tab10 colour. */
  color?: string | Rgb;
  /** Dashed line (e.g. to tell E-step from N-step at the same colour). */
  dash?: boolean;
  /** Dots at the points (default: when the series has at most 40 points). */
  markers?: boolean;
}

export interface LineChartOptions {
  series: LineSeries[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Size of the whole picture in pixels, legend included (default 800 × 500). */
  width?: number;
  height?: number;
  /** Logarithmic y axis; non-positive values are left out (the line breaks there). */
  logY?: boolean;
  /** x values are counts (steps, iterations): no fractional ticks. */
  integerX?: boolean;
  /** Fixed y range (default: the data's). */
  yMin?: number;
  yMax?: number;
}

/** One row of the chart's data; y is null where the value cannot be drawn (the line breaks). */
export interface LinePoint {
  series: string;
  x: number;
  y: number | null;
}

function checkSeries(series: LineSeries[]): void {
  if (!Array.isArray(series) || series.length === 0) throw new Error('writeLineChart: series must be a non-empty array of { name, values }.');
  const names = new Set<string>();
  series.forEach((s, i) => {
    if (!s || typeof s.name !== 'string' || !s.values || typeof s.values.length !== 'number') {
      throw new Error(`writeLineChart: series ${i} must be { name: string, values: number[] }.`);
    }
    if (s.x && s.x.length !== s.values.length) {
      throw new Error(`writeLineChart: series '${s.name}' has ${s.x.length} x values for ${s.values.length} values.`);
    }
    if (names.has(s.name)) throw new Error(`writeLineChart: two series are named '${s.name}'; names label the legend and must differ.`);
    names.add(s.name);
  });
}

/** The chart's data rows, in series order. */
export function linePoints(series: LineSeries[], logY = false): LinePoint[] {
  const rows: LinePoint[] = [];
  for (const s of series) {
    for (let i = 0; i < s.values.length; i++) {
      const x = s.x ? s.x[i]! : i;
      const y = s.values[i]!;
      if (!Number.isFinite(x)) continue;
      rows.push({ series: s.name, x, y: Number.isFinite(y) && (!logY || y > 0) ? y : null });
    }
  }
  return rows;
}

const LOG_LABEL =
  "abs(log(datum.value) / LN10 - round(log(datum.value) / LN10)) > 1e-6 ? '' : " +
  "datum.value >= 0.001 && datum.value < 1e5 ? format(datum.value, '~g') : format(datum.value, '.0e')";

/** One layer of a layered spec (vega-lite exports only the top-level spec type). */
type Layer = Extract<TopLevelSpec, { layer: unknown }>['layer'][number];

/** Dots at the points of the series named in `marked` (solid whatever the line's dash). */
function pointLayer(marked: string[]): Layer {
  return {
    transform: [{ filter: { field: 'series', oneOf: marked } }, { filter: 'isValid(datum.y)' }],
    mark: { type: 'point', filled: true, size: 30, opacity: 1, clip: true },
    encoding: { strokeDash: { value: [1, 0] } },
  };
}

/** The Vega-Lite spec of a line chart: title, axes with grid, axis labels, legend at the right. */
export function lineChartSpec(options: LineChartOptions): ChartSpec {
  return lineChart(options);
}

/** lineChartSpec's spec, type-checked as vega-lite's. */
function lineChart(options: LineChartOptions): TopLevelSpec {
  checkOptions(
    'lineChartSpec',
    options,
    optionKeys<LineChartOptions>({ series: true, title: true, xLabel: true, yLabel: true, width: true, height: true, logY: true, integerX: true, yMin: true, yMax: true }),
  );
  const series = options.series;
  checkSeries(series);
  const names = series.map((s) => s.name);
  const colors = series.map((s, i) => hex(s.color ? rgb(s.color) : SERIES_COLORS[i % SERIES_COLORS.length]!));
  const dashes = series.map((s) => (s.dash ? [6, 4] : [1, 0]));
  const marked = series.filter((s) => s.markers ?? s.values.length <= 40).map((s) => s.name);
  const logY = options.logY ?? false;
  const fixed = options.yMin !== undefined && options.yMax !== undefined;
  const legend = { title: null, symbolType: 'stroke', symbolStrokeWidth: 2.5, symbolSize: 300, labelFontSize: 12, labelLimit: 400 } as const;
  const domain = { ...(options.yMin !== undefined ? { domainMin: options.yMin } : {}), ...(options.yMax !== undefined ? { domainMax: options.yMax } : {}) };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(options.title ? { title: { text: options.title, fontSize: 15 } } : {}),
    width: options.width ?? 800,
    height: options.height ?? 500,
    autosize: { type: 'fit', contains: 'padding' },
    padding: 10,
    background: 'white',
    config: { axis: { labelFontSize: 12, titleFontSize: 13, titleFontWeight: 'normal', gridColor: '#e4e4e4' } },
    data: { values: linePoints(series, logY) },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: options.xLabel ?? null,
        scale: { zero: false, nice: false },
        ...(options.integerX ? { axis: { tickMinStep: 1, format: 'd' } } : {}),
      },
      y: {
        field: 'y',
        type: 'quantitative',
        title: options.yLabel ?? null,
        // A log axis labels its decades only (grid lines stay at 2-9): plain decimals from 0.001 to
        // 1e4, exponents beyond.
        ...(logY ? { axis: { labelExpr: LOG_LABEL } } : {}),
        scale: { type: logY ? 'log' : 'linear', ...(logY ? {} : { zero: false }), ...domain, ...(fixed ? { nice: false } : {}) },
      },
      color: { field: 'series', type: 'nominal', sort: names, scale: { domain: names, range: colors }, legend },
      strokeDash: { field: 'series', type: 'nominal', sort: names, scale: { domain: names, range: dashes }, legend },
    },
    layer: [{ mark: { type: 'line', strokeWidth: 2, clip: true, invalid: 'break-paths-show-domains' } }, ...(marked.length === 0 ? [] : [pointLayer(marked)])],
  };
}
