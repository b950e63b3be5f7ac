/**
 * The demo page's main thread: controls, numbers and drawing only. All engine work is in the
 * worker (worker.ts); this module imports only the library's chart specs (src/viz), so the page
 * loads without the engine and never blocks on it. `window.hemgpuDemo` exposes the page's state
 * and a probe for the tests (test/browser/web-demo.test.ts).
 */
import { gradientFlowChartSpec, lossChartSpec, miouChartSpec, movingAverage } from '../../src/viz/training-charts.ts';
import { ChartSlot, drawGrid } from './draw.ts';
import { emFigures, emHistoryChartSpec, emSource, type EmPoint } from './em-panel.ts';
import { parseParams, urlRange, type PageModel } from './params.ts';
import { TRAIN_SETTINGS, inRange, rangeText, type NumberRange, type TrainConfig } from '../../src/train/config.ts';
import { SEG_MODEL_UNITS, takesEta } from '../../src/model/seg-models.ts';
import { demoConfig } from '../../src/train/recipes.ts';
import { adapterLabel, type BenchRow, type FromWorker, type RasterGrid, type RunInfo, type ToWorker } from './protocol.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

/** What the page shows, readable by tests. */
const state = {
  ready: false,
  adapter: '',
  running: false,
  done: false,
  busy: null as string | null,
  step: 0,
  total: 0,
  imagesPerSecond: 0,
  history: { loss: [], lr: [], val: [] } as RunInfo['history'],
  model: TRAIN_SETTINGS.model.default as PageModel,
  origin: 'fresh',
  errors: [] as string[],
  benchRows: [] as BenchRow[],
  benchDone: false,
  attentionDraws: 0,
  predictionDraws: 0,
  flowDraws: 0,
  saved: 0,
  loaded: null as string | null,
  /** The model's EM bases K (null: plain, no EM unit). */
  emBases: null as number | null,
  /** The EM unit's diagnostics at each validation of this run (what the panel and its chart show). */
  em: [] as EmPoint[],
  /** The run's config (null until ready). */
  config: null as TrainConfig | null,
  /** Start-up: the stage under way (0: none yet) of `stages`, and what it does; null once ready. */
  progress: { stage: 0, stages: 4, what: 'loading the page' } as { stage: number; stages: number; what: string } | null,
  /** Start-up failed (no WebGPU, a bad URL): nothing will run until the page is reloaded. */
  stopped: null as string | null,
  /** A change that rebuilds the model, waiting for the user to confirm it (or null). */
  confirming: null as string | null,
  /** performance.now() when the page first became ready (the cold load's end). */
  readyAt: null as number | null,
};

function showError(text: string): void {
  state.errors.push(text);
  const p = document.createElement('p');
  p.textContent = text;
  $('errors').append(p);
}

/** The errors go once their cause has: after a successful start, reset or load. */
function clearErrors(): void {
  state.errors = [];
  $('errors').replaceChildren();
}

const charts = {
  loss: new ChartSlot($('loss-chart'), 1000, showError),
  miou: new ChartSlot($('miou-chart'), 1000, showError),
  flow: new ChartSlot($('flow-chart'), 500, showError),
  em: new ChartSlot($('em-chart'), 1000, showError),
};
charts.loss.note('no steps yet');
charts.miou.note('no validation yet');

const { params, errors } = parseParams(location.search);
/** The engine's worker, started once the page has been drawn (null with a bad URL). */
let worker: Worker | null = null;
const send = (msg: ToWorker, transfer: Transferable[] = []): void => worker?.postMessage(msg, transfer);

const fmt = (v: number, digits: number): string => (Number.isFinite(v) ? v.toFixed(digits) : '–');
function duration(s: number): string {
  if (!Number.isFinite(s)) return '–';
  const m = Math.floor(s / 60);
  return m ? `${m} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`;
}

/** What the page is doing, in a few words (the 'state' box). */
function stateText(): string {
  if (state.stopped) return state.stopped;
  if (!state.ready) return state.busy ?? 'starting';
  if (state.running) return 'training';
  if (state.busy && state.busy !== 'training') return state.busy;
  if (state.done) return 'done';
  return state.step === 0 ? 'ready: press Start' : 'paused';
}

