/**
 * SegNet's initialisation with emGamma (the initial γ of the norm closing the EM unit's residual
 * branch): at 0 the EM unit starts as the identity, so hemnet and emanet compute exactly what
 * plain computes until the first update (the other layers' initial weights depend only on the
 * seed and the layer, not on the variant); at 1 (EMANet's choice) they do not. Also the width
 * and dilation options' shapes and a bad emGamma.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { SegNet, type SegNetConfig } from '../../src/model/segnet.ts';

beforeAll(async () => {
  await hg.init();
});

const base: SegNetConfig = { model: 'plain', inChannels: 1, classes: 11, channels: 12, bases: 4, eta: 0.5, iterations: 2, seed: 3, width: 4, dilation: 2 };

async function logits(config: SegNetConfig, x: Float32Array, shape: number[], training: boolean): Promise<Float32Array> {
  const m = new SegNet(config);
  m.train(training);
  try {
    const out = hg.tidy(() => hg.noGrad(() => m.forward(hg.tensor(x, shape), { dropoutSeed: 5 })));
    const v = await out.read();
    out.dispose();
    return v;
  } finally {
    m.dispose();
  }
}

describe('SegNet emGamma', () => {
  const shape = [2, 17, 23, 1];
  const x = new Float32Array(2 * 17 * 23).map((_, i) => ((i * 7919) % 101) / 101);

  it('emGamma 0 (the default): hemnet and emanet start out computing exactly what plain computes', async () => {
    for (const training of [true, false]) {
      const plain = await logits(base, x, shape, training);
      expect(plain.length).toBe(2 * 17 * 23 * 11);
      for (const model of ['hemnet', 'emanet'] as const) {
        // Bit-identical: the EM branch is multiplied by γ = 0 and β = 0 is added, the input is
        // post-ReLU (≥ 0) so the closing ReLU changes nothing.
        expect(Array.from(await logits({ ...base, model }, x, shape, training))).toEqual(Array.from(plain));
        expect(Array.from(await logits({ ...base, model, emGamma: 0 }, x, shape, training))).toEqual(Array.from(plain));
      }
    }
  });

  it("emGamma 1 (EMANet's initialisation) makes the EM branch count from the start", async () => {
    const plain = await logits(base, x, shape, true);
    const hem = await logits({ ...base, model: 'hemnet', emGamma: 1 }, x, shape, true);
    let diff = 0;
    for (let i = 0; i < plain.length; i++) diff = Math.max(diff, Math.abs(hem[i]! - plain[i]!));
    expect(diff).toBeGreaterThan(1e-3);
  });

  it('width and dilation set the layer shapes; the γ parameter holds the initial value', async () => {
    const m = new SegNet({ ...base, model: 'hemnet', emGamma: 0.25 });
    try {
      const p = m.parameters();
      expect(p.get('stem0.conv.weight')!.shape).toEqual([3, 3, 1, 4]);
      expect(p.get('stem1.conv.weight')!.shape).toEqual([3, 3, 4, 8]);
      expect(p.get('pre.conv.weight')!.shape).toEqual([3, 3, 8, 12]);
      expect(p.get('post.conv.weight')!.shape).toEqual([3, 3, 12, 8]);
      expect(p.get('classifier.weight')!.shape).toEqual([1, 1, 8, 11]);
      expect(m.stem[2]!.conv.dilation).toBe(2);
      expect(Array.from(await p.get('em.bn.gamma')!.read())).toEqual(new Array(12).fill(0.25));
      expect(Array.from(await p.get('em.bn.beta')!.read())).toEqual(new Array(12).fill(0));
    } finally {
      m.dispose();
    }
  });

  it('bad options are refused', () => {
    expect(() => new SegNet({ ...base, emGamma: NaN })).toThrow('SegNet: emGamma must be a finite number, got NaN.');
    expect(() => new SegNet({ ...base, width: 0 })).toThrow('SegNet: width must be a positive integer, got 0.');
    expect(() => new SegNet({ ...base, dilation: 1.5 })).toThrow('SegNet: dilation must be a positive integer, got 1.5.');
  });
});
