/**
 * The messages between the page (main.ts) and its Web Worker (worker.ts), which does all the
 * engine work: WebGPU, the digit data, training, evaluation, the figures' data, the benchmark and
 * the weights. Typed both ways; large arrays travel as transferables. The adapter's label is
 * shared by both sides.
 */
import type { AdapterSummary, EmDiagnostics, GradientFlow, Raster, TrainConfig } from '../../src/index.browser.ts';
import type { PageParams } from './params.ts';

/** The training state the page shows. */
export interface RunInfo {
  config: TrainConfig;
  step: number;
  history: { loss: number[]; lr: number[]; val: { step: number; miou: number }[] };
  /** Where the weights came from: 'fresh' or the loaded file's name. */
  origin: string;
  /** The model's EM bases K (1 for 'pooling', whatever config.bases says); null for plain. */
  emBases: number | null;
}

/** Rasters (the library's heat maps or label maps) in a grid of `cols` columns, each with a title. */
export interface RasterGrid {
  cells: { raster: Raster; title: string }[];
  cols: number;
  /** Class names and '#rrggbb' colours, for label maps. */
  legend?: { names: readonly string[]; colors: readonly string[] };
}

/** One row of the fused-vs-unfused table: times in ms (median), verified before timing. */
export interface BenchRow {
  shape: string;
  pass: 'forward' | 'forward+backward';
  fusedMs: number;
  unfusedMs: number;
  /** Largest ‖fused − unfused‖ / scale over the outputs compared. */
  maxError: number;
  verified: boolean;
}

/** The adapter as the page shows it, e.g. 'swiftshader (google, swiftshader, CPU driver, via navigator.gpu)'. */
export function adapterLabel(a: AdapterSummary): string {
  return `${a.description || a.device || a.name} (${a.vendor}, ${a.architecture || 'no architecture'}, ${a.software ? 'CPU driver' : 'GPU'}, via ${a.via})`;
}

export type ToWorker =
  | { type: 'setup'; params: PageParams }
  | { type: 'start' }
  | { type: 'pause' }
  /** Rebuild the model from scratch with these changes to the config (K, T, the model). */
  | { type: 'reset'; changes: Partial<Pick<TrainConfig, 'model' | 'bases' | 'iterations'>> }
  /** Redraw the attention maps on the current model with this η and T (eval). */
  | { type: 'view'; eta: number; evalIterations: number }
  | { type: 'benchmark' }
  | { type: 'save' }
  | { type: 'load'; bytes: Uint8Array; name: string }
  /** Test hook: logits of the first `scenes` validation scenes and the evaluation, at T (eval). */
  | { type: 'probe'; id: number; scenes: number };

export type FromWorker =
  | { type: 'ready'; adapter: AdapterSummary; run: RunInfo; evalIterations: number; eta: number }
  | { type: 'running'; running: boolean; done: boolean }
  | { type: 'step'; step: number; total: number; loss: number; lr: number; imagesPerSecond: number; etaSeconds: number }
  /** A validation: the metrics and the EM unit's diagnostics (TrainingRun.evaluate; null for plain). */
  | { type: 'eval'; step: number; miou: number; pixelAccuracy: number; em: EmDiagnostics | null }
  /**
   * The attention maps; the colour bar (the colour map from its low to its high end; null without
   * maps) of the scene and γ·k, on [0, 1], and of the reconstructions, on `reconRange`.
   */
  | { type: 'attention'; grid: RasterGrid | null; note: string; colorBar: Raster | null; reconRange: [number, number] | null }
  | { type: 'flow'; data: GradientFlow | null; note: string }
  | { type: 'predictions'; grid: RasterGrid; note: string }
  | { type: 'bench-row'; row: BenchRow }
  | { type: 'bench-done'; adapter: string }
  | { type: 'saved'; bytes: Uint8Array; filename: string }
  | { type: 'loaded'; name: string; step: number }
  | { type: 'probe'; id: number; logits: Float32Array; shape: number[]; miou: number; pixelAccuracy: number; iou: number[] }
  | { type: 'busy'; what: string | null }
  /** Start-up, stage `stage` of `of` (1-based) beginning: what it does. */
  | { type: 'progress'; stage: number; of: number; what: string }
  | { type: 'error'; context: string; message: string };
