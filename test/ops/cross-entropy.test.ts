/**
 * crossEntropy(logits, labels, { ignoreIndex }): fused log-softmax + NLL averaged over the rows
 * whose label is not ignored. Forward and gradient against the float64 reference, the ignore
 * index (default −100, a negative one, and one that is a valid class), the mean over counted
 * rows only, every row ignored (loss 0, gradient 0), a seed gradient, logits of magnitude 1e4,
 * and the gradient vs central finite differences.
 *
 * Error bound (first order; helpers.ts has the model). Per row, with m = max_c x_c and
 * S = Σ_c exp(x_c − m) ∈ [1, C]:
 *  - e_c = exp(x_c − m) errs by ε_c = u·|x_c − m| (the subtraction) + (3 + 2|x_c − m|) ULP (exp);
 *    S (positive terms) by max_c ε_c + γ_C relative; log S adds 2^-21 (S ≤ 2) or 3 ULP, and
 *    turns S's relative error into the same absolute error;
 *  - (m + log S) − x_label rounds twice: u·(|m| + |log S|) + u·|ℓ|.
 * The mean: Σ of the rows (γ_rows · Σ ℓ, all ℓ ≥ 0), times f32(1/count) (2u). Gradient per
 * element: (p_c − onehot) · g · f32(1/count) with p_c = e_c · (1/S): p_c's relative error
 * ε_c + rel(S) + 6u, then three roundings of the result. 1 % margin for second-order terms;
 * 2e-38 absolute for probabilities that underflow (and may be flushed to 0).
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import {
  Rng,
  U,
  ULP,
  expectClose,
  gamma,
  nd,
  numericGrad,
  read,
  readGrad,
  refCrossEntropy,
  refCrossEntropyGrad,
  refSoftmax,
  sizeOf,
  upload,
  type Nd,
  type Shape,
} from '../helpers.ts';

beforeAll(async () => {
  await hg.init();
});

const UNDERFLOW = 2e-38;

interface RowErr {
  /** Relative error of each e_c. */
  eps: Float64Array;
  /** Relative error of each row's S. */
  relS: Float64Array;
}

function rowErrors(x: Nd): RowErr {
  const C = x.shape[x.shape.length - 1]!;
  const rows = x.data.length / C;
  const eps = new Float64Array(x.data.length);
  const relS = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, x.data[r * C + c]!);
    let maxEps = 0;
    for (let c = 0; c < C; c++) {
      const a = Math.abs(x.data[r * C + c]! - m);
      eps[r * C + c] = U * a + (3 + 2 * a) * ULP;
      maxEps = Math.max(maxEps, eps[r * C + c]!);
    }
    relS[r] = maxEps + gamma(C);
  }
  return { eps, relS };
}

function lossBound(x: Nd, labels: ArrayLike<number>, ignore: number): number {
  const C = x.shape[x.shape.length - 1]!;
  const { relS } = rowErrors(x);
  let sumErr = 0;
  let sumL = 0;
  let count = 0;
  for (let r = 0; r < labels.length; r++) {
    if (labels[r] === ignore) continue;
    count++;
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, x.data[r * C + c]!);
    let S = 0;
    for (let c = 0; c < C; c++) S += Math.exp(x.data[r * C + c]! - m);
    const logS = Math.log(S);
    const l = m + logS - x.data[r * C + labels[r]!]!;
    const logErr = S <= 2 ? 2 ** -21 : 3 * ULP * logS;
    sumErr += relS[r]! + logErr + U * (Math.abs(m) + logS) + U * l;
    sumL += l;
  }
  if (!count) return 0;
  const L = sumL / count;
  return 1.01 * ((sumErr + gamma(count) * sumL) / count + 2 * U * L);
}

function gradBound(x: Nd, labels: ArrayLike<number>, ignore: number, g = 1): Float64Array {
  const C = x.shape[x.shape.length - 1]!;
  const { eps, relS } = rowErrors(x);
  const p = refSoftmax(x);
  let count = 0;
  for (let r = 0; r < labels.length; r++) if (labels[r] !== ignore) count++;
  const out = new Float64Array(x.data.length);
  if (!count) return out;
  const k = Math.abs(g) / count;
  for (let r = 0; r < labels.length; r++) {
    if (labels[r] === ignore) continue;
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      const pc = p.data[i]!;
      const diff = Math.abs(pc - (c === labels[r] ? 1 : 0));
      out[i] = 1.01 * k * (pc * (eps[i]! + relS[r]! + 6 * U) + 4 * U * diff);
    }
  }
  return out;
}