function setControls(): void {
  const live = state.ready && !state.stopped;
  ($('start') as HTMLButtonElement).disabled = !live || state.running || state.done;
  ($('pause') as HTMLButtonElement).disabled = !state.running;
  ($('reset') as HTMLButtonElement).disabled = !live;
  ($('save') as HTMLButtonElement).disabled = !live || (state.busy !== null && state.busy !== 'training');
  ($('bench') as HTMLButtonElement).disabled = !live || state.busy === 'benchmark';
  ($('load') as HTMLInputElement).disabled = !live;
  for (const id of ['eta', 't-eval', 't-train', 'bases']) ($(id) as HTMLInputElement).disabled = !live || (id === 'bases' && state.config?.model === 'pooling');
  document.querySelectorAll<HTMLInputElement>('input[name=model]').forEach((r) => (r.disabled = !live));
  $('state').textContent = stateText();
  const p = state.progress;
  $('progress').hidden = p === null;
  if (p) {
    ($('progress-bar') as HTMLProgressElement).value = p.stage;
    ($('progress-bar') as HTMLProgressElement).max = p.stages;
    $('progress-text').textContent = state.stopped ? `the start-up failed at: ${p.what}` : `${p.what} (${Math.max(p.stage, 1)} of ${p.stages})`;
  }
}

function drawStats(): void {
  const h = state.history;
  $('step').textContent = state.total ? `${state.step} / ${state.total}` : '–';
  $('loss').textContent = h.loss.length ? fmt(movingAverage(h.loss).at(-1)!, 4) : '–';
  const last = h.val.at(-1);
  $('miou').textContent = last ? `${fmt(last.miou, 4)} (step ${last.step})` : '–';
}

function drawCharts(): void {
  const run = { name: state.model, history: state.history };
  if (state.history.loss.length) charts.loss.set(lossChartSpec([run]));
  else charts.loss.note('no steps yet');
  const val = state.history.val;
  // One validation is a point, not a curve: said in words until the second.
  if (val.length > 1) charts.miou.set(miouChartSpec([run]));
  else if (val.length === 1) charts.miou.note(`one validation so far: mIoU ${fmt(val[0]!.miou, 4)} at step ${val[0]!.step}; the curve starts at the next`);
  else charts.miou.note('no validation yet');
}

/** The EM diagnostics panel: the latest validation's figures, each explained, and their history. */
function drawEm(): void {
  const list = $('em-figures');
  const last = state.em.at(-1);
  if (state.emBases === null) {
    $('em-note').textContent = `${state.model} has no EM unit: there are no responsibilities or bases to diagnose.`;
    list.replaceChildren();
    charts.em.note('no EM unit');
    return;
  }
  if (!last) {
    $('em-note').textContent = `no validation yet (K ${state.emBases}): the figures appear after each validation.`;
    list.replaceChildren();
    charts.em.note('no validation yet');
    return;
  }
  $('em-note').textContent = `${emSource(last)}.`;
  list.replaceChildren(
    ...emFigures(last.em).map((f) => {
      const div = document.createElement('div');
      div.title = f.explain;
      const dt = Object.assign(document.createElement('dt'), { textContent: f.label });
      const dd = Object.assign(document.createElement('dd'), { id: `em-${f.id}`, textContent: f.text });
      const p = Object.assign(document.createElement('p'), { textContent: f.explain });
      div.append(dt, dd, p);
      return div;
    }),
  );
  charts.em.set(emHistoryChartSpec(state.em));
}

function drawRasterGrid(canvas: HTMLCanvasElement, grid: RasterGrid | null): void {
  if (!grid) {
    canvas.width = canvas.height = 0;
    return;
  }
  drawGrid(canvas, grid.cells, grid.cols);
}

