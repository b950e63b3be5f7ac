/**
 * The training figures as Vega-Lite specs, pure functions of a run's history (no Node API, so a
 * browser page can draw the same charts live): loss and mIoU curves, and the gradient flow per
 * HEM iteration (the paper's Fig. 3b-c).
 */
import type { ChartSpec } from './spec.ts';
import { lineChartSpec, type LineSeries } from './charts.ts';

/** What the charts read of a run (src/train's History has these fields). */
export interface ChartRun {
  name: string;
  history: { loss: readonly number[]; val: readonly { step: number; miou: number }[] };
}

/** Mean |∂E/∂X| per iteration from the N-step and the E-step, for one η (keyed by η). */
export type GradientFlow = Record<string, { n: readonly number[]; e: readonly number[] }>;

/** Trailing moving average over k values. */
export function movingAverage(v: readonly number[], k = 10): number[] {
  return v.map((_, i) => {
    const lo = Math.max(0, i - k + 1);
    let s = 0;
    for (let j = lo; j <= i; j++) s += v[j]!;
    return s / (i - lo + 1);
  });
}

/** Training loss (moving average over 10 steps) of one or more runs; loss[i] is step i + 1's, so x runs 1..N. */
export function lossChartSpec(runs: readonly ChartRun[]): ChartSpec {
  return lineChartSpec({
    title: 'training loss (10-step moving average)',
    xLabel: 'step',
    yLabel: 'cross-entropy',
    integerX: true,
    series: runs.map((r) => ({ name: r.name, values: movingAverage(r.history.loss), x: r.history.loss.map((_, i) => i + 1), markers: false })),
  });
}

/** Validation mIoU against step, on [0, 1]. */
export function miouChartSpec(runs: readonly ChartRun[]): ChartSpec {
  return lineChartSpec({
    title: 'validation mIoU',
    xLabel: 'step',
    yLabel: 'mIoU',
    yMin: 0,
    yMax: 1,
    integerX: true,
    series: runs.map((r) => ({ name: r.name, values: r.history.val.map((v) => v.miou), x: r.history.val.map((v) => v.step) })),
  });
}

/**
 * Fig. 3b-c: mean |∂E/∂X| from each iteration's N-step (solid) and E-step (dashed), one colour
 * per η, on a log axis (zeros clamped to 1e-12 so they stay on it).
 */
export function gradientFlowChartSpec(flow: GradientFlow): ChartSpec {
  const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd'];
  const series: LineSeries[] = [];
  // Ordered by η (object keys that look like integers, such as '1', would otherwise come first).
  const entries = Object.entries(flow).sort((a, b) => Number(a[0]) - Number(b[0]));
  entries.forEach(([eta, v], i) => {
    const color = palette[i % palette.length]!;
    const iters = v.n.map((_, t) => t + 1);
    series.push({ name: `N-step η=${eta}`, values: v.n.map((z) => Math.max(z, 1e-12)), x: iters, color });
    series.push({ name: `E-step η=${eta}`, values: v.e.map((z) => Math.max(z, 1e-12)), x: iters, color, dash: true });
  });
  return lineChartSpec({ title: 'mean |∂E/∂X| per iteration: N-step solid, E-step dashed', xLabel: 'iteration t', yLabel: 'mean |∂E/∂X|', logY: true, integerX: true, series });
}