/** Random labels in [0, C), with about `ignoredFraction` of them set to the ignore index. */
function makeLabels(rng: Rng, rows: number, C: number, ignore: number, ignoredFraction: number): number[] {
  return Array.from({ length: rows }, () => (rng.next() < ignoredFraction ? ignore : rng.int(0, C - 1)));
}

async function checkCE(x: Nd, labels: ArrayLike<number>, ignore: number | undefined, label: string, seed?: number): Promise<void> {
  const ig = ignore ?? -100;
  const tx = upload(x, undefined, true);
  const loss = ignore === undefined ? hg.crossEntropy(tx, labels) : hg.crossEntropy(tx, labels, { ignoreIndex: ignore });
  expect(loss.shape).toEqual([]);
  const got = await loss.item();
  expect(Number.isFinite(got), `${label}: finite loss`).toBe(true);
  expectClose([got], [refCrossEntropy(x, labels, ig)], { atol: 0, rtol: 0, bound: [lossBound(x, labels, ig)], label: `${label} loss` });
  if (seed === undefined) loss.backward();
  else loss.backward(hg.tensor(seed));
  const g = seed ?? 1;
  const gx = await readGrad(tx);
  expect(gx.every(Number.isFinite), `${label}: finite gradient`).toBe(true);
  expectClose(
    gx,
    refCrossEntropyGrad(x, labels, ig).data.map((v) => v * g),
    {
      atol: UNDERFLOW,
      rtol: 0,
      bound: gradBound(x, labels, ig, g),
      shape: x.shape,
      label: `${label} gradient`,
    },
  );
}

describe('cross-entropy forward and gradient vs reference', () => {
  const SHAPES: Shape[] = [
    [1, 1],
    [4, 3],
    [7, 5],
    [33, 10],
    [3, 129],
    [2, 300],
    [2, 3, 5], // labels of shape [2, 3]
    [130, 7], // more rows than one 64-thread workgroup
  ];
  for (const shape of SHAPES) {
    test(`[${shape}], no ignored labels`, async () => {
      const rng = new Rng(sizeOf(shape) * 3 + 1);
      const C = shape[shape.length - 1]!;
      const x = nd(rng.f32(sizeOf(shape), -4, 4), shape);
      await checkCE(x, makeLabels(rng, sizeOf(shape) / C, C, -100, 0), undefined, `CE [${shape}]`);
    });
    test(`[${shape}], a third of the labels ignored (default −100)`, async () => {
      const rng = new Rng(sizeOf(shape) * 3 + 2);
      const C = shape[shape.length - 1]!;
      const x = nd(rng.f32(sizeOf(shape), -4, 4), shape);
      const labels = makeLabels(rng, sizeOf(shape) / C, C, -100, 1 / 3);
      await checkCE(x, Int32Array.from(labels), undefined, `CE [${shape}] ignoring`);
    });
  }

  test('a custom ignore index, negative or a valid class', async () => {
    const rng = new Rng(21);
    const x = nd(rng.f32(60, -4, 4), [12, 5]);
    await checkCE(x, makeLabels(rng, 12, 5, -1, 0.4), -1, 'ignoreIndex −1');
    // ignoreIndex 3: every row labelled 3 is dropped, the rest count.
    const labels = makeLabels(rng, 12, 5, 3, 0);
    labels[0] = 3;
    labels[5] = 3;
    await checkCE(x, labels, 3, 'ignoreIndex 3');
  });

  test('the mean runs over counted rows only', async () => {
    const rng = new Rng(22);
    const C = 6;
    const all = rng.f32(5 * C, -3, 3);
    const labels = [2, -100, 5, -100, 0];
    const full = await hg.crossEntropy(upload(all, [5, C]), labels).item();
    const kept = Float32Array.from([...all.subarray(0, C), ...all.subarray(2 * C, 3 * C), ...all.subarray(4 * C, 5 * C)]);
    const only = await hg.crossEntropy(upload(kept, [3, C]), [2, 5, 0]).item();
    const x = nd(all, [5, C]);
    // Same rows and count: the two computations differ only in rounding.
    expectClose([full], [only], { atol: 0, rtol: 0, bound: [lossBound(x, labels, -100) * 2], label: 'counted rows only' });
    expectClose([full], [refCrossEntropy(x, labels)], { atol: 0, rtol: 0, bound: [lossBound(x, labels, -100)], label: 'reference' });
  });

  test('every label ignored: loss 0 and a zero gradient', async () => {
    const rng = new Rng(23);
    const x = upload(rng.f32(12, -3, 3), [4, 3], true);
    const loss = hg.crossEntropy(x, [-100, -100, -100, -100]);
    expect(await loss.item()).toBe(0);
    loss.backward();
    expect(Array.from(await x.grad!.read())).toEqual(new Array(12).fill(0));
    const y = upload(rng.f32(6, -3, 3), [2, 3], true);
    const l2 = hg.crossEntropy(y, [7, 7], { ignoreIndex: 7 });
    expect(await l2.item()).toBe(0);
    l2.backward();
    expect(Array.from(await y.grad!.read())).toEqual(new Array(6).fill(0));
  });

  test('a seed gradient scales the result', async () => {
    const rng = new Rng(24);
    const x = nd(rng.f32(35, -3, 3), [7, 5]);
    await checkCE(x, makeLabels(rng, 7, 5, -100, 0.2), undefined, 'seed 2.5', 2.5);
  });

  test('logits of magnitude 1e4: finite and equal to the reference', async () => {
    const rng = new Rng(25);
    for (const [lo, hi] of [
      [-1e4, 1e4],
      [1e4 - 5, 1e4 + 5],
      [-1e4 - 5, -1e4 + 5],
    ] as [number, number][]) {
      for (const C of [4, 300]) {
        const x = nd(rng.f32(6 * C, lo, hi), [6, C]);
        await checkCE(x, makeLabels(rng, 6, C, -100, 0.2), undefined, `CE logits in [${lo}, ${hi}], C = ${C}`);
      }
    }
  });
});

