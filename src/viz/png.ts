/**
 * PNG figures for training runs (Node only: node:fs and pngjs): line charts (loss and mIoU curves,
 * the gradient-flow figure on a log axis), grids of heat maps (attention maps γ·k, reconstructions
 * per iteration) and segmentation panels (image | ground truth | prediction). Text uses the
 * built-in bitmap font of src/viz/font.ts. Files are written atomically (temp file + rename).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PNG } from 'pngjs';
import { vocColormap } from '../data/voc.ts';
import { IGNORE_LABEL } from '../ops/cross-entropy.ts';
import { BLACK, Canvas, SERIES_COLORS, WHITE, colormap, rgb, type Colormap, type Rgb } from './canvas.ts';
import { GLYPH_HEIGHT } from './font.ts';

/** Encodes a canvas as PNG bytes. */
export function encodePng(canvas: Canvas): Buffer {
  const png = new PNG({ width: canvas.width, height: canvas.height });
  png.data = Buffer.from(canvas.data.buffer, canvas.data.byteOffset, canvas.data.byteLength);
  return PNG.sync.write(png, { colorType: 6 });
}

/** Writes a canvas to `path` as PNG, creating the folder; atomic (temp file, then rename). */
export function writePng(path: string, canvas: Canvas): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, encodePng(canvas));
  renameSync(tmp, path);
}

// ---------------------------------------------------------------------------------------------
// Axes

const GRID: Rgb = [228, 228, 228];
const MINOR: Rgb = [242, 242, 242];
const AXIS: Rgb = [60, 60, 60];

/** A 1-2-5 step giving about `target` intervals over `span`. */
function niceStep(span: number, target: number): number {
  const raw = span / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/** A tick label: plain decimals with the step's precision, exponent form for very large/small. */
export function formatTick(v: number, step: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) {
    const e = Math.floor(Math.log10(a) + 1e-9);
    const m = v / 10 ** e;
    const ms = Math.abs(m - Math.round(m)) < 1e-6 ? String(Math.round(m)) : m.toFixed(1);
    return `${ms}e${e}`;
  }
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(Math.min(decimals, 6));
}

interface Axis {
  lo: number;
  hi: number;
  log: boolean;
  ticks: Array<{ v: number; label: string }>;
  minor: number[];
}

function linearAxis(lo: number, hi: number, target: number, pad: boolean): Axis {
  if (!(hi > lo)) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= d;
    hi += d;
  } else if (pad) {
    const d = (hi - lo) * 0.05;
    lo -= d;
    hi += d;
  }
  const step = niceStep(hi - lo, target);
  const ticks: Array<{ v: number; label: string }> = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) {
    const v = k * step;
    ticks.push({ v, label: formatTick(Math.abs(v) < step * 1e-9 ? 0 : v, step) });
  }
  return { lo, hi, log: false, ticks, minor: [] };
}

function logAxis(lo: number, hi: number): Axis {
  let a = Math.floor(Math.log10(lo) + 1e-9);
  let b = Math.ceil(Math.log10(hi) - 1e-9);
  if (b <= a) b = a + 1;
  const every = Math.max(1, Math.ceil((b - a) / 8));
  a = Math.floor(a / every) * every;
  b = Math.ceil(b / every) * every;
  const ticks: Array<{ v: number; label: string }> = [];
  const minor: number[] = [];
  for (let k = a; k <= b; k++) {
    const v = 10 ** k;
    if ((k - a) % every === 0) ticks.push({ v, label: k >= -3 && k <= 4 ? formatTick(v, v) : `1e${k}` });
    if (k < b && every === 1) for (let m = 2; m <= 9; m++) minor.push(m * v);
  }
  return { lo: 10 ** a, hi: 10 ** b, log: true, ticks, minor };
}

