/**
 * The page's second Web Worker: turns the library's Vega-Lite chart specs into bitmaps — vega-lite's
 * compile, vega's parse and its canvas renderer on an OffscreenCanvas (offscreen-document.ts). On
 * a cold page the first chart cost the main thread 70-130 ms to compile, up to ~290 ms to parse
 * and ~60-100 ms to render, and an SVG image up to ~500 ms to decode; here none of it touches the
 * main thread, which only puts the ImageBitmap on a canvas (draw.ts).
 * Messages: { id, spec } in, { id, bitmap, ms } (the bitmap transferred) or { id, error } out.
 */
import './offscreen-document.ts';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ChartSpec } from '../../src/viz/spec.ts';

export type ChartRequest = { id: number; spec: ChartSpec };
export type ChartReply = { id: number; bitmap: ImageBitmap; ms: { compile: number; parse: number; render: number } } | { id: number; error: string };

async function toBitmap(id: number, spec: ChartSpec): Promise<ChartReply> {
  const t0 = performance.now();
  const compiled = compile(spec as TopLevelSpec).spec;
  const t1 = performance.now();
  const view = new View(parse(compiled), { renderer: 'none' });
  const t2 = performance.now();
  try {
    const canvas = (await view.toCanvas(SCALE)) as unknown as OffscreenCanvas;
    return { id, bitmap: canvas.transferToImageBitmap(), ms: { compile: t1 - t0, parse: t2 - t1, render: performance.now() - t2 } };
  } finally {
    view.finalize();
  }
}

/** Pixels per chart unit: sharp on high-density screens, downscaled by CSS elsewhere. */
const SCALE = 2;

self.onmessage = (e: MessageEvent<ChartRequest>) => {
  const { id, spec } = e.data;
  toBitmap(id, spec).then(
    (reply) => (self as unknown as Worker).postMessage(reply, 'bitmap' in reply ? [reply.bitmap] : []),
    (err: unknown) => (self as unknown as Worker).postMessage({ id, error: err instanceof Error ? err.message : String(err) } satisfies ChartReply),
  );
};
