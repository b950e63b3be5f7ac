/**
 * The PNG figures (src/viz/png.ts, canvas.ts, font.ts): every file decodes back with pngjs to the
 * expected size with non-trivial content (series colours, text ink, colour-mapped cells, palette
 * colours at known label positions), the font table is well formed, ticks are formatted sanely,
 * writes are atomic, and bad input is refused by message.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as hg from '../src/index.node.ts';
import { colormap, SERIES_COLORS, type Rgb } from '../src/viz/canvas.ts';
import { GLYPH_HEIGHT, GLYPH_WIDTH, GLYPH_TABLE, glyph, hasGlyphs } from '../src/viz/font.ts';
import { formatTick } from '../src/viz/png.ts';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hemgpu-png-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function read(path: string): { width: number; height: number; data: Buffer } {
  return PNG.sync.read(readFileSync(path));
}

/** Number of pixels of exactly this colour. */
function count(img: { width: number; height: number; data: Buffer }, c: Rgb): number {
  let n = 0;
  for (let i = 0; i < img.width * img.height; i++) {
    if (img.data[4 * i] === c[0] && img.data[4 * i + 1] === c[1] && img.data[4 * i + 2] === c[2]) n++;
  }
  return n;
}

function distinctColours(img: { width: number; height: number; data: Buffer }): number {
  const s = new Set<number>();
  for (let i = 0; i < img.width * img.height; i++) s.add((img.data[4 * i]! << 16) | (img.data[4 * i + 1]! << 8) | img.data[4 * i + 2]!);
  return s.size;
}

function pixel(img: { width: number; data: Buffer }, x: number, y: number): number[] {
  const o = (y * img.width + x) * 4;
  return [img.data[o]!, img.data[o + 1]!, img.data[o + 2]!, img.data[o + 3]!];
}

