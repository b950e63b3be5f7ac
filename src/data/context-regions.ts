/**
 * The pixel regions of a context-task or groups-task digit scene (docs/experiments/context-task.md,
 * docs/experiments/groups-task.md), on which validation reports pixel accuracy separately:
 * - `fragments`: labelled pixels inside a fragment's window and outside the square of every whole
 *   digit (a digit drawn without a window) of the pixel's class — their class can be read only
 *   from elsewhere in the scene. The context task has one whole digit (the first), of every
 *   label's class; the groups task has two, one per class, and a fragment pixel over the other
 *   class's whole digit still counts as a fragment pixel;
 * - `whole`: every other labelled pixel (the whole digits, and fragment ink over a whole digit of
 *   its class).
 * Masks are count × size × size, 1 inside the region.
 */
import type { DigitPlacement } from './scene-render.ts';

export type ContextRegions = { fragments: Uint8Array; whole: Uint8Array };

function inside(p: DigitPlacement, x: number, y: number): boolean {
  return x >= p.x && x < p.x + p.scale && y >= p.y && y < p.y + p.scale;
}

export function contextRegions(placements: readonly (readonly DigitPlacement[])[], labels: Int32Array, size: number): ContextRegions {
  const hw = size * size;
  if (labels.length !== placements.length * hw) {
    throw new Error(`contextRegions: ${placements.length} scenes of ${size}×${size} need ${placements.length * hw} labels, got ${labels.length}.`);
  }
  const fragments = new Uint8Array(labels.length);
  const whole = new Uint8Array(labels.length);
  placements.forEach((scene, i) => {
    const wholes = scene.filter((p) => !p.window);
    for (const p of scene) {
      if (!p.window) continue;
      const w = p.window;
      for (let y = Math.max(0, p.y + w.y); y < Math.min(size, p.y + w.y + w.size); y++) {
        for (let x = Math.max(0, p.x + w.x); x < Math.min(size, p.x + w.x + w.size); x++) {
          const at = i * hw + y * size + x;
          const label = labels[at]!;
          if (label !== 0 && !wholes.some((q) => 1 + q.digit === label && inside(q, x, y))) fragments[at] = 1;
        }
      }
    }
  });
  for (let at = 0; at < labels.length; at++) if (labels[at] !== 0 && !fragments[at]) whole[at] = 1;
  return { fragments, whole };
}