function project(axis: Axis, v: number, from: number, to: number): number {
  if (axis.log) {
    if (!(v > 0)) return NaN;
    return from + ((Math.log10(v) - Math.log10(axis.lo)) / (Math.log10(axis.hi) - Math.log10(axis.lo))) * (to - from);
  }
  return from + ((v - axis.lo) / (axis.hi - axis.lo)) * (to - from);
}

// ---------------------------------------------------------------------------------------------
// Line charts

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
  /** Pixels (default 800 × 500). */
  width?: number;
  height?: number;
  /** Logarithmic y axis; non-positive values are left out (the line breaks there). */
  logY?: boolean;
  /** Fixed y range (default: the data's, padded on a linear axis). */
  yMin?: number;
  yMax?: number;
  /** Text scale in font pixels per glyph pixel (default 2 from 600 px wide, else 1). */
  textScale?: number;
}

/** Renders a line chart: title, axes with ticks and grid, axis labels, legend at the right. */
export function renderLineChart(options: LineChartOptions): Canvas {
  const width = options.width ?? 800;
  const height = options.height ?? 500;
  const series = options.series ?? [];
  if (!Array.isArray(series) || series.length === 0) throw new Error('writeLineChart: series must be a non-empty array of { name, values }.');
  series.forEach((s, i) => {
    if (!s || typeof s.name !== 'string' || !s.values || typeof s.values.length !== 'number') {
      throw new Error(`writeLineChart: series ${i} must be { name: string, values: number[] }.`);
    }
    if (s.x && s.x.length !== s.values.length) {
      throw new Error(`writeLineChart: series '${s.name}' has ${s.x.length} x values for ${s.values.length} values.`);
    }
  });
  const ts = options.textScale ?? (width >= 600 ? 2 : 1);
  const lineH = GLYPH_HEIGHT * ts;
  const c = new Canvas(width, height);

  // Data ranges.
  const logY = options.logY ?? false;
  let xLo = Infinity, xHi = -Infinity, yLo = Infinity, yHi = -Infinity;
  for (const s of series) {
    for (let i = 0; i < s.values.length; i++) {
      const x = s.x ? s.x[i]! : i;
      const y = s.values[i]!;
      if (!Number.isFinite(x) || !Number.isFinite(y) || (logY && !(y > 0))) continue;
      xLo = Math.min(xLo, x);
      xHi = Math.max(xHi, x);
      yLo = Math.min(yLo, y);
      yHi = Math.max(yHi, y);
    }
  }
  if (xLo === Infinity) {
    xLo = 0;
    xHi = 1;
    yLo = logY ? 0.1 : 0;
    yHi = 1;
  }
  if (options.yMin !== undefined) yLo = options.yMin;
  if (options.yMax !== undefined) yHi = options.yMax;
  const fixedY = options.yMin !== undefined && options.yMax !== undefined;
  const yAxis = logY ? logAxis(yLo, yHi) : linearAxis(yLo, yHi, Math.max(3, Math.round(height / 80)), !fixedY);
  if (!logY && fixedY) {
    yAxis.lo = yLo;
    yAxis.hi = yHi;
    yAxis.ticks = yAxis.ticks.filter((t) => t.v >= yLo - 1e-12 && t.v <= yHi + 1e-12);
  }
  const xAxis = linearAxis(xLo, xHi, Math.max(3, Math.round(width / 110)), false);
  xAxis.ticks = xAxis.ticks.filter((t) => t.v >= xAxis.lo - 1e-12 && t.v <= xAxis.hi + 1e-12);

  // Layout.
  const pad = 4 * ts;
  const yTickW = Math.max(...yAxis.ticks.map((t) => Canvas.textWidth(t.label, ts)), 0);
  const legendW = Math.max(...series.map((s) => Canvas.textWidth(s.name, ts))) + 16 * ts + 3 * pad;
  const left = pad * 2 + (options.yLabel ? lineH + pad * 2 : 0) + yTickW + pad * 2;
  const right = width - legendW - pad * 2;
  const top = pad * 2 + (options.title ? lineH + pad * 2 : 0);
  const bottom = height - (pad * 2 + lineH + pad * 2 + (options.xLabel ? lineH + pad * 2 : 0));
  if (right - left < 40 || bottom - top < 40) {
    throw new Error(`writeLineChart: ${width}×${height} px leaves no room for the plot; make the chart larger or the names shorter.`);
  }
  const X = (v: number): number => project(xAxis, v, left, right - 1);
  const Y = (v: number): number => project(yAxis, v, bottom - 1, top);

  // Grid, ticks and labels.
  for (const v of yAxis.minor) if (v > yAxis.lo && v < yAxis.hi) c.fillRect(left, Math.round(Y(v)), right - left, 1, MINOR);
  for (const t of yAxis.ticks) {
    const y = Math.round(Y(t.v));
    c.fillRect(left, y, right - left, 1, GRID);
    c.fillRect(left - 2 * ts, y, 2 * ts, 1, AXIS);
    c.text(t.label, left - 3 * ts, y - Math.round((7 * ts) / 2), AXIS, { scale: ts, align: 'right' });
  }
  for (const t of xAxis.ticks) {
    const x = Math.round(X(t.v));
    c.fillRect(x, top, 1, bottom - top, GRID);
    c.fillRect(x, bottom, 1, 2 * ts, AXIS);
    c.text(t.label, x, bottom + 3 * ts, AXIS, { scale: ts, align: 'center' });
  }
  c.strokeRect(left - 1, top - 1, right - left + 2, bottom - top + 2, AXIS);
  if (options.title) c.text(options.title, (left + right) / 2, pad * 2, BLACK, { scale: ts, align: 'center', bold: true });
  if (options.xLabel) c.text(options.xLabel, (left + right) / 2, height - pad * 2 - lineH, BLACK, { scale: ts, align: 'center' });
  if (options.yLabel) c.text(options.yLabel, pad * 2 + lineH / 2, (top + bottom) / 2, BLACK, { scale: ts, vertical: true });

  // Series, clipped to the plot area.
  c.clip = [left, top, right, bottom];
  const colors = series.map((s, i) => (s.color ? rgb(s.color) : SERIES_COLORS[i % SERIES_COLORS.length]!));
  series.forEach((s, i) => {
    const xs: number[] = [];
    const ys: number[] = [];
    for (let k = 0; k < s.values.length; k++) {
      const y = s.values[k]!;
      xs.push(X(s.x ? s.x[k]! : k));
      ys.push(Number.isFinite(y) ? Y(y) : NaN);
    }
    const lw = Math.max(2, ts + 0.5);
    c.polyline(xs, ys, colors[i]!, lw, s.dash ? [7 * ts, 4 * ts] : undefined);
    if (s.markers ?? s.values.length <= 40) {
      for (let k = 0; k < xs.length; k++) if (Number.isFinite(xs[k]!) && Number.isFinite(ys[k]!)) c.dot(xs[k]!, ys[k]!, 1.5 + ts, colors[i]!);
    }
  });
  c.clip = null;

  // Legend.
  const lx = right + pad * 3;
  series.forEach((s, i) => {
    const y = top + pad + i * (lineH + pad * 2);
    const cy = y + Math.round((7 * ts) / 2);
    c.polyline([lx, lx + 14 * ts], [cy, cy], colors[i]!, Math.max(2, ts + 0.5), s.dash ? [4 * ts, 2 * ts] : undefined);
    if (s.markers ?? s.values.length <= 40) c.dot(lx + 7 * ts, cy, 1.5 + ts, colors[i]!);
    c.text(s.name, lx + 16 * ts + pad, y, BLACK, { scale: ts });
  });
  return c;
}

