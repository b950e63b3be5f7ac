/**
 * The guide's "In a browser" snippets (docs/guide.md), run as written in headless Chromium (SwiftShader): the
 * Worker that trains with demoConfig + TrainingRun against the package's browser build, and the
 * plain `<script type="module">` page that imports the minified bundle from node_modules. The code
 * is read out of docs/guide.md, so the guide cannot drift from what works. Needs dist/ (npm run build).
 */
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init, matmul, randn, readWeights } from '../../src/index.node.ts';
import { launchChromium, openPage, serveStatic, type StaticServer } from './harness.ts';

const ROOT = join(import.meta.dirname, '../..');
const OUT = join(ROOT, '.cache/guide-browser');
const GUIDE = readFileSync(join(ROOT, 'docs/guide.md'), 'utf8');

/** The first fenced block of `lang` after the paragraph that starts with `marker`. */
function snippet(marker: string, lang: string): string {
  const at = GUIDE.indexOf(marker);
  if (at < 0) throw new Error(`docs/guide.md has no '${marker}' paragraph`);
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)\\n```').exec(GUIDE.slice(at));
  if (!m) throw new Error(`docs/guide.md: no \`\`\`${lang} block after '${marker}'`);
  return m[1]!;
}

let server: StaticServer | null = null;
let browser: Browser | null = null;

beforeAll(async () => {
  for (const f of ['hemgpu.browser.js', 'hemgpu.browser.min.js', 'hemgpu.browser.min.js.map', 'digits.bin']) {
    if (!existsSync(join(ROOT, 'dist', f))) throw new Error(`dist/${f} is missing: run npm run build first`);
  }
  rmSync(OUT, { recursive: true, force: true });
  const pkg = join(OUT, 'node_modules/hemgpu/dist');
  mkdirSync(pkg, { recursive: true });
  for (const f of ['hemgpu.browser.min.js', 'hemgpu.browser.min.js.map']) copyFileSync(join(ROOT, 'dist', f), join(pkg, f));
  copyFileSync(join(ROOT, 'dist/digits.bin'), join(OUT, 'digits.bin'));
  // The worker snippet, bundled as a user's bundler would: 'hemgpu' under the browser condition.
  writeFileSync(join(OUT, 'worker.ts'), snippet('**With a bundler**', 'ts'));
  await build({
    entryPoints: [join(OUT, 'worker.ts')],
    outfile: join(OUT, 'worker.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    alias: { hemgpu: join(ROOT, 'dist/hemgpu.browser.js') },
    logLevel: 'warning',
  });
  writeFileSync(join(OUT, 'script-tag.html'), `<!doctype html><meta charset="utf-8"><title>hemgpu</title>\n${snippet('**Without a bundler**', 'html')}\n`);
  server = await serveStatic(OUT, { nested: true });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe("the guide's 'In a browser', in headless Chromium", () => {
  it('the Worker snippet trains, evaluates and hands back weights the library reads', async () => {
    const page = await openPage(browser!, `${server!.origin}/`);
    const r = await page.inPage<{ losses: number[]; miou: number; weights: number[]; error: string | null }>(`new Promise((done) => {
      const w = new Worker('/worker.js', { type: 'module' });
      const losses = [];
      w.onerror = (e) => done({ losses, miou: NaN, weights: [], error: e.message || 'worker error' });
      w.onmessage = ({ data }) => {
        if (data.weights) done({ losses, miou: data.miou, weights: Array.from(data.weights), error: null });
        else losses.push(data.loss);
      };
    })`);
    expect(r.error, page.logText()).toBeNull();
    expect(r.losses).toHaveLength(20);
    expect(r.losses.every(Number.isFinite)).toBe(true);
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(r.losses.slice(-5)), `losses ${r.losses.map((l) => l.toFixed(3)).join(' ')}`).toBeLessThan(mean(r.losses.slice(0, 5)));
    expect(r.miou).toBeGreaterThanOrEqual(0);
    expect(r.miou).toBeLessThanOrEqual(1);
    const loaded = readWeights(Uint8Array.from(r.weights), 'the worker snippet');
    expect(loaded.step).toBe(20);
    expect(loaded.config.model).toBe('hemnet');
    expect(loaded.history.val.at(-1)?.miou).toBeCloseTo(r.miou, 12);
  }, 300_000);

  it('the <script type="module"> snippet imports the minified bundle and computes', async () => {
    const page = await openPage(browser!, 'about:blank');
    const logged: unknown[][] = [];
    page.page.on('console', (m) => {
      if (m.type() === 'log') void Promise.all(m.args().map((a) => a.jsonValue())).then((v) => logged.push(v));
    });
    await page.page.goto(`${server!.origin}/script-tag.html`);
    for (let i = 0; i < 600 && logged.length === 0 && page.log.length === 0; i++) await new Promise((ok) => setTimeout(ok, 100));
    expect(page.log, page.logText()).toEqual([]);
    expect(logged).toHaveLength(1);
    const [shape, values] = logged[0] as [number[], number[]];
    expect(shape).toEqual([256, 64]);
    // The same product in Node (Dawn): the seeded generator and the matmul agree across platforms.
    await init();
    const c = matmul(randn([256, 128], { seed: 1 }), randn([128, 64], { seed: 2 }));
    const want = Array.from((await c.read()).slice(0, 4));
    c.dispose();
    expect(values).toHaveLength(4);
    for (let i = 0; i < 4; i++) expect(Math.abs(values[i]! - want[i]!), `value ${i}: ${values[i]} vs ${want[i]}`).toBeLessThan(1e-4 * (1 + Math.abs(want[i]!)));
  }, 120_000);
});
