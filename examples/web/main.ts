/**
 * The demo page's main thread: controls, numbers and drawing only. All engine work is in the
 * worker (worker.ts); this module imports only the library's chart specs (src/viz), so the page
 * loads without the engine and never blocks on it. `window.hemgpuDemo` exposes the page's state
 * and a probe for the tests (test/browser/web-demo.test.ts).
 */
import { gradientFlowChartSpec, lossChartSpec, miouChartSpec, movingAverage } from '../../src/viz/training-charts.ts';
import { ChartSlot, drawGrid } from './draw.ts';
import { emFigures, emHistoryChartSpec, emSource, type EmPoint } from './em-panel.ts';
import { parseParams, type PageModel } from './params.ts';
import { TRAIN_SETTINGS } from '../../src/train/config.ts';
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
};

function showError(text: string): void {
  state.errors.push(text);
  const p = document.createElement('p');
  p.textContent = text;
  $('errors').append(p);
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
const worker = errors.length ? null : new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const send = (msg: ToWorker, transfer: Transferable[] = []): void => worker?.postMessage(msg, transfer);

const fmt = (v: number, digits: number): string => (Number.isFinite(v) ? v.toFixed(digits) : '–');
function duration(s: number): string {
  if (!Number.isFinite(s)) return '–';
  const m = Math.floor(s / 60);
  return m ? `${m} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`;
}

function setControls(): void {
  const idle = state.ready && !state.busy;
  ($('start') as HTMLButtonElement).disabled = !state.ready || state.running || state.done;
  ($('pause') as HTMLButtonElement).disabled = !state.running;
  ($('reset') as HTMLButtonElement).disabled = !state.ready;
  ($('save') as HTMLButtonElement).disabled = !state.ready || (state.busy !== null && state.busy !== 'training');
  ($('bench') as HTMLButtonElement).disabled = !state.ready || state.busy === 'benchmark';
  $('state').textContent = !state.ready ? (state.busy ?? 'starting') : state.running ? 'training' : state.done ? 'done' : idle ? 'paused' : (state.busy ?? 'paused');
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
  if (state.history.val.length) charts.miou.set(miouChartSpec([run]));
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
      state.adapter = adapterLabel(msg.adapter);
      $('adapter').textContent = state.adapter;
      const c = msg.run.config;
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
      ($('bases') as HTMLInputElement).disabled = pooling;
      $('bases').title = pooling ? 'pooling is the HEM unit with one base (K = 1); choose hemnet or emanet to set K' : '';
      state.em = [];
      document.querySelectorAll<HTMLInputElement>('input[name=model]').forEach((r) => (r.checked = r.value === c.model));
      $('rate').textContent = '–';
      $('eta-time').textContent = '–';
      $('origin').textContent =
        `${msg.run.origin === 'fresh' ? 'fresh weights' : `weights from ${msg.run.origin}`}: ${c.model}, K ${msg.run.emBases ?? '–'}, T ${c.iterations}, η ${c.eta}, ` +
        `${c.trainScenes} training / ${c.valScenes} validation scenes, batch ${c.batch}, AdamW lr ${c.lr}, seed ${c.seed}, validation every ${c.evalEvery || 'end'}.`;
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
      break;
    case 'flow':
      state.flowDraws++;
      $('flow-note').textContent = msg.note;
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
    case 'error':
      showError(`${msg.context}: ${msg.message}`);
      if (msg.context === 'setup') state.busy = null;
      break;
  }
  setControls();
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
    r.addEventListener('change', () => r.checked && send({ type: 'reset', changes: { model: r.value as PageModel } }));
  });
  const int = (id: string): number | null => {
    const el = $(id) as HTMLInputElement;
    const v = Number(el.value);
    const ok = el.value !== '' && Number.isInteger(v) && v >= Number(el.min) && v <= Number(el.max);
    el.setAttribute('aria-invalid', String(!ok));
    return ok ? v : null;
  };
  let viewTimer: ReturnType<typeof setTimeout> | null = null;
  const redraw = (): void => {
    const el = $('eta') as HTMLInputElement;
    const eta = Number(el.value);
    const T = int('t-eval');
    const etaOk = el.value !== '' && eta > 0 && eta <= 1;
    el.setAttribute('aria-invalid', String(!etaOk));
    if (!etaOk || T === null) return;
    if (viewTimer) clearTimeout(viewTimer);
    viewTimer = setTimeout(() => send({ type: 'view', eta, evalIterations: T }), 150);
  };
  $('eta').addEventListener('input', redraw);
  $('t-eval').addEventListener('input', redraw);
  for (const [id, key] of [
    ['t-train', 'iterations'],
    ['bases', 'bases'],
  ] as const) {
    $(id).addEventListener('change', () => {
      const v = int(id);
      if (v !== null) send({ type: 'reset', changes: { [key]: v } });
    });
  }
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

if (errors.length) {
  for (const e of errors) showError(e);
  showError(`fix the URL (e.g. ?model=emanet&steps=6&trainScenes=16&valScenes=8&autostart=1) and reload.`);
  state.busy = 'stopped: bad URL parameters';
  setControls();
} else {
  worker!.onmessage = (e: MessageEvent<FromWorker>) => onMessage(e.data);
  worker!.onerror = (e) => showError(`worker: ${e.message || 'failed to load worker.js'}`);
  wire();
  state.model = params.model;
  send({ type: 'setup', params });
}
