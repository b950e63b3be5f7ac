/**
 * sum and mean over single, multiple, negative and all axes, with and without keepdim, through
 * both kernel variants (a thread per output for many outputs / short reductions; a workgroup per
 * output for few outputs / long reductions, e.g. 100000 elements), forward and backward.
 *
 * Tolerances: a sum of n f32 terms in any order errs by at most γ_n · Σ|x| (helpers.ts); mean
 * multiplies by 1/count rounded to f32 (u) and rounds the product (u): + 2u·|mean|. Integer data
 * with partial sums below 2^24 is summed exactly by any order, so those tests demand exact results
 * and catch a single dropped or doubled element even in a 100000-element sum.
 * Backward: sum's gradient is a broadcast copy (exact); mean's is g · f32(1/count) (2u).
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { reducePlan, reduceSum, type ReducePlan } from '../../src/kernels/reduce.ts';
import { Rng, U, abs, dot, expectClose, expectExact, gamma, nd, numericGrad, read, readGrad, refExpand, refMean, refSum, sizeOf, upload, type Nd, type Shape } from '../helpers.ts';

beforeAll(async () => {
  await hg.init();
});

type Axes = number | number[] | undefined;

function reduceCount(shape: Shape, axes: Axes): number {
  const r = shape.length;
  const list = axes === undefined ? shape.map((_, i) => i) : typeof axes === 'number' ? [axes] : axes;
  return [...new Set(list.map((a) => (a < 0 ? a + r : a)))].reduce((p, a) => p * shape[a]!, 1);
}

/** The shape the gradient of a reduction broadcasts from (reduced axes set to 1). */
function keptShape(shape: Shape, axes: Axes): number[] {
  const r = shape.length;
  const list = axes === undefined ? shape.map((_, i) => i) : typeof axes === 'number' ? [axes] : axes;
  const set = new Set(list.map((a) => (a < 0 ? a + r : a)));
  return shape.map((d, i) => (set.has(i) ? 1 : d));
}

async function checkReduce(x: Nd, axes: Axes, keepdim: boolean, rng: Rng, grad = true): Promise<void> {
  const label = `[${x.shape}] axes ${JSON.stringify(axes)} keepdim=${keepdim}`;
  const n = reduceCount(x.shape, axes);
  for (const op of ['sum', 'mean'] as const) {
    const tx = upload(x, undefined, grad);
    const y = op === 'sum' ? hg.sum(tx, axes, { keepdim }) : hg.mean(tx, axes, { keepdim });
    const ref = op === 'sum' ? refSum(x, axes, keepdim) : refMean(x, axes, keepdim);
    expect(y.shape, `${op} ${label} shape`).toEqual(ref.shape);
    const mag = refSum(abs(x), axes, keepdim).data.map((m) => (op === 'mean' ? m / n : m));
    expectClose(await read(y), ref.data, {
      atol: 0,
      rtol: op === 'mean' ? 2 * U : 0,
      bound: mag.map((m) => gamma(n) * m),
      shape: ref.shape,
      label: `${op} ${label}`,
    });
    if (!grad) continue;
    const g = nd(rng.f32(ref.data.length), ref.shape);
    y.backward(upload(g));
    const expected = refExpand({ data: g.data, shape: keptShape(x.shape, axes) }, x.shape).data.map((v) => (op === 'mean' ? v / n : v));
    expectClose(await readGrad(tx), expected, {
      atol: 0,
      rtol: op === 'mean' ? 2 * U : 0,
      shape: x.shape,
      label: `${op} ${label} backward`,
    });
  }
}

describe('sum and mean: axes and keepdim', () => {
  const CASES: [Shape, Axes][] = [
    [[3, 5, 7], 0],
    [[3, 5, 7], 1],
    [[3, 5, 7], 2],
    [[3, 5, 7], -1],
    [[3, 5, 7], -3],
    [
      [3, 5, 7],
      [0, 2],
    ],
    [
      [3, 5, 7],
      [-1, -3],
    ],
    [
      [3, 5, 7],
      [0, 1, 2],
    ],
    [[3, 5, 7], undefined],
    // The same axis twice ([1, -2] on rank 3) is refused: test/tensor/errors.test.ts.
    [
      [2, 3, 4, 5],
      [1, 3],
    ],
    [
      [2, 3, 4, 5],
      [0, 1],
    ],
    [
      [2, 3, 4, 5],
      [2, 3],
    ],
    [[1, 7, 1], 1],
    [
      [1, 7, 1],
      [0, 2],
    ],
    [[129, 33], 0],
    [[129, 33], 1],
    [[257], 0],
    [[1], undefined],
    [[], undefined],
  ];
  for (const [shape, axes] of CASES) {
    for (const keepdim of [false, true]) {
      test(`[${shape}] over ${JSON.stringify(axes) ?? 'all'}${keepdim ? ', keepdim' : ''}`, async () => {
        const rng = new Rng(sizeOf(shape) * 7 + (keepdim ? 1 : 0) + JSON.stringify(axes ?? 'all').length);
        await checkReduce(nd(rng.f32(sizeOf(shape)), shape), axes, keepdim, rng);
      });
    }
  }
});

