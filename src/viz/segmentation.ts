/**
 * Segmentation panels: image | ground truth | prediction per scene, the label maps coloured by
 * class into rasters of ours, laid out by Vega-Lite (grid.ts) with the prediction's pixel accuracy
 * in its title and the class swatches below. Platform-neutral; `toUrl` encodes a raster.
 */
import type { ChartSpec } from './spec.ts';
import { IGNORE_LABEL } from '../ops/cross-entropy.ts';
import { vocColormap } from '../data/voc-classes.ts';
import { gridSpec, type GridCell } from './grid.ts';
import { SERIES_COLORS, blockRaster, finiteRange, hex, mapRaster, type Raster, type Rgb } from './raster.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

/** Colours of the 11 digit-scene classes: background, then digits 0-9 (tab10). */
export const DIGIT_PALETTE: readonly Rgb[] = [[0, 0, 0] as Rgb, ...SERIES_COLORS];
const IGNORE_COLOR: Rgb = [255, 255, 255];

export interface SegmentationOptions {
  /** Colours per class (default: DIGIT_PALETTE for up to 11 classes, else the VOC colour map). */
  palette?: readonly Rgb[];
  /** Names for the legend (default: 'bg', '0'-'9' for 11 classes; class numbers otherwise). */
  classNames?: readonly string[];
  /** Pixels per label (default: panels at least 192 px). */
  scale?: number;
  title?: string;
}

export interface SegmentationPanels {
  /** Per scene: image, truth and (when given) prediction. */
  panels: Array<{ raster: Raster; title: string }>;
  columns: number;
  names: readonly string[];
  colors: readonly Rgb[];
}

/**
 * The panels as rasters (one row per scene when the arrays hold several size×size scenes). The
 * image (1 or 3 channels, NHWC) is min-max normalised per scene; the ignore label is white.
 */
export function segmentationPanels(
  image: ArrayLike<number>,
  labels: ArrayLike<number>,
  predictions: ArrayLike<number> | null,
  size: number,
  options: SegmentationOptions = {},
): SegmentationPanels {
  const op = 'writeSegmentation';
  checkOptions(op, options, optionKeys<SegmentationOptions>({ palette: true, classNames: true, scale: true, title: true }));
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
  const digits = palette === DIGIT_PALETTE;
  const nClasses = options.classNames?.length ?? (digits ? DIGIT_PALETTE.length : maxLabel + 1);
  const names = options.classNames ?? (digits ? ['bg', ...Array.from({ length: 10 }, (_, d) => String(d))] : Array.from({ length: nClasses }, (_, i) => String(i)));
  const colorOf = (l: number): Rgb => (l === IGNORE_LABEL ? IGNORE_COLOR : (palette[l] ?? ([255, 0, 255] as Rgb)));
  const scale = options.scale ?? Math.max(1, Math.ceil(192 / size));

  const panels: SegmentationPanels['panels'] = [];
  for (let s = 0; s < scenes; s++) {
    const img = Array.prototype.slice.call(image, s * px * channels, (s + 1) * px * channels) as number[];
    const [lo, hi] = finiteRange(img);
    panels.push({ raster: mapRaster(img, size, size, lo, hi, 'gray', scale), title: 'image' });
    panels.push({ raster: blockRaster((k) => colorOf(labels[s * px + k]!), size, size, scale), title: 'truth' });
    if (predictions) {
      let right = 0;
      let scored = 0;
      for (let k = 0; k < px; k++) {
        const l = labels[s * px + k]!;
        if (l === IGNORE_LABEL) continue;
        scored++;
        if (predictions[s * px + k] === l) right++;
      }
      const acc = scored ? ` ${((100 * right) / scored).toFixed(1)}%` : '';
      panels.push({ raster: blockRaster((k) => colorOf(predictions[s * px + k]!), size, size, scale), title: `prediction${acc}` });
    }
  }
  return { panels, columns: predictions ? 3 : 2, names, colors: names.map((_, i) => colorOf(i)) };
}

/** The Vega-Lite spec of the segmentation panels; see segmentationPanels. */
export function segmentationSpec(
  image: ArrayLike<number>,
  labels: ArrayLike<number>,
  predictions: ArrayLike<number> | null,
  size: number,
  options: SegmentationOptions,
  toUrl: (r: Raster) => string,
): ChartSpec {
  const p = segmentationPanels(image, labels, predictions, size, options);
  const cells: GridCell[] = p.panels.map((c) => ({ url: toUrl(c.raster), width: c.raster.width, height: c.raster.height, title: c.title }));
  return gridSpec(cells, { cols: p.columns, title: options.title, legend: { names: p.names, colors: p.colors.map(hex) } });
}
