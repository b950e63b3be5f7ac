/**
 * What the figures show, computed on the GPU and returned as host arrays (Node and browsers):
 * the attention maps γ·k and reconstructions per EM iteration (the paper's Fig. 4), the gradient
 * each iteration's N-step and E-step send to the features (Fig. 3b-c), and predictions of
 * validation scenes. src/cli/figures.ts writes them as PNG/SVG; a page draws them on a canvas.
 */
import { noGrad } from '../autograd/tape.ts';
import { randn, tensor } from '../ops/create.ts';
import { mean, sum } from '../ops/reduce.ts';
import { mul } from '../ops/elementwise.ts';
import { reshape } from '../ops/layout.ts';
import { hem } from '../ops/hem/index.ts';
import { tidy } from '../tensor/scope.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';
import type { SegNet } from '../model/segnet.ts';
import type { GradientFlow } from '../viz/training-charts.ts';
import { gatherBatch, type Dataset } from './batch.ts';
import { argmaxLastAxis } from './metrics.ts';

/**
 * Features entering the EM layer ([n, H·W, C] after the unit's 1×1 conv, eval mode) for the
 * validation scenes `indices`, row-major on the host.
 */
export async function emInputs(model: SegNet, val: Dataset, indices: number[]): Promise<{ y: Float32Array; H: number; W: number; C: number }> {
  if (!model.em) throw new Error('emInputs: the plain model has no EM unit.');
  const { x } = gatherBatch(val, indices);
  const was = model.training;
  model.eval();
  let t;
  try {
    t = tidy(() =>
      noGrad(() => {
        let h = tensor(x, [indices.length, val.height, val.width, val.channels]);
        for (const l of model.stem) h = l.forward(h);
        h = model.pre.forward(h);
        return model.em!.conv1.forward(h);
      }),
    );
  } finally {
    model.train(was);
  }
  const [, H, W, C] = t.shape as [number, number, number, number];
  const y = await t.read();
  t.dispose();
  return { y, H, W, C };
}

/** Features entering the HEM layer ([1, N, C] after the unit's 1×1 conv) for validation scene `index`. */
function features(model: SegNet, val: Dataset, index: number): Promise<{ y: Float32Array; H: number; W: number; C: number }> {
  return emInputs(model, val, [index]);
}

function checkScene(op: string, val: Dataset, scene: number): void {
  if (!Number.isInteger(scene) || scene < 0 || scene >= val.count) {
    throw new Error(`${op}: scene ${scene} is not a validation scene; use an integer in [0, ${val.count - 1}].`);
  }
}

export interface GradientFlowOptions {
  /** The step sizes η to compare. */
  etas: readonly number[];
  /** EM iterations T. */
  iterations: number;
  /** Validation scene whose features are used (default 0). */
  scene?: number;
}

/**
 * Fig. 3b-c: for each η, one forward+backward of the model's HEM layer on a validation scene's
 * features with the trace on: mean |∂E/∂X| from each iteration's N-step (`n`) and E-step (`e`),
 * with E = ⟨X̃, G⟩ for a fixed random G (a proxy for the downstream loss). Keys: String(η).
 */
export async function gradientFlow(model: SegNet, val: Dataset, options: GradientFlowOptions): Promise<GradientFlow> {
  checkOptions('gradientFlow', options, optionKeys<GradientFlowOptions>({ etas: true, iterations: true, scene: true }));
  if (!model.em) throw new Error('gradient flow: the plain model has no EM unit.');
  const T = options.iterations;
  const scene = options.scene ?? 0;
  checkScene('gradientFlow', val, scene);
  const f = await features(model, val, scene);
  const out: GradientFlow = {};
  for (const eta of options.etas) {
    const trace = tidy(() => {
      const x = tensor(f.y, [1, f.H * f.W, f.C], { requiresGrad: true });
      const g = randn([1, f.H * f.W, f.C], { seed: 7 });
      const r = hem(x, model.em!.em.mu0, { eta, iterations: T, temperature: Math.sqrt(f.C), trace: true });
      sum(mul(r.out, g)).backward();
      x.zeroGrad();
      return r.trace!;
    });
    const v = await trace.read();
    trace.dispose();
    out[String(eta)] = { n: v.gradXFromNStep, e: v.gradXFromEStep };
  }
  return out;
}

export interface AttentionMapOptions {
  /** EM iterations T (one row each). */
  iterations: number;
  /** HEM step size η. */
  eta: number;
  /** Validation scene (default 0). */
  scene?: number;
  /**
   * Which 4 bases to show (all K when K < 4: the one base of 'pooling'): 'mass' (default), those
   * with the most responsibility after the first iteration; 'ink', those whose responsibility is
   * most concentrated on the input's ink (Σₙ γₙₖ·inkₙ / Σₙ γₙₖ after the last iteration, among
   * bases holding ≥ 1 % of the pixels): the bases that attend to the digits, as in the paper's Fig. 4.
   */
  select?: 'mass' | 'ink';
}

/** Fig. 4's panels: `rows` × `cols` maps of `width` × `height`, row-major, each titled. */
export interface AttentionMaps {
  maps: Float32Array[];
  titles: string[];
  rows: number;
  cols: number;
  width: number;
  height: number;
}

/**
 * Fig. 4: for one validation scene, after each of T iterations (rows): the input averaged down to
 * the feature map's size, the attention maps γ·k of 4 bases (`select`: the heaviest after the first
 * iteration, or those attending most to the ink; all K bases when K < 4, so cols = 2 + min(4, K)),
 * and the reconstruction's mean over channels.
 */
