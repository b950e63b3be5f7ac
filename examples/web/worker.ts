/**
 * The demo's Web Worker: all the engine work happens here, so the page stays responsive. It
 * initialises WebGPU, decodes the digit asset (digits.bin beside the page) into digit scenes,
 * trains with the CLI's recipe (demoConfig + TrainingRun: the code `hemgpu demo` runs), evaluates,
 * computes the figures' data, runs the fused-vs-unfused benchmark and saves/loads weights.
 * One job at a time: a training step, a redraw, the benchmark and a load never interleave.
 */
import {
  adapterInfo,
  attentionMaps,
  decodeDigits,
  demoConfig,
  DEMO_FIGURES,
  digitSceneData,
  gradientFlow,
  init,
  warmup,
  noGrad,
  predictScenes,
  readWeights,
  tensor,
  tidy,
  gatherBatch,
  heatmapRasters,
  segmentationPanels,
  TrainingRun,
  TRAIN_SETTINGS,
  type DigitSource,
  type TrainConfig,
} from '../../src/index.browser.ts';
import { hemBenchmark } from './bench.ts';
import { URL_SETTINGS, type PageParams } from './params.ts';
import { adapterLabel, type FromWorker, type RasterGrid, type RunInfo, type ToWorker } from './protocol.ts';

/** Validation scenes shown as predicted vs true. */
const SAMPLE_SCENES = 3;
/**
 * Pixels per value of an attention map and per pixel of a scene: whole pixels that draw a map
 * about 96 px wide and a scene about 128 px (a 16×16 map at 6, an 8×8 one at 12; a 64-px scene
 * at 2, a 32-px one at 4), so the 32-px demo scenes are as legible as the 64-px ones.
 */
const ATTENTION_MAP_PX = 96;
const SCENE_IMAGE_PX = 128;
const pixelsPer = (cells: number, target: number): number => Math.max(1, Math.round(target / cells));
const hex = (c: readonly number[]): string => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;

/** The start-up's stages (the page's progress bar). */
const STARTUP_STAGES = 4;

const post = (msg: FromWorker, transfer: Transferable[] = []): void => (self as unknown as Worker).postMessage(msg, transfer);

let digits: DigitSource | null = null;
let params: PageParams | null = null;
let run: TrainingRun | null = null;
let origin = 'fresh';
/** The attention maps' η and T (eval): the page's controls (the run's own once there is one). */
const view = { eta: TRAIN_SETTINGS.eta.default, evalIterations: TRAIN_SETTINGS.iterations.default };
let running = false;
/** Training time of the steps since the last (re)start, the first step after it left out (it compiles pipelines). */
let timing = { steps: 0, ms: 0, first: true };

// One job at a time, in arrival order.
let queue: Promise<unknown> = Promise.resolve();
function exclusive<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const p = queue.then(async () => {
    post({ type: 'busy', what });
    try {
      return await fn();
    } finally {
      post({ type: 'busy', what: null });
    }
  });
  queue = p.catch(() => undefined);
  return p;
}

function fail(context: string, err: unknown): void {
  post({ type: 'error', context, message: err instanceof Error ? err.message : String(err) });
}

/** The page's parameters over the demo's recipe. */
function configOf(p: PageParams, changes: Partial<TrainConfig> = {}): TrainConfig {
  const o: Partial<TrainConfig> = { model: p.model };
  for (const k of URL_SETTINGS) {
    if (p[k] !== undefined) o[k] = p[k];
  }
  return demoConfig({ ...o, ...changes });
}

async function loadDigits(): Promise<DigitSource> {
  const res = await fetch(new URL('digits.bin', self.location.href));
  if (!res.ok) throw new Error(`digits.bin: HTTP ${res.status} (the page's folder must hold dist/digits.bin; npm run web copies it).`);
  return decodeDigits(new Uint8Array(await res.arrayBuffer()));
}

function info(): RunInfo {
  const h = run!.history;
  return { config: run!.config, step: run!.completed, history: { loss: [...h.loss], lr: [...h.lr], val: h.val.map((v) => ({ ...v })) }, origin, emBases: emBases(run!) };
}

/** The model's EM bases K (the layer's, so 'pooling' reads 1), or null for plain. */
function emBases(r: TrainingRun): number | null {
  return r.model.em ? r.model.em.em.mu0.shape[0]! : null;
}

/** A new run of `config` on its digit scenes (the previous one disposed). */
function newRun(config: TrainConfig): void {
  running = false;
  run?.dispose();
  run = null;
  const data = digitSceneData(config, digits!);
  run = new TrainingRun(config, data);
  timing = { steps: 0, ms: 0, first: true };
}

function announce(): void {
  post({ type: 'ready', adapter: adapterInfo(), run: info(), eta: view.eta, evalIterations: view.evalIterations });
  post({ type: 'running', running, done: run!.completed >= run!.config.steps });
}

const buffers = (g: RasterGrid): ArrayBuffer[] => g.cells.map((c) => c.raster.data.buffer as ArrayBuffer);

