/**
 * PASCAL VOC's class names and colour map. Platform-neutral (no Node API), so the segmentation
 * figures can colour VOC labels in a browser too; src/data/voc.ts re-exports them. The ignore
 * label (object borders and "difficult" regions in VOC) is crossEntropy's IGNORE_LABEL.
 */

export const VOC_CLASSES: readonly string[] = [
  'background',
  'aeroplane',
  'bicycle',
  'bird',
  'boat',
  'bottle',
  'bus',
  'car',
  'cat',
  'chair',
  'cow',
  'diningtable',
  'dog',
  'horse',
  'motorbike',
  'person',
  'pottedplant',
  'sheep',
  'sofa',
  'train',
  'tvmonitor',
];

/** The VOC colour map: class i's RGB colour (bits of i spread over the channels' high bits). */
export function vocColormap(n = 256): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (let i = 0; i < n; i++) {
    let r = 0;
    let g = 0;
    let b = 0;
    let c = i;
    for (let j = 0; j < 8; j++) {
      r |= ((c >> 0) & 1) << (7 - j);
      g |= ((c >> 1) & 1) << (7 - j);
      b |= ((c >> 2) & 1) << (7 - j);
      c >>= 3;
    }
    out.push([r, g, b]);
  }
  return out;
}