export async function attentionMaps(model: SegNet, val: Dataset, options: AttentionMapOptions): Promise<AttentionMaps> {
  checkOptions('attentionMaps', options, optionKeys<AttentionMapOptions>({ iterations: true, eta: true, scene: true, select: true }));
  const select = options.select ?? 'mass';
  if (select !== 'mass' && select !== 'ink') throw new Error(`attentionMaps: select must be 'mass' or 'ink', got ${JSON.stringify(options.select)}.`);
  if (!model.em) throw new Error('attention maps: the plain model has no EM unit.');
  const { iterations: T, eta } = options;
  const scene = options.scene ?? 0;
  checkScene('attentionMaps', val, scene);
  const f = await features(model, val, scene);
  const K = model.em.em.mu0.shape[0]!;
  const maps: Float32Array[] = [];
  const titles: string[] = [];
  // The input, averaged down to the feature map's size: at each pixel its brightest channel (a
  // grey digit scene's intensity, and a coloured one's too, its colours having value 1).
  const { x } = gatherBatch(val, [scene]);
  const sh = val.height / f.H;
  const C = val.channels;
  const img = new Float32Array(f.H * f.W);
  for (let i = 0; i < f.H; i++)
    for (let j = 0; j < f.W; j++) {
      let s = 0;
      for (let a = 0; a < sh; a++)
        for (let b = 0; b < sh; b++) {
          const at = ((i * sh + a) * val.width + (j * sh + b)) * C;
          let v = x[at]!;
          for (let c = 1; c < C; c++) v = Math.max(v, x[at + c]!);
          s += v;
        }
      img[i * f.W + j] = s / (sh * sh);
    }
  const runs: { gamma: Float32Array; recon: Float32Array }[] = [];
  for (let t = 1; t <= T; t++) {
    const r = tidy(() =>
      noGrad(() => {
        const xs = tensor(f.y, [1, f.H * f.W, f.C]);
        // The unit's own options (its preset: EMANet's τ = 1 and normalised bases), with this η and T.
        const res = hem(xs, model.em!.em.mu0, { ...model.em!.em.options, eta, iterations: t });
        return { gamma: res.gamma, recon: reshape(mean(res.out, -1), [f.H * f.W]) };
      }),
    );
    runs.push({ gamma: await r.gamma.read(), recon: await r.recon.read() });
    r.gamma.dispose();
    r.recon.dispose();
  }
  const top = chooseBases(select === 'mass' ? runs[0]!.gamma : runs[T - 1]!.gamma, K, select === 'ink' ? img : null);
  for (const [i, { gamma, recon }] of runs.entries()) {
    maps.push(img);
    titles.push(i === 0 ? 'input' : '');
    for (const k of top) {
      const m = new Float32Array(f.H * f.W);
      for (let n = 0; n < f.H * f.W; n++) m[n] = gamma[n * K + k]!;
      maps.push(m);
      titles.push(`t=${i + 1} k=${k}`);
    }
    maps.push(recon);
    titles.push(`t=${i + 1} recon`);
  }
  return { maps, titles, rows: T, cols: 2 + top.length, width: f.W, height: f.H };
}

/** The 4 bases (all K when K < 4) with the most mass Σₙ γₙₖ, or with `ink`, the most ink-concentrated among those with ≥ 1 % of the mass. */
function chooseBases(gamma: Float32Array, K: number, ink: Float32Array | null): number[] {
  const N = gamma.length / K;
  const score = Array.from({ length: K }, (_, k) => {
    let mass = 0;
    let onInk = 0;
    for (let n = 0; n < N; n++) {
      mass += gamma[n * K + k]!;
      if (ink) onInk += gamma[n * K + k]! * ink[n]!;
    }
    if (!ink) return mass;
    return mass >= 0.01 * N ? onInk / mass : -1;
  });
  return score
    .map((v, k) => [v, k] as const)
    .sort((a, b) => b[0] - a[0])
    .slice(0, 4)
    .map(([, k]) => k);
}

/** Validation scenes with their labels and the model's prediction (eval mode). */
export interface ScenePredictions {
  /** The scenes' images, one channel (grey) or three (RGB: VOC, the digit task 'groups'), [n, height, width(, 3)]. */
  image: Float32Array;
  labels: Int32Array;
  pred: Int32Array;
  height: number;
}

/** The model's predictions (argmax over classes, eval mode) for the validation scenes `indices`. */
export async function predictScenes(model: SegNet, val: Dataset, indices: number[]): Promise<ScenePredictions> {
  if (!Array.isArray(indices) || indices.length === 0) throw new Error('predictScenes: expected a non-empty list of validation scene indices, e.g. [0, 1, 2, 3].');
  for (const i of indices) checkScene('predictScenes', val, i);
  const { x, labels } = gatherBatch(val, indices);
  const was = model.training;
  model.eval();
  let pred: Int32Array;
  try {
    const logits = tidy(() => noGrad(() => model.forward(tensor(x, [indices.length, val.height, val.width, val.channels]))));
    pred = argmaxLastAxis(await logits.read(), val.classes);
    logits.dispose();
  } finally {
    model.train(was);
  }
  // RGB data (VOC, coloured digit scenes) stays in colour; other channel counts show their first channel.
  const image = val.channels === 1 || val.channels === 3 ? x : x.filter((_, i) => i % val.channels === 0);
  return { image, labels, pred, height: val.height };
}
