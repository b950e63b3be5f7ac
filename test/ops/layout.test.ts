/**
 * Layout ops: reshape (a view, −1 inferred), transpose (last two axes, batched), permute and
 * expand, forward and backward. Forward results and the gradients of reshape/transpose/permute
 * are pure copies, so they must be bit-exact; expand's gradient sums copies, which is exact for
 * integer seeds and within γ_n · Σ|g| for float seeds.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import {
  Rng,
  abs,
  dot,
  expectClose,
  expectExact,
  gamma,
  nd,
  numericGrad,
  read,
  readGrad,
  refExpand,
  refPermute,
  refSumToShape,
  refTranspose,
  sizeOf,
  upload,
  type Shape,
} from '../helpers.ts';

beforeAll(async () => {
  await hg.init();
});

function permutations(n: number): number[][] {
  if (n === 1) return [[0]];
  const out: number[][] = [];
  for (const p of permutations(n - 1)) {
    for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
  }
  return out;
}

describe('reshape', () => {
  const CASES: [Shape, Shape, Shape][] = [
    // [input, requested, resulting]
    [
      [2, 3, 4],
      [6, 4],
      [6, 4],
    ],
    [
      [2, 3, 4],
      [4, -1],
      [4, 6],
    ],
    [[2, 3, 4], [-1], [24]],
    [
      [2, 3, 4],
      [2, -1, 2],
      [2, 6, 2],
    ],
    [[24], [1, 24, 1], [1, 24, 1]],
    [[7], [7, 1], [7, 1]],
    [[1], [], []],
    [[], [1, 1], [1, 1]],
    [
      [129, 3],
      [-1, 129],
      [3, 129],
    ],
  ];
  for (const [from, to, result] of CASES) {
    test(`[${from}] → [${to}]: same data, gradient reshaped back`, async () => {
      const rng = new Rng(sizeOf(from) + to.length);
      const x = rng.f32(sizeOf(from));
      const tx = upload(x, from, true);
      const y = hg.reshape(tx, to);
      expect(y.shape).toEqual([...result]);
      expectExact(await y.read(), x, 'reshape data');
      const g = rng.f32(sizeOf(result));
      y.backward(upload(g, result));
      expect(tx.grad!.shape).toEqual([...from]);
      expectExact(await readGrad(tx), g, 'reshape grad');
    });
  }

  test('a reshape is a view: it outlives the original handle', async () => {
    const x = hg.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const y = hg.reshape(x, [3, 2]);
    x.dispose();
    expect(Array.from(await y.read())).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('bad reshapes name the op, the shapes and what is valid', () => {
    const x = hg.zeros([2, 3, 4]);
    expect(() => hg.reshape(x, [5, 5])).toThrow(/reshape: cannot reshape \[2, 3, 4\] \(24 elements\) to \[5, 5\] \(25 elements\)/);
    expect(() => hg.reshape(x, [-1, -1])).toThrow(/reshape: at most one dimension may be −1/);
    expect(() => hg.reshape(x, [5, -1])).toThrow(/reshape: cannot infer −1 in \[5, -1\] for a tensor of 24 elements/);
    expect(() => hg.reshape(x, [2.5, 4])).toThrow(/reshape: target shape \[2\.5, 4\] has dimension 0 = 2\.5/);
    expect(() => hg.reshape(x, [-2, -12])).toThrow(/reshape: target shape \[-2, -12\] has dimension 0 = -2; dimensions must be positive integers/);
  });
});

describe('transpose and permute', () => {
  const TRANSPOSE: Shape[] = [
    [3, 5],
    [1, 7],
    [7, 1],
    [2, 3, 5],
    [2, 1, 3, 4],
    [129, 257],
  ];
  for (const shape of TRANSPOSE) {
    test(`transpose [${shape}] and its gradient`, async () => {
      const rng = new Rng(sizeOf(shape));
      const x = nd(rng.f32(sizeOf(shape)), shape);
      const tx = upload(x, undefined, true);
      const y = hg.transpose(tx);
      const ref = refTranspose(x);
      expect(y.shape).toEqual(ref.shape);
      expectExact(await read(y), ref.data, `transpose [${shape}]`, ref.shape);
      const g = nd(rng.f32(ref.data.length), ref.shape);
      y.backward(upload(g));
      expectExact(await readGrad(tx), refTranspose(g).data, `transpose [${shape}] grad`, shape);
    });
  }

  test('transpose twice is the identity, and matches matmul’s transA flag', async () => {
    const rng = new Rng(3);
    const a = rng.ints(35, -3, 3);
    const b = rng.ints(15, -3, 3);
    const ta = upload(a, [5, 7]);
    const tb = upload(b, [5, 3]);
    expectExact(await hg.transpose(hg.transpose(ta)).read(), a, 'transpose twice');
    const viaFlag = await hg.matmul(ta, tb, { transA: true }).read();
    const viaCopy = await hg.matmul(hg.transpose(ta), tb).read();
    expectExact(viaFlag, viaCopy, 'Aᵀ·B by flag vs by copy');
  });

  for (const shape of [
    [2, 3, 4],
    [3, 1, 5],
    [2, 3, 4, 5],
  ] as Shape[]) {
    test(`every permutation of [${shape}] and its gradient (the inverse permutation)`, async () => {
      const rng = new Rng(sizeOf(shape) + shape.length);
      const x = nd(rng.f32(sizeOf(shape)), shape);
      for (const perm of permutations(shape.length)) {
        const tx = upload(x, undefined, true);
        const y = hg.permute(tx, perm);
        const ref = refPermute(x, perm);
        expect(y.shape).toEqual(ref.shape);
        expectExact(await read(y), ref.data, `permute [${shape}] by [${perm}]`, ref.shape);
        const g = nd(rng.f32(ref.data.length), ref.shape);
        y.backward(upload(g));
        const inverse = new Array<number>(perm.length);
        perm.forEach((p, i) => (inverse[p] = i));
        expectExact(await readGrad(tx), refPermute(g, inverse).data, `permute [${perm}] grad`, shape);
      }
    });
  }

  // The gather kernel is written out per coalesced rank (G_RANK 1..8): reversing every axis of a
  // tensor with no size-1 dimension keeps all of them, so ranks 5 to 8 each run once.
  test('reversing the axes of rank 5, 6, 7 and 8 tensors (every gather rank)', async () => {
    for (const shape of [
      [2, 3, 2, 3, 2],
      [3, 2, 2, 3, 2, 2],
      [2, 2, 3, 2, 2, 3, 2],
      [2, 3, 2, 2, 3, 2, 2, 3],
    ] as Shape[]) {
      const rng = new Rng(sizeOf(shape));
      const x = nd(rng.f32(sizeOf(shape)), shape);
      const perm = shape.map((_, i) => shape.length - 1 - i);
      const y = hg.permute(upload(x), perm);
      expectExact(await read(y), refPermute(x, perm).data, `permute [${shape}] by [${perm}]`, refPermute(x, perm).shape);
    }
  });

  // The pad kernel is written out per rank (P_RANK 1..8; a scalar runs as rank 1): padTo at every
  // rank 0–8, some dimensions padded and some not, against a host copy; its gradient is the
  // leading block.
  test('padTo at ranks 0 to 8 (every pad rank), forward and gradient', async () => {
    for (const [from, to] of [
      [[], []],
      [[3], [5]],
      [
        [2, 3],
        [3, 5],
      ],
      [
        [2, 1, 3],
        [2, 4, 4],
      ],
      [
        [1, 2, 2, 3],
        [2, 2, 3, 3],
      ],
      [
        [2, 1, 2, 1, 3],
        [2, 2, 3, 1, 4],
      ],
      [
        [1, 2, 1, 2, 1, 2],
        [2, 2, 2, 3, 1, 2],
      ],
      [
        [2, 1, 1, 2, 1, 1, 2],
        [2, 2, 1, 3, 2, 1, 3],
      ],
      [
        [1, 2, 1, 1, 2, 1, 1, 2],
        [2, 2, 1, 2, 2, 1, 2, 3],
      ],
    ] as [Shape, Shape][]) {
      const rng = new Rng(sizeOf(to) + from.length);
      const x = nd(rng.f32(sizeOf(from)), from);
      // The host reference: where each output element reads x (-1: outside x's shape, a zero).
      const source = Array.from({ length: sizeOf(to) }, (_, i) => {
        let rem = i;
        let src = 0;
        let stride = 1;
        for (let d = to.length - 1; d >= 0; d--) {
          const c = rem % to[d]!;
          rem = Math.floor(rem / to[d]!);
          if (c >= from[d]!) return -1;
          src += c * stride;
          stride *= from[d]!;
        }
        return src;
      });
      const tx = upload(x, undefined, true);
      const y = hg.padTo(tx, to);
      expect(y.shape).toEqual(to);
      expectExact(
        await read(y),
        source.map((j) => (j < 0 ? 0 : x.data[j]!)),
        `padTo [${from}] → [${to}]`,
        to,
      );
      const g = nd(rng.f32(sizeOf(to)), to);
      y.backward(upload(g));
      // The gradient: g at the coordinates inside x.
      const grad = new Float64Array(sizeOf(from));
      source.forEach((j, i) => {
        if (j >= 0) grad[j] = g.data[i]!;
      });
      expectExact(await readGrad(tx), grad, `padTo [${from}] → [${to}] gradient`, from);
    }
  });

  test('permute gradient vs central finite differences', async () => {
    const rng = new Rng(8);
    const shape = [2, 3, 2];
    const perm = [2, 0, 1];
    const x = nd(rng.f32(12), shape);
    const ref = refPermute(x, perm);
    const w = nd(rng.f32(12), ref.shape);
    const fd = numericGrad((v) => dot(refPermute({ data: v, shape }, perm).data, w.data), x.data);
    const tx = upload(x, undefined, true);
    hg.permute(tx, perm).backward(upload(w));
    // Linear: FD is exact up to ~1e-13; the GPU gradient is an exact copy of w.
    expectClose(await readGrad(tx), fd, { atol: 1e-9, rtol: 0, label: 'permute grad vs FD' });
  });

  test('bad permutations and transposes of vectors throw', () => {
    const x = hg.zeros([2, 3, 4]);
    expect(() => hg.permute(x, [0, 1])).toThrow(/permute: \[0, 1\] is not a permutation of the 3 dimensions of \[2, 3, 4\]/);
    expect(() => hg.permute(x, [0, 1, 1])).toThrow(/permute: \[0, 1, 1\] is not a permutation/);
    expect(() => hg.transpose(hg.zeros([5]))).toThrow(/transpose: needs a tensor of rank ≥ 2.*got \[5\]/);
  });
});

describe('expand', () => {
  const CASES: [Shape, Shape][] = [
    [
      [3, 1],
      [3, 4],
    ],
    [[4], [2, 3, 4]],
    [[1], [5, 5]],
    [
      [1, 3, 1],
      [2, 3, 4],
    ],
    [
      [2, 3],
      [2, 3],
    ],
    [[], [3, 2]],
    [
      [33, 1],
      [2, 33, 129],
    ],
  ];
  for (const [from, to] of CASES) {
    test(`[${from}] → [${to}]: copies, and the gradient sums them back`, async () => {
      const rng = new Rng(sizeOf(from) * 3 + sizeOf(to));
      const x = nd(rng.f32(sizeOf(from)), from);
      const tx = upload(x, undefined, true);
      const y = hg.expand(tx, to);
      expect(y.shape).toEqual([...to]);
      expectExact(await read(y), refExpand(x, to).data, `expand [${from}] → [${to}]`, to);
      // Float seed: a sum of n = |to| / |from| copies errs by ≤ γ_n · Σ|g|.
      const g = nd(rng.f32(sizeOf(to)), to);
      y.backward(upload(g));
      const n = sizeOf(to) / sizeOf(from);
      expectClose(await readGrad(tx), refSumToShape(g, from).data, {
        atol: 0,
        rtol: 0,
        bound: refSumToShape(abs(g), from).data.map((m) => gamma(n) * m),
        shape: from,
        label: 'expand grad',
      });
      // Integer seed: exact.
      const tx2 = upload(x, undefined, true);
      const gi = nd(rng.ints(sizeOf(to), -5, 5), to);
      hg.expand(tx2, to).backward(upload(gi));
      expectExact(await readGrad(tx2), refSumToShape(gi, from).data, 'expand grad (integers)', from);
    });
  }

  test('shapes that do not broadcast throw naming both', () => {
    const x = hg.zeros([3, 2]);
    expect(() => hg.expand(x, [3, 3])).toThrow(/expand: cannot broadcast \[3, 2\] to \[3, 3\]/);
    expect(() => hg.expand(x, [2])).toThrow(/expand: cannot broadcast \[3, 2\] to \[2\]/);
  });
});
