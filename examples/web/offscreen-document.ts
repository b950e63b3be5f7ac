/**
 * vega draws on `document.createElement('canvas')` (vega-canvas) and a worker has no document:
 * this gives it an OffscreenCanvas instead, so charts-worker.ts can render charts to bitmaps.
 * Imported before vega (module evaluation follows import order).
 */
const g = globalThis as { document?: unknown };
if (g.document === undefined) {
  g.document = { createElement: (tag: string) => (tag === 'canvas' ? new OffscreenCanvas(1, 1) : null) };
}
