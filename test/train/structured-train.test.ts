/**
 * The structured-layer experiments (issue 13): the heads and layers train (the loss of a fixed
 * batch falls), the metrics on hand-made cases, the scene targets, Linear and the multi-label
 * loss against host references, and `hemgpu structured` end to end (--quick) with its usage errors.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { main } from '../../src/cli/main.ts';
import { resultsTable } from '../../src/cli/structured.ts';
import { digitsPresent, poolLabels } from '../../src/data/scene-targets.ts';
import { STRUCTURED_DEFAULTS, trainStructured, type StructuredConfig } from '../../src/train/structured.ts';
import { exactMatch, meanAveragePrecision, projectorScores, segmentsOf } from '../../src/train/structured-metrics.ts';

const dir = mkdtempSync(join(tmpdir(), 'hemgpu-structured-'));
beforeAll(async () => {
  await hg.init();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('scene targets and metrics', () => {
  test('digitsPresent and poolLabels', () => {
    // Two 4×4 maps: digit 3 (label 4) in the top-left 2×2 block; digit 0 (label 1) on one pixel of the bottom right.
    const labels = new Int32Array(32);
    for (const p of [0, 1, 4, 5]) labels[p] = 4;
    labels[16 + 15] = 1;
    expect([...digitsPresent(labels, 2, 16)]).toEqual([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // 2×2 cells: the full block is label 4; a single pixel of 4 (¼ of the cell) still counts, none does not.
    expect([...poolLabels(labels, 2, 4, 4, 2)]).toEqual([4, 0, 0, 0, 0, 0, 0, 1]);
    expect([...poolLabels(labels, 2, 4, 4, 2, 0.5)]).toEqual([4, 0, 0, 0, 0, 0, 0, 0]);
    expect(() => poolLabels(labels, 2, 4, 4, 3)).toThrow(/poolLabels: stride must be a positive integer dividing the 4×4 map, got 3/);
  });

  test('mean average precision and exact match on a hand-made case', () => {
    // Label 0 (scores 0.9, 0.5, 0.7): positives ranked 1st and 3rd → AP = (1/1 + 2/3)/2; label 1: its
    // positive ranked 1st → 1; label 2: no positive (skipped). Exact: only sample 0 has every label right.
    const scores = [0.9, 0.8, -1, 0.5, 0.1, -2, 0.7, 0.3, -3];
    const targets = [1, 1, 0, 1, 0, 0, 0, 0, 0];
    expect(meanAveragePrecision(scores, targets, 3, 3)).toBeCloseTo(((1 + 2 / 3) / 2 + 1) / 2, 12);
    expect(exactMatch(scores, targets, 3, 3)).toBeCloseTo(1 / 3, 12);
  });

  test('segmentsOf: the segmentation a projector implies', () => {
    // Two segments {0, 1} and {2, 3, 4}: the exact projector gives them back; the identity gives one per pixel.
    const p = (i: number, j: number): number => (i < 2 === j < 2 ? (i < 2 ? 0.5 : 1 / 3) : 0);
    expect([
      ...segmentsOf(
        Array.from({ length: 25 }, (_, e) => p(Math.floor(e / 5), e % 5)),
        5,
      ),
    ]).toEqual([0, 0, 1, 1, 1]);
    expect([
      ...segmentsOf(
        Array.from({ length: 9 }, (_, e) => (e % 4 === 0 ? 1 : 0)),
        3,
      ),
    ]).toEqual([0, 1, 2]);
  });

  test('projectorScores: the exact projector scores error 0 and pair accuracy 1; the one-segment baseline', () => {
    const seg = [5, 5, 2, 2, 2];
    const { projector } = hg.segmentProjector(seg, 1, 5);
    return projector.read().then((p) => {
      projector.dispose();
      const s = projectorScores(p, seg, 1, 5);
      expect(s.error).toBeCloseTo(0, 12);
      expect(s.pairsRight).toBe(10);
      expect(s.pairs).toBe(10);
      expect(s.pairsOneSegment).toBe(4); // (0,1), (2,3), (2,4), (3,4)
      // The identity (every pixel its own segment): the 6 cross pairs right, the 4 same pairs wrong.
      const eye = Array.from({ length: 25 }, (_, e) => (e % 6 === 0 ? 1 : 0));
      expect(projectorScores(eye, seg, 1, 5).pairsRight).toBe(6);
    });
  });
});

describe('Linear and sigmoidCrossEntropy', () => {
  test('against host references', async () => {
    const lin = new hg.Linear({ inFeatures: 3, outFeatures: 2, seed: 4 });
    const w = await lin.parameters().get('weight')!.read();
    const x = [0.5, -1, 2, 1, 0, -0.5];
    const y = await hg.tidy(() => lin.forward(hg.tensor(Float32Array.from(x), [2, 3]))).read();
    for (let i = 0; i < 2; i++) for (let o = 0; o < 2; o++) expect(y[i * 2 + o]).toBeCloseTo(x[i * 3]! * w[o]! + x[i * 3 + 1]! * w[2 + o]! + x[i * 3 + 2]! * w[4 + o]!, 5);
    expect(() => lin.forward(hg.zeros([2, 4]))).toThrow(/Linear.forward: input must be \[..., 3\], got \[2, 4\]/);
    lin.dispose();
    const z = [3, -40, 0.2, 50];
    const t = [1, 0, 0.3, 0];
    const ref = z.reduce((s, v, i) => s + Math.max(v, 0) - v * t[i]! + Math.log1p(Math.exp(-Math.abs(v))), 0) / 4;
    const l = hg.tidy(() => hg.sigmoidCrossEntropy(hg.tensor(z, [2, 2]), t));
    expect(await l.item()).toBeCloseTo(ref, 5);
    l.dispose();
    expect(() => hg.sigmoidCrossEntropy(hg.zeros([2, 2]), [0, 1, 2, 0])).toThrow(/sigmoidCrossEntropy: targets must lie in \[0, 1\], got 2 at element 2/);
    expect(() => hg.sigmoidCrossEntropy(hg.zeros([2, 2]), [0, 1])).toThrow(/sigmoidCrossEntropy: targets must match the logits \[2, 2\] element for element, got 2 values/);
  });
});

describe('the structured layers train', () => {
  // One fixed batch (trainScenes = batch), so the loss must fall step over step, not only on average.
  const fixed = (task: 'o2p' | 'ncuts', variant: StructuredConfig['variant'], steps: number): StructuredConfig => ({
    ...STRUCTURED_DEFAULTS,
    task,
    variant,
    steps,
    lr: 0.01,
    batch: 4,
    trainScenes: 4,
    valScenes: 8,
    seed: 3,
  });
  test.each([
    ['o2p', 'o2p', 12],
    ['o2p', 'avg', 12],
    ['ncuts', 'e2e', 16],
    ['ncuts', 'affinity', 16],
  ] as const)('%s / %s: the loss of a fixed batch falls; metrics are finite', async (task, variant, steps) => {
    const r = await trainStructured(fixed(task, variant, steps));
    expect(r.loss).toHaveLength(steps);
    expect(r.loss.every(Number.isFinite)).toBe(true);
    // Not monotone step by step (BatchNorm's batch statistics, Adam's early steps): the last three against the first.
    expect((r.loss[steps - 1]! + r.loss[steps - 2]! + r.loss[steps - 3]!) / 3).toBeLessThan(0.9 * r.loss[0]!);
    for (const v of Object.values(r.metrics)) expect(Number.isFinite(v)).toBe(true);
    expect(r.interrupted).toBe(false);
  });

  test('shouldStop ends a run early, scored on the weights reached', async () => {
    let n = 0;
    const r = await trainStructured(fixed('o2p', 'avg', 50), { shouldStop: () => n++ >= 3 });
    expect(r.interrupted).toBe(true);
    expect(r.loss).toHaveLength(3);
    expect(Number.isFinite(r.metrics.mAP!)).toBe(true);
    // The CLI's Ctrl-C: a stopped run is dropped, so it is not scored.
    let m = 0;
    const dropped = await trainStructured(fixed('o2p', 'avg', 50), { shouldStop: () => m++ >= 2, scoreIfStopped: false });
    expect(dropped.interrupted).toBe(true);
    expect(dropped.metrics).toEqual({});
  });
});

describe('hemgpu structured', () => {
  test('--quick writes the table, the runs and the loss chart', async () => {
    const out = join(dir, 'ncuts');
    expect(await main(['structured', 'ncuts', '--quick', '--out', out])).toBe(0);
    for (const f of ['results.md', 'results.json', 'loss.png', 'loss.svg', 'samples-e2e.png', 'samples-affinity.png']) expect(existsSync(join(out, f)), f).toBe(true);
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toMatch(/\| e2e \| \d+\.\d \| \d+\.\d{3} \| \d+\.\d \| [\d.]+ \|/);
    expect(md).toMatch(/\| e2e − affinity \(paired by seed\) \|/);
    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { runs: { config: StructuredConfig; loss: number[] }[] };
    expect(json.runs.map((r) => r.config.variant)).toEqual(['e2e', 'affinity']);
    expect(json.runs[0]!.loss).toHaveLength(2);
    expect(json.runs[0]).not.toHaveProperty('samples');
  });

  test('usage errors exit 2 before any work', async () => {
    expect(await main(['structured'])).toBe(2);
    expect(await main(['structured', 'pca'])).toBe(2);
    expect(await main(['structured', 'ncuts', '--size', '30'])).toBe(2);
    expect(await main(['structured', 'ncuts', '--size', '80'])).toBe(2);
    expect(await main(['structured', 'o2p', '--seeds', '0'])).toBe(2);
    expect(await main(['structured', 'o2p', '--sigma', '-1'])).toBe(2);
    expect(await main(['structured', 'o2p', '--bogus'])).toBe(2);
    // --quick checks and honours the flags given with it; --sigma is ncuts' alone.
    const errors: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void errors.push(a.join(' ')));
    try {
      expect(await main(['structured', 'o2p', '--quick', '--seeds', '0'])).toBe(2);
      expect(await main(['structured', 'o2p', '--sigma', '2'])).toBe(2);
    } finally {
      spy.mockRestore();
    }
    expect(errors[0]).toMatch(/^--seeds: expected an integer ≥ 1, got '0'\./);
    expect(errors[1]).toBe("--sigma: the Gaussian affinity's bandwidth applies to ncuts only; leave it out for o2p.");
  });

  test('--quick shrinks only what is not given', async () => {
    const out = join(dir, 'ncuts-quick-given');
    expect(await main(['structured', 'ncuts', '--quick', '--steps', '3', '--seeds', '2', '--val-scenes', '8', '--out', out])).toBe(0);
    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { runs: { config: StructuredConfig; loss: number[] }[] };
    expect(json.runs.map((r) => [r.config.variant, r.config.seed])).toEqual([
      ['e2e', 1],
      ['affinity', 1],
      ['e2e', 2],
      ['affinity', 2],
    ]);
    for (const r of json.runs) {
      expect(r.loss).toHaveLength(3);
      expect(r.config).toMatchObject({ steps: 3, valScenes: 8, trainScenes: 16, batch: 4 });
    }
  });

  test('the results table: mean ± sd over seeds and the paired difference', () => {
    const run = (variant: 'o2p' | 'avg', seed: number, mAP: number) => ({
      config: { ...STRUCTURED_DEFAULTS, task: 'o2p' as const, variant, seed },
      loss: [1],
      metrics: { mAP, exactMatch: 0.5, valLoss: 0.2 },
      seconds: 1,
      imagesPerSecond: 10,
      interrupted: false,
    });
    const md = resultsTable('o2p', [run('o2p', 1, 0.8), run('avg', 1, 0.7), run('o2p', 2, 0.9), run('avg', 2, 0.6)]);
    expect(md).toContain('| o2p | 85.0 ± 7.1 (80.0, 90.0) |');
    expect(md).toContain('| avg | 65.0 ± 7.1 (70.0, 60.0) |');
    expect(md).toContain('| o2p − avg (paired by seed) | 20.0 ± 14.1 (10.0, 30.0) |');
  });
});
