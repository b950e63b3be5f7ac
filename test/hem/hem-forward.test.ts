/**
 * The HEM layer (src/ops/hem/, kernels/hem.wgsl): fused against unfused and both against the
 * float64 reference (test/hem-reference.ts) — outputs and gradients — over a covering set of
 * shapes and options (hem-helpers.ts, CASES), and with a large K. Tolerances: hem-helpers.ts,
 * compare().
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng } from '../helpers.ts';
import { CASES, ETAS, FORWARD, GRADS, TS, compare, makeProblem, mcaAllowance, referenceQuantities, runEngine, type HemCase } from '../hem-helpers.ts';

beforeAll(async () => {
  await hg.init();
});

describe('the case set', () => {
  test('covers every listed value', () => {
    const has = (f: (c: HemCase) => boolean): boolean => CASES.some(f);
    for (const eta of ETAS)
      expect(
        has((c) => c.opts.eta === eta),
        `η = ${eta}`,
      ).toBe(true);
    for (const T of TS)
      expect(
        has((c) => c.opts.iterations === T),
        `T = ${T}`,
      ).toBe(true);
    for (const B of [1, 3])
      expect(
        has((c) => c.B === B),
        `B = ${B}`,
      ).toBe(true);
    for (const shared of [true, false]) expect(has((c) => c.shared === shared)).toBe(true);
    for (const e of ['dot', 'rbf']) expect(has((c) => c.opts.estep === e)).toBe(true);
    expect(
      has((c) => c.N % 2 === 1),
      'odd N',
    ).toBe(true);
    for (const r of [0, 1, 2, 3]) {
      expect(
        has((c) => c.C % 4 === r),
        `C ≡ ${r} mod 4`,
      ).toBe(true);
      expect(
        has((c) => c.K % 4 === r),
        `K ≡ ${r} mod 4`,
      ).toBe(true);
    }
    expect(
      has((c) => c.C % 2 === 1 && c.K % 2 === 1),
      'odd C and K together',
    ).toBe(true);
  });
});

// ---------------------------------------------------------------- fused, unfused, reference

describe('fused and unfused against each other and the float64 reference', () => {
  for (const [i, c] of CASES.entries()) {
    test(c.name, async () => {
      const { exact, allow } = mcaAllowance(c, 1000 + i);
      const fused = await runEngine(c, true, false);
      const unfused = await runEngine(c, false, false);
      expect(fused.fusedUsed).toBe(true);
      expect(unfused.fusedUsed).toBe(false);
      compare(c, 'fused vs reference', fused, exact, allow, [...FORWARD, ...GRADS]);
      compare(c, 'unfused vs reference', unfused, exact, allow, [...FORWARD, ...GRADS]);
      compare(c, 'fused vs unfused', fused, unfused, allow, [...FORWARD, ...GRADS], 2);
    });
  }

  test('large K runs fused (the E-step keeps no per-row array of K logits): K = 64, 65 and 130', async () => {
    const rng = new Rng(77);
    for (const K of [64, 65, 130]) {
      const c = makeProblem(rng, `K=${K}`, { B: 1, N: 9, C: 6, K, shared: true }, { estep: 'dot', eta: 0.5, iterations: 2 });
      const { exact, allow } = mcaAllowance(c, 2000 + K);
      const fused = await runEngine(c, true, false);
      expect(fused.fusedUsed).toBe(true);
      compare(c, 'fused: true vs reference', fused, exact, allow, [...FORWARD, ...GRADS]);
    }
  });
});

// Keep the float64 helpers honest: the exact reference quantities are deterministic.
test('referenceQuantities is deterministic and the MCA samples differ from it', () => {
  const c = CASES[0]!;
  const a = referenceQuantities(c);
  const b = referenceQuantities(c);
  expect(Array.from(a.out)).toEqual(Array.from(b.out));
  const noisy = referenceQuantities(c, 1);
  expect(Array.from(noisy.out)).not.toEqual(Array.from(a.out));
});