describe('cross-entropy gradient vs central finite differences (float64 reference)', () => {
  const CASES: [Shape, number[], number][] = [
    [[3, 4], [0, 3, 1], -100],
    [[4, 3], [2, -100, 0, -100], -100],
    [[2, 2, 3], [1, 2, 2, 0], 2],
  ];
  for (const [shape, labels, ignore] of CASES) {
    test(`[${shape}] labels ${JSON.stringify(labels)} ignore ${ignore}`, async () => {
      const rng = new Rng(sizeOf(shape) + labels.length);
      const x = nd(rng.f32(sizeOf(shape), -2, 2), shape);
      const fd = numericGrad((v) => refCrossEntropy({ data: v, shape: [...shape] }, labels, ignore), x.data, 1e-4);
      // Truncation h²/6 · |∂³ logsumexp| ≤ 1.7e-9 · O(1): atol 1e-7.
      expectClose(refCrossEntropyGrad(x, labels, ignore).data, fd, { atol: 1e-7, rtol: 0, label: 'reference gradient vs FD' });
      const tx = upload(x, undefined, true);
      hg.crossEntropy(tx, labels, { ignoreIndex: ignore }).backward();
      expectClose(await readGrad(tx), fd, { atol: 1e-7, rtol: 0, bound: gradBound(x, labels, ignore), label: 'GPU gradient vs FD' });
    });
  }

  test('crossEntropy(2·x) chains through mul', async () => {
    const rng = new Rng(31);
    const x = nd(rng.f32(12, -2, 2), [3, 4]);
    const tx = upload(x, undefined, true);
    const labels = [1, 0, 3];
    hg.crossEntropy(hg.mul(tx, 2), labels).backward();
    const x2 = { data: x.data.map((v) => 2 * v), shape: x.shape };
    const fd = numericGrad((v) => refCrossEntropy({ data: v.map((t) => 2 * t), shape: [3, 4] }, labels), x.data, 1e-4);
    // ×2 is exact in both directions; the gradient bound doubles.
    expectClose(await read(tx.grad!), fd, { atol: 1e-7, rtol: 0, bound: gradBound(x2, labels, -100, 2), label: 'CE(2x) grad vs FD' });
  });
});
