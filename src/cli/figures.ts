/**
 * The pictures the CLI writes: loss and mIoU curves, the gradient-flow figure (the paper's
 * Fig. 3b-c: mean |∂E/∂X| each iteration's N-step and E-step send to the features, for several η),
 * the attention maps γ·k and reconstructions per iteration (Fig. 4), and segmentation samples.
 * What they show is computed by src/train/inspect.ts (browser-safe); this file writes the files.
 * Charts are Vega-Lite specs from src/viz (the same a browser page can draw), written as PNG with
 * their SVG beside them.
 */
import { join } from 'node:path';
import type { SegNet } from '../model/segnet.ts';
import { writeHeatmaps, writeSegmentation } from '../viz/png.ts';
import { writeChart } from '../viz/render.ts';
import { gradientFlowChartSpec, lossChartSpec, miouChartSpec, type GradientFlow } from '../viz/training-charts.ts';
import type { History } from '../train/checkpoint.ts';
import type { Dataset } from '../train/batch.ts';
import { attentionMaps, gradientFlow, predictScenes } from '../train/inspect.ts';
import type { EmDiagnostics } from '../train/em-diagnostics.ts';

/** Training loss (moving average over 10 steps) of one or more runs; SVG beside the PNG. */
export async function writeLossCurves(path: string, runs: { name: string; history: History }[]): Promise<void> {
  await writeChart(path, lossChartSpec(runs));
}

/** Validation mIoU against step; SVG beside the PNG. */
export async function writeMiouCurves(path: string, runs: { name: string; history: History }[]): Promise<void> {
  await writeChart(path, miouChartSpec(runs));
}

/** Fig. 3b-c (src/train/inspect.ts gradientFlow) as a chart; returns the values plotted. */
export async function writeGradientFlow(path: string, model: SegNet, val: Dataset, etas: readonly number[], T: number): Promise<GradientFlow> {
  const out = await gradientFlow(model, val, { etas, iterations: T });
  await writeChart(path, gradientFlowChartSpec(out));
  return out;
}

/** Fig. 4 (src/train/inspect.ts attentionMaps) for validation scene 0 as a grid of heat maps. */
export async function writeAttentionMaps(path: string, model: SegNet, val: Dataset, T: number, eta: number, em: EmDiagnostics | null = null): Promise<void> {
  const a = await attentionMaps(model, val, { iterations: T, eta, scene: 0, select: 'ink' });
  // The diagnostics say whether the maps show attention at all (max_k γ near 1/K and residual near 1: pooling).
  const diag = em
    ? `\non ${em.scenes} validation scenes mean max_k γ ${em.maxGamma.toFixed(3)} (1/K = ${(1 / em.bases).toFixed(3)}), centred residual ${em.residual.toFixed(3)}, ρ ${em.rho.toFixed(2)}`
    : '';
  await writeHeatmaps(path, a.maps, {
    rows: a.rows,
    cols: a.cols,
    width: a.width,
    height: a.height,
    titles: a.titles,
    title: `attention maps γ·k of the 4 bases attending most to the ink,\nand reconstructions, per iteration (eta ${eta})${diag}`,
  });
}

/** A few validation scenes: image, ground truth and prediction side by side. */
export async function writeSamples(path: string, model: SegNet, val: Dataset, count = 4): Promise<void> {
  const idx = Array.from({ length: Math.min(count, val.count) }, (_, i) => i);
  const p = await predictScenes(model, val, idx);
  // RGB data (VOC, the groups task's digit scenes) is drawn in colour; VOC with its palette and class names in the legend.
  await writeSegmentation(path, p.image, p.labels, p.pred, p.height, {
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
