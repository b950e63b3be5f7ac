import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parseEval } from '../../scripts/comparison-tables.ts';

describe('scripts/comparison-tables.ts', () => {
  test("parseEval reads each seed's mIoU, region accuracies and EM diagnostics from a committed eval output", () => {
    const hem = parseEval(readFileSync('docs/results/2026-12-06-swiftshader/context64/eval-hemnet.txt', 'utf8'));
    expect([...hem.keys()]).toEqual([1, 2, 3]);
    const s2 = hem.get(2)!;
    expect([s2.miou, s2.fragments, s2.whole].map((v) => +v.toFixed(6))).toEqual([50.37, 60.53, 68.76]);
    expect([s2.maxGamma, s2.rho, s2.residual]).toEqual([0.669, 5.98, 0.731]);
    const plain = parseEval(readFileSync('docs/results/2026-12-06-swiftshader/context64/eval-plain.txt', 'utf8'));
    expect(plain.get(1)!.miou).toBeCloseTo(38.63, 10);
    expect(plain.get(1)!.maxGamma).toBeUndefined();
    expect(() => parseEval('runs/x/checkpoint.safetensors: T_eval 3: mIoU 0.5  pixel accuracy 0.9  pixel accuracy on fragments 0.4, whole 0.6')).toThrow(/no seed/);
  });
});
