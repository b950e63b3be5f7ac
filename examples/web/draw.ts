/**
 * Drawing on the page's main thread: Vega-Lite charts (the library's shared specs, rendered to a
 * bitmap in charts-worker.ts and put on a canvas, throttled so that a stream of steps costs at most one
 * chart per interval) and grids of the library's rasters (heat maps, label maps) put on a canvas
 * as ImageData. Nothing here parses or lays out a chart: the main thread stays free.
 */
import type { ChartSpec } from '../../src/viz/spec.ts';
import type { Raster } from '../../src/index.browser.ts';
import type { ChartReply, ChartRequest } from './charts-worker.ts';

type ChartBitmap = Extract<ChartReply, { bitmap: ImageBitmap }>;

/** Vega-Lite → a bitmap in charts-worker.js (one worker for all charts, started on first use). */
let charter: Worker | null = null;
const waiting = new Map<number, (r: ChartReply) => void>();
let nextId = 0;
function bitmapOffThread(spec: ChartSpec, width: number, scale: number): Promise<ChartBitmap> {
  if (!charter) {
    charter = new Worker(new URL('./charts-worker.js', import.meta.url), { type: 'module' });
    charter.onmessage = (e: MessageEvent<ChartReply>) => {
      waiting.get(e.data.id)?.(e.data);
      waiting.delete(e.data.id);
    };
  }
  const id = ++nextId;
  return new Promise((ok, fail) => {
    waiting.set(id, (r) => ('error' in r ? fail(new Error(r.error)) : ok(r)));
    charter!.postMessage({ id, spec, width, scale } satisfies ChartRequest);
  });
}

/** The chart's title, for the image's alt text. */
function chartTitle(spec: ChartSpec): string {
  const t = (spec as { title?: string | { text?: unknown } }).title;
  const text = typeof t === 'string' ? t : t?.text;
  return typeof text === 'string' ? text : 'chart';
}

/** The narrowest a chart is laid out (CSS pixels): below it, the axes would crowd the plot. */
const MIN_CHART_WIDTH = 240;

/**
 * A chart in `container`, laid out at the container's width and drawn at the screen's pixel
 * density, re-drawn from the latest spec at most once per `intervalMs` and again when the
 * container's width changes.
 */
export class ChartSlot {
  private pending: ChartSpec | null = null;
  private shown: ChartSpec | null = null;
  private shownWidth = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private last = -Infinity;
  private rendering = false;

  constructor(
    private readonly container: HTMLElement,
    private readonly intervalMs = 1000,
    private readonly onError: (message: string) => void = () => {},
  ) {
    new ResizeObserver(() => {
      if (this.shown && Math.abs(this.width() - this.shownWidth) >= 8) this.set(this.shown);
    }).observe(container);
  }

  /** The width to lay the chart out at: the container's content width. */
  private width(): number {
    return Math.max(MIN_CHART_WIDTH, Math.floor(this.container.clientWidth));
  }

  /** Draw `spec` (soon: now if the interval has passed, else at its end). */
  set(spec: ChartSpec): void {
    this.pending = spec;
    this.schedule();
  }

  /** Draw a placeholder text instead of a chart. */
  note(text: string): void {
    this.pending = null;
    this.shown = null;
    this.container.replaceChildren(Object.assign(document.createElement('p'), { className: 'note', textContent: text }));
  }

  private schedule(): void {
    if (this.timer || this.rendering) return;
    const wait = Math.max(0, this.last + this.intervalMs - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.render();
    }, wait);
  }

  private async render(): Promise<void> {
    const spec = this.pending;
    if (!spec) return;
    this.pending = null;
    this.rendering = true;
    this.last = performance.now();
    try {
      // Measured as User Timing (bench/web-page.ts prints them): the worker's phases, and the
      // main thread's only part, putting the bitmap on a canvas.
      const t0 = performance.now();
      const width = this.width();
      const scale = Math.max(1, window.devicePixelRatio || 1);
      const r = await bitmapOffThread(spec, width, scale);
      performance.measure('chart: in charts-worker (wall)', { start: t0 });
      performance.measure('chart: vega-lite compile (charts-worker)', { start: t0, duration: r.ms.compile });
      performance.measure('chart: vega parse (charts-worker)', { start: t0, duration: r.ms.parse });
      performance.measure('chart: render (charts-worker)', { start: t0, duration: r.ms.render });
      const t1 = performance.now();
      const canvas = document.createElement('canvas');
      canvas.width = r.bitmap.width;
      canvas.height = r.bitmap.height;
      // Shown at the width it was laid out at: `scale` pixels per CSS pixel, its text at the spec's size.
      canvas.style.width = `${r.bitmap.width / scale}px`;
      canvas.dataset.layoutWidth = String(r.bitmap.width / scale);
      canvas.dataset.minFontPx = String(r.minFontPx);
      canvas.setAttribute('role', 'img');
      canvas.setAttribute('aria-label', chartTitle(spec));
      canvas.getContext('bitmaprenderer')!.transferFromImageBitmap(r.bitmap);
      this.shown = spec;
      this.shownWidth = width;
      this.container.replaceChildren(canvas);
      performance.measure('chart: show (main thread)', { start: t1 });
    } catch (err) {
      this.onError(`drawing a chart: ${(err as Error).message}`);
    } finally {
      this.rendering = false;
      if (this.pending) this.schedule();
    }
  }
}

export interface GridCell {
  raster: Raster;
  title: string;
}

const TITLE_PX = 16;
const GAP = 6;

/** Cells of equal-size rasters in a grid of `cols` columns, each with its title above it (`titlePx` tall; 0: none). */
export function drawGrid(canvas: HTMLCanvasElement, cells: GridCell[], cols: number, titlePx = TITLE_PX): void {
  if (cells.length === 0) return;
  const w = Math.max(...cells.map((c) => c.raster.width));
  const h = Math.max(...cells.map((c) => c.raster.height));
  const rows = Math.ceil(cells.length / cols);
  canvas.width = cols * (w + GAP) - GAP;
  canvas.height = rows * (h + titlePx + GAP) - GAP;
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = '#222';
  ctx.font = '12px system-ui, sans-serif';
  ctx.textBaseline = 'top';
  cells.forEach((c, i) => {
    const x = (i % cols) * (w + GAP);
    const y = Math.floor(i / cols) * (h + titlePx + GAP);
    if (c.title) ctx.fillText(c.title, x, y + 1, w);
    const img = new ImageData(new Uint8ClampedArray(c.raster.data), c.raster.width, c.raster.height);
    ctx.putImageData(img, x, y + titlePx);
  });
}
