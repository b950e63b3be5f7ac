/**
 * The image grids (src/viz/raster.ts, heatmaps.ts, segmentation.ts, png.ts): the rasters are
 * ours and are checked value by value (colour-mapped cells, palette colours at known label
 * positions); the written PNG (laid out by Vega-Lite, rasterised by resvg) decodes with pngjs and
 * shows those rasters unresampled (exact colours, whole blocks), with titles in its SVG; bad input
 * is refused by message. The charts are tested in test/viz/charts.test.ts.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { colormap, type Raster, type Rgb } from '../../src/viz/raster.ts';

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

/** Number of pixels of exactly this colour in a raster. */
function countIn(r: Raster, c: Rgb): number {
  let n = 0;
  for (let i = 0; i < r.width * r.height; i++) if (r.data[4 * i] === c[0] && r.data[4 * i + 1] === c[1] && r.data[4 * i + 2] === c[2]) n++;
  return n;
}

describe('writeHeatmaps', () => {
  it('a grid of colour-mapped maps: each cell shows its map through the colour map, unresampled in the PNG', async () => {
    const path = join(dir, 'attention.png');
    const w = 8;
    const h = 6;
    const maps = Array.from({ length: 6 }, (_, k) => Float32Array.from({ length: w * h }, (_, i) => (i % w) + k));
    const options = { rows: 2, cols: 3, width: w, height: h, titles: maps.map((_, k) => `k=${k}`), title: 'γ·k', scale: 16 };
    const { rasters, shared } = hg.heatmapRasters(maps, options);
    expect(shared).toBeNull();
    expect(rasters.map((r) => [r.width, r.height])).toEqual(maps.map(() => [8 * 16, 6 * 16]));
    await hg.writeHeatmaps(path, maps, options);
    const img = read(path);
    expect(img.width).toBeGreaterThan(3 * 8 * 16);
    expect(img.height).toBeGreaterThan(2 * 6 * 16);
    // Per-map normalisation: value column x maps to t = x / 7 in every cell, in the rasters and,
    // placed 1:1, in the written PNG.
    for (let x = 0; x < w; x++) {
      const [r, g, b] = colormap(x / 7, 'viridis');
      for (const ras of rasters) expect(countIn(ras, [r, g, b])).toBe(h * 16 * 16);
      expect(count(img, [r, g, b])).toBeGreaterThanOrEqual(6 * h * 16 * 16); // 6 maps × h rows × 16² px
    }
    const svg = readFileSync(join(dir, 'attention.svg'), 'utf8');
    for (const t of ['γ·k', 'k=0', 'k=5']) expect(svg).toContain(t);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('RGB maps, a shared range with a colour bar, grey colour map', async () => {
    const rgbMap = Float32Array.from({ length: 4 * 4 * 3 }, (_, i) => (i % 3 === 0 ? 1 : 0)); // pure red
    const [c] = hg.heatmapRasters([rgbMap], { rows: 1, cols: 1, width: 4, height: 4, scale: 10 }).rasters;
    expect(countIn(c!, [255, 0, 0])).toBe(16 * 100);
    const maps = [new Float32Array(16).fill(0), new Float32Array(16).fill(2)];
    const all = hg.heatmapRasters(maps, { rows: 1, cols: 2, width: 4, height: 4, range: 'all', colormap: 'gray', scale: 10 });
    expect(all.shared).toEqual([0, 2]);
    expect(countIn(all.rasters[0]!, [0, 0, 0])).toBe(160 * 10); // the all-zero map is black under the shared range
    expect(countIn(all.rasters[1]!, [255, 255, 255])).toBe(160 * 10);
    const fixed = hg.heatmapRasters(maps, { rows: 1, cols: 2, width: 4, height: 4, range: [0, 4], scale: 10 });
    expect(fixed.shared).toEqual([0, 4]);
    expect(countIn(fixed.rasters[1]!, colormap(0.5, 'viridis'))).toBe(1600);
    // The colour bar: a column of rects with the range on its axis, right of the grid.
    const path = join(dir, 'bar.png');
    await hg.writeHeatmaps(path, maps, { rows: 1, cols: 2, width: 4, height: 4, range: [0, 4], scale: 10 });
    expect(read(path).width).toBeGreaterThan(2 * 40 + 16); // room for the colour bar
    const svg = readFileSync(join(dir, 'bar.svg'), 'utf8');
    expect(svg).toContain('>4<');
    // The bar's top band is near the colour map's last colour (yellow); no cell is (both are below 4).
    const img = read(path);
    const top = colormap(1, 'viridis');
    let near = 0;
    for (let i = 0; i < img.width * img.height; i++) if ([0, 1, 2].every((ch) => Math.abs(img.data[4 * i + ch]! - top[ch]!) <= 30)) near++;
    expect(near).toBeGreaterThan(10);
  });

  it('bad input is refused', () => {
    const m = new Float32Array(12);
    expect(() => hg.heatmapRasters([m], { rows: 1, cols: 1, width: 4, height: 4 })).toThrow('writeHeatmaps: map 0 has 12 values; expected 4×4 = 16 (or ×3 for RGB).');
    expect(() => hg.heatmapRasters([m, m, m], { rows: 1, cols: 2, width: 4, height: 3 })).toThrow('writeHeatmaps: 3 maps for a 1×2 grid; pass 1 to 2.');
    expect(() => hg.heatmapRasters([m], { rows: 0, cols: 2, width: 4, height: 3 })).toThrow('writeHeatmaps: rows must be an integer ≥ 1, got 0.');
    expect(() => hg.heatmapRasters([m], { rows: 1, cols: 1, width: 4, height: 3, titles: ['a', 'b'] })).toThrow('writeHeatmaps: 2 titles for 1 maps.');
  });
});

describe('writeSegmentation', () => {
  it('image | truth | prediction with the 11-colour palette; ignore is white; pixel accuracy in the title', async () => {
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
    const p = hg.DIGIT_PALETTE;
    const panels = hg.segmentationPanels(image, labels, preds, size, { scale: 10 });
    expect(panels.columns).toBe(3);
    expect(panels.panels.map((q) => q.title)).toEqual(['image', 'truth', 'prediction 99.6%']); // 254 of 255 scored pixels
    const [, truth, pred] = panels.panels.map((q) => q.raster);
    expect(countIn(truth!, p[4]!)).toBe(64 * 100);
    expect(countIn(truth!, p[10]!)).toBe(64 * 100);
    expect(countIn(truth!, [255, 255, 255])).toBe(100); // the ignored pixel
    expect(countIn(pred!, p[10]!)).toBe(63 * 100);
    expect(countIn(pred!, p[1]!)).toBe(100); // the one wrong prediction
    expect(panels.names).toEqual(['bg', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const path = join(dir, 'seg.png');
    await hg.writeSegmentation(path, image, labels, preds, size, { scale: 10 });
    const img = read(path);
    // The panels placed 1:1 (plus the legend's swatches).
    expect(count(img, p[4]!)).toBeGreaterThanOrEqual(2 * 64 * 100);
    expect(count(img, p[10]!)).toBeGreaterThanOrEqual((64 + 63) * 100);
    expect(count(img, p[1]!)).toBeGreaterThanOrEqual(100);
    expect(distinctColours(img)).toBeGreaterThan(14); // 11 classes + grey ramp + text
    const svg = readFileSync(join(dir, 'seg.svg'), 'utf8');
    for (const t of ['prediction 99.6%', 'truth', '>bg<', '>9<']) expect(svg).toContain(t);
  });

  it('several scenes as rows, 3-channel normalised images, a 21-class palette for VOC labels', async () => {
    const size = 8;
    const labels = Int32Array.from({ length: 2 * size * size }, (_, i) => (i % 21 === 5 ? 255 : i % 21));
    const image = Float32Array.from({ length: 2 * size * size * 3 }, (_, i) => Math.sin(i) * 2);
    const one = hg.segmentationPanels(image.subarray(0, size * size * 3), labels.subarray(0, size * size), null, size, { scale: 10 });
    const two = hg.segmentationPanels(image, labels, labels, size, { scale: 10, classNames: hg.VOC_CLASSES });
    expect([one.panels.length, one.columns]).toEqual([2, 2]);
    expect([two.panels.length, two.columns]).toEqual([6, 3]);
    expect(two.names).toHaveLength(21);
    const cow = hg.vocColormap(21)[10]!; // class 10 in the VOC colour map
    expect(two.colors[10]).toEqual(cow);
    expect(countIn(two.panels[1]!.raster, cow)).toBeGreaterThanOrEqual(100);
    // RGB images are normalised over the scene: the extremes reach 0 and 255.
    const rgbData = one.panels[0]!.raster.data;
    expect(Math.min(...rgbData)).toBe(0);
    expect(Math.max(...rgbData)).toBe(255);
    const path = join(dir, 'voc.png');
    await hg.writeSegmentation(path, image, labels, labels, size, { scale: 10, classNames: hg.VOC_CLASSES });
    expect(count(read(path), cow)).toBeGreaterThanOrEqual(2 * 100);
    expect(readFileSync(join(dir, 'voc.svg'), 'utf8')).toContain('diningtable');
  });

  it('bad input is refused', () => {
    const l = new Int32Array(16);
    expect(() => hg.segmentationPanels(new Float32Array(16), new Int32Array(15), null, 4)).toThrow('writeSegmentation: labels have 15 values, not a multiple of size² = 16.');
    expect(() => hg.segmentationPanels(new Float32Array(20), l, null, 4)).toThrow('writeSegmentation: image has 20 values; expected 1×4×4×(1 or 3).');
    expect(() => hg.segmentationPanels(new Float32Array(16), l, new Int32Array(3), 4)).toThrow('writeSegmentation: predictions have 3 values but labels have 16.');
    expect(() => hg.segmentationPanels(new Float32Array(16), l, null, 0)).toThrow('writeSegmentation: size must be an integer ≥ 1, got 0.');
  });
});
