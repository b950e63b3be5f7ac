/**
 * The EM unit's diagnostics as the page shows them (main thread, no engine): one labelled figure
 * each, with a sentence saying what it means and which reading says "attention" and which
 * "pooling" (after src/train/em-diagnostics.ts, whose doc comment defines them), and the chart of
 * mean max_k γ and the centred residual over the validations of the run.
 */
import type { ChartSpec } from '../../src/viz/spec.ts';
import type { EmDiagnostics } from '../../src/train/em-diagnostics.ts';
import { lineChartSpec } from '../../src/viz/charts.ts';

/** One figure of the panel: `id` names its element (em-<id>), `text` is what it reads. */
export interface EmFigure {
  id: 'gamma' | 'rho' | 'norms' | 'residual' | 'cosine';
  label: string;
  text: string;
  /** What the figure means and which reading says attention, which pooling (one sentence). */
  explain: string;
}

/** The diagnostics of one validation, at its step. */
export interface EmPoint {
  step: number;
  em: EmDiagnostics;
}

const fmt = (v: number, digits: number): string => (Number.isFinite(v) ? v.toFixed(digits) : '–');

/** The panel's figures for `d` (the worker's evaluation of a model with an EM unit). */
export function emFigures(d: EmDiagnostics): EmFigure[] {
  const K = d.bases;
  return [
    {
      id: 'gamma',
      label: 'mean max_k γ',
      text: `max_k γ ${fmt(d.maxGamma, 3)} (uniform ${fmt(1 / K, 3)})`,
      explain:
        K === 1
          ? 'The largest responsibility of each pixel, averaged: with one base (K = 1) it is 1 by construction and says nothing; the unit is global pooling.'
          : `The largest responsibility of each pixel after the last iteration, averaged: towards 1 each pixel picks its own bases (attention); at 1/K = ${fmt(1 / K, 3)} every pixel spreads evenly, every reconstruction is the same vector and the unit computes global pooling.`,
    },
    {
      id: 'rho',
      label: 'ρ = λmax(Σ)/τ',
      text: `ρ ${fmt(d.rho, 2)}`,
      explain:
        K === 1
          ? "The features' largest variance within a scene over the softmax temperature τ: it says whether collapsed bases can separate (above 1) or not (below 1); with one base there is nothing to separate and the unit pools whatever ρ is."
          : "The features' largest variance within a scene over the softmax temperature τ: above 1 the moving average can keep collapsed bases apart (attention can form); below 1 no averaging rule can (only τ can), and the unit stays at pooling.",
    },
    {
      id: 'norms',
      label: '|μ⁽⁰⁾| vs |x̄|',
      text: `|μ⁽⁰⁾| ${fmt(d.mu0Norm, 2)} vs |x̄| ${fmt(d.meanNorm, 2)}`,
      explain:
        K === 1
          ? "The base's norm against that of a scene's mean feature: with several bases, bases far smaller than the features give a nearly uniform first E-step; with one base the E-step is uniform whatever the norms."
          : "The bases' mean norm against that of a scene's mean feature: bases at the features' scale can attend; far smaller bases give a nearly uniform first E-step, pooling-like.",
    },
    {
      id: 'residual',
      label: 'centred residual',
      text: `residual ${fmt(d.residual, 3)} (1 = pooling)`,
      explain:
        "The share of the features' variation over the scene that the reconstruction misses, ‖X_c − X̃_c‖² / ‖X_c‖²: 1 when the reconstruction is the same at every pixel (global pooling), towards 0 as it follows the features (attention).",
    },
    {
      id: 'cosine',
      label: "bases' mean cosine",
      text: K > 1 ? `cosine ${fmt(d.cosine, 3)}` : 'cosine – (one base)',
      explain:
        K > 1
          ? 'The mean pairwise cosine of the bases μ⁽⁰⁾: bases that share the image mean read 0.9+ even when they attend, so read it only beside the figures above.'
          : 'The mean pairwise cosine of the bases μ⁽⁰⁾: undefined with one base.',
    },
  ];
}

/** Where the figures come from, e.g. 'step 8: 4 validation scenes, T 3, K 64'. */
export function emSource(p: EmPoint): string {
  return `step ${p.step}: ${p.em.scenes} validation scene${p.em.scenes === 1 ? '' : 's'}, T ${p.em.iterations}, K ${p.em.bases}`;
}

/** Mean max_k γ and the centred residual against step, on [0, 1] (beyond it where a value is), with 1/K dashed. */
export function emHistoryChartSpec(points: readonly EmPoint[]): ChartSpec {
  const x = points.map((p) => p.step);
  const gamma = points.map((p) => p.em.maxGamma);
  const residual = points.map((p) => p.em.residual);
  const top = Math.max(1, ...gamma.filter(Number.isFinite), ...residual.filter(Number.isFinite));
  return lineChartSpec({
    title: 'EM unit per validation: mean max_k γ and centred residual',
    xLabel: 'step',
    yLabel: 'value',
    yMin: 0,
    yMax: top,
    integerX: true,
    series: [
      { name: 'mean max_k γ', values: gamma, x, color: '#1f77b4' },
      { name: 'uniform 1/K', values: points.map((p) => 1 / p.em.bases), x, color: '#1f77b4', dash: true, markers: false },
      { name: 'centred residual (1 = pooling)', values: residual, x, color: '#d62728' },
    ],
  });
}
