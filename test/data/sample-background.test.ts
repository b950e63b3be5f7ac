/**
 * Background sampling for the training loss (src/train/trainer.ts sampleBackground) and the
 * learning-rate warm-up (learningRate): which pixels are dropped, the share kept, determinism by
 * (seed, step), keep = 1 as the identity, and bad input. Host-only.
 */
import { describe, expect, it } from 'vitest';
import { IGNORE_LABEL as IGNORE } from '../../src/ops/cross-entropy.ts';
import { sampleBackground } from '../../src/train/batch.ts';
import { learningRate } from '../../src/train/setup.ts';
import { polyLr } from '../../src/optim/schedule.ts';

function labelsOf(n: number): Int32Array {
  // Background on 3 of every 4 pixels, digit classes 1..10 and one ignored pixel elsewhere.
  const l = new Int32Array(n);
  for (let i = 0; i < n; i++) l[i] = i % 4 === 0 ? 1 + ((i >> 2) % 10) : 0;
  l[2] = IGNORE;
  return l;
}

describe('sampleBackground', () => {
  it('only background pixels become the ignore label; digit and ignored pixels stay', () => {
    const before = labelsOf(40000);
    const after = sampleBackground(before.slice(), 0.3, 1, 7);
    let bg = 0;
    let kept = 0;
    for (let i = 0; i < before.length; i++) {
      if (before[i] === 0) {
        bg++;
        expect(after[i] === 0 || after[i] === IGNORE).toBe(true);
        if (after[i] === 0) kept++;
      } else {
        expect(after[i]).toBe(before[i]);
      }
    }
    // 29,999 Bernoulli(0.3) draws: sd = sqrt(0.3·0.7/n) ≈ 0.0026; 5 sd.
    expect(Math.abs(kept / bg - 0.3)).toBeLessThan(0.014);
  });

  it('is deterministic by (seed, step) and differs across steps; works in place', () => {
    const a = labelsOf(5000);
    const r = sampleBackground(a, 0.5, 3, 11);
    expect(r).toBe(a);
    expect(Array.from(sampleBackground(labelsOf(5000), 0.5, 3, 11))).toEqual(Array.from(a));
    expect(Array.from(sampleBackground(labelsOf(5000), 0.5, 3, 12))).not.toEqual(Array.from(a));
    expect(Array.from(sampleBackground(labelsOf(5000), 0.5, 4, 11))).not.toEqual(Array.from(a));
  });

  it('keep = 1 changes nothing; keep outside (0, 1] is refused', () => {
    const l = labelsOf(1000);
    expect(Array.from(sampleBackground(l.slice(), 1, 1, 1))).toEqual(Array.from(l));
    expect(() => sampleBackground(l, 0, 1, 1)).toThrow('sampleBackground: keep must be in (0, 1], got 0.');
    expect(() => sampleBackground(l, 1.5, 1, 1)).toThrow('sampleBackground: keep must be in (0, 1], got 1.5.');
    expect(() => sampleBackground(l, NaN, 1, 1)).toThrow('sampleBackground: keep must be in (0, 1], got NaN.');
  });
});

describe('learningRate', () => {
  it('warm-up ramps linearly to the poly schedule, then follows it exactly', () => {
    const f = { lr: 0.01, steps: 100, warmup: 4 };
    for (let s = 0; s < 4; s++) expect(learningRate(f, s)).toBeCloseTo((polyLr(0.01, s, 100) * (s + 1)) / 5, 15);
    for (let s = 4; s <= 100; s++) expect(learningRate(f, s)).toBe(polyLr(0.01, s, 100));
    // No warm-up (or none given): the poly schedule from step 0.
    for (const g of [
      { lr: 0.01, steps: 100, warmup: 0 },
      { lr: 0.01, steps: 100 },
    ])
      expect(learningRate(g, 0)).toBe(0.01);
  });
});