function onMessage(msg: FromWorker): void {
  switch (msg.type) {
    case 'ready': {
      state.ready = true;
      state.readyAt ??= performance.now();
      state.progress = null;
      state.confirming = null;
      $('confirm').hidden = true;
      clearErrors();
      state.adapter = adapterLabel(msg.adapter);
      $('adapter').textContent = state.adapter;
      const c = msg.run.config;
      state.config = c;
      state.model = c.model;
      state.step = msg.run.step;
      state.total = c.steps;
      state.history = msg.run.history;
      state.origin = msg.run.origin;
      state.imagesPerSecond = 0;
      ($('eta') as HTMLInputElement).value = String(msg.eta);
      ($('t-eval') as HTMLInputElement).value = String(msg.evalIterations);
      ($('t-train') as HTMLInputElement).value = String(c.iterations);
      // 'pooling' has one base whatever config.bases says: K shows 1 and cannot be changed.
      state.emBases = msg.run.emBases;
      const pooling = c.model === 'pooling';
      ($('bases') as HTMLInputElement).value = String(pooling ? 1 : c.bases);
      $('bases').title = pooling ? 'pooling is the HEM unit with one base (K = 1); choose hemnet or emanet to set K' : '';
      for (const id of Object.keys(CONTROLS)) checkControl(id);
      state.em = [];
      document.querySelectorAll<HTMLInputElement>('input[name=model]').forEach((r) => (r.checked = r.value === c.model));
      $('rate').textContent = '–';
      $('eta-time').textContent = '–';
      $('origin').textContent = runSummary(c, msg.run.origin, msg.run.emBases);
      drawStats();
      drawCharts();
      drawEm();
      break;
    }
    case 'running':
      state.running = msg.running;
      state.done = msg.done;
      break;
    case 'step':
      state.step = msg.step;
      state.total = msg.total;
      state.history.loss.push(msg.loss);
      state.history.lr.push(msg.lr);
      state.imagesPerSecond = msg.imagesPerSecond;
      $('rate').textContent = msg.imagesPerSecond ? fmt(msg.imagesPerSecond, 2) : 'measuring';
      $('eta-time').textContent = duration(msg.etaSeconds);
      drawStats();
      drawCharts();
      break;
    case 'eval':
      if (state.history.val.at(-1)?.step !== msg.step) state.history.val.push({ step: msg.step, miou: msg.miou });
      if (msg.em) {
        if (state.em.at(-1)?.step === msg.step) state.em.pop();
        state.em.push({ step: msg.step, em: msg.em });
      }
      drawStats();
      drawCharts();
      drawEm();
      break;
    case 'attention':
      state.attentionDraws++;
      $('attention-note').textContent = msg.note;
      drawRasterGrid($('attention') as HTMLCanvasElement, msg.grid);
      $('attention-scale-row').hidden = msg.colorBar === null;
      if (msg.colorBar) {
        for (const id of ['attention-scale', 'recon-scale']) drawGrid($(id) as HTMLCanvasElement, [{ raster: msg.colorBar, title: '' }], 1, 0);
        $('recon-lo').textContent = msg.reconRange ? msg.reconRange[0].toPrecision(3) : '';
        $('recon-hi').textContent = msg.reconRange ? msg.reconRange[1].toPrecision(3) : '';
      }
      break;
    case 'flow':
      state.flowDraws++;
      // Without a chart the note stands in its place (said once).
      $('flow-note').textContent = msg.data ? msg.note : '';
      if (msg.data) charts.flow.set(gradientFlowChartSpec(msg.data));
      else charts.flow.note(msg.note);
      break;
    case 'predictions': {
      state.predictionDraws++;
      $('pred-note').textContent = msg.note;
      drawRasterGrid($('predictions') as HTMLCanvasElement, msg.grid);
      const leg = msg.grid.legend;
      $('pred-legend').replaceChildren(
        ...(leg?.names ?? []).map((n, i) => {
          const s = document.createElement('span');
          const sw = document.createElement('i');
          sw.style.background = leg!.colors[i]!;
          s.append(sw, n);
          return s;
        }),
      );
      break;
    }
    case 'bench-row': {
      state.benchRows.push(msg.row);
      const r = msg.row;
      const tr = document.createElement('tr');
      const cells = [
        r.shape,
        r.pass,
        fmt(r.fusedMs, 2),
        fmt(r.unfusedMs, 2),
        r.verified ? `${fmt(r.unfusedMs / r.fusedMs, 2)}×` : '–',
        r.maxError.toExponential(1),
        r.verified ? 'yes' : 'NO: not timed',
      ];
      for (const c of cells) tr.append(Object.assign(document.createElement('td'), { textContent: c }));
      ($('bench-table') as HTMLTableElement).tBodies[0]!.append(tr);
      $('bench-table').hidden = false;
      break;
    }
    case 'bench-done':
      state.benchDone = true;
      $('bench-adapter').textContent = `on ${msg.adapter}`;
      break;
    case 'saved': {
      state.saved++;
      const url = URL.createObjectURL(new Blob([msg.bytes as BlobPart], { type: 'application/octet-stream' }));
      const a = Object.assign(document.createElement('a'), { href: url, download: msg.filename });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      break;
    }
    case 'loaded':
      state.loaded = msg.name;
      break;
    case 'probe':
      probes.get(msg.id)?.(msg);
      probes.delete(msg.id);
      break;
    case 'busy':
      state.busy = msg.what;
      break;
    case 'progress':
      state.progress = { stage: msg.stage, stages: msg.of, what: msg.what };
      break;
    case 'error':
      showError(`${msg.context}: ${msg.message}`);
      if (msg.context === 'setup') {
        state.busy = null;
        state.stopped = 'stopped: the start-up failed (see the error above); reload the page to try again';
        $('adapter').textContent = 'unavailable (see the error above)';
      }
      break;
  }
  setControls();
}

