/**
 * Start-up in headless Chromium (issue 12, point 3): `node scripts/run.mjs bench/browser-start.ts
 * [--bundle FILE --label NAME]`. Serves the minified browser bundle (built from src/ unless
 * --bundle names another, e.g. an older build, then only the run without warmup is made) and, in
 * a fresh browser per run: the import time and the longest main-thread task during the import
 * (PerformanceObserver 'longtask'), init() time, and hem() forward + backward at B1 N4096 C64
 * (K 64) ten times, the first against the tenth. Runs: init(), init({ warmup: ['hem'] }),
 * init({ warmup: ['hem', 'matmul', …the call's other kernels] }), init({ warmup: true }).
 * Writes bench/results/<date>-browser-start-<label>.json and prints a table.
 */
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { browserOptions } from '../scripts/esbuild-options.mjs';
import { launchChromium, openPage, serveStatic } from '../test/browser/harness.ts';
import { startProbe, type StartProbe } from '../test/browser/start-probe.ts';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const given = flag('--bundle');
const label = flag('--label') ?? (given ? basename(given, '.js') : 'src');
const OUT = resolve('.cache/browser-start');
mkdirSync(OUT, { recursive: true });
if (given) copyFileSync(resolve(given), join(OUT, 'bundle.js'));
else await build({ ...browserOptions('src/index.browser.ts', join(OUT, 'bundle.js')), minify: true, sourcemap: false });

const HEM_CALL_KERNELS = ['hem', 'matmul', 'normal_random', 'fill', 'reduce', 'unary', 'binary', 'pad', 'gather'];
const RUNS: { name: string; init: Record<string, unknown> }[] = given
  ? [{ name: 'init()', init: {} }]
  : [
      { name: 'init()', init: {} },
      { name: "init({ warmup: ['hem'] })", init: { warmup: ['hem'] } },
      { name: 'init({ warmup: hem call kernels })', init: { warmup: HEM_CALL_KERNELS } },
      { name: 'init({ warmup: true })', init: { warmup: true } },
    ];

const server = await serveStatic(OUT);
const results: (StartProbe & { run: string })[] = [];
try {
  for (const run of RUNS) {
    const browser = await launchChromium();
    try {
      const page = await openPage(browser, `${server.origin}/`);
      const r = await page.inPage<StartProbe>(startProbe({ bundle: `${server.origin}/bundle.js`, init: run.init, hemCalls: 10 }));
      results.push({ run: run.name, ...r });
      if (page.log.some((l) => !l.startsWith('console.warning'))) console.error(page.logText());
    } finally {
      await browser.close();
    }
  }
} finally {
  await server.close();
}

const ms = (x: number): string => (x === 0 ? '< 50' : x.toFixed(0));
const adapter = results[0]?.adapter ?? {};
console.log(`\nhemgpu start-up in headless Chromium, bundle ${label}, adapter ${String(adapter.name ?? adapter.description ?? JSON.stringify(adapter))}`);
console.log('| run | import ms | longest import task ms | init ms | longest task import+init ms | 1st hem fwd+bwd ms | 10th ms | 1st / 10th | sync pipelines |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of results) {
  const first = r.hemMs[0]!;
  const tenth = r.hemMs[r.hemMs.length - 1]!;
  console.log(
    `| ${r.run} | ${r.importMs.toFixed(0)} | ${ms(r.longestImportTask)} | ${r.initMs.toFixed(0)} | ${ms(r.longestImportInitTask)} | ` +
      `${first.toFixed(0)} | ${tenth.toFixed(0)} | ${(first / tenth).toFixed(2)} | ${r.syncPipelines} |`,
  );
}
const file = join('bench/results', `${new Date().toISOString().slice(0, 10)}-browser-start-${label}.json`);
mkdirSync('bench/results', { recursive: true });
writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), bundle: label, shape: { B: 1, N: 4096, C: 64, K: 64 }, results }, null, 2)}\n`);
console.log(`wrote ${file}`);
