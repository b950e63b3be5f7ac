/**
 * hemgpu in headless Chromium: the browser bundle (src/index.browser.ts) runs the matmul and
 * softmax forward and backward checks of test/browser/checks.ts on navigator.gpu.
 *
 * Needs Debian's chromium at /usr/bin/chromium (CHROMIUM overrides the path); without a GPU it
 * runs WebGPU on SwiftShader with the flags of ../shared/docs/environment.md. A missing browser
 * or adapter fails the test; nothing here is skipped.
 */
import { build, type Metafile } from 'esbuild';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserOptions } from '../../scripts/esbuild-options.mjs';
import type { Case, CaseResult } from './checks.ts';
import { launchChromium, openPage, serveStatic, type LoggedPage, type StaticServer } from './harness.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OUT = join(ROOT, '.cache/browser');

const CASES: Case[] = [
  { op: 'matmul', name: 'matmul 33×17 · 17×29', a: [33, 17], b: [17, 29], seed: 1 },
  { op: 'matmul', name: 'matmul transA: (17×33)ᵀ · 17×29', a: [17, 33], b: [17, 29], transA: true, seed: 2 },
  { op: 'matmul', name: 'matmul transB: 33×17 · (29×17)ᵀ', a: [33, 17], b: [29, 17], transB: true, seed: 3 },
  { op: 'matmul', name: 'matmul transA transB', a: [17, 33], b: [29, 17], transA: true, transB: true, seed: 4 },
  { op: 'matmul', name: 'matmul 130×67 · 67×65 (several tiles)', a: [130, 67], b: [67, 65], seed: 5 },
  { op: 'matmul', name: 'matmul 1×5 · 5×1', a: [1, 5], b: [5, 1], seed: 6 },
  { op: 'matmul', name: 'matmul batched [3,33,17] · [3,17,29]', a: [3, 33, 17], b: [3, 17, 29], seed: 7 },
  { op: 'matmul', name: 'matmul batched transA transB: [3,17,35]ᵀ · [3,31,17]ᵀ', a: [3, 17, 35], b: [3, 31, 17], transA: true, transB: true, seed: 8 },
  { op: 'matmul', name: 'matmul batched, shared b: [2,3,33,17] · [17,29]', a: [2, 3, 33, 17], b: [17, 29], seed: 9 },
  { op: 'matmul', name: 'matmul batched, shared b, transB: [3,33,17] · [30,17]ᵀ', a: [3, 33, 17], b: [30, 17], transB: true, seed: 10 },
  { op: 'matmul', name: 'matmul batched transA, shared b: [3,17,33]ᵀ · [17,29]', a: [3, 17, 33], b: [17, 29], transA: true, seed: 13 },
  { op: 'matmul', name: 'matmul batched, shared a, transA', a: [17, 33], b: [3, 17, 29], transA: true, seed: 11 },
  { op: 'matmul', name: 'matmul batch-1 a [1,33,17] · [4,17,29]', a: [1, 33, 17], b: [4, 17, 29], seed: 12 },
  { op: 'softmax', name: 'softmax rows of 7', shape: [5, 7], spread: 3, seed: 21 },
  { op: 'softmax', name: 'softmax rows of 7, 70 rows, scale 0.125', shape: [2, 35, 7], scale: 0.125, spread: 8, seed: 22 },
  { op: 'softmax', name: 'softmax rows of 300, scale 0.125', shape: [4, 300], scale: 0.125, spread: 8, seed: 23 },
  { op: 'softmax', name: 'softmax rows of 1', shape: [4, 1], spread: 3, seed: 24 },
  { op: 'softmax', name: 'softmax rows of 300, logits 1e4 ± 2', shape: [3, 300], offset: 1e4, spread: 2, seed: 25 },
  { op: 'softmax', name: 'softmax rows of 7, logits ±1e4', shape: [6, 7], spread: 1e4, seed: 26 },
  { op: 'softmax', name: 'softmax rows of 300, logits ±1e4, scale 0.125', shape: [3, 300], scale: 0.125, spread: 1e4, seed: 27 },
  { op: 'softmax', name: 'softmax rows of 7, logits -1e4 ± 1, scale 0.125', shape: [3, 7], scale: 0.125, offset: -1e4, spread: 1, seed: 28 },
];

let server: StaticServer | null = null;
let browser: Browser | null = null;
let page: LoggedPage | null = null;
let origin = '';
let browserBundle = '';
let browserMeta: Metafile | null = null;
/** Console errors and warnings, page errors and crashes, in order; cleared by each test. */
const pageLog = (): string[] => page?.log ?? [];