/** The run in one line, from its own config: what a checkpoint trained with, not the page's defaults. */
function runSummary(c: TrainConfig, origin: string, emBases: number | null): string {
  const optimizer = c.optimizer === 'adamw' ? 'AdamW' : 'SGD (momentum 0.9)';
  const unit =
    SEG_MODEL_UNITS[c.model].unit === null ? `${c.model} (no EM unit)` : `${c.model}, K ${emBases ?? c.bases}, T ${c.iterations}${takesEta(c.model) ? `, η ${c.eta}` : ''}`;
  return (
    `${origin === 'fresh' ? 'fresh weights' : `weights from ${origin}`}: ${unit}; ${c.task} task, ${c.trainScenes} training / ${c.valScenes} validation scenes of ${c.size}×${c.size}; ` +
    `${optimizer} lr ${c.lr}${c.warmup ? ` (warm-up ${c.warmup} steps)` : ''}, batch ${c.batch}, ${c.steps} steps, seed ${c.seed}${c.dataSeed ? ` (scenes of data seed ${c.dataSeed})` : ''}; validation every ${c.evalEvery ? `${c.evalEvery} steps` : 'run, at the end'}.`
  );
}

/** The EM controls: each input's range (the URL parameter's, i.e. the training setting's) and what it sets. */
const CONTROLS: Record<string, { range: () => NumberRange; what: string }> = {
  eta: { range: () => urlRange('eta'), what: 'η' },
  't-eval': { range: () => urlRange('evalIterations'), what: 'T (eval)' },
  't-train': { range: () => urlRange('iterations'), what: 'T (train)' },
  bases: { range: () => urlRange('bases'), what: 'K' },
};

/** A control's value if valid, else null with the reason shown under it. */
function checkControl(id: string): number | null {
  const el = $(id) as HTMLInputElement;
  const range = CONTROLS[id]!.range();
  const v = el.value.trim() === '' ? NaN : Number(el.value);
  const ok = inRange(range, v);
  el.setAttribute('aria-invalid', String(!ok));
  $(`${id}-error`).textContent = ok ? '' : `${CONTROLS[id]!.what} must be ${rangeText(range)}`;
  return ok ? v : null;
}

/** The controls as the config has them (after a change is declined). */
function showConfig(c: TrainConfig): void {
  ($('t-train') as HTMLInputElement).value = String(c.iterations);
  ($('bases') as HTMLInputElement).value = String(c.model === 'pooling' ? 1 : c.bases);
  document.querySelectorAll<HTMLInputElement>('input[name=model]').forEach((r) => (r.checked = r.value === c.model));
  for (const id of ['t-train', 'bases']) checkControl(id);
}

let pendingChanges: Partial<Pick<TrainConfig, 'model' | 'bases' | 'iterations'>> | null = null;

function hideConfirm(): void {
  pendingChanges = null;
  state.confirming = null;
  $('confirm').hidden = true;
}

/**
 * A change that rebuilds the model: nothing when it changes nothing; asked first when it would
 * discard loaded weights or trained steps; else sent.
 */
function rebuild(changes: Partial<Pick<TrainConfig, 'model' | 'bases' | 'iterations'>>): void {
  const c = state.config;
  if (!c) return;
  const real = Object.entries(changes).filter(([k, v]) => c[k as keyof TrainConfig] !== v);
  if (real.length === 0) return;
  const lose = state.origin !== 'fresh' ? `the weights loaded from ${state.origin}` : state.step > 0 ? `the ${state.step} trained steps` : null;
  if (!lose) {
    send({ type: 'reset', changes });
    return;
  }
  pendingChanges = changes;
  const what = real.map(([k, v]) => `${k === 'bases' ? 'K' : k === 'iterations' ? 'T (train)' : k} ${String(c[k as keyof TrainConfig])} → ${String(v)}`).join(', ');
  state.confirming = what;
  $('confirm-text').textContent = `${what} rebuilds the model and discards ${lose}.`;
  $('confirm').hidden = false;
}

