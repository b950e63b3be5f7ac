/**
 * The page's second Web Worker: compiles the library's Vega-Lite chart specs to Vega specs
 * (vega-lite's compile is pure JavaScript, and on a cold page its first call takes 70-130 ms:
 * off the main thread, it never blocks the page). The main thread parses and renders them
 * (draw.ts). Messages: { id, spec } in, { id, spec } or { id, error } out.
 */
import { compile, type TopLevelSpec } from 'vega-lite';

export type ChartRequest = { id: number; spec: TopLevelSpec };
export type ChartReply = { id: number; spec: object } | { id: number; error: string };

self.onmessage = (e: MessageEvent<ChartRequest>) => {
  const { id, spec } = e.data;
  let reply: ChartReply;
  try {
    reply = { id, spec: compile(spec).spec };
  } catch (err) {
    reply = { id, error: err instanceof Error ? err.message : String(err) };
  }
  (self as unknown as Worker).postMessage(reply);
};
