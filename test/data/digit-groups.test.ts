/**
 * Digit scenes, task 'groups' (src/data/digit-scenes.ts, docs/experiments/groups-task.md): two
 * classes per scene, a whole digit of each, later digits as fragments of group i % 2, every digit
 * coloured by its group's random colour. Checked on the real MNIST digits: determinism, the two
 * classes and their whole digits, the colours (a fragment's pixels point the way its whole digit's
 * do, the other group's another way), labels, regions, the options refused; and that the digits
 * and context tasks give the very scenes they gave before the task existed. Host-side only.
 */
import { describe, expect, it } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { hueColor, renderScene, type DigitPlacement } from '../../src/data/scene-render.ts';
import { segmentationPanels } from '../../src/viz/segmentation.ts';

const mnist = hg.mnistDigits();

/** FNV-1a over the labels, the images' f32 bits and (when there are) the region masks. */
function fingerprint(ds: hg.DigitSceneDataset): string {
  let h = 0x811c9dc5;
  const eat = (bytes: Uint8Array): void => {
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0;
  };
  eat(new Uint8Array(ds.labels.buffer, ds.labels.byteOffset, ds.labels.byteLength));
  eat(new Uint8Array(ds.images.buffer, ds.images.byteOffset, ds.images.byteLength));
  if (ds.regions) {
    eat(ds.regions.fragments);
    eat(ds.regions.whole);
  }
  return h.toString(16).padStart(8, '0');
}

function sameBits(a: Float32Array | Int32Array, b: Float32Array | Int32Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

const inSquare = (q: DigitPlacement, x: number, y: number, w = { x: 0, y: 0, size: q.scale }): boolean =>
  x >= q.x + w.x && x < q.x + w.x + w.size && y >= q.y + w.y && y < q.y + w.y + w.size;

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let c = 0; c < 3; c++) {
    ab += a[c]! * b[c]!;
    aa += a[c]! ** 2;
    bb += b[c]! ** 2;
  }
  return ab / Math.sqrt(aa * bb);
};

/** The hue in degrees of a colour from hueColor. */
function hueOf([r, g, b]: readonly number[]): number {
  const max = Math.max(r!, g!, b!);
  const min = Math.min(r!, g!, b!);
  const d = max - min;
  const h = max === r ? ((g! - b!) / d) % 6 : max === g ? (b! - r!) / d + 2 : (r! - g!) / d + 4;
  return (h * 60 + 360) % 360;
}

const GROUPS = { task: 'groups' as const, size: 64, minDigits: 3, maxDigits: 4, maxOverlap: 0.2 };

