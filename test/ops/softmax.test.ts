/**
 * softmax(x, { scale }) along the last axis: forward and backward against the float64 reference,
 * odd row lengths (1, 3, 7, 33, 129, 256 — the last one-row-per-thread length — and 257, 300,
 * 1000, 4097 which take the workgroup-per-row variant), batched rows, logits of magnitude 1e4
 * (no NaN/Inf, same values as the reference), and gradients vs central finite differences.
 *
 * Error bound (first order, per element; helpers.ts has the model). The kernel computes
 * e_c = exp(s·x_c − m) with m = max_j s·x_j, S = Σ e_c, y_c = e_c · (1 / S), where s = f32(scale).
 *  - the exponent's error: the roundings of s·x_c and of s·x_max (measured exactly with
 *    Math.fround, since the product of two f32 values is exact in float64), u·|a_c| for the
 *    subtraction, and |scale − s|·|x_c − x_max| for the scale's own f32 rounding; an absolute
 *    exponent error δ is a relative error δ of e_c;
 *  - exp's (3 + 2|a_c|) ULP; the sum, whose terms are all positive: max_j ε_j + γ_n; 1/S 2.5 ULP;
 *    the last product u.
 * Exponents below ≈ −87 underflow (possibly flushed to 0): an absolute 2e-38 covers that.
 * Backward: dx_c = s·y_c·(dy_c − d), d = Σ dy_j y_j, computed from the engine's own y: its
 * relative error η propagates through both terms; see softmaxGradBound. First-order bounds get a
 * 1 % margin for the second-order terms (products of two relative errors, each ≤ ~1e-3).
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng, U, ULP, dot, expectClose, gamma, nd, numericGrad, read, readGrad, refSoftmax, refSoftmaxGrad, sizeOf, upload, type Nd, type Shape } from '../helpers.ts';

beforeAll(async () => {
  await hg.init();
});

const UNDERFLOW = 2e-38;

/** Per-element relative error bound of the forward softmax (see the file comment). */
function softmaxRelBound(x: Nd, scale: number): Float64Array {
  const cols = x.shape[x.shape.length - 1]!;
  const s = Math.fround(scale);
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < x.data.length / cols; r++) {
    let iMax = 0;
    for (let c = 1; c < cols; c++) if (s * x.data[r * cols + c]! > s * x.data[r * cols + iMax]!) iMax = c;
    const xm = x.data[r * cols + iMax]!;
    const roundM = Math.abs(Math.fround(s * xm) - s * xm);
    let maxEps = 0;
    const eps = new Float64Array(cols);
    for (let c = 0; c < cols; c++) {
      const xc = x.data[r * cols + c]!;
      const a = scale * (xc - xm);
      const delta = Math.abs(Math.fround(s * xc) - s * xc) + roundM + U * Math.abs(a) + Math.abs(scale - s) * Math.abs(xc - xm);
      eps[c] = delta + (3 + 2 * Math.abs(a)) * ULP;
      maxEps = Math.max(maxEps, eps[c]!);
    }
    for (let c = 0; c < cols; c++) out[r * cols + c] = 1.01 * (eps[c]! + maxEps + gamma(cols) + 6 * U);
  }
  return out;
}

function softmaxBound(x: Nd, y: Nd, scale: number): Float64Array {
  return softmaxRelBound(x, scale).map((rel, i) => rel * y.data[i]!);
}

/**
 * Per-element absolute error bound of the backward pass (see the file comment). Underflow: a y_j
 * below 2e-38 may be flushed to 0, an absolute error of ≤ 2e-38 in y_j (so ≤ 2e-38·|dy_j| in d and
 * ≤ |s|·2e-38·|dy_c − d| in dx_c), and a result below the smallest normal may be flushed too,
 * which the caller's atol of 2e-38 covers.
 */
