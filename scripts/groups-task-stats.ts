/**
 * The figures of docs/experiments/groups-task.md (and, for comparison, the context task's of
 * docs/experiments/context-task.md): on 400 training scenes (seed 1, maxOverlap 0.2), the share of
 * labelled pixels on fragments (the regions validation reports apart) and the distance from each
 * fragment's centre (its window's centre on the canvas) to the centre of the square of the whole
 * digit of its group (the context task: of the scene's one whole digit), and to the other group's;
 * how often that centre lies outside the ±15 px and ±27 px squares around the fragment's centre
 * (the reach of the demo's SegNet at dilation 1 and 2: receptive fields of 31 and 55 px).
 * Host-side, no GPU:
 *   node scripts/run.mjs scripts/groups-task-stats.ts
 */
import { digitScenes, type DigitScenesOptions } from '../src/data/digit-scenes.ts';
import type { DigitPlacement } from '../src/data/scene-render.ts';
import { mnistDigits } from '../src/data/mnist.ts';

const SCENES = 400;
const SEED = 1;

interface Row {
  task: 'context' | 'groups';
  size: number;
  scales: [number, number];
  digits: [number, number];
  fragment: number;
  /** Labelling threshold (default 0.5, digitScenes' default; the demo's recipe uses 0.1). */
  threshold?: number;
}

const ROWS: Row[] = [
  { task: 'groups', size: 32, scales: [14, 18], digits: [3, 4], fragment: 6 },
  { task: 'groups', size: 32, scales: [14, 18], digits: [3, 4], fragment: 8 },
  { task: 'groups', size: 64, scales: [28, 36], digits: [3, 4], fragment: 12 },
  { task: 'groups', size: 64, scales: [28, 36], digits: [3, 4], fragment: 12, threshold: 0.1 },
  // The context task's first row (docs/experiments/context-task.md), to check the definitions against it.
  { task: 'context', size: 64, scales: [20, 36], digits: [2, 4], fragment: 12 },
  { task: 'context', size: 64, scales: [20, 36], digits: [2, 4], fragment: 8 },
  { task: 'context', size: 96, scales: [20, 36], digits: [2, 4], fragment: 12 },
  { task: 'context', size: 64, scales: [28, 36], digits: [2, 4], fragment: 12 },
  // The demo's recipe (src/train/recipes.ts, docs/experiments/demo-recipe.md).
  { task: 'context', size: 32, scales: [14, 18], digits: [2, 4], fragment: 6, threshold: 0.1 },
];

const centre = (p: DigitPlacement): [number, number] => {
  const w = p.window ?? { x: 0, y: 0, size: p.scale };
  return [p.x + w.x + w.size / 2, p.y + w.y + w.size / 2];
};
const dist = (a: [number, number], b: [number, number]): number => Math.hypot(a[0] - b[0], a[1] - b[1]);
/** The larger of the horizontal and vertical offsets: beyond R, the centre lies outside a ±R square window. */
const offset = (a: [number, number], b: [number, number]): number => Math.max(Math.abs(a[0] - b[0]), Math.abs(a[1] - b[1]));
const mean = (v: number[]): number => v.reduce((s, x) => s + x, 0) / v.length;
const quantile = (v: number[], q: number): number => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(q * v.length))]!;

console.log(`${SCENES} training scenes, seed ${SEED}, maxOverlap 0.2\n`);
console.log(
  "| task | canvas | digits (px) | digits per scene | fragment | threshold | labelled pixels in a fragment's window | labelled pixels in the fragments region | " +
    'fragment → its whole digit: mean (median) | its centre beyond ±15 px | beyond ±27 px | fragment → the other whole digit: mean | nearer its own whole digit | fragments |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of ROWS) {
  const opts: DigitScenesOptions = {
    task: r.task,
    split: 'train',
    count: SCENES,
    seed: SEED,
    size: r.size,
    minScale: r.scales[0],
    maxScale: r.scales[1],
    minDigits: r.digits[0],
    maxDigits: r.digits[1],
    fragment: r.fragment,
    maxOverlap: 0.2,
    threshold: r.threshold ?? 0.5,
    source: mnistDigits(),
  };
  const ds = digitScenes(opts);
  const { fragments } = ds.regions!;
  const hw = r.size * r.size;
  let labelled = 0;
  let inWindow = 0;
  let inRegion = 0;
  const own: number[] = [];
  const ownOffset: number[] = [];
  const other: number[] = [];
  let nearer = 0;
  ds.placements.forEach((scene, i) => {
    const windows = new Uint8Array(hw);
    scene.forEach((p, k) => {
      const w = p.window;
      if (!w) return;
      for (let y = Math.max(0, p.y + w.y); y < Math.min(r.size, p.y + w.y + w.size); y++) {
        for (let x = Math.max(0, p.x + w.x); x < Math.min(r.size, p.x + w.x + w.size); x++) windows[y * r.size + x] = 1;
      }
      // Groups: fragment k belongs to whole digit k % 2; context: to the one whole digit.
      const mine = r.task === 'groups' ? scene[k % 2]! : scene[0]!;
      own.push(dist(centre(p), centre(mine)));
      ownOffset.push(offset(centre(p), centre(mine)));
      if (r.task === 'groups') {
        other.push(dist(centre(p), centre(scene[1 - (k % 2)]!)));
        if (own[own.length - 1]! < other[other.length - 1]!) nearer++;
      }
    });
    for (let at = 0; at < hw; at++) {
      if (ds.labels[i * hw + at] === 0) continue;
      labelled++;
      inWindow += windows[at]!;
      inRegion += fragments[i * hw + at]!;
    }
  });
  const pct = (n: number, d: number): string => `${((100 * n) / d).toFixed(1)} %`;
  const share = (v: number[], d: number): string => pct(v.filter((x) => x > d).length, v.length);
  console.log(
    `| ${r.task} | ${r.size} | ${r.scales[0]}–${r.scales[1]} | ${r.digits[0]}–${r.digits[1]} | ${r.fragment} | ${r.threshold ?? 0.5} | ${pct(inWindow, labelled)} | ${pct(inRegion, labelled)} | ` +
      `${mean(own).toFixed(1)} px (${quantile(own, 0.5).toFixed(1)}) | ${share(ownOffset, 15)} | ${share(ownOffset, 27)} | ${other.length ? `${mean(other).toFixed(1)} px | ${pct(nearer, other.length)}` : '- | -'} | ${own.length} |`,
  );
}