const probes = new Map<number, (m: Extract<FromWorker, { type: 'probe' }>) => void>();
let probeId = 0;

function wire(): void {
  $('start').addEventListener('click', () => send({ type: 'start' }));
  $('pause').addEventListener('click', () => send({ type: 'pause' }));
  $('reset').addEventListener('click', () => send({ type: 'reset', changes: {} }));
  $('save').addEventListener('click', () => send({ type: 'save' }));
  $('bench').addEventListener('click', () => {
    state.benchRows = [];
    state.benchDone = false;
    ($('bench-table') as HTMLTableElement).tBodies[0]!.replaceChildren();
    $('bench-adapter').textContent = 'running…';
    send({ type: 'benchmark' });
  });
  document.querySelectorAll<HTMLInputElement>('input[name=model]').forEach((r) => {
    r.addEventListener('change', () => r.checked && rebuild({ model: r.value as PageModel }));
  });
  let viewTimer: ReturnType<typeof setTimeout> | null = null;
  const redraw = (): void => {
    const eta = checkControl('eta');
    const T = checkControl('t-eval');
    if (eta === null || T === null) return;
    if (viewTimer) clearTimeout(viewTimer);
    viewTimer = setTimeout(() => send({ type: 'view', eta, evalIterations: T }), 150);
  };
  $('eta').addEventListener('input', redraw);
  $('t-eval').addEventListener('input', redraw);
  for (const [id, key] of [
    ['t-train', 'iterations'],
    ['bases', 'bases'],
  ] as const) {
    $(id).addEventListener('input', () => checkControl(id));
    $(id).addEventListener('change', () => {
      const v = checkControl(id);
      if (v !== null) rebuild({ [key]: v });
    });
  }
  $('confirm-yes').addEventListener('click', () => {
    const changes = pendingChanges;
    hideConfirm();
    if (changes) send({ type: 'reset', changes });
  });
  $('confirm-no').addEventListener('click', () => {
    hideConfirm();
    showConfig(state.config!);
  });
  ($('load') as HTMLInputElement).addEventListener('change', async (e) => {
    const input = e.target as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    const bytes = new Uint8Array(await file.arrayBuffer());
    input.value = '';
    send({ type: 'load', bytes, name: file.name }, [bytes.buffer]);
  });
}

declare global {
  interface Window {
    hemgpuDemo: {
      state: typeof state;
      probe(scenes: number): Promise<Extract<FromWorker, { type: 'probe' }>>;
    };
  }
}

window.hemgpuDemo = {
  state,
  probe: (scenes) =>
    new Promise((ok) => {
      const id = ++probeId;
      probes.set(id, ok);
      send({ type: 'probe', id, scenes });
    }),
};

// The controls show the run the page will start (the demo's recipe with the URL's values) before it is ready.
{
  const c = demoConfig({ model: params.model, ...(params.iterations ? { iterations: params.iterations } : {}), ...(params.bases ? { bases: params.bases } : {}) });
  ($('eta') as HTMLInputElement).value = String(params.eta ?? c.eta);
  ($('t-eval') as HTMLInputElement).value = String(params.evalIterations ?? c.iterations);
  showConfig(c);
  for (const id of Object.keys(CONTROLS)) {
    const r = CONTROLS[id]!.range();
    const el = $(id) as HTMLInputElement;
    if (r.max !== undefined && Number.isFinite(r.max)) el.max = String(r.max);
    // An open lower bound (η > 0) has no `min` attribute: the inline check names it.
    if (r.min !== undefined && !r.minExclusive) el.min = String(r.min);
  }
}

if (errors.length) {
  for (const e of errors) showError(e);
  showError(`fix the URL (e.g. ?model=emanet&steps=6&trainScenes=16&valScenes=8&autostart=1) and reload.`);
  state.stopped = 'stopped: bad URL parameters';
  $('adapter').textContent = 'not started (fix the URL parameters above)';
  setControls();
} else {
  wire();
  state.model = params.model;
  setControls();
  // The worker (a 340 KB bundle to compile, then WebGPU's start) starts after the first frame, so
  // on a 2-core machine its start does not share the cores with the page's own first layout.
  requestAnimationFrame(() =>
    setTimeout(() => {
      worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
      worker.onmessage = (e: MessageEvent<FromWorker>) => onMessage(e.data);
      worker.onerror = (e) => showError(`worker: ${e.message || 'failed to load worker.js'}`);
      send({ type: 'setup', params });
    }),
  );
}
