/**
 * hemgpu's half of the PyTorch twin's parity check (scripts/twin-parity-export.ts; the PyTorch
 * half, python/parity.py, runs in .ci/run through scripts/twin-parity.sh, not here): the three
 * files of a case are verified checkpoints at steps 2 and 3 of the case's config (stored with the
 * case's rule of the bases' moving average, or without the field for 'absent'), trained with that
 * rule, and the expected values hold the batch, the logits, the loss, one gradient per parameter
 * that got one, and the eval logits, in the shapes the twin reads.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { exportParityCase, PARITY_CASES, parityCaseName, parityConfig, type ParityCase } from '../../scripts/twin-parity-export.ts';

beforeAll(async () => {
  await hg.init();
});

describe('twin parity export', () => {
  test('covers every model with both optimizers, and both rules of the bases (the old one stored and absent)', () => {
    expect(PARITY_CASES.map(parityCaseName)).toEqual([
      'hemnet-sgd',
      'hemnet-adamw',
      'emanet-sgd',
      'emanet-adamw',
      'pooling-sgd',
      'pooling-adamw',
      'plain-sgd',
      'plain-adamw',
      'hemnet-sgd-l2norm',
      'emanet-adamw-absent',
    ]);
    expect([...hg.SEG_MODELS].sort()).toEqual([...new Set(PARITY_CASES.map((c) => c.model))].sort());
    expect(parityConfig(PARITY_CASES[0]!).basesAverage).toBe('plain');
    expect(PARITY_CASES.map((c) => parityConfig(c).basesAverage)).toContain('l2norm');
  });

  const cases: [string, ParityCase][] = (
    [
      { model: 'hemnet', optimizer: 'adamw', basesAverage: 'plain' },
      { model: 'pooling', optimizer: 'sgd', basesAverage: 'plain' },
      { model: 'emanet', optimizer: 'adamw', basesAverage: 'absent' },
    ] as const
  ).map((c) => [parityCaseName(c), c]);
  test.each(cases)('%s: the checkpoints before and after the step and the expected values', async (_name, c) => {
    const files = await exportParityCase(c);
    const init = hg.readWeights(files.init, 'init');
    const stepped = hg.readWeights(files.stepped, 'stepped');
    expect([init.step, stepped.step]).toEqual([2, 3]);
    expect(stepped.config).toEqual(parityConfig(c));
    expect(stepped.history.loss).toHaveLength(3);
    // The stored config names the rule, or lacks the field ('absent': read back as 'l2norm').
    for (const w of [init, stepped]) {
      const flags = JSON.parse(w.checkpoint.metadata.flags!) as Record<string, unknown>;
      expect(flags.basesAverage).toBe(c.basesAverage === 'absent' ? undefined : c.basesAverage);
    }
    // The bases after three updates: 'pooling' has one; the old rule leaves every row of unit norm, the plain average does not.
    const mu0 = stepped.checkpoint.tensors['buffer.em.em.mu0']!;
    expect(mu0.shape).toEqual([c.model === 'pooling' ? 1 : 4, 16]);
    const norms = Array.from({ length: mu0.shape[0]! }, (_, k) => Math.hypot(...(mu0.data as Float32Array).subarray(k * 16, (k + 1) * 16)));
    if (parityConfig(c).basesAverage === 'l2norm') for (const n of norms) expect(n).toBeCloseTo(1, 5);
    else expect(Math.max(...norms.map((n) => Math.abs(n - 1)))).toBeGreaterThan(1e-3);
    // The step changed every weight that had a gradient, and the optimizer state is not the zeros of a fresh one.
    const w0 = init.checkpoint.tensors['param.classifier.weight']!.data as Float32Array;
    const w1 = stepped.checkpoint.tensors['param.classifier.weight']!.data as Float32Array;
    expect(w1.some((v, i) => v !== w0[i])).toBe(true);
    // The optimizer state is not a fresh one's zeros: every parameter that had gradients has moments
    // (makeOptimizer's groups: weights, then norms and biases, each in the model's order).
    const names = (init.checkpoint.metadata.model ?? '').split(';').map((s) => s.slice(0, s.indexOf('[')));
    const groups = [names.filter((n) => n.endsWith('.weight')), names.filter((n) => !n.endsWith('.weight'))];
    const optMeta = JSON.parse(init.checkpoint.metadata.optimizer!) as { groups: { params: { step: number }[] }[] };
    groups.forEach((g, gi) =>
      g.forEach((name, i) => {
        const frozen = c.model === 'emanet' && name.startsWith('em.conv1.');
        expect(optMeta.groups[gi]!.params[i]!.step, name).toBe(frozen ? 0 : 2);
        const state = init.checkpoint.tensors[`optim.${gi}.${i}.${c.optimizer === 'sgd' ? 'momentum_buffer' : 'exp_avg'}`]!.data as Float32Array;
        expect(
          state.some((v) => v !== 0),
          name,
        ).toBe(!frozen);
      }),
    );

    const ex = hg.decodeSafetensors(files.expect, 'expect');
    const meta = JSON.parse(ex.metadata.case!) as Record<string, unknown>;
    expect(meta).toMatchObject({ ...c, name: parityCaseName(c), step: 2, dropout: 0, inChannels: 3, classes: 21, ignoreIndex: 255 });
    expect(meta.lr).toBe(hg.learningRate(parityConfig(c), 2));
    expect(ex.tensors.x!.shape).toEqual([2, 32, 32, 3]);
    expect(ex.tensors.labels).toMatchObject({ dtype: 'I32', shape: [2, 32, 32] });
    const labels = ex.tensors.labels!.data as Int32Array;
    expect(labels.some((l) => l === 255) && labels.every((l) => l === 255 || (l >= 0 && l < 21))).toBe(true);
    for (const k of ['logits', 'eval_logits']) {
      expect(ex.tensors[k]!.shape).toEqual([2, 32, 32, 21]);
      expect((ex.tensors[k]!.data as Float32Array).every(Number.isFinite)).toBe(true);
    }
    const loss = (ex.tensors.loss!.data as Float32Array)[0]!;
    expect(loss).toBe(Math.fround(stepped.history.loss[2]!));
    // One gradient per parameter, in hemgpu's layout; EMANet's EM unit passes none to its first conv.
    const params = (stepped.checkpoint.metadata.model ?? '').split(';').map((s) => s.slice(0, s.indexOf('[')));
    const withGrad = params.filter((p) => !(c.model === 'emanet' && p.startsWith('em.conv1.')));
    expect(
      Object.keys(ex.tensors)
        .filter((k) => k.startsWith('grad.'))
        .sort(),
    ).toEqual(withGrad.map((p) => `grad.${p}`).sort());
    for (const p of withGrad) expect(ex.tensors[`grad.${p}`]!.shape).toEqual(stepped.checkpoint.tensors[`param.${p}`]!.shape);
  });
});
