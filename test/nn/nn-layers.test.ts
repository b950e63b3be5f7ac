/**
 * The layers of src/nn/ (Conv2d, BatchNorm, ConvBnRelu, EmBlock) built from options objects:
 * defaults, parameter and buffer names (the checkpoint keys), refusals that name the option;
 * SegNet's initial weights are exactly the He-normal draws of each layer's seed (config seed +
 * the layer's offset), as at 4ad1b4d; EmBlock's 'emau' unit refuses an eta instead of dropping
 * it, and SegNet's 'emanet' ignores the config's eta (η = 1) while 'hemnet' uses it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as hg from '../../src/index.node.ts';

beforeAll(async () => {
  await hg.init();
});

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

async function host(t: hg.Tensor): Promise<Float32Array> {
  return t.read();
}

describe('layers from options objects', () => {
  it('Conv2d: defaults stride 1, dilation 1, bias; names weight and bias; same-size output', async () => {
    const c = new hg.Conv2d({ inChannels: 2, outChannels: 3, kernelSize: 3, seed: 4 });
    try {
      expect([c.stride, c.dilation, c.kernelSize]).toEqual([1, 1, 3]);
      expect([...c.parameters().keys()]).toEqual(['weight', 'bias']);
      expect(c.parameters().get('weight')!.shape).toEqual([3, 3, 2, 3]);
      const y = hg.tidy(() => hg.noGrad(() => c.forward(hg.ones([1, 5, 7, 2]))));
      expect(y.shape).toEqual([1, 5, 7, 3]);
      y.dispose();
    } finally {
      c.dispose();
    }
    const noBias = new hg.Conv2d({ inChannels: 2, outChannels: 3, kernelSize: 1, bias: false, stride: 2 });
    try {
      expect([...noBias.parameters().keys()]).toEqual(['weight']);
    } finally {
      noBias.dispose();
    }
  });

  it('Conv2d weights are the He-normal draw of the layer seed', async () => {
    const c = new hg.Conv2d({ inChannels: 3, outChannels: 5, kernelSize: 3, seed: 13 });
    try {
      const want = hg.noGrad(() => hg.randn([3, 3, 3, 5], { seed: (13 * 7919) >>> 0, std: Math.sqrt(2 / 27) }));
      expect(bits(await host(c.parameters().get('weight')!))).toEqual(bits(await host(want)));
      want.dispose();
      expect(Array.from(await host(c.parameters().get('bias')!))).toEqual([0, 0, 0, 0, 0]);
    } finally {
      c.dispose();
    }
  });

  it('BatchNorm: γ (initial value), β, running statistics', async () => {
    const bn = new hg.BatchNorm({ channels: 3, gamma: 0.25 });
    try {
      expect([...bn.parameters().keys()]).toEqual(['gamma', 'beta']);
      expect([...bn.buffers().keys()]).toEqual(['runningMean', 'runningVar']);
      expect(Array.from(await host(bn.parameters().get('gamma')!))).toEqual([0.25, 0.25, 0.25]);
      expect(Array.from(await host(bn.buffers().get('runningVar')!))).toEqual([1, 1, 1]);
    } finally {
      bn.dispose();
    }
  });

  it('ConvBnRelu: a bias-free conv and a norm, named conv and bn', () => {
    const l = new hg.ConvBnRelu({ inChannels: 2, outChannels: 4, kernelSize: 3, dilation: 2, seed: 1 });
    try {
      expect([...l.parameters().keys()]).toEqual(['conv.weight', 'bn.gamma', 'bn.beta']);
      expect(l.conv.dilation).toBe(2);
    } finally {
      l.dispose();
    }
  });

  it('bad options are refused, naming the layer and the option', () => {
    expect(() => new hg.Conv2d({ inChannels: 0, outChannels: 3, kernelSize: 3 })).toThrow('Conv2d: inChannels must be a positive integer, got 0.');
    expect(() => new hg.Conv2d({ inChannels: 1, outChannels: 3, kernelSize: 3, stride: 1.5 })).toThrow('Conv2d: stride must be a positive integer, got 1.5.');
    expect(() => new hg.BatchNorm({ channels: 2, gamma: NaN })).toThrow('BatchNorm: gamma must be a finite number, got NaN.');
    expect(() => new hg.EmBlock({ unit: 'hem', channels: -1, bases: 2, iterations: 1, seed: 1 })).toThrow('EmBlock: channels must be a positive integer, got -1.');
  });
});

describe('EmBlock', () => {
  const common = { channels: 8, bases: 4, iterations: 2, seed: 5 };

  it("'hem' passes its eta to the HEM layer; 'emau' is EMANet's unit", () => {
    const h = new hg.EmBlock({ unit: 'hem', eta: 0.3, ...common });
    const e = new hg.EmBlock({ unit: 'emau', ...common });
    try {
      expect(h.em.options.eta).toBe(0.3);
      expect(h.em).not.toBeInstanceOf(hg.EMAU);
      expect(e.em).toBeInstanceOf(hg.EMAU);
      expect(e.em.options.eta).toBeUndefined();
      const names = ['conv1.weight', 'conv1.bias', 'conv2.weight', 'bn.gamma', 'bn.beta'];
      expect([...h.parameters().keys()]).toEqual(names);
      expect([...e.buffers().keys()]).toEqual(['em.mu0', 'bn.runningMean', 'bn.runningVar']);
    } finally {
      h.dispose();
      e.dispose();
    }
  });

  it("'emau' refuses an eta (it used to drop it silently); an unknown unit is refused", () => {
    // @ts-expect-error the 'emau' unit takes no eta
    expect(() => new hg.EmBlock({ unit: 'emau', eta: 0.5, ...common })).toThrow(
      "EmBlock: the 'emau' unit is EMANet's EM attention (η = 1) and takes no eta, got eta 0.5; use unit 'hem' for another step size.",
    );
    // @ts-expect-error not a unit
    expect(() => new hg.EmBlock({ unit: 'transformer', ...common })).toThrow("EmBlock: unknown unit 'transformer'; use 'hem' or 'emau'.");
  });
});

describe('SegNet', () => {
  const base: hg.SegNetConfig = { model: 'hemnet', inChannels: 1, classes: 11, channels: 8, bases: 4, eta: 0.5, iterations: 2, seed: 3, width: 4, dilation: 2, emGamma: 1 };

  it('initial weights: each layer the He-normal draw of seed + its offset; checkpoint keys as before', async () => {
    const m = new hg.SegNet(base);
    try {
      const p = m.parameters();
      expect([...p.keys()]).toEqual([
        ...['stem0', 'stem1', 'stem2', 'pre'].flatMap((l) => [`${l}.conv.weight`, `${l}.bn.gamma`, `${l}.bn.beta`]),
        'em.conv1.weight',
        'em.conv1.bias',
        'em.conv2.weight',
        'em.bn.gamma',
        'em.bn.beta',
        'post.conv.weight',
        'post.bn.gamma',
        'post.bn.beta',
        'classifier.weight',
        'classifier.bias',
      ]);
      expect([...m.buffers().keys()]).toEqual([
        ...['stem0', 'stem1', 'stem2', 'pre'].flatMap((l) => [`${l}.bn.runningMean`, `${l}.bn.runningVar`]),
        'em.em.mu0',
        'em.bn.runningMean',
        'em.bn.runningVar',
        'post.bn.runningMean',
        'post.bn.runningVar',
      ]);
      const offsets: [string, number][] = [
        ['stem0.conv', 10],
        ['stem1.conv', 20],
        ['stem2.conv', 30],
        ['pre.conv', 40],
        ['em.conv1', 50],
        ['em.conv2', 51],
        ['post.conv', 60],
        ['classifier', 70],
      ];
      for (const [layer, offset] of offsets) {
        const w = p.get(`${layer}.weight`)!;
        const [k, , cin] = w.shape as [number, number, number, number];
        const want = hg.noGrad(() => hg.randn([...w.shape], { seed: ((3 + offset) * 7919) >>> 0, std: Math.sqrt(2 / (k * k * cin)) }));
        expect(bits(await host(w)), layer).toEqual(bits(await host(want)));
        want.dispose();
      }
      const emau = new hg.EMAU({ channels: 8, bases: 4, seed: 53 });
      expect(bits(await host(m.buffers().get('em.em.mu0')!))).toEqual(bits(await host(emau.mu0)));
      emau.dispose();
    } finally {
      m.dispose();
    }
  });

  async function logits(config: hg.SegNetConfig): Promise<Float32Array> {
    const m = new hg.SegNet(config);
    m.eval();
    try {
      const x = hg.tensor(
        new Float32Array(2 * 16 * 16).map((_, i) => ((i * 7919) % 101) / 101),
        [2, 16, 16, 1],
      );
      const out = hg.tidy(() => hg.noGrad(() => m.forward(x)));
      x.dispose();
      const v = await out.read();
      out.dispose();
      return v;
    } finally {
      m.dispose();
    }
  }

  it("'emanet' is η = 1 whatever the config's eta; 'hemnet' uses it", async () => {
    const e1 = await logits({ ...base, model: 'emanet', eta: 0.2 });
    const e2 = await logits({ ...base, model: 'emanet', eta: 0.9 });
    expect(bits(e1)).toEqual(bits(e2));
    const h1 = await logits({ ...base, eta: 0.2 });
    const h2 = await logits({ ...base, eta: 0.9 });
    expect(bits(h1)).not.toEqual(bits(h2));
  });
});
