/**
 * The HEM layer's gradients (the fused backward, src/ops/hem/fused-backward.ts) against central
 * finite differences of the float64 reference; and the memory of repeated fused forward +
 * backward calls (flat inside tidy, with and without the trace).
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng, expectClose } from '../helpers.ts';
import { hemReference, hemReferenceBackward } from '../hem-reference.ts';
import { makeProblem, mcaAllowance, referenceFiniteDifferences, runEngine, type HemCase } from '../hem-helpers.ts';

beforeAll(async () => {
  await hg.init();
});

// ------------------------------------------------------------------------ finite differences

describe('finite differences', () => {
  // Small shapes: odd C (padding), odd N, both E-step forms, shared and per-batch bases, and
  // normalised bases.
  const rng = new Rng(4242);
  const small: HemCase[] = [
    makeProblem(rng, 'dot shared', { B: 2, N: 5, C: 3, K: 3, shared: true }, { estep: 'dot', eta: 0.5, iterations: 3 }),
    makeProblem(rng, 'rbf batched', { B: 2, N: 6, C: 5, K: 2, shared: false }, { estep: 'rbf', eta: 0.2, iterations: 2 }),
    makeProblem(rng, 'dot normalized', { B: 1, N: 7, C: 4, K: 3, shared: true }, { estep: 'dot', eta: 0.8, iterations: 2, normalizeBases: true }),
  ];

  for (const c of small) {
    test(`the float64 adjoint (hemReferenceBackward) equals central differences: ${c.name}`, () => {
      const f = hemReference(c, c.opts);
      const g = hemReferenceBackward(c, c.opts, f, c.G);
      for (const [which, analytic] of [
        ['x', g.dx],
        ['mu0', g.dmu0],
      ] as const) {
        const { g: num, err } = referenceFiniteDifferences(c, which);
        // Both are float64: the only slack is the finite-difference error (plus 1e-9 absolute).
        expectClose(analytic, num, { atol: 1e-9, rtol: 0, bound: err, label: `${c.name} d${which}` });
      }
    });

    test(`fused gradients equal central differences of the reference: ${c.name}`, async () => {
      const { allow } = mcaAllowance(c, 3000);
      const q = await runEngine(c, true, false);
      expect(q.fusedUsed).toBe(true);
      for (const [which, key] of [
        ['x', 'dx'],
        ['mu0', 'dmu0'],
      ] as const) {
        const { g: num, err } = referenceFiniteDifferences(c, which);
        // The engine's f32 error (the MCA allowance) plus the finite differences' own error.
        expectClose(q[key], num, { atol: 0, rtol: 0, bound: allow[key].map((a, i) => a + err[i]!), label: `${c.name} d${which}` });
      }
    });
  }
});

// ------------------------------------------------------------------------------------- memory

describe('memory', () => {
  test('20 fused forward+backward calls inside tidy leave liveTensors and buffersCreated flat', async () => {
    const rng = new Rng(2);
    const B = 2;
    const N = 33;
    const C = 10; // padded to 12: the pad/slice path too
    const K = 7;
    const x = hg.tensor(rng.f32(B * N * C), [B, N, C], { requiresGrad: true });
    const mu0 = hg.tensor(rng.f32(K * C), [K, C], { requiresGrad: true });
    const G = hg.tensor(rng.f32(B * N * C), [B, N, C]);
    const step = (trace: boolean): void => {
      hg.tidy(() => {
        const r = hg.hem(x, mu0, { iterations: 3, estep: 'rbf', normalizeBases: true, trace });
        hg.sum(hg.mul(r.out, G)).backward();
        r.trace?.dispose();
      });
      x.zeroGrad();
      mu0.zeroGrad();
    };
    for (const trace of [false, true]) {
      step(trace); // warm-up: pipelines and pool size classes
      await hg.sync();
      const s0 = hg.memoryStats();
      for (let i = 0; i < 20; i++) step(trace);
      await hg.sync();
      const s1 = hg.memoryStats();
      expect(s1.liveTensors, `trace: ${trace}`).toBe(s0.liveTensors);
      expect(s1.buffersCreated, `trace: ${trace}`).toBe(s0.buffersCreated);
      expect(s1.liveBytes).toBe(s0.liveBytes);
    }
    for (const t of [x, mu0, G]) t.dispose();
  });
});