/** Writes a line chart PNG; see renderLineChart. */
export function writeLineChart(path: string, options: LineChartOptions): void {
  writePng(path, renderLineChart(options));
}

// ---------------------------------------------------------------------------------------------
// Heat maps

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
  /** Normalise each map to its own range (default), all maps to the common range, or a fixed [lo, hi]. */
  range?: 'each' | 'all' | readonly [number, number];
  textScale?: number;
}

/** A value for a colour bar: 3 significant digits, exponent form when very large or small. */
function formatValue(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-2) return v.toExponential(1).replace('e+', 'e');
  return String(Number(v.toPrecision(3)));
}

function finiteRange(v: ArrayLike<number>): [number, number] {
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
 * Renders a grid of maps, row-major. A map of width·height values is colour-mapped; one of
 * width·height·3 values is shown as RGB (HWC), normalised over its three channels together.
 */
export function renderHeatmaps(maps: ArrayLike<number>[], options: HeatmapOptions): Canvas {
  const op = 'writeHeatmaps';
  const { rows, cols, width: w, height: h } = options;
  for (const [k, v] of [['rows', rows], ['cols', cols], ['width', w], ['height', h]] as const) {
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
  const cellW = w * scale;
  const cellH = h * scale;
  const ts = options.textScale ?? (cellW >= 120 ? 2 : 1);
  const lineH = GLYPH_HEIGHT * ts;
  const gap = 6 * ts;
  const hasTitles = (options.titles?.length ?? 0) > 0;
  const titleH = hasTitles ? lineH + 2 * ts : 0;
  const headH = options.title ? lineH + 3 * gap : gap;
  const range = options.range ?? 'each';
  const map = options.colormap ?? 'viridis';
  const shared: [number, number] | null =
    range === 'each' ? null : range === 'all' ? maps.map(finiteRange).reduce((a, b) => [Math.min(a[0], b[0]), Math.max(a[1], b[1])]) : [range[0], range[1]];
  const barW = shared ? 16 * ts + gap * 2 + Math.max(Canvas.textWidth(formatValue(shared[0]), ts), Canvas.textWidth(formatValue(shared[1]), ts)) + gap : 0;
  const titleW = hasTitles ? Math.max(...options.titles!.map((t) => Canvas.textWidth(t, ts))) : 0;
  const colW = Math.max(cellW, titleW);
  const W = gap + cols * (colW + gap) + barW;
  const H = headH + rows * (titleH + cellH + gap);
  const c = new Canvas(W, H);
  if (options.title) c.text(options.title, W / 2, gap, BLACK, { scale: ts, align: 'center', bold: true });
  maps.forEach((m, i) => {
    const r = Math.floor(i / cols);
    const col = i % cols;
    const x = gap + col * (colW + gap) + Math.floor((colW - cellW) / 2);
    const y = headH + r * (titleH + cellH + gap);
    const title = options.titles?.[i];
    if (title) c.text(title, x + cellW / 2, y, BLACK, { scale: ts, align: 'center' });
    const [lo, hi] = shared ?? finiteRange(m);
    const inv = hi > lo ? 1 / (hi - lo) : 0;
    if (m.length === w * h) {
      c.blit((k) => colormap((m[k]! - lo) * inv, map), w, h, x, y + titleH, scale);
    } else {
      c.blit(
        (k) => {
          const px = [m[3 * k]!, m[3 * k + 1]!, m[3 * k + 2]!].map((v) => Math.round(Math.min(Math.max((v - lo) * inv, 0), 1) * 255));
          return [px[0]!, px[1]!, px[2]!];
        },
        w,
        h,
        x,
        y + titleH,
        scale,
      );
    }
  });
  if (shared) {
    const bx = W - barW + gap;
    const by = headH + titleH;
    const bh = Math.max(rows * (titleH + cellH + gap) - titleH - gap, 40);
    for (let k = 0; k < bh; k++) c.fillRect(bx, by + k, 16 * ts, 1, colormap(1 - k / (bh - 1), map));
    c.strokeRect(bx - 1, by - 1, 16 * ts + 2, bh + 2, AXIS);
    c.text(formatValue(shared[1]), bx + 16 * ts + gap, by, AXIS, { scale: ts });
    c.text(formatValue(shared[0]), bx + 16 * ts + gap, by + bh - 7 * ts, AXIS, { scale: ts });
  }
  return c;
}

/** Writes a grid of heat maps as PNG; see renderHeatmaps. */
export function writeHeatmaps(path: string, maps: ArrayLike<number>[], options: HeatmapOptions): void {
  writePng(path, renderHeatmaps(maps, options));
}

// ---------------------------------------------------------------------------------------------
// Segmentation panels

/** Colours of the 11 digit-scene classes: background, then digits 0-9 (tab10). */
export const DIGIT_PALETTE: readonly Rgb[] = [[0, 0, 0] as Rgb, ...SERIES_COLORS];
const IGNORE_COLOR: Rgb = WHITE;

export interface SegmentationOptions {
  /** Colours per class (default: DIGIT_PALETTE for up to 11 classes, else the VOC colour map). */
  palette?: readonly Rgb[];
  /** Names for the legend (default: 'bg', '0'-'9' for 11 classes; class numbers otherwise). */
  classNames?: readonly string[];
  /** Pixels per label (default: panels at least 192 px). */
  scale?: number;
  title?: string;
  textScale?: number;
}

/**
 * Renders image | ground truth | prediction side by side (one row per scene when the arrays hold
 * several size×size scenes). The image (1 or 3 channels, NHWC) is min-max normalised per scene;
 * label IGNORE_LABEL (255) is white; the prediction's title gives its pixel accuracy.
 */
export function renderSegmentation(
  image: ArrayLike<number>,
  labels: ArrayLike<number>,
  predictions: ArrayLike<number> | null,
  size: number,
  options: SegmentationOptions = {},
): Canvas {
  const op = 'writeSegmentation';
  if (!Number.isInteger(size) || size < 1) throw new Error(`${op}: size must be an integer ≥ 1, got ${String(size)}.`);
  const px = size * size;
  if (!labels || labels.length === 0 || labels.length % px !== 0) {
    throw new Error(`${op}: labels have ${labels ? labels.length : 0} values, not a multiple of size² = ${px}.`);
  }
  const scenes = labels.length / px;
  if (!image || (image.length !== scenes * px && image.length !== scenes * px * 3)) {
    throw new Error(`${op}: image has ${image ? image.length : 0} values; expected ${scenes}×${size}×${size}×(1 or 3).`);
  }
  if (predictions && predictions.length !== labels.length) {
    throw new Error(`${op}: predictions have ${predictions.length} values but labels have ${labels.length}.`);
  }
  const channels = image.length / (scenes * px);
  let maxLabel = 0;
  for (const arr of predictions ? [labels, predictions] : [labels]) {
    for (let i = 0; i < arr.length; i++) if (arr[i]! !== IGNORE_LABEL && arr[i]! > maxLabel) maxLabel = arr[i]!;
  }
  const palette = options.palette ?? (maxLabel < DIGIT_PALETTE.length ? DIGIT_PALETTE : vocColormap(256));
  const nClasses = options.classNames?.length ?? (palette === DIGIT_PALETTE ? DIGIT_PALETTE.length : maxLabel + 1);
  const names = options.classNames ?? (palette === DIGIT_PALETTE ? ['bg', ...Array.from({ length: 10 }, (_, d) => String(d))] : Array.from({ length: nClasses }, (_, i) => String(i)));
  const colorOf = (l: number): Rgb => (l === IGNORE_LABEL ? IGNORE_COLOR : (palette[l] ?? ([255, 0, 255] as Rgb)));

  const scale = options.scale ?? Math.max(1, Math.ceil(192 / size));
  const panel = size * scale;
  const ts = options.textScale ?? (panel >= 150 ? 2 : 1);
  const lineH = GLYPH_HEIGHT * ts;
  const gap = 6 * ts;
  const nPanels = predictions ? 3 : 2;
  const headH = options.title ? lineH + 2 * gap : gap;
  const rowH = lineH + ts * 2 + panel + gap;
  // Columns are wide enough for their titles ('prediction 100.0%' is wider than small panels).
  const colW = Math.max(panel, Canvas.textWidth(predictions ? 'prediction 100.0%' : 'image', ts));
  const inset = Math.floor((colW - panel) / 2);
  const W = gap + nPanels * (colW + gap);
  // Legend: swatches with names, wrapped to the width.
  const items = names.map((n, i) => ({ n, w: 9 * ts + ts * 3 + Canvas.textWidth(n, ts) + gap, i }));
  const legendRows: (typeof items)[] = [[]];
  let used = gap;
  for (const it of items) {
    if (used + it.w > W && legendRows[legendRows.length - 1]!.length > 0) {
      legendRows.push([]);
      used = gap;
    }
    legendRows[legendRows.length - 1]!.push(it);
    used += it.w;
  }
  const H = headH + scenes * rowH + legendRows.length * (lineH + gap) + gap;
  const c = new Canvas(W, H);
  if (options.title) c.text(options.title, W / 2, gap, BLACK, { scale: ts, align: 'center', bold: true });
  for (let s = 0; s < scenes; s++) {
    const y = headH + s * rowH;
    const img = Array.from({ length: px * channels }, (_, i) => image[s * px * channels + i]!);
    const [lo, hi] = finiteRange(img);
    const inv = hi > lo ? 1 / (hi - lo) : 0;
    const x0 = gap + inset;
    c.blit(
      (k) => {
        if (channels === 1) return colormap((img[k]! - lo) * inv, 'gray');
        const v = [0, 1, 2].map((ch) => Math.round(Math.min(Math.max((img[3 * k + ch]! - lo) * inv, 0), 1) * 255));
        return [v[0]!, v[1]!, v[2]!];
      },
      size,
      size,
      x0,
      y + lineH + ts * 2,
      scale,
    );
    c.text('image', x0 + panel / 2, y, BLACK, { scale: ts, align: 'center' });
    const x1 = gap + (colW + gap) + inset;
    c.blit((k) => colorOf(labels[s * px + k]!), size, size, x1, y + lineH + ts * 2, scale);
    c.text('truth', x1 + panel / 2, y, BLACK, { scale: ts, align: 'center' });
    if (predictions) {
      let right = 0;
      let scored = 0;
      for (let k = 0; k < px; k++) {
        const l = labels[s * px + k]!;
        if (l === IGNORE_LABEL) continue;
        scored++;
        if (predictions[s * px + k] === l) right++;
      }
      const x2 = gap + 2 * (colW + gap) + inset;
      c.blit((k) => colorOf(predictions[s * px + k]!), size, size, x2, y + lineH + ts * 2, scale);
      const acc = scored ? ` ${((100 * right) / scored).toFixed(1)}%` : '';
      c.text(`prediction${acc}`, x2 + panel / 2, y, BLACK, { scale: ts, align: 'center' });
    }
  }
  let ly = headH + scenes * rowH;
  for (const row of legendRows) {
    let lx = gap;
    for (const it of row) {
      c.fillRect(lx, ly, 9 * ts, 7 * ts, colorOf(it.i));
      c.strokeRect(lx, ly, 9 * ts, 7 * ts, AXIS);
      c.text(it.n, lx + 9 * ts + ts * 3, ly, BLACK, { scale: ts });
      lx += it.w;
    }
    ly += lineH + gap;
  }
  return c;
}

/** Writes image | ground truth | prediction panels as PNG; see renderSegmentation. */
export function writeSegmentation(
  path: string,
  image: ArrayLike<number>,
  labels: ArrayLike<number>,
  predictions: ArrayLike<number> | null,
  size: number,
  options: SegmentationOptions = {},
): void {
  writePng(path, renderSegmentation(image, labels, predictions, size, options));
}