async function drawAttention(): Promise<void> {
  const r = run!;
  if (!r.model.em) {
    post({ type: 'attention', grid: null, note: `${r.config.model} has no EM unit: no attention maps.`, colorBar: null, reconRange: null });
    return;
  }
  const a = await attentionMaps(r.model, r.val, { iterations: view.evalIterations, eta: view.eta, scene: DEMO_FIGURES.attentionScene });
  const K = emBases(r)!;
  const shown = a.cols - 2;
  const layout = { rows: a.rows, cols: a.cols, width: a.width, height: a.height, titles: a.titles, scale: pixelsPer(a.width, ATTENTION_MAP_PX) };
  // Two colour scales, each drawn under the maps: the scene and the responsibility maps γ·k on
  // [0, 1]; the reconstructions (mean over channels, no fixed range) on one range shared by the
  // iterations, so that rows compare.
  const { rasters } = heatmapRasters(a.maps, { ...layout, range: [0, 1] });
  const recon = a.titles.flatMap((t, i) => (/ recon$/.test(t) ? [i] : []));
  const shared = heatmapRasters(
    recon.map((i) => a.maps[i]!),
    { rows: recon.length, cols: 1, width: a.width, height: a.height, range: 'all', scale: layout.scale },
  );
  recon.forEach((i, j) => (rasters[i] = shared.rasters[j]!));
  // The scene is the same in every row: shown once, in the first.
  a.titles.forEach((_, i) => {
    if (i >= a.cols && i % a.cols === 0) rasters[i] = { ...rasters[i]!, data: new Uint8Array(rasters[i]!.data.length).fill(255) };
  });
  const ramp = Float32Array.from({ length: 128 }, (_, i) => i / 127);
  const colorBar = heatmapRasters([ramp], { rows: 1, cols: 1, width: 128, height: 1, range: [0, 1], scale: 1 }).rasters[0]!;
  const grid: RasterGrid = { cells: rasters.map((raster, i) => ({ raster, title: a.titles[i] ?? '' })), cols: a.cols };
  const bases =
    K === 1
      ? 'γ·k of the one base (K = 1: γ = 1 at every pixel; the reconstruction is the same at every pixel)'
      : shown < K
        ? `γ·k of the ${shown} bases (of ${K}) with the most mass`
        : `γ·k of all ${K} bases`;
  post(
    {
      type: 'attention',
      grid,
      note: `validation scene 0 after each iteration t = 1…${view.evalIterations}: the scene, ${bases} and the reconstruction ("recon"), on the colour scales below (η ${view.eta}, step ${r.completed})`,
      colorBar,
      reconRange: shared.shared,
    },
    [...buffers(grid), colorBar.data.buffer as ArrayBuffer],
  );
}

async function drawFigures(): Promise<void> {
  const r = run!;
  await drawAttention();
  if (r.model.em) {
    const flow = await gradientFlow(r.model, r.val, { etas: DEMO_FIGURES.flowEtas, iterations: DEMO_FIGURES.flowIterations(r.config.iterations) });
    const note =
      emBases(r) === 1
        ? `validation scene 0, step ${r.completed}. K = 1: γ = 1 whatever the features, so the E-step sends no gradient: its dashed lines (and at η = 1 the N-steps before the last, which that step's average forgets) lie at the axis floor, 1e-12.`
        : `validation scene 0, step ${r.completed}`;
    post({ type: 'flow', data: flow, note });
  } else post({ type: 'flow', data: null, note: `${r.config.model} has no EM unit: no gradient flow.` });
  const idx = Array.from({ length: Math.min(SAMPLE_SCENES, r.val.count) }, (_, i) => i);
  const p = await predictScenes(r.model, r.val, idx);
  const seg = segmentationPanels(p.image, p.labels, p.pred, p.height, { scale: pixelsPer(p.height, SCENE_IMAGE_PX) });
  const grid: RasterGrid = { cells: seg.panels.map((c) => ({ raster: c.raster, title: c.title })), cols: seg.columns, legend: { names: seg.names, colors: seg.colors.map(hex) } };
  post(
    {
      type: 'predictions',
      grid,
      note: `validation scenes 0–${idx.length - 1} at step ${r.completed}; the % over each prediction is its pixel accuracy (the share of its labelled pixels classed right), not the mIoU above, which averages each class's overlap and weighs the small digit classes as much as the background`,
    },
    buffers(grid),
  );
}

/** Validate; `record` adds the mIoU to the run's history (as training does), else it is shown only (a loaded checkpoint's history stays as saved). */
async function evaluateNow(record = true): Promise<void> {
  const e = await run!.evaluate(record ? {} : { iterations: run!.config.iterations });
  post({ type: 'eval', step: run!.completed, miou: e.miou, pixelAccuracy: e.pixelAccuracy, em: e.em });
}

