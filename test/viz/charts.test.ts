/**
 * The charts (src/viz/charts.ts, training-charts.ts, render.ts): each training figure is rendered
 * from a small fixed history. Spec shape (series in order, axes, log scale, fixed mIoU range),
 * the SVG holds the titles and labels, the PNG decodes with pngjs to the requested size and is not
 * blank (series colours present, pixel variance), files are written atomically with the SVG
 * beside the PNG, and bad input is refused by message.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { gradientFlowChartSpec, lossChartSpec, miouChartSpec, type ChartRun } from '../../src/viz/training-charts.ts';
import { linePoints } from '../../src/viz/charts.ts';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hemgpu-charts-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const history = (k: number): ChartRun['history'] => ({
  loss: Array.from({ length: 120 }, (_, i) => 2.3 * Math.exp(-i / (30 * k)) + 0.2),
  val: [0, 40, 80, 120].map((step, i) => ({ step, miou: 0.1 + 0.15 * i * k })),
});
const RUNS: ChartRun[] = [
  { name: 'hemnet', history: history(1) },
  { name: 'plain', history: history(1.5) },
];
const FLOW = { '1': { n: [1e-3, 1e-3, 1e-3], e: [0, 0, 0] }, '0.2': { n: [1e-4, 2e-5, 4e-6], e: [1e-6, 1e-7, 1e-8] } };

// Specs are plain JSON objects; read them without vega-lite's (very wide) union types.
type Json = any;

function decode(path: string): { width: number; height: number; data: Buffer } {
  return PNG.sync.read(readFileSync(path));
}

function count(img: { width: number; height: number; data: Buffer }, hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let n = 0;
  for (let i = 0; i < img.width * img.height; i++) if (img.data[4 * i] === r && img.data[4 * i + 1] === g && img.data[4 * i + 2] === b) n++;
  return n;
}

function variance(img: { width: number; height: number; data: Buffer }): number {
  let s = 0;
  let s2 = 0;
  const n = img.width * img.height;
  for (let i = 0; i < n; i++) {
    const v = (img.data[4 * i]! + img.data[4 * i + 1]! + img.data[4 * i + 2]!) / 3;
    s += v;
    s2 += v * v;
  }
  return s2 / n - (s / n) ** 2;
}

describe('chart specs', () => {
  it("grid: a title's lines become Vega-Lite's text array, a one-line title stays a string", () => {
    const cell = { url: 'data:image/png;base64,', width: 4, height: 4 };
    const two: Json = hg.gridSpec([cell], { cols: 1, title: 'attention maps\non 32 scenes' });
    expect(two.title.text).toEqual(['attention maps', 'on 32 scenes']);
    const one: Json = hg.gridSpec([cell], { cols: 1, title: 'attention maps' });
    expect(one.title.text).toBe('attention maps');
  });
  it('loss: one smoothed series per run, linear axes with their titles', () => {
    const spec: Json = lossChartSpec(RUNS);
    expect(spec.title.text).toBe('training loss (10-step moving average)');
    expect(spec.encoding.x.title).toBe('step');
    expect(spec.encoding.y.title).toBe('cross-entropy');
    expect(spec.encoding.y.scale.type).toBe('linear');
    expect(spec.encoding.color.scale.domain).toEqual(['hemnet', 'plain']);
    const rows = spec.data.values as { series: string; x: number; y: number }[];
    expect(rows.filter((r) => r.series === 'plain')).toHaveLength(120);
    // The 10-step moving average: the 10th value is the mean of the first 10.
    const first10 = RUNS[0]!.history.loss.slice(0, 10).reduce((a, b) => a + b) / 10;
    expect(rows[9]!.y).toBeCloseTo(first10, 12);
    expect(spec.layer).toHaveLength(1); // 120 points: no markers
  });

  it('mIoU: x is the validation step, y fixed to [0, 1], markers on the few points', () => {
    const spec: Json = miouChartSpec(RUNS);
    expect(spec.encoding.y.scale).toMatchObject({ domainMin: 0, domainMax: 1, nice: false });
    const rows = spec.data.values as { series: string; x: number; y: number }[];
    expect(rows.filter((r) => r.series === 'hemnet').map((r) => r.x)).toEqual([0, 40, 80, 120]);
    expect(spec.layer[1].mark.type).toBe('point');
  });

  it('gradient flow: N-step solid and E-step dashed per η in η order, log y, zeros clamped', () => {
    const spec: Json = gradientFlowChartSpec(FLOW);
    expect(spec.encoding.y.scale.type).toBe('log');
    expect(spec.encoding.color.scale.domain).toEqual(['N-step η=0.2', 'E-step η=0.2', 'N-step η=1', 'E-step η=1']);
    expect(spec.encoding.strokeDash.scale.range).toEqual([
      [1, 0],
      [6, 4],
      [1, 0],
      [6, 4],
    ]);
    const c = spec.encoding.color.scale.range;
    expect(c[0]).toBe(c[1]); // the pair of one η shares its colour
    expect(c[0]).not.toBe(c[2]);
    const rows = spec.data.values as { series: string; x: number; y: number }[];
    expect(rows.filter((r) => r.series === 'E-step η=1').map((r) => r.y)).toEqual([1e-12, 1e-12, 1e-12]);
    expect(rows.filter((r) => r.series === 'N-step η=0.2').map((r) => r.x)).toEqual([1, 2, 3]);
  });

  it('values a log axis cannot show, and NaN, become null (the line breaks there)', () => {
    const rows = linePoints([{ name: 'a', values: [1, 0, -1, NaN, 2] }], true);
    expect(rows.map((r) => r.y)).toEqual([1, null, null, null, 2]);
    expect(linePoints([{ name: 'a', values: [1, 0, -1] }]).map((r) => r.y)).toEqual([1, 0, -1]);
  });

  it('bad input is refused', () => {
    expect(() => hg.lineChartSpec({ series: [] })).toThrow('writeLineChart: series must be a non-empty array of { name, values }.');
    expect(() => hg.lineChartSpec({ series: [{ name: 'a', values: [1, 2], x: [1] }] })).toThrow("writeLineChart: series 'a' has 1 x values for 2 values.");
    expect(() => hg.lineChartSpec({ series: [{ values: [1] } as unknown as hg.LineSeries] })).toThrow('writeLineChart: series 0 must be { name: string, values: number[] }.');
    expect(() =>
      hg.lineChartSpec({
        series: [
          { name: 'a', values: [1] },
          { name: 'a', values: [2] },
        ],
      }),
    ).toThrow(/two series are named 'a'/);
    expect(() => hg.lineChartSpec({ series: [{ name: 'a', values: [1], color: 'red' }] })).toThrow("viz: colour 'red' is not of the form '#rrggbb'.");
  });
});

describe('rendered charts', () => {
  it('each training figure renders to an SVG with its text and a non-blank PNG of the requested size', async () => {
    const figures: Array<[string, Json, string[]]> = [
      ['loss.png', lossChartSpec(RUNS), ['training loss (10-step moving average)', 'step', 'cross-entropy', 'hemnet', 'plain']],
      ['miou.png', miouChartSpec(RUNS), ['validation mIoU', 'mIoU', 'hemnet']],
      ['gradient-flow.png', gradientFlowChartSpec(FLOW), ['mean |∂E/∂X| per iteration', 'iteration t', 'N-step η=0.2', 'E-step η=1', '1e-12', '0.001']],
    ];
    for (const [file, spec, texts] of figures) {
      const path = join(dir, file);
      await hg.writeChart(path, spec);
      const svg = readFileSync(path.replace(/\.png$/, '.svg'), 'utf8');
      for (const t of texts) expect(svg, `${file}: '${t}'`).toContain(t.replace('&', '&amp;'));
      const img = decode(path);
      expect([img.width, img.height], file).toEqual([800, 500]);
      expect(variance(img), file).toBeGreaterThan(100);
      // Lines of the first two series' colours: hundreds of pixels of exactly that colour.
      const colors = (spec.encoding.color.scale.range as string[]).slice(0, 2);
      for (const c of colors) expect(count(img, c), `${file} ${c}`).toBeGreaterThan(150);
    }
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('writeLineChart: the requested size, folders created, no SVG beside when not wanted', async () => {
    const path = join(dir, 'sub', 'small.png');
    await hg.writeLineChart(path, { series: [{ name: 'a', values: [3, 1, 2] }], width: 400, height: 250, title: 't' });
    const img = decode(path);
    expect([img.width, img.height]).toEqual([400, 250]);
    expect(existsSync(join(dir, 'sub', 'small.svg'))).toBe(true);
    await hg.writeChart(join(dir, 'nosvg.png'), hg.lineChartSpec({ series: [{ name: 'a', values: [NaN, NaN] }] }), { svg: false });
    expect(existsSync(join(dir, 'nosvg.svg'))).toBe(false);
    expect(decode(join(dir, 'nosvg.png')).width).toBe(800);
  });
});
