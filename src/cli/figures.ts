/**
 * The pictures the CLI writes: loss and mIoU curves, the gradient-flow figure (the paper's
 * Fig. 3b-c: mean |∂E/∂X| each iteration's N-step and E-step send to the features, for several η),
 * the attention maps γ·k and reconstructions per iteration (Fig. 4), and segmentation samples.
 * Charts are Vega-Lite specs from src/viz (the same a browser page can draw), written as PNG with
 * their SVG beside them.
 */
import { join } from 'node:path';
import { noGrad } from '../autograd/tape.ts';
import { randn, tensor } from '../ops/create.ts';
import { mean, sum } from '../ops/reduce.ts';
import { mul } from '../ops/elementwise.ts';
import { reshape } from '../ops/layout.ts';
import { hem } from '../ops/hem/index.ts';
import { tidy } from '../tensor/scope.ts';
import type { SegNet } from '../model/segnet.ts';
import { writeHeatmaps, writeSegmentation } from '../viz/png.ts';
import { writeChart } from '../viz/render.ts';
import { gradientFlowChartSpec, lossChartSpec, miouChartSpec, type GradientFlow } from '../viz/training-charts.ts';
import type { History } from '../train/checkpoint.ts';
import { gatherBatch, type Dataset } from '../train/batch.ts';
import { argmaxLastAxis } from '../train/metrics.ts';

/** Training loss (moving average over 10 steps) of one or more runs; SVG beside the PNG. */
export async function writeLossCurves(path: string, runs: { name: string; history: History }[]): Promise<void> {
  await writeChart(path, lossChartSpec(runs));
}

/** Validation mIoU against step; SVG beside the PNG. */
export async function writeMiouCurves(path: string, runs: { name: string; history: History }[]): Promise<void> {
  await writeChart(path, miouChartSpec(runs));
}

/** Features entering the HEM layer ([1, N, C] after the unit's 1×1 conv) for validation scene `index`. */
async function features(model: SegNet, val: Dataset, index: number): Promise<{ y: Float32Array; H: number; W: number; C: number }> {
  const { x } = gatherBatch(val, [index]);
  const was = model.training;
  model.eval();
  const t = tidy(() =>
    noGrad(() => {
      let h = tensor(x, [1, val.height, val.width, val.channels]);
      for (const l of model.stem) h = l.forward(h);
      h = model.pre.forward(h);
      return model.em!.conv1.forward(h);
    }),
  );
  model.train(was);
  const [, H, W, C] = t.shape as [number, number, number, number];
  const y = await t.read();
  t.dispose();
  return { y, H, W, C };
}

/**
 * Fig. 3b-c: for each η, one forward+backward of the model's HEM layer on a validation scene's
 * features with the trace on; plotted: mean |∂E/∂X| from each iteration's N-step (solid) and
 * E-step (dashed), log scale. E = ⟨X̃, G⟩ for a fixed random G (a proxy for the downstream loss).
 */
export async function writeGradientFlow(path: string, model: SegNet, val: Dataset, etas: number[], T: number): Promise<Record<string, { n: number[]; e: number[] }>> {
  if (!model.em) throw new Error('gradient flow: the plain model has no EM unit.');
  const f = await features(model, val, 0);
  const out: Record<string, { n: number[]; e: number[] }> = {};
  for (const eta of etas) {
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
  await writeChart(path, gradientFlowChartSpec(out satisfies GradientFlow));
  return out;
}

/**
 * Fig. 4: for one validation scene, the attention maps γ·k of the 4 bases with the most mass and
 * the reconstruction's mean over channels, after each of T iterations (rows), beside the input.
 */
export async function writeAttentionMaps(path: string, model: SegNet, val: Dataset, T: number, eta: number): Promise<void> {
  if (!model.em) throw new Error('attention maps: the plain model has no EM unit.');
  const f = await features(model, val, 0);
  const K = model.em.em.mu0.shape[0]!;
  const maps: Float32Array[] = [];
  const titles: string[] = [];
  // The input, averaged down to the feature map's size.
  const { x } = gatherBatch(val, [0]);
  const sh = val.height / f.H;
  const img = new Float32Array(f.H * f.W);
  for (let i = 0; i < f.H; i++) for (let j = 0; j < f.W; j++) {
    let s = 0;
    for (let a = 0; a < sh; a++) for (let b = 0; b < sh; b++) s += x[((i * sh + a) * val.width + (j * sh + b)) * val.channels]!;
    img[i * f.W + j] = s / (sh * sh);
  }
  let top: number[] | null = null;
  for (let t = 1; t <= T; t++) {
    const r = tidy(() =>
      noGrad(() => {
        const xs = tensor(f.y, [1, f.H * f.W, f.C]);
        const res = hem(xs, model.em!.em.mu0, { eta, iterations: t, temperature: Math.sqrt(f.C) });
        return { gamma: res.gamma, recon: reshape(mean(res.out, -1), [f.H * f.W]) };
      }),
    );
    const gamma = await r.gamma.read();
    const recon = await r.recon.read();
    r.gamma.dispose();
    r.recon.dispose();
    if (!top) {
      const mass = Array.from({ length: K }, (_, k) => {
        let s = 0;
        for (let n = 0; n < f.H * f.W; n++) s += gamma[n * K + k]!;
        return s;
      });
      top = mass.map((m, k) => [m, k] as const).sort((a, b) => b[0] - a[0]).slice(0, 4).map(([, k]) => k);
    }
    maps.push(img);
    titles.push(t === 1 ? 'input' : '');
    for (const k of top) {
      const m = new Float32Array(f.H * f.W);
      for (let n = 0; n < f.H * f.W; n++) m[n] = gamma[n * K + k]!;
      maps.push(m);
      titles.push(`t=${t} k=${k}`);
    }
    maps.push(recon);
    titles.push(`t=${t} recon`);
  }
  await writeHeatmaps(path, maps, { rows: T, cols: 6, width: f.W, height: f.H, titles, title: `attention maps and reconstructions per iteration (eta ${eta})` });
}

/** A few validation scenes: image, ground truth and prediction side by side. */
export async function writeSamples(path: string, model: SegNet, val: Dataset, count = 4): Promise<void> {
  const idx = Array.from({ length: Math.min(count, val.count) }, (_, i) => i);
  const { x, labels } = gatherBatch(val, idx);
  model.eval();
  const logits = tidy(() => noGrad(() => model.forward(tensor(x, [idx.length, val.height, val.width, val.channels]))));
  const pred = argmaxLastAxis(await logits.read(), val.classes);
  logits.dispose();
  model.train();
  // RGB data (VOC) is drawn in colour, with the dataset's palette and class names in the legend.
  const image = val.channels === 1 || val.channels === 3 ? x : x.filter((_, i) => i % val.channels === 0);
  await writeSegmentation(path, image, labels, pred, val.height, {
    ...(val.palette ? { palette: val.palette } : {}),
    ...(val.classNames ? { classNames: val.classNames } : {}),
  });
}

/** The figure files under `out` (written or not: list only those that exist). */
export function figurePaths(out: string): Record<string, string> {
  return {
    loss: join(out, 'loss.png'),
    miou: join(out, 'miou.png'),
    gradientFlow: join(out, 'gradient-flow.png'),
    attention: join(out, 'attention.png'),
    samples: join(out, 'samples.png'),
  };
}
