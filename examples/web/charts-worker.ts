/**
 * The page's second Web Worker: turns the library's Vega-Lite chart specs into bitmaps — vega-lite's
 * compile, vega's parse and its canvas renderer on an OffscreenCanvas (offscreen-document.ts). On
 * a cold page the first chart cost the main thread 70-130 ms to compile, up to ~290 ms to parse
 * and ~60-100 ms to render, and an SVG image up to ~500 ms to decode; here none of it touches the
 * main thread, which only puts the ImageBitmap on a canvas (draw.ts).
 * A chart is laid out at the width it is shown at (`width` CSS pixels, the container's) and drawn at
 * `scale` pixels per CSS pixel (the screen's devicePixelRatio), so its text is the spec's font
 * size on screen, sharp at any density.
 * Messages: { id, spec, width, scale } in, { id, bitmap, ms, minFontPx } (the bitmap transferred)
 * or { id, error } out.
 */
import './offscreen-document.ts';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ChartSpec } from '../../src/viz/spec.ts';

export type ChartRequest = { id: number; spec: ChartSpec; width: number; scale: number };
export type ChartReply = { id: number; bitmap: ImageBitmap; ms: { compile: number; parse: number; render: number }; minFontPx: number } | { id: number; error: string };

/** The chart's height for a width: the spec's aspect, between 200 and 360 CSS pixels. */
function heightFor(spec: ChartSpec, width: number): number {
  const s = spec as { width?: unknown; height?: unknown };
  const aspect = typeof s.width === 'number' && typeof s.height === 'number' && s.width > 0 ? s.height / s.width : 0.6;
  return Math.round(Math.min(360, Math.max(200, width * aspect)));
}

interface SceneNode {
  marktype?: string;
  items?: SceneNode[];
  fontSize?: number;
  text?: unknown;
}

/** The smallest font size of any text drawn (axis labels and titles, legends, the title). */
function minFontSize(node: SceneNode): number {
  let min = Infinity;
  if (node.marktype === 'text') for (const t of node.items ?? []) if (t.text !== undefined && t.text !== '' && typeof t.fontSize === 'number') min = Math.min(min, t.fontSize);
  for (const child of node.items ?? []) min = Math.min(min, minFontSize(child));
  return min;
}

async function toBitmap(id: number, spec: ChartSpec, width: number, scale: number): Promise<ChartReply> {
  const t0 = performance.now();
  // Laid out at the width it is shown at (autosize 'fit': axes and legend included).
  const sized = { ...spec, width, height: heightFor(spec, width), autosize: { type: 'fit', contains: 'padding' } };
  const compiled = compile(sized as TopLevelSpec).spec;
  const t1 = performance.now();
  const view = new View(parse(compiled), { renderer: 'none' });
  const t2 = performance.now();
  try {
    const canvas = (await view.toCanvas(scale)) as unknown as OffscreenCanvas;
    const minFontPx = minFontSize((view.scenegraph() as unknown as { root: SceneNode }).root);
    return { id, bitmap: canvas.transferToImageBitmap(), ms: { compile: t1 - t0, parse: t2 - t1, render: performance.now() - t2 }, minFontPx };
  } finally {
    view.finalize();
  }
}

self.onmessage = (e: MessageEvent<ChartRequest>) => {
  const { id, spec, width, scale } = e.data;
  toBitmap(id, spec, width, scale).then(
    (reply) => (self as unknown as Worker).postMessage(reply, 'bitmap' in reply ? [reply.bitmap] : []),
    (err: unknown) => (self as unknown as Worker).postMessage({ id, error: err instanceof Error ? err.message : String(err) } satisfies ChartReply),
  );
};
