/**
 * The start-up probe for headless Chromium (bench/browser-start.ts, test/browser/browser-start.test.ts):
 * a page-side expression that imports the library bundle, runs init(), then times hem()
 * forward + backward calls, while a PerformanceObserver records every main-thread task over
 * 50 ms ('longtask'). Returned as a JS expression string for LoggedPage.inPage (a string: vitest's
 * transform would rewrite import() inside a function).
 */

export interface StartProbe {
  /** await import(bundle), ms. */
  importMs: number;
  /** await init(options), ms. */
  initMs: number;
  /** Each hem() forward + backward call (the gradients read back), ms. */
  hemMs: number[];
  /** Main-thread tasks over 50 ms (the browser reports no shorter ones), with start relative to the import. */
  longTasks: { start: number; ms: number }[];
  /** The longest task that overlaps the import, and the import plus init() (0: none over 50 ms). */
  longestImportTask: number;
  longestImportInitTask: number;
  syncPipelines: number;
  asyncPipelines: number;
  adapter: Record<string, unknown>;
}

export interface ProbeOptions {
  /** URL of the ES module bundle. */
  bundle: string;
  /** init()'s options (JSON). */
  init: Record<string, unknown>;
  /** hem() calls to time (0: none). */
  hemCalls: number;
  /** [B, N, C] of x and K of μ [K, C]. */
  hemShape?: [number, number, number, number];
}

export function startProbe(o: ProbeOptions): string {
  const [B, N, C, K] = o.hemShape ?? [1, 4096, 64, 64];
  return `(async () => {
    const tasks = [];
    const obs = new PerformanceObserver((list) => { for (const e of list.getEntries()) tasks.push({ start: e.startTime, ms: e.duration }); });
    obs.observe({ type: 'longtask', buffered: true });
    await new Promise((r) => setTimeout(r, 20));
    const t0 = performance.now();
    const hg = await import(${JSON.stringify(o.bundle)});
    const t1 = performance.now();
    await hg.init(${JSON.stringify(o.init)});
    const t2 = performance.now();
    const hemMs = [];
    for (let i = 0; i < ${o.hemCalls}; i++) {
      const s = performance.now();
      const x = hg.randn([${B}, ${N}, ${C}], { seed: 1 + i, requiresGrad: true });
      const mu = hg.randn([${K}, ${C}], { seed: 100 + i, requiresGrad: true });
      const r = hg.hem(x, mu);
      hg.sum(r.out).backward();
      await x.grad.read();
      await mu.grad.read();
      for (const t of [x, mu, x.grad, mu.grad, r.out, r.mu, r.gamma]) t.dispose();
      hemMs.push(performance.now() - s);
    }
    await new Promise((r) => setTimeout(r, 100));
    obs.disconnect();
    const over = (a, b) => tasks.filter((t) => t.start < b && t.start + t.ms > a).reduce((m, t) => Math.max(m, t.ms), 0);
    const stats = hg.pipelineStats ? hg.pipelineStats() : { sync: -1, async: -1 };
    const info = hg.adapterInfo();
    return {
      importMs: t1 - t0, initMs: t2 - t1, hemMs,
      longTasks: tasks.map((t) => ({ start: t.start - t0, ms: t.ms })),
      longestImportTask: over(t0, t1), longestImportInitTask: over(t0, t2),
      syncPipelines: stats.sync, asyncPipelines: stats.async,
      adapter: JSON.parse(JSON.stringify(info)),
    };
  })()`;
}
