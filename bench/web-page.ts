/**
 * The demo page (examples/web/) trained in headless Chromium, measured: the training images/s the
 * page reports (steps after the first, which compiles pipelines, as the page counts them), the
 * main thread's long tasks and the charts' User Timing measures, and optionally the benchmark
 * table and a screenshot of the trained page.
 *
 *   node scripts/run.mjs bench/web-page.ts [--query 'model=hemnet&steps=40'] [--bench] [--screenshot docs/web-demo.png]
 *
 * --bench also runs the page's fused-vs-unfused table after training (benchN in the query sets its N).
 *
 * The query is the page's URL parameters (examples/web/README.md); autostart=1 is added when
 * missing. Needs Debian's chromium (test/browser/harness.ts); builds the page with `npm run web
 * -- --build-only` into .cache/web-bench.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launchChromium, openPage, serveStatic } from '../test/browser/harness.ts';

/** The repository: scripts/run.mjs runs this file bundled in .cache/run/. */
const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const { values } = parseArgs({
  options: {
    query: { type: 'string', default: 'model=hemnet&steps=40&figureEvery=10&evalEvery=20' },
    screenshot: { type: 'string' },
    bench: { type: 'boolean' },
    width: { type: 'string', default: '1280' },
    timeout: { type: 'string', default: '900' },
  },
});
const out = join(ROOT, '.cache/web-bench');
const b = spawnSync(process.execPath, [join(ROOT, 'scripts/web.mjs'), '--build-only', '--out', out], { cwd: ROOT, encoding: 'utf8' });
if (b.status !== 0) throw new Error(`npm run web -- --build-only failed:\n${b.stdout}\n${b.stderr}`);

const query = /(^|&)autostart=/.test(values.query) ? values.query : `${values.query}&autostart=1`;
const server = await serveStatic(out);
const browser = await launchChromium();
try {
  const p = await openPage(browser, `${server.origin}/?${query}`);
  await p.page.setViewportSize({ width: Number(values.width), height: 900 });
  const t0 = Date.now();
  await p.page.waitForFunction('window.hemgpuDemo.state.done && !window.hemgpuDemo.state.busy', undefined, { timeout: Number(values.timeout) * 1000, polling: 500 });
  // The last figures and charts (charts render at most once a second).
  await p.page.waitForTimeout(2500);
  const st = await p.inPage<{ step: number; adapter: string; imagesPerSecond: number; errors: string[]; history: { loss: number[]; val: { step: number; miou: number }[] } }>(
    'window.hemgpuDemo.state',
  );
  const long = await p.inPage<{ start: number; duration: number }[]>('window.__longTasks');
  const measures = await p.inPage<{ name: string; duration: number }[]>("performance.getEntriesByType('measure').map((m) => ({ name: m.name, duration: m.duration }))");
  console.log(`page ?${query}`);
  console.log(`adapter: ${st.adapter}`);
  console.log(
    `${st.step} steps in ${((Date.now() - t0) / 1000).toFixed(0)} s wall (with validation and figures); training ${st.imagesPerSecond.toFixed(2)} images/s (steps 2…${st.step})`,
  );
  console.log(`loss ${st.history.loss[0]?.toFixed(3)} → ${st.history.loss.at(-1)?.toFixed(3)}; val mIoU ${st.history.val.map((v) => `${v.miou.toFixed(3)}@${v.step}`).join(' ')}`);
  console.log(`main-thread long tasks (> 50 ms): ${long.map((t) => `${t.duration.toFixed(0)} ms @${(t.start / 1000).toFixed(1)} s`).join(', ') || 'none'}`);
  const phases = new Map<string, number[]>();
  for (const m of measures) phases.set(m.name, [...(phases.get(m.name) ?? []), m.duration]);
  for (const [name, ms] of phases) console.log(`${name}: ${ms.length}×, first ${ms[0]!.toFixed(0)} ms, max ${Math.max(...ms).toFixed(0)} ms`);
  if (st.errors.length) console.log(`page errors:\n  ${st.errors.join('\n  ')}${p.logText()}`);
  if (values.bench) {
    await p.page.click('#bench');
    await p.page.waitForFunction('window.hemgpuDemo.state.benchDone', undefined, { timeout: Number(values.timeout) * 1000, polling: 500 });
    const rows = await p.inPage<{ shape: string; pass: string; fusedMs: number; unfusedMs: number; verified: boolean }[]>('window.hemgpuDemo.state.benchRows');
    for (const r of rows) console.log(`bench ${r.shape} ${r.pass}: fused ${r.fusedMs.toFixed(1)} ms, unfused ${r.unfusedMs.toFixed(1)} ms, verified ${r.verified}`);
  }
  if (values.screenshot) {
    await p.page.screenshot({ path: resolve(values.screenshot), fullPage: true });
    console.log(`screenshot: ${values.screenshot}`);
  }
} finally {
  await browser.close();
  await server.close();
}
