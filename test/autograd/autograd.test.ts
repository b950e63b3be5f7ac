/**
 * The autograd tape: gradient accumulation for tensors used more than once, diamond graphs,
 * .grad accumulating across backward calls, noGrad, detach, seeds for non-scalar roots, deep
 * graphs. Inputs are small integers and every op used (add, sub, mul by integers, sum, reshape)
 * is exact on them, so the expected gradients are compared for exact equality; where exp enters,
 * its 3 + 2|x| ULP accuracy (helpers.ts) sets the bound.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng, U, ULP, expectClose, expectExact, readGrad } from '../helpers.ts';
import { backwardPausing } from '../../src/autograd/tape.ts';
import { tidyAsync } from '../../src/tensor/scope.ts';

beforeAll(async () => {
  await hg.init();
});

const X = [1, -2, 3, 0, 4, -1];

function leaf(values = X, shape = [2, 3]): hg.Tensor {
  return hg.tensor(values, shape, { requiresGrad: true });
}

describe('accumulation', () => {
  test('a tensor used twice in one op: mul(x, x) → 2x, add(x, x) → 2, sub(x, x) → 0', async () => {
    const x = leaf();
    hg.sum(hg.mul(x, x)).backward();
    expectExact(
      await readGrad(x),
      X.map((v) => 2 * v),
      'd Σx² / dx',
    );
    const y = leaf();
    hg.sum(hg.add(y, y)).backward();
    expectExact(
      await readGrad(y),
      X.map(() => 2),
      'd Σ(x + x) / dx',
    );
    const z = leaf();
    hg.sum(hg.sub(z, z)).backward();
    expectExact(
      await readGrad(z),
      X.map(() => 0),
      'd Σ(x − x) / dx',
    );
  });

  test('a tensor used by several ops: x·3 + x·x + x → 3 + 2x + 1', async () => {
    const x = leaf();
    hg.sum(hg.add(hg.add(hg.mul(x, 3), hg.mul(x, x)), x)).backward();
    expectExact(
      await readGrad(x),
      X.map((v) => 4 + 2 * v),
      'grad',
    );
  });

  test('diamond: a = 2x feeds two branches that meet again', async () => {
    // d = a² + 3a with a = 2x: dd/dx = (2a + 3) · 2 = 8x + 6.
    const x = leaf();
    const a = hg.mul(x, 2);
    const d = hg.add(hg.mul(a, a), hg.mul(a, 3));
    hg.sum(d).backward();
    expectExact(
      await readGrad(x),
      X.map((v) => 8 * v + 6),
      'diamond grad',
    );
    expect(a.grad).toBeNull(); // intermediate tensors get no .grad
  });

  test('diamond with a non-linear branch: sum(exp(a) + 3a), a = 2x', async () => {
    const xs = [0.5, -1, 0.25, 1];
    const x = leaf(xs, [4]);
    const a = hg.mul(x, 2);
    hg.sum(hg.add(hg.exp(a), hg.mul(a, 3))).backward();
    // 2·exp(2x) + 6: exp's error (3 + 2|2x|) ULP, one rounding each for g·exp (u), the sum (u),
    // and ·2 is exact.
    const expected = xs.map((v) => 2 * Math.exp(2 * v) + 6);
    const bound = xs.map((v) => 2 * Math.exp(2 * v) * ((3 + 4 * Math.abs(v)) * ULP + U) + U * Math.abs(2 * Math.exp(2 * v) + 6));
    expectClose(await readGrad(x), expected, { atol: 0, rtol: 0, bound, label: 'grad' });
  });

  test('two inputs reached through shared views: sum(x) + sum(reshape(x, [-1]))', async () => {
    const x = leaf();
    hg.add(hg.sum(x), hg.sum(hg.reshape(x, [-1]))).backward();
    expectExact(
      await readGrad(x),
      X.map(() => 2),
      'grad',
    );
  });

  test('.grad accumulates across two backward calls, and zeroGrad resets it', async () => {
    const x = leaf();
    hg.sum(hg.mul(x, 3)).backward();
    hg.sum(hg.mul(x, x)).backward();
    expectExact(
      await readGrad(x),
      X.map((v) => 3 + 2 * v),
      'accumulated',
    );
    x.zeroGrad();
    expect(x.grad).toBeNull();
    hg.sum(hg.mul(x, 5)).backward();
    expectExact(
      await readGrad(x),
      X.map(() => 5),
      'after zeroGrad',
    );
  });

  test('a deep chain (3000 ops) walks without recursion limits', async () => {
    const x = hg.tensor([1, 2], [2], { requiresGrad: true });
    let y = x;
    for (let i = 0; i < 3000; i++) y = hg.add(y, x);
    hg.sum(y).backward();
    expectExact(await readGrad(x), [3001, 3001], 'grad');
  });

  test('many consumers of one tensor (fan-out of 300)', async () => {
    const x = leaf([1, 2, 3], [3]);
    const parts = Array.from({ length: 300 }, (_, i) => hg.mul(x, i % 7));
    let total = parts[0]!;
    for (let i = 1; i < parts.length; i++) total = hg.add(total, parts[i]!);
    hg.sum(total).backward();
    const s = Array.from({ length: 300 }, (_, i) => i % 7).reduce((a, b) => a + b, 0);
    expectExact(await readGrad(x), [s, s, s], 'grad');
  });
});

describe('noGrad and detach', () => {
  test('noGrad records nothing and restores the mode, also after a throw', async () => {
    const x = leaf();
    expect(hg.isGradEnabled()).toBe(true);
    const y = hg.noGrad(() => {
      expect(hg.isGradEnabled()).toBe(false);
      return hg.mul(x, 2);
    });
    expect(hg.isGradEnabled()).toBe(true);
    expect(y.requiresGrad).toBe(false);
    expect(y.gradNode).toBeNull();
    expect(() => hg.sum(y).backward()).toThrow(/backward\(\): this tensor \[\] does not require grad/);
    expect(() =>
      hg.noGrad(() => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(hg.isGradEnabled()).toBe(true);
    // Nested: the inner call leaves the outer mode in place.
    hg.noGrad(() => {
      hg.noGrad(() => undefined);
      expect(hg.isGradEnabled()).toBe(false);
    });
    expect(Array.from(await y.read())).toEqual(X.map((v) => 2 * v));
  });

  test('detach cuts the graph: d/dx Σ(detach(x) · x) = x', async () => {
    const x = leaf();
    const d = x.detach();
    expect(d.requiresGrad).toBe(false);
    expect(Array.from(await d.read())).toEqual(X);
    hg.sum(hg.mul(d, x)).backward();
    expectExact(await readGrad(x), X, 'grad');
    expect(d.grad).toBeNull();
    expect(() => hg.sum(hg.mul(x.detach(), 2)).backward()).toThrow(/does not require grad/);
  });

  test('detach of an intermediate stops gradients flowing further back', async () => {
    const x = leaf();
    const a = hg.mul(x, 3);
    // a·x with a detached: gradient a = 3x only through the second factor.
    hg.sum(hg.mul(a.detach(), x)).backward();
    expectExact(
      await readGrad(x),
      X.map((v) => 3 * v),
      'grad',
    );
  });

  test('inputs without requiresGrad get no gradient', async () => {
    const x = leaf();
    const c = hg.tensor(X, [2, 3]);
    hg.sum(hg.mul(x, c)).backward();
    expect(c.grad).toBeNull();
    expectExact(await readGrad(x), X, 'grad');
  });
});

describe('seeds', () => {
  test('backward with a seed on a non-scalar: grad = seed ⊙ ∂y/∂x', async () => {
    const x = leaf();
    const w = [2, 1, -1, 3, 0, 5];
    const y = hg.mul(x, hg.tensor(w, [2, 3])); // [2, 3]
    const seed = [1, -2, 3, 4, -5, 6];
    y.backward(hg.tensor(seed, [2, 3]));
    expectExact(
      await readGrad(x),
      w.map((v, i) => v * seed[i]!),
      'grad',
    );
  });

  test('a seed on a scalar scales the gradient', async () => {
    const x = leaf();
    hg.sum(hg.mul(x, x)).backward(hg.tensor(3));
    expectExact(
      await readGrad(x),
      X.map((v) => 6 * v),
      'grad',
    );
  });

  test('a seed of the wrong shape, or none for a non-scalar, throws naming both shapes', () => {
    const x = leaf();
    const y = hg.mul(x, 2);
    expect(() => y.backward(hg.ones([3, 2]))).toThrow(/backward\(\): seed gradient has shape \[3, 2\] but the tensor has shape \[2, 3\]/);
    expect(() => y.backward()).toThrow(/backward\(\): the tensor has shape \[2, 3\], not a scalar/);
  });

  test('the seed tensor is left intact and usable after backward', async () => {
    const x = leaf();
    const seed = hg.tensor([1, 1, 1, 1, 1, 1], [2, 3]);
    hg.add(x, 1).backward(seed);
    expect(seed.isDisposed).toBe(false);
    expect(Array.from(await seed.read())).toEqual([1, 1, 1, 1, 1, 1]);
    expectExact(await readGrad(x), [1, 1, 1, 1, 1, 1], 'grad');
  });

  test('backward on a leaf: its gradient is the seed', async () => {
    const x = hg.tensor([4], [], { requiresGrad: true });
    x.backward();
    expectExact(await readGrad(x), [1], 'leaf scalar');
    const v = leaf();
    v.backward(hg.tensor(X, [2, 3]));
    expectExact(await readGrad(v), X, 'leaf with seed');
  });
});

describe('mixed graphs', () => {
  test('matmul → relu → sum with integer data is exact', async () => {
    const rng = new Rng(4);
    const a = hg.tensor(rng.ints(12, -3, 3), [3, 4], { requiresGrad: true });
    const b = hg.tensor(rng.ints(20, -3, 3), [4, 5], { requiresGrad: true });
    const av = Array.from(await a.read());
    const bv = Array.from(await b.read());
    const c = hg.matmul(a, b);
    hg.sum(hg.relu(c)).backward();
    const cv = Array.from(await c.read());
    // dC = [C > 0]; dA = dC · Bᵀ; dB = Aᵀ · dC, all small integers.
    const mask = cv.map((v) => (v > 0 ? 1 : 0));
    const da = Array.from({ length: 12 }, (_, idx) => {
      const i = Math.floor(idx / 4);
      const k = idx % 4;
      let s = 0;
      for (let j = 0; j < 5; j++) s += mask[i * 5 + j]! * bv[k * 5 + j]!;
      return s;
    });
    const db = Array.from({ length: 20 }, (_, idx) => {
      const k = Math.floor(idx / 5);
      const j = idx % 5;
      let s = 0;
      for (let i = 0; i < 3; i++) s += av[i * 4 + k]! * mask[i * 5 + j]!;
      return s;
    });
    expectExact(await readGrad(a), da, 'dA');
    expectExact(await readGrad(b), db, 'dB');
  });
});

describe('backwardPausing and tidyAsync (the trainer’s interruptible first step)', () => {
  /** A small graph with several nodes: Σ exp(x·w) + Σ (x + w)², x and w leaves. */
  const graph = (): { x: hg.Tensor; w: hg.Tensor; loss: hg.Tensor } => {
    const x = leaf();
    const w = leaf([0.5, -0.25, 0.125, 1, -1, 0.75]);
    const loss = hg.add(hg.sum(hg.exp(hg.mul(x, w))), hg.sum(hg.mul(hg.add(x, w), hg.add(x, w))));
    return { x, w, loss };
  };

  test('never stopped, it accumulates exactly what backward() does, pausing between nodes', async () => {
    const a = graph();
    a.loss.backward();
    const b = graph();
    let pauses = 0;
    const done = await tidyAsync(async () =>
      backwardPausing(
        b.loss,
        async () => {
          pauses++;
          await new Promise<void>((r) => setImmediate(r));
          return false;
        },
        0,
      ),
    );
    expect(done).toBe(true);
    expect(pauses).toBeGreaterThan(3);
    expect(hg.isGradEnabled()).toBe(true);
    expectExact(await readGrad(b.x), await readGrad(a.x), 'dx');
    expectExact(await readGrad(b.w), await readGrad(a.w), 'dw');
    for (const t of [a.x, a.w, a.loss, b.x, b.w, b.loss]) t.dispose();
  });

  test('stopped mid-walk: false, gradients back on, every intermediate freed (only the leaves’ partial grads remain)', async () => {
    const before = hg.memoryStats().liveTensors;
    const { x, w, loss } = graph();
    let pauses = 0;
    let insideOff: boolean | null = null;
    const done = await tidyAsync(async () =>
      backwardPausing(
        loss,
        async () => {
          insideOff = hg.isGradEnabled(); // gradients as they were while it waits
          return ++pauses === 2;
        },
        0,
      ),
    );
    expect([done, pauses, insideOff, hg.isGradEnabled()]).toEqual([false, 2, true, true]);
    // The graph (loss and its intermediates) was made outside tidyAsync: free it, then the leaves
    // and whatever partial gradients they hold; nothing else may be left.
    loss.dispose();
    for (const t of [x, w]) {
      t.grad?.dispose();
      t.dispose();
    }
    const left = hg.memoryStats().liveTensors - before;
    // the forward's intermediates outside the scope: exp, mul, add ×2, mul, sum ×2 (7); none of the walk's
    expect(left).toBe(7);
  });

  test('tidyAsync keeps what it returns, frees the rest across awaits, and refuses a second one open at once', async () => {
    const before = hg.memoryStats().liveTensors;
    const kept = await tidyAsync(async () => {
      const a = hg.tensor([1, 2, 3], [3]);
      await new Promise<void>((r) => setImmediate(r));
      const b = hg.mul(a, a);
      return hg.add(b, a);
    });
    expect(hg.memoryStats().liveTensors - before).toBe(1);
    expectExact(await kept.read(), [2, 6, 12], 'a² + a');
    kept.dispose();
    const first = tidyAsync(async () => {
      await new Promise<void>((r) => setImmediate(r));
      return 1;
    });
    await expect(tidyAsync(async () => 2)).rejects.toThrow(/another tidyAsync is open/);
    expect(await first).toBe(1);
    // A throw inside frees everything it made.
    await expect(
      tidyAsync(async () => {
        hg.tensor([1, 2], [2]);
        await new Promise<void>((r) => setImmediate(r));
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(hg.memoryStats().liveTensors).toBe(before);
  });
});
