/**
 * Drawing on the page's main thread: Vega-Lite charts (the library's shared specs, compiled in
 * charts-worker.ts, parsed and rendered by vega to a canvas, throttled so that a stream of steps
 * costs at most one render per interval) and grids of the library's rasters (heat maps, label
 * maps) put on a canvas as ImageData.
 */
import { parse, View, type Spec } from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import type { Raster } from '../../src/index.browser.ts';
import type { ChartReply, ChartRequest } from './charts-worker.ts';

/** Vega-Lite → Vega in charts-worker.js (one worker for all charts, started on first use). */
let compiler: Worker | null = null;
const waiting = new Map<number, (r: ChartReply) => void>();
let nextId = 0;
function compileOffThread(spec: TopLevelSpec): Promise<Spec> {
  if (!compiler) {
    compiler = new Worker(new URL('./charts-worker.js', import.meta.url), { type: 'module' });
    compiler.onmessage = (e: MessageEvent<ChartReply>) => {
      waiting.get(e.data.id)?.(e.data);
      waiting.delete(e.data.id);
    };
  }
  const id = ++nextId;
  return new Promise((ok, fail) => {
    waiting.set(id, (r) => ('error' in r ? fail(new Error(`vega-lite: ${r.error}`)) : ok(r.spec as Spec)));
    compiler!.postMessage({ id, spec } satisfies ChartRequest);
  });
}

/** Resolves in a later task, letting the page handle input and paint in between. */
const nextTask = (): Promise<void> => new Promise((ok) => setTimeout(ok, 0));

/** A chart in `container`, re-rendered from the latest spec at most once per `intervalMs`. */
export class ChartSlot {
  private view: View | null = null;
  private pending: TopLevelSpec | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private last = -Infinity;
  private rendering = false;

  constructor(
    private readonly container: HTMLElement,
    private readonly intervalMs = 1000,
    private readonly onError: (message: string) => void = () => {},
  ) {}

  /** Draw `spec` (soon: now if the interval has passed, else at its end). */
  set(spec: TopLevelSpec): void {
    this.pending = spec;
    this.schedule();
  }

  /** Draw a placeholder text instead of a chart. */
  note(text: string): void {
    this.pending = null;
    this.view?.finalize();
    this.view = null;
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
      // Compiled in charts-worker.js; parse, initialize and render in separate tasks (on a cold
      // page the first chart costs ~70-130 ms to compile, ~80 to parse and ~120 to render: in one
      // task it blocked the page for longer than 200 ms). Measured as User Timing
      // (bench/web-page.ts prints them).
      const t0 = performance.now();
      const compiled = await compileOffThread(spec);
      performance.measure('chart: vega-lite compile (worker, wall)', { start: t0 });
      const t1 = performance.now();
      const view = new View(parse(compiled), { renderer: 'canvas', hover: false });
      performance.measure('chart: vega parse', { start: t1 });
      await nextTask();
      const t2 = performance.now();
      const holder = document.createElement('div');
      view.initialize(holder);
      performance.measure('chart: initialize', { start: t2 });
      await nextTask();
      const t3 = performance.now();
      await view.runAsync();
      performance.measure('chart: render', { start: t3 });
      this.view?.finalize();
      this.view = view;
      this.container.replaceChildren(holder);
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

/** Cells of equal-size rasters in a grid of `cols` columns, each with its title above it. */
export function drawGrid(canvas: HTMLCanvasElement, cells: GridCell[], cols: number): void {
  if (cells.length === 0) return;
  const w = Math.max(...cells.map((c) => c.raster.width));
  const h = Math.max(...cells.map((c) => c.raster.height));
  const rows = Math.ceil(cells.length / cols);
  canvas.width = cols * (w + GAP) - GAP;
  canvas.height = rows * (h + TITLE_PX + GAP) - GAP;
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = '#222';
  ctx.font = '12px system-ui, sans-serif';
  ctx.textBaseline = 'top';
  cells.forEach((c, i) => {
    const x = (i % cols) * (w + GAP);
    const y = Math.floor(i / cols) * (h + TITLE_PX + GAP);
    if (c.title) ctx.fillText(c.title, x, y + 1, w);
    const img = new ImageData(new Uint8ClampedArray(c.raster.data), c.raster.width, c.raster.height);
    ctx.putImageData(img, x, y + TITLE_PX);
  });
}
