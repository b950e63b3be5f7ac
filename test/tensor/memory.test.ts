/**
 * Explicit lifetimes: tidy() frees what it made except what it returns (nested too), keep(),
 * dispose() is idempotent, memoryStats() counts live tensors and bytes, the buffer pool makes a
 * training loop allocate nothing after its first steps, and using a disposed tensor is an error
 * naming the op. Counts are compared as differences from a baseline taken in the same test.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng, expectExact } from '../helpers.ts';

beforeAll(async () => {
  await hg.init();
});

const live = (): number => hg.memoryStats().liveTensors;

describe('tidy and keep', () => {
  test('tidy frees every tensor it made except the one it returns', async () => {
    const before = live();
    const out = hg.tidy(() => {
      const a = hg.ones([3, 4]);
      const b = hg.add(a, 1);
      const c = hg.mul(b, b);
      return hg.sum(c, 1);
    });
    expect(live()).toBe(before + 1);
    expect(Array.from(await out.read())).toEqual([16, 16, 16]);
    out.dispose();
    expect(live()).toBe(before);
  });

  test('returned tensors inside arrays, Maps and plain objects are kept', async () => {
    const before = live();
    const r = hg.tidy(() => {
      const a = hg.full([2], 1);
      const b = hg.full([2], 2);
      const c = hg.full([2], 3);
      const d = hg.full([2], 4);
      hg.full([2], 5); // dropped
      return { list: [a, { nested: b }], map: new Map([['c', c]]), d };
    });
    expect(live()).toBe(before + 4);
    expect(Array.from(await (r.list[1] as { nested: hg.Tensor }).nested.read())).toEqual([2, 2]);
    expect(Array.from(await r.map.get('c')!.read())).toEqual([3, 3]);
    for (const t of [r.list[0] as hg.Tensor, (r.list[1] as { nested: hg.Tensor }).nested, r.map.get('c')!, r.d]) t.dispose();
    expect(live()).toBe(before);
  });

  test('nested tidy: the inner result moves to the outer scope, which frees it unless returned', async () => {
    const before = live();
    let inner: hg.Tensor | null = null;
    const outer = hg.tidy(() => {
      inner = hg.tidy(() => hg.add(hg.ones([2]), hg.ones([2])));
      expect(inner.isDisposed).toBe(false);
      return hg.mul(inner, 3);
    });
    expect(inner!.isDisposed).toBe(true);
    expect(outer.isDisposed).toBe(false);
    expect(Array.from(await outer.read())).toEqual([6, 6]);
    outer.dispose();
    expect(live()).toBe(before);

    const both = hg.tidy(() => {
      const i = hg.tidy(() => hg.full([1], 7));
      return [i, hg.add(i, 1)];
    });
    expect(both.every((t) => !t.isDisposed)).toBe(true);
    expect(Array.from(await both[1]!.read())).toEqual([8]);
    both.forEach((t) => t.dispose());
    expect(live()).toBe(before);
  });

  test('keep() and t.keep() exempt a tensor from every enclosing tidy', async () => {
    const before = live();
    let kept1: hg.Tensor | null = null;
    let kept2: hg.Tensor | null = null;
    hg.tidy(() => {
      hg.tidy(() => {
        kept1 = hg.keep(hg.full([2], 1));
        kept2 = hg.full([2], 2).keep();
        hg.full([2], 3);
      });
    });
    expect(kept1!.isDisposed).toBe(false);
    expect(kept2!.isDisposed).toBe(false);
    expect(live()).toBe(before + 2);
    expect(Array.from(await kept2!.read())).toEqual([2, 2]);
    kept1!.dispose();
    kept2!.dispose();
    expect(live()).toBe(before);
  });

  test('a tensor created outside and returned from inside is left alone', () => {
    const outside = hg.ones([2]);
    const before = live();
    const r = hg.tidy(() => {
      hg.add(outside, 1);
      return outside;
    });
    expect(r).toBe(outside);
    expect(outside.isDisposed).toBe(false);
    expect(live()).toBe(before);
  });

  test('a throwing tidy frees what it made and rethrows; a Promise result is refused', async () => {
    const before = live();
    expect(() =>
      hg.tidy(() => {
        hg.ones([4]);
        hg.zeros([4]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(live()).toBe(before);
    expect(() => hg.tidy(async () => hg.ones([1]))).toThrow(/tidy\(fn\): fn returned a Promise/);
    await Promise.resolve();
    expect(live()).toBe(before);
  });

  test('forward and backward in one tidy: only the returned loss and the leaf gradients survive', async () => {
    const w = hg.randn([4, 3], { seed: 1, requiresGrad: true });
    const x = hg.randn([5, 4], { seed: 2 });
    const before = live();
    const loss = hg.tidy(() => {
      const l = hg.crossEntropy(hg.softmax(hg.matmul(x, w), { scale: 0.5 }), [0, 1, 2, 1, 0]);
      l.backward();
      return l;
    });
    expect(live()).toBe(before + 3); // the loss, the label tensor it owns, and w.grad
    expect(w.grad!.shape).toEqual([4, 3]);
    loss.dispose();
    w.zeroGrad();
    expect(live()).toBe(before);
  });
});

describe('dispose and memoryStats', () => {
  test('dispose() is idempotent and memoryStats tracks live tensors and bytes', async () => {
    const s0 = hg.memoryStats();
    const t = hg.zeros([3, 5]); // 60 bytes, one 256-byte pooled buffer
    const s1 = hg.memoryStats();
    expect(s1.liveTensors).toBe(s0.liveTensors + 1);
    expect(s1.liveBytes).toBe(s0.liveBytes + 60);
    expect(s1.inUseBytes).toBe(s0.inUseBytes + 256);
    // A view shares the storage: one more handle, no more bytes.
    const v = hg.reshape(t, [15]);
    expect(hg.memoryStats().liveTensors).toBe(s0.liveTensors + 2);
    expect(hg.memoryStats().liveBytes).toBe(s0.liveBytes + 60);
    t.dispose();
    expect(t.isDisposed).toBe(true);
    expect(hg.memoryStats().liveBytes).toBe(s0.liveBytes + 60); // the view still holds it
    t.dispose();
    expect(hg.memoryStats().liveTensors).toBe(s0.liveTensors + 1);
    expect(Array.from(await v.read())).toEqual(new Array(15).fill(0));
    v.dispose();
    v.dispose();
    const s2 = hg.memoryStats();
    expect(s2.liveTensors).toBe(s0.liveTensors);
    expect(s2.liveBytes).toBe(s0.liveBytes);
    expect(s2.inUseBytes).toBe(s0.inUseBytes);
    expect(s2.pooledBytes).toBeGreaterThanOrEqual(256); // the buffer went back to the pool
    expect(s2.inUseBytes).toBeGreaterThanOrEqual(s2.liveBytes);
  });

  test('bytes of a larger tensor round up to its size class and come back to the pool', () => {
    const s0 = hg.memoryStats();
    const t = hg.zeros([1000, 3]); // 12000 bytes → size class 12288 (quarter powers of two)
    const s1 = hg.memoryStats();
    expect(s1.liveBytes - s0.liveBytes).toBe(12000);
    expect(s1.inUseBytes - s0.inUseBytes).toBe(12288);
    t.dispose();
    const s2 = hg.memoryStats();
    expect(s2.inUseBytes).toBe(s0.inUseBytes);
    expect(s2.pooledBytes - s1.pooledBytes).toBe(12288);
    // The same size again is served from the pool.
    const u = hg.zeros([3000]);
    expect(hg.memoryStats().buffersCreated).toBe(s2.buffersCreated);
    u.dispose();
  });

  test('a disposed tensor is an error naming the op, and no output is leaked', async () => {
    const x = hg.ones([2, 3]);
    const y = hg.ones([3, 2]);
    const z = hg.ones([2, 3]);
    x.dispose();
    const before = live();
    const bytes = hg.memoryStats().liveBytes;
    expect(() => hg.exp(x)).toThrow(/^exp: .*tensor #\d+ \[2, 3\].* was disposed/);
    expect(() => hg.add(z, x)).toThrow(/^add: .*tensor #\d+ \[2, 3\].* was disposed/);
    expect(() => hg.add(x, 1)).toThrow(/^add: .*was disposed/);
    expect(() => hg.matmul(x, y)).toThrow(/^matmul: .*tensor #\d+ \[2, 3\].* was disposed/);
    expect(() => hg.softmax(x)).toThrow(/^softmax: .*was disposed/);
    expect(() => hg.sum(x)).toThrow(/^sum: .*was disposed/);
    expect(() => hg.transpose(x)).toThrow(/^transpose: .*was disposed/);
    expect(() => hg.reshape(x, [6])).toThrow(/^reshape: .*was disposed/);
    expect(() => hg.crossEntropy(x, [0, 1])).toThrow(/^crossEntropy: .*was disposed/);
    expect(live()).toBe(before);
    expect(hg.memoryStats().liveBytes).toBe(bytes);
    await expect(x.read()).rejects.toThrow(/read\(\): tensor #\d+ \[2, 3\] was disposed/);
    expect(() => x.backward()).toThrow(/backward\(\): tensor #\d+ \[2, 3\] was disposed/);
  });

  test('backward through an intermediate freed by tidy names the op that needs it', () => {
    const x = hg.ones([3], { requiresGrad: true });
    const loss = hg.tidy(() => hg.sum(hg.exp(x)));
    expect(() => loss.backward()).toThrow(/backward\(\): op 'sum' needs its input #0 \[3\], which was disposed/);
  });
});

describe('buffer pool', () => {
  test('50 training steps inside tidy create no new GPU buffers and leak no tensors', async () => {
    const rng = new Rng(5);
    let w1 = hg.tensor(rng.f32(8 * 16, -0.5, 0.5), [8, 16], { requiresGrad: true });
    let b1 = hg.zeros([16], { requiresGrad: true });
    let w2 = hg.tensor(rng.f32(16 * 5, -0.5, 0.5), [16, 5], { requiresGrad: true });
    const x = hg.tensor(rng.f32(12 * 8), [12, 8]);
    const labels = Array.from({ length: 12 }, (_, i) => (i % 6 === 0 ? -100 : i % 5));
    const losses: number[] = [];

    const step = async (): Promise<void> => {
      const loss = hg.tidy(() => {
        const h = hg.relu(hg.add(hg.matmul(x, w1), b1));
        const logits = hg.matmul(h, w2);
        const p = hg.softmax(logits, { scale: 0.5 });
        const l = hg.add(hg.crossEntropy(logits, labels), hg.mul(hg.mean(hg.sum(hg.mul(p, p), 1)), 0.1));
        l.backward();
        return l;
      });
      losses.push(await loss.item());
      loss.dispose();
      // SGD: new parameters from the old ones and their gradients, outside the tape.
      const update = (p: hg.Tensor): hg.Tensor => {
        const next = hg.noGrad(() => hg.tidy(() => hg.sub(p, hg.mul(p.grad!, 0.5))));
        next.requiresGrad = true;
        p.zeroGrad();
        p.dispose();
        return next;
      };
      w1 = update(w1);
      b1 = update(b1);
      w2 = update(w2);
    };

    for (let i = 0; i < 3; i++) await step(); // warm up the pool
    const s0 = hg.memoryStats();
    for (let i = 0; i < 50; i++) await step();
    const s1 = hg.memoryStats();
    expect(s1.buffersCreated).toBe(s0.buffersCreated);
    expect(s1.liveTensors).toBe(s0.liveTensors);
    expect(s1.liveBytes).toBe(s0.liveBytes);
    expect(s1.inUseBytes).toBe(s0.inUseBytes);
    // The loop really trains: the loss goes down.
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]!);
    for (const t of [w1, b1, w2, x]) t.dispose();
  });

  test('recycled buffers never leak old contents into new results', async () => {
    // Allocate, fill, free, and immediately reallocate the same size class many times.
    for (let i = 0; i < 20; i++) {
      const a = hg.full([100], i);
      const b = hg.add(a, 1);
      a.dispose();
      const c = hg.mul(b, 2); // likely reuses a's buffer
      b.dispose();
      expectExact(await c.read(), new Array(100).fill(2 * (i + 1)), `round ${i}`);
      c.dispose();
    }
  });
});