async function bundle(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const engine = await build({
    ...browserOptions('src/index.browser.ts', join(OUT, 'hemgpu.browser.js')),
    absWorkingDir: ROOT,
    metafile: true,
  });
  browserMeta = engine.metafile ?? null;
  browserBundle = readFileSync(join(OUT, 'hemgpu.browser.js'), 'utf8');
  // The checks import the engine's entry point; in the page that import is the bundle above.
  const checks = browserOptions('test/browser/checks.ts', join(OUT, 'checks.js'));
  await build({
    ...checks,
    absWorkingDir: ROOT,
    plugins: [
      ...(checks.plugins ?? []),
      {
        name: 'hemgpu-external',
        setup(b) {
          b.onResolve({ filter: /index\.browser\.ts$/ }, () => ({ path: './hemgpu.browser.js', external: true }));
        },
      },
    ],
  });
}

/** Everything the page said, for failure messages. */
function logText(): string {
  return page ? page.logText() : '\n(browser log empty)';
}

/** Evaluate `expr` (a JS expression, awaited) in the page; errors carry the browser's log. */
async function inPage<T>(expr: string): Promise<T> {
  if (!page) throw new Error(`the page never opened${logText()}`);
  return page.inPage<T>(expr);
}

beforeAll(async () => {
  await bundle();
  server = await serveStatic(OUT);
  origin = server.origin;
  browser = await launchChromium();
  page = await openPage(browser, `${origin}/`);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  browser = null;
  await server?.close();
  server = null;
});
describe('browser bundle', () => {
  it('contains no Node-only import', () => {
    expect(browserBundle.length).toBeGreaterThan(1000);
    const nodeSpecifiers = browserBundle.match(/["'`]node:[\w/]+["'`]/g) ?? [];
    expect(nodeSpecifiers, 'node: specifiers in the browser bundle').toEqual([]);
    const requires = browserBundle.match(/\brequire\s*\(\s*["'`](?:node:)?(?:fs|path|os|url|child_process|module|webgpu)(?:\/[\w/]*)?["'`]\s*\)/g) ?? [];
    expect(requires, 'require() of Node modules in the browser bundle').toEqual([]);
    expect(browserBundle).not.toMatch(/\bfrom\s*["'`]webgpu["'`]|import\s*\(\s*["'`]webgpu["'`]\s*\)/);
    // And by construction: no Node provider or Dawn package among the bundled inputs.
    const inputs = Object.keys(browserMeta?.inputs ?? {});
    expect(inputs.some((f) => f.endsWith('src/device/browser.ts'))).toBe(true);
    expect(inputs.filter((f) => /src\/device\/node\.ts$|node_modules\/webgpu\//.test(f))).toEqual([]);
  });
});

describe('hemgpu in headless Chromium (navigator.gpu)', () => {
  it('gets a WebGPU adapter through the browser provider', async () => {
    pageLog().length = 0;
    const info = await inPage<Record<string, unknown>>(`import('${origin}/checks.js').then((m) => m.setup())`);
    console.log(
      `browser adapter: ${String(info.description || info.device || '(no description)')} — vendor ${String(info.vendor)}, ` +
        `architecture ${String(info.architecture)}, software ${String(info.software)}, via ${String(info.via)}, ` +
        `${await browser!.version()}`,
    );
    expect(info.hasNavigatorGpu, `navigator.gpu missing${logText()}`).toBe(true);
    expect(info.platform).toBe('browser');
    expect(info.via).toBe('navigator.gpu');
    expect(info.robustness).toBe(true);
  });

  it('keeps tuning records in IndexedDB: read back, replaced per adapter and version', async () => {
    const r = await inPage<Record<string, unknown>>(`import('${origin}/checks.js').then((m) => m.tuningStore())`);
    expect(r.where).toBe("IndexedDB 'hemgpu', object store 'tuning'");
    expect(r.first).toBeNull();
    expect((r.after as { matmul: { BM: number } }).matmul.BM).toBe(2);
    expect((r.replaced as { matmul: { BM: number } }).matmul.BM).toBe(4);
    expect(r.otherVersion).toBeNull();
  });

  it('withEngine runs a synchronous function and refuses an async one before it runs (no context survives an await here)', async () => {
    const r = await inPage<{ sync: number; asyncError: string; ran: boolean }>(`import('${origin}/checks.js').then((m) => m.withEngineInBrowser())`);
    expect(r.sync).toBe(42);
    expect(r.ran).toBe(false);
    expect(r.asyncError).toMatch(/^withEngine: fn is an async function, but on this platform the engine cannot follow it across an await/);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, cs) => {
    pageLog().length = 0;
    const r = await inPage<CaseResult>(`import('${origin}/checks.js').then((m) => m.run(${JSON.stringify(cs)}))`);
    const stats = Object.entries(r.stats)
      .map(([k, v]) => `${k} ${v.toExponential(1)}`)
      .join(', ');
    if (process.env.HEMGPU_BROWSER_VERBOSE) console.log(`${cs.name}: ${r.ms.toFixed(0)} ms; ${stats}`);
    const errors = pageLog().filter((l) => !l.startsWith('console.warning'));
    expect(r.failures, `${cs.name} (${r.ms.toFixed(0)} ms; ${stats})${logText()}`).toEqual([]);
    expect(errors, `browser errors during ${cs.name}${logText()}`).toEqual([]);
  });
});
