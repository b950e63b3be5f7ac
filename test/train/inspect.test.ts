/**
 * Figure data, browser-safe (issue 12, point 2; src/train/inspect.ts): Fig. 4's attention maps
 * and reconstructions, Fig. 3's gradient flow and validation predictions, as host arrays a page
 * draws and src/cli/figures.ts writes; out-of-range scenes are refused naming the function.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { flags, withFlags, TINY_RUN } from '../helpers.ts';
import * as hg from '../../src/index.node.ts';
import { parseTrainFlags } from '../../src/cli/args.ts';
import { emInputs } from '../../src/train/inspect.ts';

let run: hg.TrainingRun;

beforeAll(async () => {
  await hg.init();
  const config = {
    ...parseTrainFlags(withFlags(TINY_RUN, flags('--train-scenes 8 --steps 2 --quiet')))!,
    out: 'unused',
  };
  run = new hg.TrainingRun(config, hg.loadData(config));
  await run.step();
});

afterAll(() => run.dispose());

describe('figure data', () => {
  test("attentionMaps runs the model's own EM unit: an EMANet model's maps are its E-step (τ = 1, normalised bases), not HEMNet's τ = √C", async () => {
    const config = {
      ...parseTrainFlags(withFlags(TINY_RUN, flags('--model emanet --train-scenes 8 --steps 2 --quiet')))!,
      out: 'unused',
    };
    const em = new hg.TrainingRun(config, hg.loadData(config));
    try {
      await em.step();
      const a = await hg.attentionMaps(em.model, em.val, { iterations: 1, eta: 1, scene: 1 });
      const f = await emInputs(em.model, em.val, [1]);
      const gammaOf = async (options: hg.HemOptions): Promise<Float32Array> => {
        const r = hg.tidy(() => hg.noGrad(() => hg.hem(hg.tensor(f.y, [1, f.H * f.W, f.C]), em.model.em!.em.mu0, { ...options, iterations: 1 }).gamma));
        const g = await r.read();
        r.dispose();
        return g;
      };
      const own = await gammaOf({ preset: 'emanet' });
      const hemnetTau = await gammaOf({ eta: 1, temperature: Math.sqrt(f.C) });
      // Each shown map is γ[:, k] of the unit's own E-step (its title names k).
      const k = Number(/k=(\d+)/.exec(a.titles[1]!)![1]);
      const col = (g: Float32Array): number[] => Array.from({ length: f.H * f.W }, (_, n) => g[n * 4 + k]!);
      a.maps[1]!.forEach((v, n) => expect(v).toBeCloseTo(col(own)[n]!, 5));
      expect(col(own).some((v, n) => Math.abs(v - col(hemnetTau)[n]!) > 1e-3)).toBe(true);
    } finally {
      em.dispose();
    }
  });

  test('attentionMaps: T rows of input, the 4 heaviest bases γ·k and the reconstruction, at the feature map size', async () => {
    const a = await hg.attentionMaps(run.model, run.val, { iterations: 2, eta: 0.5, scene: 1 });
    expect([a.rows, a.cols, a.width, a.height]).toEqual([2, 6, 4, 4]);
    expect(a.maps.length).toBe(12);
    expect(a.titles[0]).toBe('input');
    expect(a.titles.slice(1, 6).map((t) => t.replace(/k=\d+/, 'k'))).toEqual(['t=1 k', 't=1 k', 't=1 k', 't=1 k', 't=1 recon']);
    // The input panel is scene 1 averaged down 4×4 → 1 per feature-map pixel.
    const { x } = hg.gatherBatch(run.val, [1]);
    for (let i = 0; i < 4; i++)
      for (let j = 0; j < 4; j++) {
        let s = 0;
        for (let p = 0; p < 4; p++) for (let q = 0; q < 4; q++) s += x[(i * 4 + p) * 16 + j * 4 + q]!;
        expect(a.maps[0]![i * 4 + j]).toBeCloseTo(s / 16, 6);
      }
    // γ is a responsibility: in [0, 1]; the 4 shown bases of K = 4 sum to 1 per pixel.
    for (let n = 0; n < 16; n++) {
      const total = [1, 2, 3, 4].reduce((acc, c) => acc + a.maps[c]![n]!, 0);
      expect(total).toBeCloseTo(1, 5);
    }
    // The same bases in every row; a second iteration changes the maps.
    expect(a.titles.slice(7, 11).map((t) => t.split(' ')[1])).toEqual(a.titles.slice(1, 5).map((t) => t.split(' ')[1]));
    expect(a.maps[7]).not.toEqual(a.maps[1]);
    await expect(hg.attentionMaps(run.model, run.val, { iterations: 2, eta: 0.5, scene: 4 })).rejects.toThrow(
      'attentionMaps: scene 4 is not a validation scene; use an integer in [0, 3].',
    );
  });

  test("attentionMaps select 'ink': the bases in order of the share of their last-iteration responsibility on the input's ink", async () => {
    const a = await hg.attentionMaps(run.model, run.val, { iterations: 2, eta: 0.5, scene: 1, select: 'ink' });
    const ink = a.maps[0]!;
    // Row 2 (the last iteration): maps 7..10 are the 4 chosen bases.
    const share = [7, 8, 9, 10].map((c) => {
      const g = a.maps[c]!;
      const mass = g.reduce((x, v) => x + v, 0);
      return mass >= 0.01 * g.length ? g.reduce((x, v, n) => x + v * ink[n]!, 0) / mass : -1;
    });
    for (let i = 1; i < 4; i++) expect(share[i - 1]!).toBeGreaterThanOrEqual(share[i]! - 1e-6);
    const heavy = await hg.attentionMaps(run.model, run.val, { iterations: 2, eta: 0.5, scene: 1 });
    expect(new Set(a.titles.slice(1, 5))).toEqual(new Set(heavy.titles.slice(1, 5))); // K = 4: the same bases, ordered by ink share
    await expect(hg.attentionMaps(run.model, run.val, { iterations: 2, eta: 0.5, select: 'heavy' as never })).rejects.toThrow(
      `attentionMaps: select must be 'mass' or 'ink', got "heavy".`,
    );
  });

  test('gradientFlow: per η, the N-step and E-step gradient per iteration, finite and η-dependent', async () => {
    const g = await hg.gradientFlow(run.model, run.val, { etas: [0.5, 1], iterations: 3 });
    expect(Object.keys(g).sort()).toEqual(['0.5', '1']);
    for (const v of Object.values(g)) {
      expect(v.n.length).toBe(3);
      expect(v.e.length).toBe(3);
      for (const z of [...v.n, ...v.e]) expect(Number.isFinite(z) && z >= 0).toBe(true);
    }
    expect(g['0.5']!.n).not.toEqual(g['1']!.n);
    expect(await hg.gradientFlow(run.model, run.val, { etas: [0.5], iterations: 3 })).toEqual({ '0.5': g['0.5'] });
  });

  test('attentionMaps and gradientFlow with fewer than 4 bases: every base shown (K = 2), the one base of pooling (K = 1) with γ = 1', async () => {
    for (const model of ['hemnet', 'pooling'] as const) {
      const config = {
        ...parseTrainFlags(withFlags(TINY_RUN, ['--model', model, ...flags('--bases 2 --train-scenes 8 --steps 1 --quiet')]))!,
        out: 'unused',
      };
      const small = new hg.TrainingRun(config, hg.loadData(config));
      try {
        await small.step();
        const K = model === 'pooling' ? 1 : 2;
        expect(small.model.em!.em.mu0.shape[0]).toBe(K);
        for (const select of ['mass', 'ink'] as const) {
          const m = await hg.attentionMaps(small.model, small.val, { iterations: 2, eta: 0.5, scene: 1, select });
          expect([m.rows, m.cols, m.maps.length], `${model} ${select}`).toEqual([2, 2 + K, 2 * (2 + K)]);
          expect(
            m.titles
              .slice(1, 1 + K)
              .map((t) => t.split(' ')[1])
              .sort(),
          ).toEqual(Array.from({ length: K }, (_, k) => `k=${k}`));
          // The shown bases are all of them: their γ sum to 1 at every pixel (γ = 1 for K = 1).
          for (let n = 0; n < 16; n++) {
            let total = 0;
            for (let c = 1; c <= K; c++) total += m.maps[c]![n]!;
            expect(total).toBeCloseTo(1, 5);
            if (K === 1) expect(m.maps[1]![n]).toBeCloseTo(1, 6);
          }
        }
        const g = await hg.gradientFlow(small.model, small.val, { etas: [0.5], iterations: 3 });
        for (const z of [...g['0.5']!.n, ...g['0.5']!.e]) expect(Number.isFinite(z) && z >= 0).toBe(true);
        // One base: γ = 1 whatever the features, so the E-step passes no gradient.
        if (K === 1) expect(g['0.5']!.e).toEqual([0, 0, 0]);
        else expect(Math.max(...g['0.5']!.e)).toBeGreaterThan(0);
      } finally {
        small.dispose();
      }
    }
  });

  test('predictScenes: the eval-mode argmax of the model for the given scenes, with their images and labels', async () => {
    const p = await hg.predictScenes(run.model, run.val, [2, 0]);
    const { x, labels } = hg.gatherBatch(run.val, [2, 0]);
    expect(p.image).toEqual(x);
    expect(p.labels).toEqual(labels);
    expect(p.height).toBe(16);
    run.model.eval();
    const logits = hg.noGrad(() => run.model.forward(hg.tensor(x, [2, 16, 16, 1])));
    expect(p.pred).toEqual(hg.argmaxLastAxis(await logits.read(), run.val.classes));
    logits.dispose();
    run.model.train(true);
    expect(run.model.training).toBe(true);
    await expect(hg.predictScenes(run.model, run.val, [])).rejects.toThrow('predictScenes: expected a non-empty list');
  });
});