describe('font', () => {
  it('every glyph is at most 9 rows of exactly 5 cells; all printable ASCII and the Greek used in figures exist', () => {
    for (const [ch, rows] of Object.entries(GLYPH_TABLE)) {
      const r = rows.split(' ').filter((x) => x !== '');
      expect(r.length, `glyph '${ch}'`).toBeLessThanOrEqual(GLYPH_HEIGHT);
      for (const row of r) expect(row, `glyph '${ch}'`).toMatch(/^[#.]{5}$/);
    }
    let ascii = '';
    for (let c = 32; c < 127; c++) ascii += String.fromCharCode(c);
    expect(hasGlyphs(ascii)).toBe(true);
    expect(hasGlyphs('ηγμσΔ∂·×−‖')).toBe(true);
    // Distinct characters look distinct (no copy-paste slips), except the two minus signs.
    const seen = new Map<string, string>();
    for (const ch of Object.keys(GLYPH_TABLE)) {
      const key = Array.from(glyph(ch)).join('');
      if (ch !== ' ' && seen.has(key) && !['-−'].includes(seen.get(key)! + ch)) throw new Error(`'${ch}' looks like '${seen.get(key)}'`);
      seen.set(key, ch);
    }
    expect(glyph('A').length).toBe(GLYPH_WIDTH * GLYPH_HEIGHT);
  });

  it('tick labels: step precision, exponents for very small/large values', () => {
    expect(formatTick(0, 0.5)).toBe('0');
    expect(formatTick(2.5, 0.5)).toBe('2.5');
    expect(formatTick(250, 50)).toBe('250');
    expect(formatTick(0.02, 0.01)).toBe('0.02');
    expect(formatTick(1e-4, 1e-4)).toBe('1e-4');
    expect(formatTick(2.5e-5, 5e-6)).toBe('2.5e-5');
    expect(formatTick(3e6, 1e6)).toBe('3e6');
    expect(formatTick(-0.4, 0.2)).toBe('-0.4');
  });
});

describe('writeLineChart', () => {
  it('a loss chart decodes to the requested size with the series colours, axes and text', () => {
    const path = join(dir, 'loss.png');
    const loss = Array.from({ length: 200 }, (_, i) => 2.3 * Math.exp(-i / 50) + 0.1);
    hg.writeLineChart(path, {
      series: [{ name: 'hemnet', values: loss }, { name: 'plain', values: loss.map((v) => v * 1.2), color: '#d62728' }],
      title: 'training loss',
      xLabel: 'step',
      yLabel: 'cross-entropy',
      width: 640,
      height: 400,
    });
    const img = read(path);
    expect([img.width, img.height]).toEqual([640, 400]);
    // Lines 2-3 px wide over ~500 px of plot: hundreds of fully covered pixels per series.
    expect(count(img, SERIES_COLORS[0]!)).toBeGreaterThan(300);
    expect(count(img, [0xd6, 0x27, 0x28])).toBeGreaterThan(300);
    expect(count(img, [0, 0, 0])).toBeGreaterThan(200); // title, labels and legend text
    expect(distinctColours(img)).toBeGreaterThan(20); // anti-aliasing
    expect(pixel(img, 0, 0)).toEqual([255, 255, 255, 255]);
    // No temp file is left behind (temp file + rename).
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('log axis with N-step/E-step pairs (dashed), x values, NaN and non-positive values left out', () => {
    const path = join(dir, 'sub', 'gradflow.png');
    const t = [1, 2, 3, 4];
    hg.writeLineChart(path, {
      series: [
        { name: 'N-step η=0.2', values: [1e-6, 1e-5, 1e-4, 1e-3], x: t, color: '#1f77b4' },
        { name: 'E-step η=0.2', values: [2e-7, NaN, 0, 3e-4], x: t, color: '#1f77b4', dash: true },
        { name: 'N-step η=1', values: [1e-9, 1e-7, 1e-5, 1e-3], x: t, color: '#2ca02c' },
      ],
      title: 'mean |∂E/∂X|',
      xLabel: 'iteration t',
      yLabel: 'mean |∂E/∂X|',
      logY: true,
    });
    expect(existsSync(path)).toBe(true);
    const img = read(path);
    expect([img.width, img.height]).toEqual([800, 500]);
    expect(count(img, SERIES_COLORS[0]!)).toBeGreaterThan(200);
    expect(count(img, SERIES_COLORS[2]!)).toBeGreaterThan(200);
  });

  it('a chart with only non-finite data still draws its frame; fixed y range', () => {
    const c = hg.renderLineChart({ series: [{ name: 'nan', values: [NaN, NaN] }], width: 300, height: 200 });
    expect([c.width, c.height]).toEqual([300, 200]);
    const m = hg.renderLineChart({ series: [{ name: 'miou', values: [0.1, 0.5, 0.7] }], yMin: 0, yMax: 1, width: 400, height: 300 });
    expect(m.width).toBe(400);
  });

  it('bad input is refused', () => {
    expect(() => hg.renderLineChart({ series: [] })).toThrow('writeLineChart: series must be a non-empty array of { name, values }.');
    expect(() => hg.renderLineChart({ series: [{ name: 'a', values: [1, 2], x: [1] }] })).toThrow(
      "writeLineChart: series 'a' has 1 x values for 2 values.",
    );
    expect(() => hg.renderLineChart({ series: [{ values: [1] } as unknown as hg.LineSeries] })).toThrow(
      'writeLineChart: series 0 must be { name: string, values: number[] }.',
    );
    expect(() => hg.renderLineChart({ series: [{ name: 'a', values: [1] }], width: 120, height: 60 })).toThrow(/leaves no room for the plot/);
    expect(() => hg.renderLineChart({ series: [{ name: 'a', values: [1], color: 'red' }] })).toThrow("viz: colour 'red' is not of the form '#rrggbb'.");
  });
});

describe('writeHeatmaps', () => {
  it('a grid of colour-mapped maps: each cell shows its map through the colour map', () => {
    const path = join(dir, 'attention.png');
    const w = 8;
    const h = 6;
    const maps = Array.from({ length: 6 }, (_, k) => Float32Array.from({ length: w * h }, (_, i) => (i % w) + k));
    hg.writeHeatmaps(path, maps, { rows: 2, cols: 3, width: w, height: h, titles: maps.map((_, k) => `k=${k}`), title: 'γ·k', scale: 16 });
    const img = read(path);
    const c = hg.renderHeatmaps(maps, { rows: 2, cols: 3, width: w, height: h, titles: maps.map((_, k) => `k=${k}`), title: 'γ·k', scale: 16 });
    expect([img.width, img.height]).toEqual([c.width, c.height]);
    expect(img.width).toBeGreaterThan(3 * 8 * 16);
    expect(img.height).toBeGreaterThan(2 * 6 * 16);
    // Per-map normalisation: value column x maps to t = x / 7 in every cell.
    for (let x = 0; x < w; x++) {
      const [r, g, b] = colormap(x / 7, 'viridis');
      expect(count(img, [r, g, b])).toBeGreaterThanOrEqual(6 * h * 16 * 16); // 6 maps × h rows × 16² px
    }
  });

  it('RGB maps, a shared range with a colour bar, grey colour map', () => {
    const rgbMap = Float32Array.from({ length: 4 * 4 * 3 }, (_, i) => (i % 3 === 0 ? 1 : 0)); // pure red
    const c = hg.renderHeatmaps([rgbMap], { rows: 1, cols: 1, width: 4, height: 4, scale: 10 });
    let red = 0;
    for (let i = 0; i < c.width * c.height; i++) if (c.data[4 * i] === 255 && c.data[4 * i + 1] === 0 && c.data[4 * i + 2] === 0) red++;
    expect(red).toBe(16 * 100);
    const maps = [new Float32Array(16).fill(0), new Float32Array(16).fill(2)];
    const all = hg.renderHeatmaps(maps, { rows: 1, cols: 2, width: 4, height: 4, range: 'all', colormap: 'gray', scale: 10 });
    const black = Array.from({ length: all.width * all.height }).filter((_, i) => all.data[4 * i] === 0 && all.data[4 * i + 1] === 0 && all.data[4 * i + 2] === 0).length;
    expect(black).toBeGreaterThanOrEqual(160); // the all-zero map is black under the shared range
    const each = hg.renderHeatmaps(maps, { rows: 1, cols: 2, width: 4, height: 4, range: [0, 4], scale: 10 });
    expect(each.width).toBeGreaterThan(2 * 40); // room for the colour bar
  });

  it('bad input is refused', () => {
    const m = new Float32Array(12);
    expect(() => hg.renderHeatmaps([m], { rows: 1, cols: 1, width: 4, height: 4 })).toThrow(
      'writeHeatmaps: map 0 has 12 values; expected 4×4 = 16 (or ×3 for RGB).',
    );
    expect(() => hg.renderHeatmaps([m, m, m], { rows: 1, cols: 2, width: 4, height: 3 })).toThrow('writeHeatmaps: 3 maps for a 1×2 grid; pass 1 to 2.');
    expect(() => hg.renderHeatmaps([m], { rows: 0, cols: 2, width: 4, height: 3 })).toThrow('writeHeatmaps: rows must be an integer ≥ 1, got 0.');
    expect(() => hg.renderHeatmaps([m], { rows: 1, cols: 1, width: 4, height: 3, titles: ['a', 'b'] })).toThrow('writeHeatmaps: 2 titles for 1 maps.');
  });
});

describe('writeSegmentation', () => {
  it('image | truth | prediction with the 11-colour palette; ignore is white; pixel accuracy in the title', () => {
    const size = 16;
    const labels = new Int32Array(size * size);
    const image = new Float32Array(size * size);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        labels[y * size + x] = x < 8 ? 0 : y < 8 ? 4 : 10; // background, digit 3, digit 9
        image[y * size + x] = x / 15;
      }
    }
    labels[0] = 255;
    const preds = Int32Array.from(labels, (l) => (l === 255 ? 0 : l));
    preds[size * size - 1] = 1;
    const path = join(dir, 'seg.png');
    hg.writeSegmentation(path, image, labels, preds, size, { scale: 10 });
    const img = read(path);
    const c = hg.renderSegmentation(image, labels, preds, size, { scale: 10 });
    expect([img.width, img.height]).toEqual([c.width, c.height]);
    // Truth: 64 px of digit 3 (palette 4) and 64 of digit 9 (palette 10) at 10×10 each, plus the
    // prediction's (one fewer 9) and the legend swatches' interiors.
    const p = hg.DIGIT_PALETTE;
    expect(count(img, p[4]!)).toBeGreaterThanOrEqual(2 * 64 * 100);
    expect(count(img, p[10]!)).toBeGreaterThanOrEqual((64 + 63) * 100);
    expect(count(img, p[1]!)).toBeGreaterThanOrEqual(100); // the one wrong prediction
    expect(distinctColours(img)).toBeGreaterThan(14); // 11 classes + grey ramp + text
  });

  it('several scenes as rows, 3-channel normalised images, a 21-class palette for VOC labels', () => {
    const size = 8;
    const labels = Int32Array.from({ length: 2 * size * size }, (_, i) => (i % 21 === 5 ? 255 : i % 21));
    const image = Float32Array.from({ length: 2 * size * size * 3 }, (_, i) => Math.sin(i) * 2);
    const one = hg.renderSegmentation(image.subarray(0, size * size * 3), labels.subarray(0, size * size), null, size, { scale: 10 });
    const two = hg.renderSegmentation(image, labels, labels, size, { scale: 10, classNames: hg.VOC_CLASSES });
    expect(two.height).toBeGreaterThan(one.height + 80);
    expect(two.width).toBeGreaterThan(one.width);
    const cow = hg.vocColormap(21)[10]!; // class 10 in the VOC colour map
    let n = 0;
    for (let i = 0; i < two.width * two.height; i++) if (two.data[4 * i] === cow[0] && two.data[4 * i + 1] === cow[1] && two.data[4 * i + 2] === cow[2]) n++;
    expect(n).toBeGreaterThanOrEqual(100);
  });

  it('bad input is refused', () => {
    const l = new Int32Array(16);
    expect(() => hg.renderSegmentation(new Float32Array(16), new Int32Array(15), null, 4)).toThrow(
      'writeSegmentation: labels have 15 values, not a multiple of size² = 16.',
    );
    expect(() => hg.renderSegmentation(new Float32Array(20), l, null, 4)).toThrow('writeSegmentation: image has 20 values; expected 1×4×4×(1 or 3).');
    expect(() => hg.renderSegmentation(new Float32Array(16), l, new Int32Array(3), 4)).toThrow(
      'writeSegmentation: predictions have 3 values but labels have 16.',
    );
    expect(() => hg.renderSegmentation(new Float32Array(16), l, null, 0)).toThrow('writeSegmentation: size must be an integer ≥ 1, got 0.');
  });
});