describe('the default plan at its switches', () => {
  // On a GPU the op picks a thread per output when n_red ≤ 32 or n_out ≥ 2048, else a workgroup
  // per output (a CPU driver: a thread per output always); the labels name the GPU's choice.
  const CASES: [string, Shape, Axes][] = [
    ['per-thread: short rows (n_red = 32)', [50, 32], 1],
    ['workgroup: n_red = 33, just past the switch', [50, 33], 1],
    ['per-thread: many outputs (n_out = 3000, n_red = 40)', [3000, 40], 1],
    ['workgroup: few long rows (4 × 1000)', [4, 1000], 1],
    ['workgroup: strided reduction over axis 0 of [1000, 3]', [1000, 3], 0],
    ['workgroup: reduction over outer and inner axes', [37, 5, 41], [0, 2]],
    ['per-thread: strided, many outputs (axis 0 of [40, 2100])', [40, 2100], 0],
    ['workgroup: n_out = 2047 just below the switch', [2047, 33], 1],
    ['workgroup: reduction longer than 64·k (sum of 4097)', [4097], undefined],
  ];
  for (const [label, shape, axes] of CASES) {
    test(label, async () => {
      const rng = new Rng(sizeOf(shape));
      await checkReduce(nd(rng.f32(sizeOf(shape)), shape), axes, false, rng, sizeOf(shape) < 100000);
    });
  }

  test('sum of 100000 elements (one workgroup, long reduction): exact on integers, γ-bounded on floats', async () => {
    const rng = new Rng(100000);
    const n = 100000;
    // Integers in [-8, 8]: every partial sum is an integer below 2^24 in magnitude, hence exact.
    const xi = rng.ints(n, -8, 8);
    const si = await hg.sum(upload(xi)).read();
    expectExact(Array.from(si), [xi.reduce((a, v) => a + v, 0)], 'sum of 100000 integers');
    const mi = await hg.mean(upload(xi, [250, 400]), [0, 1]).read();
    expectClose(Array.from(mi), [xi.reduce((a, v) => a + v, 0) / n], { atol: 0, rtol: 2 * U, label: 'mean of 100000 integers' });
    // Floats in [0, 1): error ≤ γ_n · Σ|x|.
    const xf = rng.f32(n, 0, 1);
    const x = nd(xf, [n]);
    const sf = await hg.sum(upload(xf)).read();
    expectClose(Array.from(sf), refSum(x).data, { atol: 0, rtol: 0, bound: [gamma(n) * refSum(abs(x)).data[0]!], label: 'sum of 100000 floats' });
    // Per-thread variant over long rows: n_out = 2048, n_red = 50 (integers, exact).
    const xr = rng.ints(2048 * 50, -8, 8);
    const sr = await hg.sum(upload(xr, [2048, 50]), 1).read();
    expectExact(sr, refSum(nd(xr, [2048, 50]), 1).data, 'row sums of [2048, 50]');
  });

  test('integer data: every variant and axis pattern is exact', async () => {
    const rng = new Rng(77);
    const cases: [Shape, Axes][] = [
      [[4, 1000], 1],
      [[1000, 4], 0],
      [[3000, 40], 1],
      [
        [37, 5, 41],
        [0, 2],
      ],
      [
        [6, 7, 8, 9],
        [1, 3],
      ],
      [
        [6, 7, 8, 9],
        [0, 2, 3],
      ],
      [[6, 7, 8, 9], undefined],
    ];
    for (const [shape, axes] of cases) {
      const x = nd(rng.ints(sizeOf(shape), -8, 8), shape);
      const y = hg.sum(upload(x), axes);
      expectExact(await read(y), refSum(x, axes).data, `sum [${shape}] over ${JSON.stringify(axes)}`);
    }
  });
});

