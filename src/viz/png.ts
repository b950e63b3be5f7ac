/**
 * The figure files (Node only: pngjs, node:fs and the renderer of render.ts): line charts, grids
 * of heat maps and segmentation panels as PNG, with their SVG beside them. The rasters inside the
 * grids are ours (raster.ts), encoded here with pngjs; layout and text come from Vega-Lite.
 */
import { PNG } from 'pngjs';
import { lineChartSpec, type LineChartOptions } from './charts.ts';
import { heatmapSpec, type HeatmapOptions } from './heatmaps.ts';
import type { Raster } from './raster.ts';
import { writeChart, writeFileAtomic } from './render.ts';
import { segmentationSpec, type SegmentationOptions } from './segmentation.ts';

/** Encodes a raster as PNG bytes (RGBA). */
export function encodePng(raster: Raster): Buffer {
  const png = new PNG({ width: raster.width, height: raster.height });
  png.data = Buffer.from(raster.data.buffer, raster.data.byteOffset, raster.data.byteLength);
  return PNG.sync.write(png, { colorType: 6 });
}

/** A raster as a PNG data URL, for an image mark. */
export function pngDataUrl(raster: Raster): string {
  return `data:image/png;base64,${encodePng(raster).toString('base64')}`;
}

/** Writes a raster to `path` as PNG, creating the folder; atomic. */
export function writePng(path: string, raster: Raster): void {
  writeFileAtomic(path, encodePng(raster));
}

/** Writes a line chart (PNG, SVG beside it); see lineChartSpec. */
export async function writeLineChart(path: string, options: LineChartOptions): Promise<void> {
  await writeChart(path, lineChartSpec(options));
}

/** Writes a grid of heat maps (PNG, SVG beside it); see heatmapRasters. */
export async function writeHeatmaps(path: string, maps: ArrayLike<number>[], options: HeatmapOptions): Promise<void> {
  await writeChart(path, heatmapSpec(maps, options, pngDataUrl));
}

/** Writes image | ground truth | prediction panels (PNG, SVG beside it); see segmentationPanels. */
export async function writeSegmentation(
  path: string,
  image: ArrayLike<number>,
  labels: ArrayLike<number>,
  predictions: ArrayLike<number> | null,
  size: number,
  options: SegmentationOptions = {},
): Promise<void> {
  await writeChart(path, segmentationSpec(image, labels, predictions, size, options, pngDataUrl));
}