describe("task 'groups': two classes per scene, a whole digit of each, fragments tied to it by colour", () => {
  const ds = hg.digitScenes({ ...GROUPS, count: 60, seed: 11 });
  const hw = ds.size * ds.size;

  it('is RGB; two distinct classes; digits 0 and 1 whole, every later digit a fragment of group i % 2', () => {
    expect([ds.task, ds.channels, ds.classes]).toEqual(['groups', 3, 11]);
    expect(ds.images.length).toBe(60 * hw * 3);
    const pairs = new Set<string>();
    for (const scene of ds.placements) {
      expect(scene.length).toBeGreaterThanOrEqual(3);
      expect(scene.length).toBeLessThanOrEqual(4);
      const [w0, w1] = scene as [DigitPlacement, DigitPlacement];
      expect(w0.digit).not.toBe(w1.digit);
      expect(w0.window).toBeUndefined();
      expect(w1.window).toBeUndefined();
      pairs.add(`${w0.digit},${w1.digit}`);
      scene.forEach((q, i) => {
        const whole = scene[i % 2]!;
        expect(q.digit).toBe(whole.digit);
        expect(q.color).toEqual(whole.color);
        if (i >= 2) {
          expect(q.window!.size).toBe(Math.min(12, q.scale));
          expect(q.window!.x + q.window!.size).toBeLessThanOrEqual(q.scale);
          expect(q.window!.y + q.window!.size).toBeLessThanOrEqual(q.scale);
          // The window shows ink: the fragment alone has labelled pixels.
          const alone = renderScene((r) => mnist[r.digit]!.get(r.sample), [q], { size: ds.size, channels: 3 });
          expect(alone.labels.some((v) => v === 1 + q.digit)).toBe(true);
        }
      });
      // Each digit of a group is a different MNIST sample.
      for (const g of [0, 1]) {
        const samples = scene.filter((_, i) => i % 2 === g).map((q) => q.sample);
        expect(new Set(samples).size).toBe(samples.length);
      }
    }
    expect(pairs.size).toBeGreaterThan(30); // of the 90 ordered pairs, drawn 60 times
  });

  it('the labels hold exactly the two classes and the background; both whole digits are labelled', () => {
    for (let i = 0; i < ds.count; i++) {
      const [w0, w1] = ds.placements[i]!;
      const seen = new Set(ds.labels.subarray(i * hw, (i + 1) * hw));
      expect([...seen].sort((a, b) => a - b)).toEqual([0, 1 + w0!.digit, 1 + w1!.digit].sort((a, b) => a - b));
      // Each whole digit keeps labelled pixels of its class inside its square.
      for (const w of [w0!, w1!]) {
        let n = 0;
        for (let at = 0; at < hw; at++) if (ds.labels[i * hw + at] === 1 + w.digit && inSquare(w, at % ds.size, Math.floor(at / ds.size))) n++;
        expect(n).toBeGreaterThan(10);
      }
    }
  });

  it("the colours: a fragment's pixels point the way its whole digit's do, not the other group's (cosine ≤ 1/2)", () => {
    const size = ds.size;
    let checked = 0;
    for (let i = 0; i < ds.count; i++) {
      const scene = ds.placements[i]!;
      const [c0, c1] = [scene[0]!.color!, scene[1]!.color!];
      // Saturation and value 1: one channel 1, one 0; hues 120°-240° apart, so cosine ≤ 1/2.
      for (const c of [c0, c1]) {
        expect(Math.max(...c)).toBe(1);
        expect(Math.min(...c)).toBe(0);
      }
      const dh = Math.abs(hueOf(c0) - hueOf(c1));
      expect(Math.min(dh, 360 - dh)).toBeGreaterThanOrEqual(120 - 1e-9);
      expect(cosine(c0, c1)).toBeLessThanOrEqual(0.5 + 1e-12);
      // The RGB direction of the inked pixels each digit alone covers (no other square there).
      const direction = (q: DigitPlacement): number[] => {
        const sum = [0, 0, 0];
        for (let at = 0; at < size * size; at++) {
          const [x, y] = [at % size, Math.floor(at / size)];
          if (!inSquare(q, x, y, q.window) || scene.some((o) => o !== q && inSquare(o, x, y))) continue;
          const px = ds.images.subarray((i * size * size + at) * 3, (i * size * size + at) * 3 + 3);
          if (Math.max(...px) < 0.2) continue;
          // Every such pixel is its intensity times the digit's colour.
          for (let c = 0; c < 3; c++) expect(Math.abs(px[c]! - Math.max(...px) * q.color![c]!)).toBeLessThan(1e-6);
          for (let c = 0; c < 3; c++) sum[c] += px[c]!;
        }
        return sum;
      };
      const wholes = [direction(scene[0]!), direction(scene[1]!)];
      for (const [k, q] of scene.entries()) {
        if (k < 2) continue;
        const d = direction(q);
        if (d.every((v) => v === 0)) continue; // the fragment's window lies on another digit's square
        checked++;
        expect(cosine(d, wholes[k % 2]!)).toBeGreaterThan(1 - 1e-9);
        expect(cosine(d, wholes[1 - (k % 2)]!)).toBeLessThanOrEqual(0.5 + 1e-6);
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it('the colour does not name the class: every class comes in hues all round the circle', () => {
    const many = hg.digitScenes({ ...GROUPS, size: 32, minScale: 14, maxScale: 18, fragment: 8, count: 600, seed: 3 });
    const sectors = Array.from({ length: 10 }, () => new Set<number>());
    for (const scene of many.placements) for (const q of scene.slice(0, 2)) sectors[q.digit]!.add(Math.floor(hueOf(q.color!) / 60));
    for (const s of sectors) expect(s.size).toBe(6);
  });

  it('labels follow the groups: re-rendering the recorded placements (colours included) reproduces every scene', () => {
    const px = (p: DigitPlacement): ArrayLike<number> => Float32Array.from(mnist[p.digit]!.get(p.sample));
    for (let i = 0; i < 20; i++) {
      const r = renderScene(px, ds.placements[i]!, { size: ds.size, channels: 3 });
      expect(sameBits(r.image, ds.images.subarray(i * hw * 3, (i + 1) * hw * 3))).toBe(true);
      expect(sameBits(r.labels, ds.labels.subarray(i * hw, (i + 1) * hw))).toBe(true);
    }
    // A labelled pixel inside one digit's drawn part only carries that digit's group's class.
    for (let i = 0; i < ds.count; i++) {
      const scene = ds.placements[i]!;
      for (let at = 0; at < hw; at++) {
        const l = ds.labels[i * hw + at]!;
        if (l === 0) continue;
        const [x, y] = [at % ds.size, Math.floor(at / ds.size)];
        const drawn = scene.filter((q) => inSquare(q, x, y, q.window));
        if (drawn.length === 1) expect(l).toBe(1 + scene[scene.indexOf(drawn[0]!) % 2]!.digit);
      }
    }
  });

  it('coloured rendering: the per-channel max of intensity × colour; colours need channels 3', () => {
    const full = new Float32Array(784).fill(0.75);
    const red: DigitPlacement = { digit: 1, sample: 0, x: 0, y: 0, scale: 8, color: [1, 0, 0] };
    const cyan: DigitPlacement = { digit: 2, sample: 0, x: 4, y: 0, scale: 8, color: [0, 0.5, 1] };
    const { image, labels } = renderScene(() => full, [red, cyan], { size: 12, channels: 3 });
    const at = (x: number, y: number): number[] => Array.from(image.subarray((y * 12 + x) * 3, (y * 12 + x) * 3 + 3));
    expect(at(1, 1)).toEqual([0.75, 0, 0]);
    expect(at(5, 1)).toEqual([0.75, 0.375, 0.75]); // both: the max per channel
    expect(at(9, 1)).toEqual([0, 0.375, 0.75]);
    expect(at(1, 9)).toEqual([0, 0, 0]);
    expect([labels[1 * 12 + 1], labels[1 * 12 + 5], labels[1 * 12 + 9]]).toEqual([2, 3, 3]); // labels by intensity, later on top
    expect(() => renderScene(() => full, [red], { size: 12 })).toThrow('renderScene: coloured digits need channels 3, got 1.');
    expect(hueColor(0)).toEqual([1, 0, 0]);
    expect(hueColor(120)).toEqual([0, 1, 0]);
    expect(hueColor(240)).toEqual([0, 0, 1]);
    expect(hueColor(60)).toEqual([1, 1, 0]);
    expect(hueColor(300)).toEqual([1, 0, 1]);
    expect(hueColor(30)).toEqual([1, 0.5, 0]);
  });

  it('regions: fragment pixels lie in a window, off the whole digit of their class; with the whole-digit pixels they partition the labelled pixels', () => {
    const { fragments, whole } = ds.regions!;
    let nf = 0;
    let labelled = 0;
    for (let i = 0; i < ds.count; i++) {
      const scene = ds.placements[i]!;
      for (let at = 0; at < hw; at++) {
        const [x, y, j] = [at % ds.size, Math.floor(at / ds.size), i * hw + at];
        expect(fragments[j]! + whole[j]!).toBe(ds.labels[j] === 0 ? 0 : 1);
        if (ds.labels[j] !== 0) labelled++;
        const wholeOfClass = scene.slice(0, 2).find((q) => 1 + q.digit === ds.labels[j])!;
        if (fragments[j]) {
          nf++;
          expect(inSquare(wholeOfClass, x, y)).toBe(false);
          expect(scene.slice(2).some((q) => inSquare(q, x, y, q.window))).toBe(true);
        } else if (whole[j] && !inSquare(wholeOfClass, x, y)) throw new Error(`scene ${i} (${x}, ${y}): a labelled pixel outside every region`);
      }
    }
    expect(nf / labelled).toBeGreaterThan(0.15);
  });

  it('is deterministic: scene i depends only on (seed, split, i); train and val use disjoint samples', () => {
    const a = hg.digitScenes({ ...GROUPS, count: 12, seed: 4 });
    const b = hg.digitScenes({ ...GROUPS, count: 12, seed: 4 });
    expect(fingerprint(a)).toBe(fingerprint(b));
    expect(a.placements).toEqual(b.placements);
    const c = hg.digitScenes({ ...GROUPS, count: 5, seed: 4 });
    expect(sameBits(c.images, a.images.subarray(0, c.images.length))).toBe(true);
    expect(fingerprint(hg.digitScenes({ ...GROUPS, count: 12, seed: 5 }))).not.toBe(fingerprint(a));
    expect(fingerprint(hg.digitScenes({ ...GROUPS, count: 12, seed: 4, fragment: 8 }))).not.toBe(fingerprint(a));
    const used = (d: hg.DigitSceneDataset): Set<string> => new Set(d.placements.flat().map((p) => `${p.digit}:${p.sample}`));
    const tr = used(hg.digitScenes({ ...GROUPS, size: 32, minScale: 14, maxScale: 18, count: 800, seed: 1 }));
    const va = used(hg.digitScenes({ ...GROUPS, size: 32, minScale: 14, maxScale: 18, split: 'val', count: 400, seed: 1 }));
    expect([...va].filter((k) => tr.has(k))).toEqual([]);
    // minDigits defaults to 2 for this task: 2-4 digits.
    const d = hg.digitScenes({ task: 'groups', count: 40, seed: 2 });
    expect(Math.min(...d.placements.map((s) => s.length))).toBe(2);
    expect(d.channels).toBe(3);
  });

  it('refuses minDigits < 2 and channels 1, naming the option and the fix', () => {
    expect(() => hg.digitScenes({ task: 'groups', minDigits: 1 })).toThrow(
      "digitScenes: task 'groups' needs minDigits ≥ 2 (a whole digit of each of its two classes), got 1; set minDigits: 2 or more (3 or more gives every scene a fragment).",
    );
    expect(() => hg.digitScenes({ task: 'groups', channels: 1 })).toThrow(
      "digitScenes: task 'groups' is RGB (its groups are told apart by colour); set channels: 3 or leave it out.",
    );
    expect(() => hg.digitScenes({ task: 'groups', fragment: 1 })).toThrow(/fragment must be an integer in \[2, 64\], got 1/);
  });

  it("a training config's task reaches both splits as RGB groups scenes with its fragment side (digitSceneData)", () => {
    const base = { size: 48, trainScenes: 5, valScenes: 3, seed: 1, minDigits: 3, maxDigits: 4, minScale: 20, maxScale: 28, fragment: 10, task: 'groups' as const };
    const { train, val } = hg.digitSceneData(base, mnist) as { train: hg.DigitSceneDataset; val: hg.DigitSceneDataset };
    for (const d of [train, val]) {
      expect([d.task, d.channels, d.split]).toEqual(['groups', 3, d === train ? 'train' : 'val']);
      expect(d.placements.every((sc) => sc.slice(2).every((q) => q.window?.size === 10))).toBe(true);
      expect(d.regions).toBeDefined();
    }
  });

  it('the figures draw a groups scene in its colours', () => {
    const d = hg.digitScenes({ ...GROUPS, size: 16, minScale: 8, maxScale: 12, fragment: 4, count: 1, seed: 7 });
    const { panels } = segmentationPanels(d.images, d.labels, null, 16, { scale: 1 });
    const img = panels[0]!.raster;
    let hi = 0;
    for (let i = 0; i < d.images.length; i++) hi = Math.max(hi, d.images[i]!);
    for (let k = 0; k < 256; k++) {
      for (let c = 0; c < 3; c++) expect(img.data[4 * k + c]).toBe(Math.round((d.images[3 * k + c]! / hi) * 255));
    }
  });
});

describe('the digits and context tasks are unchanged by the groups task', () => {
  // Recorded with the code from before the groups task (commit 1eac728): images, labels and regions.
  it('pins their scenes: checksums of labels, image bits and region masks', () => {
    const cases: [string, hg.DigitScenesOptions, string][] = [
      ['digits, defaults', { count: 6, seed: 7 }, 'd61c9f30'],
      ['digits, val, RGB, maxOverlap', { split: 'val', count: 6, seed: 7, size: 48, channels: 3, maxOverlap: 0.2 }, 'b1400c3e'],
      ['context, 64 px, fragment 12', { task: 'context', count: 6, seed: 7, minDigits: 2, maxDigits: 4, maxOverlap: 0.2 }, '562a1958'],
      ['context, val, 32 px, fragment 8, RGB', { task: 'context', split: 'val', count: 6, seed: 7, size: 32, minScale: 14, maxScale: 18, fragment: 8, channels: 3 }, '100bb7bc'],
    ];
    for (const [name, opts, fp] of cases) expect(fingerprint(hg.digitScenes({ source: mnist, ...opts })), name).toBe(fp);
  });
});

describe("task 'groups' on a source of few samples", () => {
  it('repeats a sample once its split has none left for the group (no endless redraw)', () => {
    // Two samples per class: one for training, one for validation; 6 digits, 3 per group.
    const pattern = new Float32Array(784).fill(0.8);
    const tiny = Array.from({ length: 10 }, () => ({ length: 2, get: () => pattern }));
    const ds = hg.digitScenes({ task: 'groups', source: tiny, split: 'val', count: 4, size: 48, minDigits: 6, maxDigits: 6, minScale: 12, maxScale: 16 });
    for (const scene of ds.placements) expect(scene.every((q) => q.sample === 1)).toBe(true);
  });
});
