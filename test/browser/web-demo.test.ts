/**
 * The demo page (examples/web/, built by `npm run web -- --build-only`) in headless Chromium on
 * SwiftShader: it trains in its Web Worker with the loss falling, draws the attention maps, never
 * blocks the main thread for long, saves weights that load back bit-exactly, opens a checkpoint
 * written by the Node CLI with the same validation output as Node, fills the fused-vs-unfused
 * table with verified rows and shows bad URL parameters as errors. Also `npm run web`'s flags.
 *
 * Needs Debian's chromium (CHROMIUM overrides the path; a missing browser fails naming the
 * install command). bench/web-page.ts measures the page and writes docs/web-demo.png.
 */
import { build } from 'esbuild';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeOptions } from '../../scripts/esbuild-options.mjs';
import { DEMO_RECIPE } from '../../src/cli/demo.ts';
import { demoConfig, digitSceneData, gatherBatch, init, noGrad, readWeights, tensor, tidy, TrainingRun, type EmDiagnostics } from '../../src/index.node.ts';
import { chromium } from 'playwright-core';
import { CHROMIUM, launchChromium, openPage, serveStatic, type LoggedPage, type StaticServer } from './harness.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OUT = join(ROOT, '.cache/web-test');
const SCRIPT = join(ROOT, 'scripts/web.mjs');

/** A small run of the demo's recipe: the page's URL parameters and the CLI's flags for the same run. */
const SMALL = { steps: 8, trainScenes: 16, valScenes: 4, batch: 4, lr: 0.01, warmup: 0 };
const SMALL_QUERY = Object.entries(SMALL)
  .map(([k, v]) => `${k}=${v}`)
  .join('&');

let server: StaticServer | null = null;
let browser: Browser | null = null;
let tmp = '';
/** The trained page (the first test trains it; later tests save from it). */
let trained: LoggedPage | null = null;

