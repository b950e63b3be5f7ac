/**
 * Node-only extras, re-exported by src/index.node.ts (never by the browser entry): the mnist
 * digit source, the PASCAL VOC loader, the PNG writers and checkpoint files (node:fs, pngjs,
 * jpeg-js).
 */
import { setDefaultDigitSource } from './data/digit-scenes.ts';
import { mnistDigits } from './data/mnist.ts';

setDefaultDigitSource(mnistDigits);

export { mnistDigits };

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

export { saveCheckpoint, loadCheckpoint } from './io/checkpoint-file.ts';
export { train, loadData, saveTrainingCheckpoint, type TrainHooks, type TrainResult } from './train/trainer.ts';