describe('every plan on any adapter (reduceSum with a forced plan)', () => {
  // The default plan differs by adapter (a CPU driver runs every reduction a thread per output),
  // so each variant is forced here: per thread and per workgroup, whole and sliced into chunks
  // (a second pass sums the slices), over merged ranks 1–3 and the general rank-8 path.
  const PLANS: ReducePlan[] = [
    { perThread: true, chunks: 1 },
    { perThread: true, chunks: 3 },
    { perThread: false, chunks: 1 },
    { perThread: false, chunks: 4 },
  ];
  const CASES: [string, Shape, number[]][] = [
    ['all of [4097]: ragged slices', [4097], [0]],
    ['rows of [129, 33]: strided reduction', [129, 33], [0]],
    ['columns of [129, 33]', [129, 33], [1]],
    ['kept rank 2, reduced rank 2: [6, 7, 8, 9] over 1, 3', [6, 7, 8, 9], [1, 3]],
    ['kept rank 3, reduced rank 2: [3, 4, 5, 6, 7] over 1, 3', [3, 4, 5, 6, 7], [1, 3]],
    ['reduced rank 3: [3, 4, 5, 6, 7, 2] over 0, 2, 4', [3, 4, 5, 6, 7, 2], [0, 2, 4]],
    ['kept rank 5, reduced rank 4 (the general path): [2, 3, 2, 3, 2, 3, 2, 3, 2] over 1, 3, 5, 7', [2, 3, 2, 3, 2, 3, 2, 3, 2], [1, 3, 5, 7]],
    ['kept rank 4, reduced rank 5: the same over 0, 2, 4, 6, 8', [2, 3, 2, 3, 2, 3, 2, 3, 2], [0, 2, 4, 6, 8]],
  ];
  for (const [label, shape, axes] of CASES) {
    test(label, async () => {
      const rng = new Rng(sizeOf(shape) + axes.length);
      // Integers: any order sums them exactly, so a dropped or doubled element shows.
      const xi = nd(rng.ints(sizeOf(shape), -8, 8), shape);
      const xf = nd(rng.f32(sizeOf(shape)), shape);
      for (const plan of PLANS) {
        const tag = `${label}, ${plan.perThread ? 'per thread' : 'per workgroup'}, ${plan.chunks} chunk(s)`;
        const yi = reduceSum('test', upload(xi), axes, false, 1, plan);
        expectExact(await read(yi), refSum(xi, axes).data, `${tag}, integers`);
        const yf = reduceSum('test', upload(xf), axes, true, 0.5, plan);
        const ref = refSum(xf, axes, true);
        expect(yf.shape, tag).toEqual(ref.shape);
        const n = reduceCount(shape, axes);
        expectClose(
          await read(yf),
          ref.data.map((v) => 0.5 * v),
          {
            atol: 0,
            rtol: U,
            bound: refSum(abs(xf), axes, true).data.map((m) => 0.5 * gamma(n) * m),
            shape: ref.shape,
            label: `${tag}, floats scaled by 0.5`,
          },
        );
      }
    });
  }

  test('the plans: a CPU driver slices long reductions over enough threads; a GPU keeps its workgroups', () => {
    // CPU driver: a thread per output always; slices of ≥ 1024 elements for ~1024 threads.
    expect(reducePlan(1, 262144, true)).toEqual({ perThread: true, chunks: 256 });
    expect(reducePlan(64, 4096, true)).toEqual({ perThread: true, chunks: 4 });
    expect(reducePlan(48, 2048, true)).toEqual({ perThread: true, chunks: 1 });
    expect(reducePlan(4096, 64, true)).toEqual({ perThread: true, chunks: 1 });
    // GPU: a workgroup per output for few long rows, sliced past 2 · 4096 elements.
    expect(reducePlan(1, 262144, false)).toEqual({ perThread: false, chunks: 64 });
    expect(reducePlan(64, 4096, false)).toEqual({ perThread: false, chunks: 1 });
    expect(reducePlan(4096, 64, false)).toEqual({ perThread: true, chunks: 1 });
    expect(reducePlan(50, 32, false)).toEqual({ perThread: true, chunks: 1 });
  });
});

describe('gradients vs central finite differences', () => {
  const CASES: [Shape, Axes, boolean][] = [
    [[2, 3, 4], 1, false],
    [[2, 3, 4], [0, 2], true],
    [[2, 3, 4], undefined, false],
    [[3, 4], -1, true],
  ];
  for (const [shape, axes, keepdim] of CASES) {
    test(`[${shape}] over ${JSON.stringify(axes) ?? 'all'}${keepdim ? ', keepdim' : ''}`, async () => {
      const rng = new Rng(sizeOf(shape) + 5);
      const x = nd(rng.f32(sizeOf(shape)), shape);
      for (const op of ['sum', 'mean'] as const) {
        const outShape = refSum(x, axes, keepdim).shape;
        const w = nd(rng.f32(sizeOf(outShape)), outShape);
        const f = (v: Float64Array): number => {
          const xx = { data: v, shape: [...shape] };
          return dot((op === 'sum' ? refSum(xx, axes, keepdim) : refMean(xx, axes, keepdim)).data, w.data);
        };
        // Linear in x: central differences are exact up to ~1e-13 roundoff.
        const fd = numericGrad(f, x.data);
        const tx = upload(x, undefined, true);
        const y = op === 'sum' ? hg.sum(tx, axes, { keepdim }) : hg.mean(tx, axes, { keepdim });
        y.backward(upload(w));
        expectClose(await readGrad(tx), fd, { atol: 1e-9, rtol: op === 'mean' ? 2 * U : 0, label: `${op} GPU grad vs FD` });
      }
    });
  }

  test('a reduction of a scalar loss: sum(mean(x, 1)) chains both backward rules', async () => {
    const rng = new Rng(9);
    const x = nd(rng.f32(15), [3, 5]);
    const tx = upload(x, undefined, true);
    hg.sum(hg.mean(tx, 1)).backward();
    // d/dx Σ_i mean_j x_ij = 1/5 everywhere (f32(1/5) · 1, then summed once: 2u).
    expectClose(await readGrad(tx), new Array(15).fill(0.2), { atol: 0, rtol: 2 * U, label: 'grad' });
  });
});