/** One training step with its bookkeeping; validation and figures when due. */
async function trainOne(): Promise<void> {
  const r = run!;
  const t0 = performance.now();
  const s = await r.step();
  const ms = performance.now() - t0;
  if (timing.first) timing.first = false;
  else {
    timing.steps++;
    timing.ms += ms;
  }
  const rate = timing.steps ? (timing.steps * r.config.batch) / (timing.ms / 1000) : 0;
  const left = r.config.steps - s.step;
  post({ type: 'step', step: s.step, total: r.config.steps, loss: s.loss, lr: s.lr, imagesPerSecond: rate, etaSeconds: rate ? (left * r.config.batch) / rate : NaN });
  const last = s.step >= r.config.steps;
  if (last || (r.config.evalEvery > 0 && s.step % r.config.evalEvery === 0)) await evaluateNow();
  if (last || s.step % params!.figureEvery === 0) await drawFigures();
}

async function trainLoop(): Promise<void> {
  post({ type: 'running', running: true, done: false });
  timing.first = true;
  try {
    while (running && run && run.completed < run.config.steps) await exclusive('training', trainOne);
  } catch (err) {
    fail('training', err);
  }
  running = false;
  if (run) post({ type: 'running', running: false, done: run.completed >= run.config.steps });
}

/** Logits of the first validation scenes at T (eval), and the evaluation (the tests compare them with Node's). */
async function probe(id: number, scenes: number): Promise<void> {
  const r = run!;
  const n = Math.min(scenes, r.val.count);
  const idx = Array.from({ length: n }, (_, i) => i);
  const { x } = gatherBatch(r.val, idx);
  const was = r.model.training;
  r.model.eval();
  const logits = tidy(() => noGrad(() => r.model.forward(tensor(x, [n, r.val.height, r.val.width, r.val.channels]), { iterations: view.evalIterations })));
  r.model.train(was);
  const host = await logits.read();
  const shape = [...logits.shape];
  logits.dispose();
  const e = await r.evaluate({ iterations: view.evalIterations });
  post({ type: 'probe', id, logits: host, shape, miou: e.miou, pixelAccuracy: e.pixelAccuracy, iou: e.iou }, [host.buffer]);
}

async function load(bytes: Uint8Array, name: string): Promise<void> {
  const loaded = readWeights(bytes, name);
  if (loaded.config.data !== 'digits') throw new Error(`${name}: a checkpoint trained on '${loaded.config.data}'; this page trains and evaluates digit scenes only.`);
  newRun(loaded.config);
  // Weights, buffers, optimizer state, step and history (loadWeights and the run's bookkeeping).
  run!.resume(loaded);
  origin = name;
  view.evalIterations = loaded.config.iterations;
  view.eta = loaded.config.eta;
  announce();
  await evaluateNow(false);
  await drawFigures();
  post({ type: 'loaded', name, step: run!.completed });
}

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'setup':
      params = msg.params;
      await exclusive('starting', async () => {
        const stage = (n: number, what: string): void => {
          post({ type: 'busy', what });
          post({ type: 'progress', stage: n, of: STARTUP_STAGES, what });
        };
        stage(1, 'starting WebGPU');
        await init();
        stage(2, 'compiling the kernels');
        await warmup();
        stage(3, 'loading the digits');
        digits = await loadDigits();
        stage(4, 'building the model and drawing the first figures');
        newRun(configOf(params!));
        view.eta = run!.config.eta;
        view.evalIterations = params!.evalIterations ?? run!.config.iterations;
        await drawFigures();
        announce();
      });
      if (params.autostart) {
        running = true;
        void trainLoop();
      }
      return;
    case 'start':
      if (!run || running || run.completed >= run.config.steps) return;
      running = true;
      void trainLoop();
      return;
    case 'pause':
      running = false;
      return;
    case 'reset':
      running = false;
      await exclusive('rebuilding the model', async () => {
        origin = 'fresh';
        newRun(configOf(params!, { ...paramsFrom(run!.config), ...msg.changes }));
        await drawFigures();
        announce();
      });
      return;
    case 'view':
      view.eta = msg.eta;
      view.evalIterations = msg.evalIterations;
      await exclusive('drawing attention maps', drawAttention);
      return;
    case 'benchmark': {
      const was = running;
      running = false;
      await exclusive('benchmark', async () => {
        await hemBenchmark(params!.benchN, (row) => post({ type: 'bench-row', row }));
        post({ type: 'bench-done', adapter: adapterLabel(adapterInfo()) });
      });
      if (was) {
        running = true;
        void trainLoop();
      }
      return;
    }
    case 'save':
      await exclusive('saving weights', async () => {
        const bytes = await run!.saveWeights();
        post({ type: 'saved', bytes, filename: `hemgpu-${run!.config.model}-step${run!.completed}.safetensors` }, [bytes.buffer]);
      });
      return;
    case 'load':
      running = false;
      await exclusive('loading weights', () => load(msg.bytes, msg.name));
      return;
    case 'probe':
      await exclusive('probe', () => probe(msg.id, msg.scenes));
      return;
  }
}

/** The model-shaping fields the current run has (so a reset keeps K and T the user chose). */
function paramsFrom(c: TrainConfig): Partial<TrainConfig> {
  return { model: c.model, bases: c.bases, iterations: c.iterations };
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  handle(e.data).catch((err) => fail(e.data.type, err));
};
