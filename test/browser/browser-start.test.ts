/**
 * Start-up in headless Chromium (issue 12, points 3 and 4): importing the minified browser bundle
 * and running init() never blocks the main thread for more than 200 ms in one task
 * (PerformanceObserver 'longtask'). The bundle ships the WGSL interfaces reflected at build time;
 * before, parsing every kernel file with wgsl_reflect at import was one ~1.4 s task.
 */
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserOptions } from '../../scripts/esbuild-options.mjs';
import { launchChromium, openPage, serveStatic, type StaticServer } from './harness.ts';
import { startProbe, type StartProbe } from './start-probe.ts';

const ROOT = join(import.meta.dirname, '../..');
const OUT = join(ROOT, '.cache/browser-start-test');
const BOUND_MS = 200;

let server: StaticServer | null = null;
let browser: Browser | null = null;

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  await build({ ...browserOptions('src/index.browser.ts', join(OUT, 'hemgpu.browser.min.js')), minify: true, absWorkingDir: ROOT });
  server = await serveStatic(OUT);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('start-up in headless Chromium', () => {
  it(`import() + init() of the minified bundle: no main-thread task over ${BOUND_MS} ms`, async () => {
    const page = await openPage(browser!, `${server!.origin}/`);
    const r = await page.inPage<StartProbe>(startProbe({ bundle: `${server!.origin}/hemgpu.browser.min.js`, init: {}, hemCalls: 0 }));
    const tasks = r.longTasks.map((t) => `${t.ms.toFixed(0)} ms at +${t.start.toFixed(0)} ms`).join(', ') || 'none over 50 ms';
    console.log(`import ${r.importMs.toFixed(0)} ms, init() ${r.initMs.toFixed(0)} ms; long tasks: ${tasks}`);
    expect(
      page.log.filter((l) => !l.startsWith('console.warning')),
      page.logText(),
    ).toEqual([]);
    expect(r.longestImportInitTask, `longest task during import + init (${tasks})`).toBeLessThanOrEqual(BOUND_MS);
    expect(r.importMs).toBeGreaterThan(0);
  });
});