function softmaxGradBound(x: Nd, y: Nd, dy: Nd, scale: number): Float64Array {
  const cols = y.shape[y.shape.length - 1]!;
  const eta = softmaxRelBound(x, scale);
  const s = Math.fround(scale);
  const out = new Float64Array(y.data.length);
  for (let r = 0; r < y.data.length / cols; r++) {
    let d = 0;
    let dErr = 0;
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      d += dy.data[i]! * y.data[i]!;
      dErr += Math.abs(dy.data[i]!) * (y.data[i]! * (eta[i]! + gamma(cols + 1)) + UNDERFLOW);
    }
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const diff = Math.abs(dy.data[i]! - d);
      const yi = y.data[i]!;
      out[i] = 1.01 * (Math.abs(s) * (yi * eta[i]! * diff + yi * (dErr + U * diff) + 2 * U * yi * diff + UNDERFLOW * (diff + dErr)) + Math.abs(scale - s) * yi * diff);
    }
  }
  return out;
}

async function checkSoftmax(x: Nd, scale: number, rng: Rng, label: string, withGrad = true): Promise<void> {
  const tx = upload(x, undefined, withGrad);
  const y = scale === 1 ? hg.softmax(tx) : hg.softmax(tx, { scale }); // scale 1 also checks the default
  const ref = refSoftmax(x, scale);
  const got = await read(y);
  expect(got.every(Number.isFinite), `${label}: every output finite`).toBe(true);
  expectClose(got, ref.data, { atol: UNDERFLOW, rtol: 0, bound: softmaxBound(x, ref, scale), shape: x.shape, label: `${label} forward` });
  if (!withGrad) return;
  const dy = nd(rng.f32(x.data.length), x.shape);
  y.backward(upload(dy));
  const gx = await readGrad(tx);
  expect(gx.every(Number.isFinite), `${label}: every gradient finite`).toBe(true);
  expectClose(gx, refSoftmaxGrad(ref, dy, scale).data, {
    atol: UNDERFLOW,
    rtol: 0,
    bound: softmaxGradBound(x, ref, dy, scale),
    shape: x.shape,
    label: `${label} backward`,
  });
}

describe('softmax forward and backward vs reference', () => {
  const SHAPES: Shape[] = [
    [1, 1],
    [3, 1],
    [1],
    [7],
    [4, 3],
    [5, 7],
    [2, 33],
    [7, 64],
    [3, 129],
    [2, 256], // the longest row one thread handles
    [2, 257], // the shortest row a workgroup handles
    [3, 300],
    [2, 1000],
    [1, 4097],
    [2, 3, 7], // leading dims are rows
    [2, 2, 300],
    [5000, 3], // many rows: several workgroups of the row-per-thread variant
    [70, 259], // many rows of the workgroup variant
    [200, 300], // long rows, many of them: one invocation per row on a CPU driver, a workgroup per row on a GPU
  ];
  for (const shape of SHAPES) {
    for (const scale of [1, 0.125, 0.3, -1.7]) {
      test(`[${shape}] scale ${scale}`, async () => {
        const rng = new Rng(sizeOf(shape) * 13 + Math.round(scale * 1000));
        await checkSoftmax(nd(rng.f32(sizeOf(shape), -3, 3), shape), scale, rng, `softmax [${shape}] scale ${scale}`);
      });
    }
  }

  test('rows sum to one and a constant row gives the uniform distribution', async () => {
    for (const cols of [5, 300]) {
      const x = hg.full([3, cols], 42.5);
      const y = await hg.softmax(x, { scale: 0.7 }).read();
      expectClose(y, new Array(3 * cols).fill(1 / cols), { atol: 0, rtol: 1.01 * (gamma(cols) + 10 * U), label: `uniform ${cols}` });
    }
  });
});