function webScript(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Poll `expr` in the page until it is truthy. */
async function until(p: LoggedPage, expr: string, what: string, timeoutMs = 150_000): Promise<void> {
  try {
    await p.page.waitForFunction(expr, undefined, { timeout: timeoutMs, polling: 200 });
  } catch {
    const st = await p.inPage<unknown>('JSON.stringify({ ...window.hemgpuDemo?.state, history: undefined })').catch(() => '(no state)');
    throw new Error(`the page did not get to: ${what} (${timeoutMs / 1000} s)\nstate: ${String(st)}${p.logText()}`);
  }
}

async function pageErrors(p: LoggedPage): Promise<string[]> {
  return p.inPage<string[]>('window.hemgpuDemo.state.errors');
}

/** The EM diagnostics panel as the page shows it: each figure's text and explanation, the note, the history. */
interface EmPanel {
  note: string;
  figures: { id: string; label: string; text: string; explain: string; title: string }[];
  steps: number[];
  em: EmDiagnostics[];
}

async function emPanel(p: LoggedPage): Promise<EmPanel> {
  return p.inPage<EmPanel>(`({
    note: document.getElementById('em-note').textContent,
    figures: [...document.querySelectorAll('#em-figures > div')].map((d) => ({
      id: d.querySelector('dd').id.replace(/^em-/, ''), label: d.querySelector('dt').textContent, text: d.querySelector('dd').textContent,
      explain: d.querySelector('p').textContent, title: d.title,
    })),
    steps: window.hemgpuDemo.state.em.map((p) => p.step),
    em: window.hemgpuDemo.state.em.map((p) => p.em),
  })`);
}

/** The number a figure's text starts with after `prefix` (e.g. 'max_k γ 0.412 (uniform 0.016)' → 0.412). */
function reading(panel: EmPanel, id: string, pattern: RegExp): number[] {
  const f = panel.figures.find((x) => x.id === id);
  expect(f, `figure ${id} on the page: ${JSON.stringify(panel.figures)}`).toBeDefined();
  const m = pattern.exec(f!.text);
  expect(m, `${id}: '${f!.text}' against ${pattern}`).not.toBeNull();
  return m!.slice(1).map(Number);
}

/** The CLI's `train` flags for the demo's recipe with the SMALL overrides (and `more`). */
function cliFlags(out: string, more: Record<string, string> = {}): string[] {
  const recipe = {
    ...DEMO_RECIPE,
    'train-scenes': String(SMALL.trainScenes),
    'val-scenes': String(SMALL.valScenes),
    batch: String(SMALL.batch),
    lr: String(SMALL.lr),
    warmup: String(SMALL.warmup),
    'eval-every': '4',
    ...more,
  };
  return ['--model', 'hemnet', '--steps', '4', ...Object.entries(recipe).flatMap(([k, v]) => [`--${k}`, v]), '--out', out, '--quiet'];
}

beforeAll(async () => {
  // bin/hemgpu.mjs runs dist/cli.js: build it from the sources under test; the digit asset from `npm run build`.
  if (!existsSync(join(ROOT, 'dist/digits.bin'))) spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: 'inherit' });
  await build(nodeOptions(join(ROOT, 'src/cli/main.ts'), join(ROOT, 'dist/cli.js')));
  const b = webScript(['--build-only', '--out', OUT]);
  if (b.status !== 0) throw new Error(`npm run web -- --build-only failed (${b.status}):\n${b.stdout}\n${b.stderr}`);
  server = await serveStatic(OUT);
  browser = await launchChromium();
  tmp = mkdtempSync(join(tmpdir(), 'hemgpu-web-'));
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('npm run web', () => {
  it('refuses unknown flags and bad values with the usage and exit status 2', () => {
    for (const args of [['--bogus'], ['--port', 'eighty'], ['--port', '70000'], ['stray']]) {
      const r = webScript(args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/usage: npm run web/);
    }
  });

  it('names a busy port and how to choose another', async () => {
    const blocker = createServer();
    const port = await new Promise<number>((ok) => blocker.listen(0, '127.0.0.1', () => ok((blocker.address() as { port: number }).port)));
    try {
      const r = await new Promise<{ code: number | null; err: string }>((ok) => {
        const child = spawn(process.execPath, [SCRIPT, '--port', String(port), '--out', join(tmp, 'busy')], { cwd: ROOT });
        let err = '';
        child.stderr.on('data', (d) => (err += String(d)));
        child.on('exit', (code) => ok({ code, err }));
      });
      expect(r.code).toBe(1);
      expect(r.err).toContain(`port ${port} on 127.0.0.1 is busy`);
      expect(r.err).toContain(`--port ${port + 1}`);
    } finally {
      blocker.close();
    }
  });

  it('serves the page on the URL it prints and stops cleanly on Ctrl-C (SIGINT)', async () => {
    const child = spawn(process.execPath, [SCRIPT, '--port', '0', '--out', join(tmp, 'serve')], { cwd: ROOT });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    const exited = new Promise<{ code: number | null; signal: string | null }>((ok) => child.on('exit', (code, signal) => ok({ code, signal })));
    try {
      const t0 = Date.now();
      while (!/hemgpu demo page: http:\/\/127\.0\.0\.1:\d+\//.test(stdout) && Date.now() - t0 < 60_000) await new Promise((ok) => setTimeout(ok, 100));
      const url = /hemgpu demo page: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout)?.[1];
      expect(url, stdout).toBeDefined();
      const page = await fetch(url!);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<script type="module" src="./main.js">');
      expect((await fetch(`${url}worker.js`)).headers.get('content-type')).toMatch(/text\/javascript/);
      expect((await fetch(`${url}digits.bin`)).status).toBe(200);
      expect((await fetch(`${url}nope.js`)).status).toBe(404);
      child.kill('SIGINT');
      const t1 = Date.now();
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - t1, 'exit after SIGINT (ms)').toBeLessThan(5000);
      expect(stdout).toContain('hemgpu web: stopped');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('builds minified bundles with source maps, the page and the digit asset', () => {
    for (const f of ['index.html', 'main.js', 'main.js.map', 'worker.js', 'worker.js.map', 'charts-worker.js', 'charts-worker.js.map', 'digits.bin'])
      expect(existsSync(join(OUT, f)), f).toBe(true);
    expect(readFileSync(join(OUT, 'digits.bin')).equals(readFileSync(join(ROOT, 'dist/digits.bin'))), 'digits.bin is dist/digits.bin').toBe(true);
    // Minified: local names renamed (the WGSL kernels' text keeps its newlines, so lines say little).
    const worker = readFileSync(join(OUT, 'worker.js'), 'utf8');
    expect(worker, 'worker.js is minified').not.toMatch(/function (drawAttention|evaluateNow|trainOne)\b/);
    expect(readFileSync(join(OUT, 'main.js'), 'utf8').split('\n').length, 'main.js is minified').toBeLessThan(50);
    // The main thread's bundle draws only: no engine in it.
    expect(readFileSync(join(OUT, 'main.js'), 'utf8')).not.toMatch(/requestAdapter|createComputePipeline/);
  });
});

describe('the demo page in headless Chromium', () => {
  it('trains hemnet in its worker: the loss falls, the figures are drawn, the main thread never blocks 200 ms', async () => {
    trained = await openPage(browser!, `${server!.origin}/?model=hemnet&${SMALL_QUERY}&evalEvery=4&figureEvery=4&autostart=1`);
    await until(trained, 'window.hemgpuDemo.state.done && window.hemgpuDemo.state.predictionDraws >= 2 && !window.hemgpuDemo.state.busy', 'training done');
    const st = await trained.inPage<{
      history: { loss: number[]; val: { step: number; miou: number }[] };
      step: number;
      adapter: string;
      imagesPerSecond: number;
      errors: string[];
    }>('window.hemgpuDemo.state');
    console.log(`page: ${st.step} steps on ${st.adapter}, ${st.imagesPerSecond.toFixed(2)} images/s; loss ${st.history.loss.map((l) => l.toFixed(3)).join(' ')}`);
    expect(st.errors, trained.logText()).toEqual([]);
    expect(st.step).toBe(SMALL.steps);
    const loss = st.history.loss;
    expect(loss).toHaveLength(SMALL.steps);
    expect(loss.every(Number.isFinite)).toBe(true);
    const head = (loss[0]! + loss[1]! + loss[2]!) / 3;
    const tail = (loss.at(-1)! + loss.at(-2)! + loss.at(-3)!) / 3;
    expect(tail, `loss ${loss.join(', ')}`).toBeLessThan(head * 0.9);
    expect(st.history.val.map((v) => v.step)).toEqual([4, 8]);
    expect(st.imagesPerSecond).toBeGreaterThan(0);
    // The page shows the numbers.
    expect(await trained.page.textContent('#step')).toBe(`${SMALL.steps} / ${SMALL.steps}`);
    expect(await trained.page.textContent('#adapter')).toMatch(/SwiftShader|swiftshader/i);

    // The attention canvas holds a picture: pixel variance well above a blank or flat canvas's.
    const pixels = await trained.inPage<{ w: number; h: number; variance: number; distinct: number }>(`(() => {
      const c = document.getElementById('attention');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let s = 0, s2 = 0, n = 0; const seen = new Set();
      for (let i = 0; i < d.length; i += 4) { const v = d[i] + d[i + 1] + d[i + 2]; s += v; s2 += v * v; n++; seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]); }
      return { w: c.width, h: c.height, variance: n ? s2 / n - (s / n) ** 2 : 0, distinct: seen.size };
    })()`);
    expect(pixels.w * pixels.h).toBeGreaterThan(10_000);
    expect(pixels.variance).toBeGreaterThan(1000);
    expect(pixels.distinct).toBeGreaterThan(50);

    // The charts (drawn from bitmaps rendered in charts-worker.js) are on the page, with their titles.
    await until(trained, "['loss-chart', 'miou-chart', 'flow-chart'].every((id) => document.querySelector(`#${id} canvas`))", 'charts drawn', 30_000);
    const charts = await trained.inPage<{ label: string | null; w: number; h: number }[]>(
      "['loss-chart', 'miou-chart', 'flow-chart'].map((id) => { const c = document.querySelector(`#${id} canvas`); return { label: c.getAttribute('aria-label'), w: c.width, h: c.height }; })",
    );
    expect(charts.map((c) => c.label)).toEqual(['training loss (10-step moving average)', 'validation mIoU', 'mean |∂E/∂X| per iteration: N-step solid, E-step dashed']);
    for (const c of charts) expect(c.w * c.h).toBeGreaterThan(100_000);

    // The EM diagnostics panel: the figures of the last validation, each explained, in range; their history.
    const panel = await emPanel(trained);
    expect(panel.steps).toEqual([4, 8]);
    const { bases: K, iterations: T } = demoConfig();
    expect(panel.note).toContain(`step ${SMALL.steps}: ${SMALL.valScenes} validation scenes, T ${T}, K ${K}`);
    expect(panel.figures.map((f) => f.id)).toEqual(['gamma', 'rho', 'norms', 'residual', 'cosine']);
    for (const f of panel.figures) {
      expect(f.explain.length, f.id).toBeGreaterThan(40);
      expect(f.title).toBe(f.explain);
    }
    console.log(`page: EM diagnostics at step ${SMALL.steps}: ${panel.figures.map((f) => f.text).join(', ')}`);
    const [gamma, uniform] = reading(panel, 'gamma', /^max_k γ (\d\.\d{3}) \(uniform (\d\.\d{3})\)$/);
    expect(uniform).toBe(Number((1 / K).toFixed(3)));
    expect(gamma).toBeGreaterThanOrEqual(1 / K - 5e-4);
    expect(gamma).toBeLessThanOrEqual(1);
    const [rho] = reading(panel, 'rho', /^ρ (\d+\.\d{2})$/);
    expect(rho).toBeGreaterThan(0);
    const [mu0, xbar] = reading(panel, 'norms', /^\|μ⁽⁰⁾\| (\d+\.\d{2}) vs \|x̄\| (\d+\.\d{2})$/);
    expect(mu0).toBeGreaterThan(0);
    expect(xbar).toBeGreaterThan(0);
    const [residual] = reading(panel, 'residual', /^residual (\d+\.\d{3}) \(1 = pooling\)$/);
    expect(residual).toBeGreaterThan(0);
    expect(residual).toBeLessThan(1.5);
    const [cosine] = reading(panel, 'cosine', /^cosine (-?\d\.\d{3})$/);
    expect(Math.abs(cosine)).toBeLessThanOrEqual(1);
    // What the page shows is the worker's last evaluation, rounded.
    const last = panel.em.at(-1)!;
    expect(last.maxGamma.toFixed(3)).toBe(gamma!.toFixed(3));
    expect(last.residual.toFixed(3)).toBe(residual!.toFixed(3));
    for (const e of panel.em) {
      expect(e.bases).toBe(K);
      expect(e.maxGamma).toBeGreaterThanOrEqual(1 / K - 1e-6);
      expect(e.maxGamma).toBeLessThanOrEqual(1 + 1e-6);
    }
    await until(trained, "document.querySelector('#em-chart canvas')", 'the EM history chart drawn', 30_000);
    expect(await trained.inPage<string>("document.querySelector('#em-chart canvas').getAttribute('aria-label')")).toBe('EM unit per validation: mean max_k γ and centred residual');

    // No main-thread task of 200 ms or more from the page's start (import included) to now.
    const long = await trained.inPage<{ start: number; duration: number }[]>('window.__longTasks');
    console.log(`page: long tasks (> 50 ms) on the main thread: ${long.map((t) => `${t.duration.toFixed(0)} ms`).join(', ') || 'none'}`);
    const measures = await trained.inPage<string[]>("performance.getEntriesByType('measure').map((m) => `${m.name} ${m.duration.toFixed(0)} ms @${m.startTime.toFixed(0)}`)");
    expect(
      long.filter((t) => t.duration >= 200),
      `main-thread tasks ≥ 200 ms; the charts' phases: ${measures.join(', ')}`,
    ).toEqual([]);
  }, 300_000);

  it('saves weights as .safetensors that the CLI resumes and that load back and save again bit-exactly', async () => {
    const p = trained!;
    const [first] = await Promise.all([p.page.waitForEvent('download'), p.page.click('#save')]);
    expect(first.suggestedFilename()).toBe(`hemgpu-hemnet-step${SMALL.steps}.safetensors`);
    const a = readFileSync((await first.path())!);
    // What the page saved is a checkpoint Node reads: the run's step, config and history.
    const w = readWeights(new Uint8Array(a), 'page download');
    expect(w.step).toBe(SMALL.steps);
    expect(w.config.model).toBe('hemnet');
    expect(w.history.loss).toHaveLength(SMALL.steps);
    // And the CLI continues it: `hemgpu train --resume` from the page's download, 2 more steps.
    const file = join(tmp, 'from-page.safetensors');
    writeFileSync(file, a);
    const more = join(tmp, 'resumed');
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'bin/hemgpu.mjs'), 'train', '--resume', file, '--steps', String(SMALL.steps + 2), '--allow-change', 'steps', '--out', more, '--quiet'],
      { cwd: ROOT, encoding: 'utf8', timeout: 180_000 },
    );
    expect(r.status, `hemgpu train --resume: ${r.stdout}\n${r.stderr}`).toBe(0);
    const resumed = readWeights(new Uint8Array(readFileSync(join(more, 'checkpoint.safetensors'))), 'resumed');
    expect(resumed.step).toBe(SMALL.steps + 2);
    expect(resumed.history.loss.slice(0, SMALL.steps)).toEqual(w.history.loss);

    await p.page.setInputFiles('#load', { name: 'roundtrip.safetensors', mimeType: 'application/octet-stream', buffer: a });
    await until(p, "window.hemgpuDemo.state.loaded === 'roundtrip.safetensors' && !window.hemgpuDemo.state.busy", 'weights loaded');
    const [second] = await Promise.all([p.page.waitForEvent('download'), p.page.click('#save')]);
    const b = readFileSync((await second.path())!);
    expect(b.length).toBe(a.length);
    expect(Buffer.compare(a, b), 'the second download differs from the first').toBe(0);
    expect(await pageErrors(p)).toEqual([]);

    // A corrupt file is refused on the page, naming the file; the page keeps working.
    const corrupt = Buffer.from(a);
    corrupt[corrupt.length - 5] = corrupt[corrupt.length - 5]! ^ 0xff;
    await p.page.setInputFiles('#load', { name: 'corrupt.safetensors', mimeType: 'application/octet-stream', buffer: corrupt });
    await until(p, 'window.hemgpuDemo.state.errors.length > 0', 'the corrupt file refused');
    const errors = await pageErrors(p);
    expect(errors.join('\n')).toMatch(/corrupt\.safetensors/);
    expect(await p.page.textContent('#errors')).toMatch(/corrupt\.safetensors/);
  }, 180_000);

  it('opens a checkpoint written by the Node CLI and gives the same validation output as Node', async () => {
    const out = join(tmp, 'cli-run');
    // Trained with SGD at lr 0.02, not the page's recipe (AdamW at 0.01): the page must describe the checkpoint's run.
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/hemgpu.mjs'), 'train', ...cliFlags(out, { optimizer: 'sgd', lr: '0.02' })], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 180_000,
    });
    expect(r.status, `hemgpu train: ${r.stdout}\n${r.stderr}`).toBe(0);
    const bytes = readFileSync(join(out, 'checkpoint.safetensors'));

    // Node: the checkpoint's run rebuilt, its first validation scenes' logits at T (eval) = T (train).
    await init();
    const loaded = readWeights(new Uint8Array(bytes), 'checkpoint.safetensors');
    const run = new TrainingRun(loaded.config, digitSceneData(loaded.config));
    run.resume(loaded);
    const n = 2;
    const { x } = gatherBatch(run.val, [0, 1]);
    run.model.eval();
    const t = tidy(() => noGrad(() => run.model.forward(tensor(x, [n, run.val.height, run.val.width, run.val.channels]), { iterations: loaded.config.iterations })));
    const want = await t.read();
    t.dispose();
    const wantEval = await run.evaluate({ iterations: loaded.config.iterations });
    run.dispose();

    const p = await openPage(browser!, `${server!.origin}/?model=plain&steps=1&trainScenes=4&valScenes=2`);
    await until(p, 'window.hemgpuDemo.state.ready && !window.hemgpuDemo.state.busy', 'page ready');
    await p.page.setInputFiles('#load', { name: 'checkpoint.safetensors', mimeType: 'application/octet-stream', buffer: bytes });
    await until(p, "window.hemgpuDemo.state.loaded === 'checkpoint.safetensors' && !window.hemgpuDemo.state.busy", 'CLI checkpoint loaded');
    const got = await p.inPage<{ logits: number[]; shape: number[]; miou: number; pixelAccuracy: number }>(
      'window.hemgpuDemo.probe(2).then((r) => ({ ...r, logits: Array.from(r.logits) }))',
    );
    expect(await pageErrors(p)).toEqual([]);
    expect(got.shape).toEqual([n, run.val.height, run.val.width, run.val.classes]);
    expect(got.logits).toHaveLength(want.length);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got.logits[i]! - want[i]!));
    console.log(`CLI checkpoint in the page: max |Δ logit| = ${worst.toExponential(2)} over ${want.length} logits; mIoU ${got.miou} (Node ${wantEval.miou})`);
    expect(worst).toBeLessThanOrEqual(1e-5);
    expect(Math.abs(got.miou - wantEval.miou)).toBeLessThanOrEqual(1e-5);
    expect(Math.abs(got.pixelAccuracy - wantEval.pixelAccuracy)).toBeLessThanOrEqual(1e-5);
    // The EM diagnostics the page shows for the checkpoint are Node's.
    const panel = await emPanel(p);
    expect(panel.steps).toEqual([4]);
    const pe = panel.em[0]!;
    const ne = wantEval.em!;
    expect([pe.bases, pe.scenes, pe.iterations]).toEqual([ne.bases, ne.scenes, ne.iterations]);
    for (const k of ['maxGamma', 'rho', 'mu0Norm', 'meanNorm', 'residual', 'cosine'] as const) {
      expect(Math.abs(pe[k] - ne[k]), `${k}: page ${pe[k]}, Node ${ne[k]}`).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(ne[k])));
    }
    expect(await p.page.textContent('#em-gamma')).toBe(`max_k γ ${ne.maxGamma.toFixed(3)} (uniform ${(1 / ne.bases).toFixed(3)})`);
    // The page shows the checkpoint's run: its model, step and settings, from its own config.
    expect(await p.page.textContent('#step')).toBe('4 / 4');
    expect(await p.page.isChecked('input[name=model][value=hemnet]')).toBe(true);
    const summary = (await p.page.textContent('#origin')) ?? '';
    expect(summary).toContain('weights from checkpoint.safetensors: hemnet, K 16, T 3, η 0.5; context task');
    expect(summary).toContain('SGD (momentum 0.9) lr 0.02');
    expect(summary).not.toContain('AdamW');

    // K re-entered unchanged changes nothing; a new K asks before it discards the loaded weights.
    const setK = async (v: string): Promise<void> => {
      await p.page.fill('#bases', v);
      await p.page.dispatchEvent('#bases', 'change');
    };
    await setK('16');
    await p.page.waitForTimeout(300);
    expect(await p.page.isHidden('#confirm')).toBe(true);
    expect(await p.inPage<string>('window.hemgpuDemo.state.origin')).toBe('checkpoint.safetensors');
    await setK('8');
    await until(p, "!document.getElementById('confirm').hidden", 'the rebuild asks first', 10_000);
    expect(await p.page.textContent('#confirm-text')).toBe('K 16 → 8 rebuilds the model and discards the weights loaded from checkpoint.safetensors.');
    await p.page.click('#confirm-no');
    expect(await p.page.inputValue('#bases')).toBe('16');
    expect(await p.inPage<number>('window.hemgpuDemo.state.step')).toBe(4);
    await setK('8');
    await p.page.click('#confirm-yes');
    await until(p, "window.hemgpuDemo.state.origin === 'fresh' && window.hemgpuDemo.state.config.bases === 8 && !window.hemgpuDemo.state.busy", 'rebuilt with K 8', 60_000);
    expect(await p.inPage<number>('window.hemgpuDemo.state.step')).toBe(0);
    expect(await p.page.textContent('#state')).toBe('ready: press Start');
    expect(await pageErrors(p)).toEqual([]);
    await p.page.close();
  }, 300_000);

  it('at 390 px, then resized to 1280 px: no sideways scrolling, chart text ≥ 10 CSS px, start-up progress, inline validation', async () => {
    const context = await browser!.newContext({ viewport: { width: 390, height: 900 }, deviceScaleFactor: 2 });
    const page = await context.newPage();
    await page.goto(`${server!.origin}/?model=hemnet&${SMALL_QUERY}&evalEvery=4&figureEvery=4&autostart=1`);
    // Before it is ready, the controls show the run it will start (the demo's recipe): K 16, T 3, η 0.5.
    expect([await page.inputValue('#bases'), await page.inputValue('#t-train'), await page.inputValue('#eta')]).toEqual(['16', '3', '0.5']);
    expect(await page.evaluate('window.hemgpuDemo.state.ready')).toBe(false);
    // The start-up's stages, as the page shows them, until it is ready.
    const seen: string[] = [];
    for (let i = 0; i < 900 && !(await page.evaluate('window.hemgpuDemo?.state.ready === true')); i++) {
      const s = await page.evaluate<string>("document.getElementById('progress').hidden ? '' : document.getElementById('progress-text').textContent");
      if (s && seen.at(-1) !== s) seen.push(s);
      await page.waitForTimeout(100);
    }
    expect(seen.join(' / ')).toMatch(/compiling the kernels \(2 of 4\)/);
    expect(seen.join(' / ')).toMatch(/building the model and drawing the first figures \(4 of 4\)/);
    expect(await page.isHidden('#progress')).toBe(true);
    // A cold load (a new browser context: nothing cached) without a main-thread task over 100 ms until ready.
    const cold = await page.evaluate<{ start: number; duration: number }[]>('window.__longTasks.filter((t) => t.start < window.hemgpuDemo.state.readyAt)');
    console.log(`page at 390 px: cold load, main-thread tasks over 50 ms until ready: ${cold.map((t) => `${t.duration.toFixed(0)} ms`).join(', ') || 'none'}`);
    expect(cold.filter((t) => t.duration > 100)).toEqual([]);
    // The mIoU chart says in words what one validation gives, until the second.
    await page.waitForFunction('window.hemgpuDemo.state.history.val.length === 1', undefined, { timeout: 150_000, polling: 50 });
    expect(await page.textContent('#miou-chart')).toMatch(/^one validation so far: mIoU \d\.\d{4} at step 4; the curve starts at the next$/);
    await page.waitForFunction('window.hemgpuDemo.state.done && !window.hemgpuDemo.state.busy && window.hemgpuDemo.state.predictionDraws >= 2', undefined, { timeout: 150_000 });
    await page.waitForFunction("['loss-chart', 'miou-chart', 'flow-chart', 'em-chart'].every((id) => document.querySelector(`#${id} canvas`))", undefined, { timeout: 30_000 });
    /** The layout at the viewport's width: no overflow, each chart laid out at the width shown and drawn at the density, its text ≥ 10 CSS px. */
    const checkLayout = async (width: number): Promise<number[]> => {
      // Each chart redrawn for this width (the ResizeObserver's redraw after a resize).
      await page.waitForFunction(
        "[...document.querySelectorAll('.chart canvas')].length === 4 && [...document.querySelectorAll('.chart canvas')].every((c) => Math.abs(c.getBoundingClientRect().width - Number(c.dataset.layoutWidth)) <= 1)",
        undefined,
        { timeout: 30_000 },
      );
      const l = await page.evaluate<{ scrollWidth: number; innerWidth: number; charts: { id: string; shown: number; laidOut: number; font: number; px: number }[] }>(`(() => ({
          scrollWidth: document.documentElement.scrollWidth,
          innerWidth,
          charts: [...document.querySelectorAll('.chart canvas')].map((c) => ({
            id: c.parentElement.id, shown: c.getBoundingClientRect().width, laidOut: Number(c.dataset.layoutWidth), font: Number(c.dataset.minFontPx), px: c.width,
          })),
        }))()`);
      expect(l.innerWidth).toBe(width);
      expect(l.scrollWidth, `horizontal overflow at ${width} px`).toBeLessThanOrEqual(l.innerWidth);
      expect(l.charts).toHaveLength(4);
      for (const c of l.charts) {
        // Drawn at the width shown, at the screen's density; its smallest text on screen.
        expect(Math.abs(c.shown - c.laidOut), c.id).toBeLessThanOrEqual(1);
        expect(c.px, c.id).toBe(2 * c.laidOut);
        expect(c.font * (c.shown / c.laidOut), `${c.id} at ${width} px: smallest chart text in CSS px`).toBeGreaterThanOrEqual(10);
      }
      await page.screenshot({ path: join(ROOT, `.cache/web-demo-${width}.png`) });
      return l.charts.map((c) => c.laidOut);
    };
    const narrow = await checkLayout(390);
    // Resized to a desktop's width: the charts are laid out again at their new, wider containers.
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.waitForFunction("[...document.querySelectorAll('.chart canvas')].every((c) => Number(c.dataset.layoutWidth) > 500)", undefined, { timeout: 30_000 });
    const wide = await checkLayout(1280);
    for (const [i, w] of wide.entries()) expect(w, 'a chart laid out anew after the resize').toBeGreaterThan(narrow[i]! + 100);
    // Inline validation: each EM control names its range under it, and the message goes with the cause.
    for (const [id, bad, msg] of [
      ['eta', '7', 'η must be a number > 0 and ≤ 1'],
      ['bases', '0', 'K must be an integer ≥ 1 and ≤ 512'],
      ['t-eval', '2.5', 'T (eval) must be an integer ≥ 1 and ≤ 20'],
    ] as const) {
      const before = await page.inputValue(`#${id}`);
      await page.fill(`#${id}`, bad);
      await page.dispatchEvent(`#${id}`, 'input');
      expect(await page.textContent(`#${id}-error`)).toBe(msg);
      expect(await page.getAttribute(`#${id}`, 'aria-invalid')).toBe('true');
      await page.fill(`#${id}`, before);
      await page.dispatchEvent(`#${id}`, 'input');
      expect(await page.textContent(`#${id}-error`)).toBe('');
    }
    expect(await page.evaluate('window.hemgpuDemo.state.config.bases')).toBe(16);
    // The responsibility maps' colour scale is drawn under them.
    expect(await page.isVisible('#attention-scale-row')).toBe(true);
    expect(await page.evaluate('document.getElementById("attention-scale").width')).toBe(128);
    const [lo, hi] = [Number(await page.textContent('#recon-lo')), Number(await page.textContent('#recon-hi'))];
    expect(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi, `recon range ${lo} … ${hi}`).toBe(true);
    // The scene is drawn once: the first cell of the second row is blank, the first row's is not.
    const map = (demoConfig().size / 4) * Math.round(96 / (demoConfig().size / 4));
    const white = async (y: number): Promise<boolean> =>
      page.evaluate<boolean>(`[...document.getElementById('attention').getContext('2d').getImageData(${map / 2}, ${y}, 4, 4).data].every((v) => v === 255)`);
    expect(await white(16 + map / 2), 'the scene in the first row').toBe(false);
    const blank = await white(map + 16 + 6 + 16 + map / 2);
    expect(blank).toBe(true);
    // The explanations and links are there; the page asks for no missing file (a favicon included).
    expect(await page.locator('details.explain').count()).toBeGreaterThanOrEqual(3);
    expect(await page.getAttribute('a[href^="https://arxiv.org/"]', 'href')).toBe('https://arxiv.org/abs/2012.04926');
    for (const href of ['./README.md', './main.ts']) expect((await page.request.get(new URL(href, server!.origin + '/').href)).status(), href).toBe(200);
    expect(await page.getAttribute('link[rel=icon]', 'href')).toMatch(/^data:image\/svg\+xml/);
    {
      // An error goes once its cause has: a corrupt file is refused, then a successful reset clears the message.
      await page.setInputFiles('#load', { name: 'corrupt.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('not a checkpoint at all') });
      await page.waitForFunction('window.hemgpuDemo.state.errors.length > 0 && !window.hemgpuDemo.state.busy', undefined, { timeout: 30_000 });
      expect(await page.textContent('#errors')).toContain('corrupt.safetensors');
      expect(await page.evaluate('window.hemgpuDemo.state.step')).toBe(SMALL.steps); // the run is left as it was
      await page.click('#reset');
      await page.waitForFunction('window.hemgpuDemo.state.ready && window.hemgpuDemo.state.step === 0 && !window.hemgpuDemo.state.busy', undefined, { timeout: 60_000 });
      expect(await page.evaluate('window.hemgpuDemo.state.errors')).toEqual([]);
      expect(await page.textContent('#errors')).toBe('');
      expect(await page.textContent('#state')).toBe('ready: press Start');
    }
    await context.close();
  }, 300_000);

  it('pooling (K = 1) trains with its figures and reads as pooling (max_k γ 1, residual 1); plain has no EM unit', async () => {
    const p = await openPage(browser!, `${server!.origin}/?model=pooling&steps=4&trainScenes=8&valScenes=4&batch=4&lr=0.01&warmup=0&evalEvery=2&figureEvery=2&autostart=1`);
    await until(p, 'window.hemgpuDemo.state.done && window.hemgpuDemo.state.predictionDraws >= 2 && !window.hemgpuDemo.state.busy', 'pooling trained');
    expect(await pageErrors(p), p.logText()).toEqual([]);
    const panel = await emPanel(p);
    console.log(`page: pooling's EM diagnostics at step 4: ${panel.figures.map((f) => f.text).join(', ')}`);
    expect(panel.steps).toEqual([2, 4]);
    expect(panel.note).toContain('step 4: 4 validation scenes, T 3, K 1');
    expect(await p.page.textContent('#em-gamma')).toBe('max_k γ 1.000 (uniform 1.000)');
    const [residual] = reading(panel, 'residual', /^residual (\d+\.\d{3}) \(1 = pooling\)$/);
    expect(Math.abs(residual! - 1)).toBeLessThanOrEqual(2e-3);
    expect(await p.page.textContent('#em-cosine')).toBe('cosine – (one base)');
    expect(panel.figures.find((f) => f.id === 'gamma')!.explain).toContain('K = 1');
    for (const e of panel.em) {
      expect(e.bases).toBe(1);
      expect(Math.abs(e.maxGamma - 1)).toBeLessThanOrEqual(1e-6);
      expect(Math.abs(e.residual - 1)).toBeLessThanOrEqual(2e-3);
    }
    // K shows the model's one base and cannot be changed; the run's line says K 1.
    expect(await p.page.inputValue('#bases')).toBe('1');
    expect(await p.page.isDisabled('#bases')).toBe(true);
    expect(await p.page.textContent('#origin')).toContain('pooling, K 1,');
    // The attention maps: input, the one base's γ and the reconstruction per iteration, γ = 1 drawn
    // at the colour map's top (viridis' yellow), not at its bottom as a flat map on its own range.
    expect(await p.page.textContent('#attention-note')).toContain('γ·k of the one base (K = 1');
    // Each map is the feature map (output stride 4) drawn at whole pixels per cell, about 96 px wide.
    const cells = demoConfig().size / 4;
    const map = cells * Math.round(96 / cells);
    const attn = await p.inPage<{ w: number; h: number; gamma: number[] }>(`(() => {
      const c = document.getElementById('attention');
      const px = c.getContext('2d').getImageData(${map} + 6 + ${map / 2}, 16 + ${map / 2}, 1, 1).data;
      return { w: c.width, h: c.height, gamma: [px[0], px[1], px[2]] };
    })()`);
    expect(attn.w, `three columns of ${map} px maps and two 6 px gaps`).toBe(3 * map + 2 * 6);
    expect(attn.h, 'three rows (T 3) of maps with their 16 px titles').toBe(3 * (map + 16) + 2 * 6);
    expect(attn.gamma).toEqual([253, 231, 37]);
    // The gradient flow is drawn, its note saying why the E-step lines lie at the floor.
    await until(p, "document.querySelector('#flow-chart canvas') && document.querySelector('#em-chart canvas')", 'flow and EM charts drawn', 30_000);
    expect(await p.page.textContent('#flow-note')).toContain('K = 1: γ = 1 whatever the features, so the E-step sends no gradient');

    // plain, trained with a validation: the panel says there is no EM unit and shows no figures.
    // The switch discards the trained steps, so the page asks first.
    const trainedSteps = await p.inPage<number>('window.hemgpuDemo.state.step');
    await p.page.check('input[name=model][value=plain]');
    await until(p, "!document.getElementById('confirm').hidden", 'the switch asks first', 10_000);
    expect(await p.page.textContent('#confirm-text')).toBe(`model pooling → plain rebuilds the model and discards the ${trainedSteps} trained steps.`);
    await p.page.click('#confirm-yes');
    await until(
      p,
      "window.hemgpuDemo.state.ready && !window.hemgpuDemo.state.busy && window.hemgpuDemo.state.model === 'plain' && window.hemgpuDemo.state.step === 0",
      'plain rebuilt',
    );
    await p.page.click('#start');
    await until(p, 'window.hemgpuDemo.state.done && !window.hemgpuDemo.state.busy', 'plain trained');
    expect(await pageErrors(p), p.logText()).toEqual([]);
    expect((await p.inPage<{ step: number }[]>('window.hemgpuDemo.state.history.val')).map((v) => v.step)).toEqual([2, 4]);
    const plain = await emPanel(p);
    expect(plain.note).toBe('plain has no EM unit: there are no responsibilities or bases to diagnose.');
    expect(plain.figures).toEqual([]);
    expect(plain.steps).toEqual([]);
    expect(await p.page.textContent('#em-chart')).toBe('no EM unit');
    // Said once for each figure: the flow chart's placeholder, not a note above it as well.
    expect(await p.page.textContent('#flow-chart')).toBe('plain has no EM unit: no gradient flow.');
    expect(await p.page.textContent('#flow-note')).toBe('');
    expect(await p.page.isDisabled('#bases')).toBe(false);
    await p.page.close();
  }, 300_000);

  it('fills the fused-vs-unfused table with rows verified before timing', async () => {
    const p = await openPage(browser!, `${server!.origin}/?model=plain&steps=1&trainScenes=4&valScenes=2&benchN=256,1024`);
    await until(p, 'window.hemgpuDemo.state.ready && !window.hemgpuDemo.state.busy', 'page ready');
    await p.page.click('#bench');
    await until(p, 'window.hemgpuDemo.state.benchDone', 'benchmark done');
    const rows = await p.inPage<{ shape: string; pass: string; fusedMs: number; unfusedMs: number; maxError: number; verified: boolean }[]>('window.hemgpuDemo.state.benchRows');
    expect(rows.map((r) => `${r.shape} ${r.pass}`)).toEqual([
      'B1 N256 C64 K64 T3 forward',
      'B1 N256 C64 K64 T3 forward+backward',
      'B1 N1024 C64 K64 T3 forward',
      'B1 N1024 C64 K64 T3 forward+backward',
    ]);
    for (const r of rows) {
      expect(r.verified, JSON.stringify(r)).toBe(true);
      expect(r.maxError).toBeLessThan(1e-4);
      expect(r.fusedMs).toBeGreaterThan(0);
      expect(r.unfusedMs).toBeGreaterThan(0);
    }
    expect(await p.page.locator('#bench-table tbody tr').count()).toBe(4);
    expect(await p.page.textContent('#bench-adapter')).toMatch(/SwiftShader/i);
    expect(await pageErrors(p)).toEqual([]);
    await p.page.close();
  }, 180_000);

  it('without a WebGPU adapter: the error says how to get one, and no state stays pending', async () => {
    // Chromium without its WebGPU flags: navigator.gpu is there, but no adapter.
    const plain = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless=new', '--no-sandbox', '--disable-gpu'] });
    try {
      const p = await openPage(plain, `${server!.origin}/`);
      await until(p, 'window.hemgpuDemo && window.hemgpuDemo.state.errors.length > 0', 'the start-up error', 60_000);
      expect((await p.page.textContent('#errors')) ?? '').toContain('--enable-unsafe-webgpu');
      expect(await p.page.textContent('#adapter')).toBe('unavailable (see the error above)');
      expect(await p.page.textContent('#state')).toBe('stopped: the start-up failed (see the error above); reload the page to try again');
      expect(await p.page.textContent('#progress-text')).toBe('the start-up failed at: starting WebGPU');
      for (const id of ['#start', '#reset', '#save', '#bench', '#load']) expect(await p.page.isDisabled(id), id).toBe(true);
    } finally {
      await plain.close();
    }
  }, 90_000);

  it('shows bad URL parameters as errors and starts nothing', async () => {
    const p = await openPage(browser!, `${server!.origin}/?model=resnet&steps=-3&eta=2&colour=red`);
    await until(p, 'window.hemgpuDemo && window.hemgpuDemo.state.errors.length > 0', 'errors shown');
    const text = (await p.page.textContent('#errors')) ?? '';
    expect(text).toContain('model=resnet: choose one of hemnet, emanet, pooling, plain');
    expect(text).toContain('steps=-3: must be an integer ≥ 1 and ≤ 1000000');
    expect(text).toContain('eta=2: must be a number > 0 and ≤ 1');
    expect(text).toContain("unknown URL parameter 'colour'");
    expect(await p.page.isDisabled('#start')).toBe(true);
    expect(await p.inPage<boolean>('window.hemgpuDemo.state.ready')).toBe(false);
    // Nothing looks usable or pending: the state, the adapter and the file input say so.
    expect(await p.page.textContent('#state')).toBe('stopped: bad URL parameters');
    expect(await p.page.textContent('#adapter')).toBe('not started (fix the URL parameters above)');
    expect(await p.page.isDisabled('#load')).toBe(true);
    await p.page.close();
  }, 60_000);
});
