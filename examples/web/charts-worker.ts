/**
 * The page's second Web Worker: turns the library's Vega-Lite chart specs into SVG — vega-lite's
 * compile, vega's parse and its headless SVG renderer (renderer 'none' + toSVG, the path
 * src/viz/render.ts takes in Node), all pure JavaScript. On a cold page the first chart cost the
 * main thread 70-130 ms to compile, up to ~290 ms to parse and ~60-100 ms to render; here none
 * of it touches the main thread, which only shows the SVG as an image (draw.ts).
 * Messages: { id, spec } in, { id, svg, ms } or { id, error } out.
 */
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export type ChartRequest = { id: number; spec: TopLevelSpec };
export type ChartReply = { id: number; svg: string; ms: { compile: number; parse: number; render: number } } | { id: number; error: string };

async function toSvg(id: number, spec: TopLevelSpec): Promise<ChartReply> {
  const t0 = performance.now();
  const compiled = compile(spec).spec;
  const t1 = performance.now();
  const view = new View(parse(compiled), { renderer: 'none' });
  const t2 = performance.now();
  try {
    const svg = await view.toSVG();
    return { id, svg, ms: { compile: t1 - t0, parse: t2 - t1, render: performance.now() - t2 } };
  } finally {
    view.finalize();
  }
}

self.onmessage = (e: MessageEvent<ChartRequest>) => {
  const { id, spec } = e.data;
  toSvg(id, spec).then(
    (reply) => (self as unknown as Worker).postMessage(reply),
    (err: unknown) => (self as unknown as Worker).postMessage({ id, error: err instanceof Error ? err.message : String(err) } satisfies ChartReply),
  );
};