describe('softmax with logits of magnitude 1e4', () => {
  const CASES: [string, (rng: Rng, n: number) => Float32Array][] = [
    ['uniform in [−1e4, 1e4]', (rng, n) => rng.f32(n, -1e4, 1e4)],
    ['clustered at 1e4 ± 5', (rng, n) => rng.f32(n, 1e4 - 5, 1e4 + 5)],
    ['clustered at −1e4 ± 5', (rng, n) => rng.f32(n, -1e4 - 5, -1e4 + 5)],
    ['two clusters ±1e4', (rng, n) => Float32Array.from(rng.f32(n, -3, 3), (v, i) => v + (i % 2 ? 1e4 : -1e4))],
  ];
  for (const [label, gen] of CASES) {
    for (const cols of [7, 256, 300]) {
      for (const scale of [1, 0.125]) {
        test(`${label}, rows of ${cols}, scale ${scale}: finite and equal to the reference`, async () => {
          const rng = new Rng(cols * 31 + label.length + scale * 8);
          const shape = [3, cols];
          await checkSoftmax(nd(gen(rng, sizeOf(shape)), shape), scale, rng, `${label} [${shape}] scale ${scale}`);
        });
      }
    }
  }

  test('exact ties at 1e4 and a single dominant logit', async () => {
    const x = hg.tensor([1e4, 1e4, 1e4, 1e4, -1e4, 1e4, 0, 0], [2, 4]);
    const y = await hg.softmax(x).read();
    expectClose(y, [0.25, 0.25, 0.25, 0.25, 0, 1, 0, 0], { atol: UNDERFLOW, rtol: 1.01 * (gamma(4) + 10 * U), label: 'ties' });
  });
});

describe('softmax gradient vs central finite differences (float64 reference)', () => {
  const CASES: [Shape, number][] = [
    [[2, 3], 1],
    [[3, 5], 0.5],
    [[1, 4], -1.3],
    [[2, 2, 3], 2],
  ];
  for (const [shape, scale] of CASES) {
    test(`[${shape}] scale ${scale}`, async () => {
      const rng = new Rng(sizeOf(shape) + 17);
      const x = nd(rng.f32(sizeOf(shape), -2, 2), shape);
      const w = nd(rng.f32(sizeOf(shape)), shape);
      const fd = numericGrad((v) => dot(refSoftmax({ data: v, shape: [...shape] }, scale).data, w.data), x.data, 1e-4);
      const y = refSoftmax(x, scale);
      // The reference's analytic adjoint agrees with FD: truncation h²/6 · |∂³| ≤ 1.7e-9 · |s|³ · O(1).
      expectClose(refSoftmaxGrad(y, w, scale).data, fd, { atol: 1e-7, rtol: 0, label: 'reference adjoint vs FD' });
      const tx = upload(x, undefined, true);
      hg.softmax(tx, { scale }).backward(upload(w));
      expectClose(await readGrad(tx), fd, {
        atol: 1e-7,
        rtol: 0,
        bound: softmaxGradBound(x, y, w, scale),
        label: `GPU softmax grad vs FD [${shape}] scale ${scale}`,
      });
    });
  }

  test('a scalar loss through softmax: sum(mul(softmax(x), w)).backward()', async () => {
    const rng = new Rng(99);
    const shape = [4, 300];
    const x = nd(rng.f32(sizeOf(shape), -2, 2), shape);
    const w = nd(rng.f32(sizeOf(shape)), shape);
    const tx = upload(x, undefined, true);
    hg.sum(hg.mul(hg.softmax(tx, { scale: 0.25 }), upload(w))).backward();
    const y = refSoftmax(x, 0.25);
    // sum's backward seeds ones and mul's backward forms 1 · w exactly: softmax sees dy = w.
    const bound = softmaxGradBound(x, y, w, 0.25);
    expectClose(await readGrad(tx), refSoftmaxGrad(y, w, 0.25).data, { atol: 0, rtol: 0, bound, label: 'chained softmax grad' });
  });

  test('bad scales throw', () => {
    const x = hg.zeros([2, 3]);
    expect(() => hg.softmax(x, { scale: 0 })).toThrow(/softmax: scale must be a finite non-zero number, got 0/);
    expect(() => hg.softmax(x, { scale: Number.NaN })).toThrow(/softmax: scale must be a finite non-zero number, got NaN/);
    expect(() => hg.softmax(x, { scale: Infinity })).toThrow(/softmax: scale must be a finite non-zero number/);
  });
});
