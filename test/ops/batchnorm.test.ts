/**
 * hg.batchNorm(x, γ, β, state, { training, momentum, eps }) over the last axis, against a float64
 * reference: forward (training and eval), the running statistics over 3 steps, the backward
 * (dx, dγ, dβ) against the reference's analytic adjoint, and that adjoint against central finite
 * differences; [N, C] and NHWC inputs, odd sizes, reductions split over many row slices and
 * channel tiles, a channel whose mean is 1000σ (the case sum/sum-of-squares statistics get wrong)
 * and every bad input.
 *
 * Error bounds (first order, helpers.ts has the model; u = 2^-24). Per channel, with n = R values,
 * mean μ, D = max |x − μ|, S = Σ (x − μ)², var = S / n and is = 1 / sqrt(var + eps):
 *  - Mean. Every Welford step and Chan combination computes m' = m + (v − m)·w with w ∈ (0, 1]
 *    (w = 1/k, or n_b / n): the incoming errors are mixed with weights (1 − w) and w (so they do not
 *    grow), and the step adds ≤ 7u·w·|v − m| (subtraction u, w's division 2.5 ULP = 5u, product u)
 *    + u·|m'| (the sum). All partial means lie in the data's range, so |v − m| ≤ 2D and
 *    |m'| ≤ |μ| + D. Along the longest path of L steps whose weights sum to Wsum:
 *        εμ ≤ u·(14·D·Wsum + L·(|μ| + D)),
 *    with L = ceil(chunk_rows / lanes) + log2(lanes) + chunks and Wsum = 1 + ln(chain) + log2(lanes)
 *    + chunks from the kernel's reduction plan (reductionPlan).
 *  - M2. A Welford step adds d·(v − m') with |d|, |v − m'| ≤ 2D, each off by ≤ εμ (through the
 *    means) plus rounding: ≤ 6D·εμ + 12u·D² per element, + u·|S| per sum. A Chan combination adds
 *    d²·n_a·n_b/n with d off by 2εμ: ≤ 8D·εμ·n_a·n_b/n + 7u·S; Σ n_a·n_b/n ≤ n·(log2(lanes) + 1).
 *        εS ≤ n·D·εμ·(6 + 8·(log2(lanes) + 1)) + 12u·n·D² + 7u·L·S.
 *  - 1/σ = inverseSqrt(S/n + eps): relative error ρ ≤ ½·(εS/n + 5u·var + u·eps + u·(var + eps)) /
 *    (var + eps) + 4u (division 2.5 ULP, eps's own f32 rounding, the sum, inverseSqrt 2 ULP).
 *    In eval: εμ = 0 and ρ ≤ ½·(u·eps + u·(var + eps))/(var + eps) + 4u.
 *  - y = (x − μ̂)·(γ·îs) + β: |Δy| ≤ |γ|·is·(εμ + u|x − μ|) + |γ·is·(x − μ)|·(ρ + 2u) + u·|y|.
 *  - Backward: A = Σ dy and B = Σ dy·(x − μ̂) are sums of n terms (γ_n), the latter's terms off by
 *    εμ + 2u|x − μ| each; dγ = B·îs, dβ = A; dx = γ·îs·(dy − A/R − x̂·dγ/R) adds the errors of
 *    x̂ = (x − μ̂)·îs, of 1/R (2.5 ULP) and u per operation (dxBound below spells it out).
 * Every bound is multiplied by 1.01 for the second-order terms (products of two relative errors,
 * each ≤ 1e-3 here). Reference adjoint vs central differences (float64): h = 1e-4, truncation
 * h²/6·|∂³f| ≤ 1e-8 for these O(1) inputs with var ≥ 0.1, so atol 1e-6.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { reductionPlan, setBatchNormRowsPerRun } from '../../src/kernels/batchnorm.ts';
import { Rng, U, dot, expectClose, gamma as gammaN, numericGrad, read, readGrad, sizeOf, type Shape } from '../helpers.ts';

let engine: hg.Engine;
beforeAll(async () => {
  engine = await hg.init();
});

// ---------------------------------------------------------------------------------------------
// float64 reference

interface ChannelStats {
  mean: Float64Array;
  /** S = Σ (x − μ)² per channel. */
  s: Float64Array;
  /** max |x − μ| per channel. */
  dev: Float64Array;
}

function channelStats(x: ArrayLike<number>, C: number): ChannelStats {
  const R = x.length / C;
  const mean = new Float64Array(C);
  const s = new Float64Array(C);
  const dev = new Float64Array(C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) mean[c]! += x[r * C + c]!;
  for (let c = 0; c < C; c++) mean[c]! /= R;
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) {
      const d = x[r * C + c]! - mean[c]!;
      s[c]! += d * d;
      dev[c] = Math.max(dev[c]!, Math.abs(d));
    }
  }
  return { mean, s, dev };
}

interface RefBn {
  y: Float64Array;
  /** Mean and variance used for the normalisation (batch or running). */
  mean: Float64Array;
  variance: Float64Array;
  runningMean: Float64Array;
  runningVar: Float64Array;
}

function refBatchNorm(
  x: ArrayLike<number>,
  C: number,
  g: ArrayLike<number>,
  b: ArrayLike<number>,
  rm: ArrayLike<number>,
  rv: ArrayLike<number>,
  training: boolean,
  momentum: number,
  eps: number,
): RefBn {
  const R = x.length / C;
  let mean: Float64Array;
  let variance: Float64Array;
  const runningMean = Float64Array.from(rm);
  const runningVar = Float64Array.from(rv);
  if (training) {
    const st = channelStats(x, C);
    mean = st.mean;
    variance = st.s.map((v) => v / R);
    for (let c = 0; c < C; c++) {
      runningMean[c] = (1 - momentum) * rm[c]! + momentum * mean[c]!;
      runningVar[c] = (1 - momentum) * rv[c]! + momentum * (st.s[c]! / (R - 1));
    }
  } else {
    mean = Float64Array.from(rm);
    variance = Float64Array.from(rv);
  }
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    y[i] = ((x[i]! - mean[c]!) / Math.sqrt(variance[c]! + eps)) * g[c]! + b[c]!;
  }
  return { y, mean, variance, runningMean, runningVar };
}

/** Analytic adjoint of y = hg.batchNorm(x) for dy, from the reference's statistics. */
function refBatchNormGrad(x: ArrayLike<number>, C: number, g: ArrayLike<number>, dy: ArrayLike<number>, ref: RefBn, training: boolean, eps: number) {
  const R = x.length / C;
  const is = ref.variance.map((v) => 1 / Math.sqrt(v + eps));
  const dbeta = new Float64Array(C);
  const dgamma = new Float64Array(C);
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    dbeta[c]! += dy[i]!;
    dgamma[c]! += dy[i]! * (x[i]! - ref.mean[c]!) * is[c]!;
  }
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    const xhat = (x[i]! - ref.mean[c]!) * is[c]!;
    dx[i] = training ? g[c]! * is[c]! * (dy[i]! - dbeta[c]! / R - (xhat * dgamma[c]!) / R) : g[c]! * is[c]! * dy[i]!;
  }
  return { dx, dgamma, dbeta };
}

// ---------------------------------------------------------------------------------------------
// error bounds (see the file comment)

interface StatBounds {
  /** Bound on |μ̂ − μ| per channel. */
  em: Float64Array;
  /** Bound on the relative error of 1/σ per channel. */
  rho: Float64Array;
  /** Bound on |Ŝ − S| per channel. */
  es: Float64Array;
}

function statBounds(x: ArrayLike<number>, C: number, rv: ArrayLike<number>, training: boolean, eps: number): StatBounds {
  const R = x.length / C;
  const em = new Float64Array(C);
  const rho = new Float64Array(C);
  const es = new Float64Array(C);
  const epsU = U * eps; // eps's own f32 rounding
  if (!training) {
    for (let c = 0; c < C; c++) rho[c] = (0.5 * (epsU + U * (rv[c]! + eps))) / (rv[c]! + eps) + 4 * U;
    return { em, rho, es };
  }
  const st = channelStats(x, C);
  const plan = reductionPlan(R, C);
  const lanes = 64 / plan.ct;
  const levels = Math.log2(lanes);
  const chain = Math.ceil(plan.chunkRows / lanes);
  const L = chain + levels + plan.chunks;
  const wsum = 1 + Math.log(chain) + levels + plan.chunks;
  for (let c = 0; c < C; c++) {
    const D = st.dev[c]!;
    const mu = Math.abs(st.mean[c]!);
    const S = st.s[c]!;
    const variance = S / R;
    em[c] = U * (14 * D * wsum + L * (mu + D));
    es[c] = R * D * em[c]! * (6 + 8 * (levels + 1)) + 12 * U * R * D * D + 7 * U * L * S;
    rho[c] = (0.5 * (es[c]! / R + 5 * U * variance + epsU + U * (variance + eps))) / (variance + eps) + 4 * U;
  }
  return { em, rho, es };
}

function yBound(x: ArrayLike<number>, C: number, g: ArrayLike<number>, ref: RefBn, sb: StatBounds, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    const is = 1 / Math.sqrt(ref.variance[c]! + eps);
    const a = Math.abs(x[i]! - ref.mean[c]!);
    const gi = Math.abs(g[c]!);
    out[i] = 1.01 * (gi * is * (sb.em[c]! + U * a) + gi * is * a * (sb.rho[c]! + 2 * U) + U * Math.abs(ref.y[i]!));
  }
  return out;
}

function gradBounds(x: ArrayLike<number>, C: number, g: ArrayLike<number>, dy: ArrayLike<number>, ref: RefBn, sb: StatBounds, training: boolean, eps: number) {
  const R = x.length / C;
  const grad = refBatchNormGrad(x, C, g, dy, ref, training, eps);
  const is = ref.variance.map((v) => 1 / Math.sqrt(v + eps));
  const sumDy = new Float64Array(C);
  const sumDyA = new Float64Array(C);
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    sumDy[c]! += Math.abs(dy[i]!);
    sumDyA[c]! += Math.abs(dy[i]! * (x[i]! - ref.mean[c]!));
  }
  const eA = new Float64Array(C);
  const eB = new Float64Array(C); // on Σ dy·(x − μ)
  const eG = new Float64Array(C); // on dγ
  for (let c = 0; c < C; c++) {
    eA[c] = gammaN(R) * sumDy[c]!;
    eB[c] = sumDy[c]! * sb.em[c]! + (2 * U + gammaN(R)) * sumDyA[c]!;
    eG[c] = is[c]! * eB[c]! + Math.abs(grad.dgamma[c]!) * (sb.rho[c]! + U);
  }
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    const A = Math.abs(grad.dbeta[c]!);
    const B = Math.abs(grad.dgamma[c]!);
    const a = Math.abs(x[i]! - ref.mean[c]!);
    const xhat = a * is[c]!;
    const gis = Math.abs(g[c]!) * is[c]!;
    if (!training) {
      dx[i] = 1.01 * gis * Math.abs(dy[i]!) * (sb.rho[c]! + 2 * U);
      continue;
    }
    const exhat = is[c]! * (sb.em[c]! + U * a) + xhat * (sb.rho[c]! + U);
    const T = Math.abs(dy[i]! - grad.dbeta[c]! / R - (xhat * grad.dgamma[c]!) / R);
    const eT = eA[c]! / R + (6 * U * A) / R + (exhat * B) / R + (xhat * (eG[c]! + 7 * U * B)) / R + 2 * U * (Math.abs(dy[i]!) + A / R + (xhat * B) / R);
    dx[i] = 1.01 * (gis * eT + gis * T * (sb.rho[c]! + 2 * U));
  }
  return { grad, dx, dgamma: eG.map((v) => 1.01 * v), dbeta: eA.map((v) => 1.01 * v) };
}

// ---------------------------------------------------------------------------------------------
// helpers

interface Case {
  shape: Shape;
  x: Float32Array;
  g: Float32Array;
  b: Float32Array;
  rm: Float32Array;
  rv: Float32Array;
}

function makeCase(shape: Shape, seed: number, scale = 2, offset = 0): Case {
  const rng = new Rng(seed);
  const C = shape[shape.length - 1]!;
  const x = rng.f32(sizeOf(shape), -scale, scale).map((v) => v + offset);
  return {
    shape,
    x: Float32Array.from(x),
    g: rng.f32(C, 0.5, 1.5).map((v, i) => (i % 3 === 2 ? -v : v)),
    b: rng.f32(C, -1, 1),
    rm: rng.f32(C, -0.5, 0.5),
    rv: rng.f32(C, 0.5, 2),
  };
}

function uploadState(k: Case): hg.BatchNormState {
  return { runningMean: hg.tensor(Float32Array.from(k.rm)), runningVar: hg.tensor(Float32Array.from(k.rv)) };
}

async function checkCase(k: Case, training: boolean, label: string, momentum = 0.1, eps = 1e-5): Promise<void> {
  const C = k.shape[k.shape.length - 1]!;
  const tx = hg.tensor(k.x, k.shape, { requiresGrad: true });
  const tg = hg.tensor(k.g, [C], { requiresGrad: true });
  const tb = hg.tensor(k.b, [C], { requiresGrad: true });
  const state = uploadState(k);
  const y = hg.batchNorm(tx, tg, tb, state, { training, momentum, eps });
  const ref = refBatchNorm(k.x, C, k.g, k.b, k.rm, k.rv, training, momentum, eps);
  const sb = statBounds(k.x, C, k.rv, training, eps);
  expectClose(await read(y), ref.y, { atol: 0, rtol: 0, bound: yBound(k.x, C, k.g, ref, sb, eps), shape: k.shape, label: `${label} y` });

  // Running statistics: updated in training (momentum rounding: |fround(m) − m| ≤ u·m), unchanged in eval.
  const R = k.x.length / C;
  const rmB = new Float64Array(C);
  const rvB = new Float64Array(C);
  if (training) {
    for (let c = 0; c < C; c++) {
      const dm = Math.abs(Math.fround(momentum) - momentum);
      const mean = ref.mean[c]!;
      const ub = ref.variance[c]! * (R / (R - 1));
      rmB[c] = 1.01 * (momentum * sb.em[c]! + dm * Math.abs(mean - k.rm[c]!) + 4 * U * (Math.abs(k.rm[c]!) + Math.abs(mean)));
      rvB[c] = 1.01 * ((momentum * sb.es[c]!) / (R - 1) + dm * Math.abs(ub - k.rv[c]!) + 6 * U * (k.rv[c]! + ub));
    }
  }
  expectClose(await read(state.runningMean), ref.runningMean, { atol: 0, rtol: 0, bound: rmB, label: `${label} running mean` });
  expectClose(await read(state.runningVar), ref.runningVar, { atol: 0, rtol: 0, bound: rvB, label: `${label} running var` });

  const dy = new Rng(k.x.length + 5).f32(k.x.length);
  y.backward(hg.tensor(dy, k.shape));
  const gb = gradBounds(k.x, C, k.g, dy, ref, sb, training, eps);
  expectClose(await readGrad(tx), gb.grad.dx, { atol: 0, rtol: 0, bound: gb.dx, shape: k.shape, label: `${label} dx` });
  expectClose(await readGrad(tg), gb.grad.dgamma, { atol: 0, rtol: 0, bound: gb.dgamma, label: `${label} dγ` });
  expectClose(await readGrad(tb), gb.grad.dbeta, { atol: 0, rtol: 0, bound: gb.dbeta, label: `${label} dβ` });
  for (const t of [tx, tg, tb, y, state.runningMean, state.runningVar]) t.dispose();
  for (const t of [tx, tg, tb]) t.zeroGrad();
}

// ---------------------------------------------------------------------------------------------

describe('batchNorm forward, running statistics and backward vs the float64 reference', () => {
  const SHAPES: Shape[] = [
    [2, 1], // the smallest training batch
    [7, 3],
    [33, 5],
    [4, 64],
    [3, 65], // two channel tiles, the second with one live channel
    [1, 1, 1, 7, 3],
    [2, 3, 5, 1], // NHWC, one channel
    [2, 5, 7, 3], // NHWC, odd sizes
    [3, 7, 9, 33],
    [2, 9, 11, 16],
    // (slices of 32 rows per lane on a GPU, 256 on a CPU driver: reductionPlan)
    [5, 13, 17, 3], // 1105 rows of 3 channels, 16 row lanes: several slices on a GPU, one on a CPU driver
    [4, 9, 9, 64], // 324 rows of 64 channels, one row lane: 11 slices (GPU) or 2 (CPU driver)
    [2, 65, 65, 64], // 8450 rows: the 256-slice cap on a GPU, 34 rows per slice; 34 slices on a CPU driver
    [40000, 2], // long rows of few channels, 32 lanes: 256 slices of 157 rows (GPU) or 5 (CPU driver)
  ];
  for (const shape of SHAPES) {
    for (const training of [true, false]) {
      test(`[${shape}] ${training ? 'training' : 'eval'}`, async () => {
        const k = makeCase(shape, sizeOf(shape) * 7 + (training ? 1 : 0));
        await checkCase(k, training, `[${shape}] ${training ? 'training' : 'eval'}`);
      });
    }
  }

  test('momentum and eps options: momentum 0.5, 0 and 1, eps 0.1', async () => {
    await checkCase(makeCase([6, 5, 3], 11), true, 'momentum 0.5 eps 0.1', 0.5, 0.1);
    await checkCase(makeCase([6, 5, 3], 12), true, 'momentum 0', 0);
    await checkCase(makeCase([6, 5, 3], 13), true, 'momentum 1', 1);
    await checkCase(makeCase([6, 5, 3], 14), false, 'eval eps 0.1', 0.1, 0.1);
  });

  test('a channel with mean 1000 and σ ≈ 0.6 (Σx² − (Σx)²/n would lose every digit in f32)', async () => {
    // With f32 sum and sum of squares, Σx² ≈ 1e6·n carries a rounding error of ≈ n·u·1e6·n/2,
    // i.e. var errors ≈ 0.03·n: for n = 1155 the variance (≈ 0.33) would be garbage.
    await checkCase(makeCase([5, 7, 11, 3], 21, 1, 1000), true, 'mean 1000');
    await checkCase(makeCase([1155, 64], 22, 1, -1000), true, 'mean −1000, 64 channels');
  });

  test('constant channels: y = β, and the gradient w.r.t. x is finite', async () => {
    const C = 3;
    const x = hg.tensor(
      Float32Array.from({ length: 30 }, (_, i) => [2.5, -1, 0][i % C]!),
      [10, C],
      { requiresGrad: true },
    );
    const g = hg.tensor([1, 2, 3], [C], { requiresGrad: true });
    const b = hg.tensor([0.5, -0.5, 7], [C], { requiresGrad: true });
    const state = hg.batchNormState(C);
    const y = hg.batchNorm(x, g, b, state, { training: true });
    // Welford on a constant is exact (every d is 0): x − μ = 0, so y = β exactly.
    expectClose(
      await y.read(),
      Float32Array.from({ length: 30 }, (_, i) => [0.5, -0.5, 7][i % C]!),
      { atol: 0, rtol: 0, label: 'constant y' },
    );
    // running var = 0.9 · 1 + 0.1 · 0 (rounding of 0.9·1: u).
    expectClose(await state.runningVar.read(), [0.9, 0.9, 0.9], { atol: 0, rtol: 2 * U, label: 'constant running var' });
    y.backward(hg.ones([10, C]));
    const dx = await x.grad!.read();
    expect(dx.every(Number.isFinite)).toBe(true);
  });
});

describe('running statistics over 3 training steps', () => {
  for (const shape of [
    [9, 5],
    [2, 7, 5, 6],
  ] as Shape[]) {
    test(`[${shape}]: three steps of PyTorch's update, then eval uses them`, async () => {
      const C = shape[shape.length - 1]!;
      const momentum = 0.3;
      const eps = 1e-5;
      const state = hg.batchNormState(C);
      const g = hg.tensor(new Rng(3).f32(C, 0.5, 1.5), [C]);
      const b = hg.tensor(new Rng(4).f32(C), [C]);
      let rm: Float64Array<ArrayBufferLike> = new Float64Array(C);
      let rv: Float64Array<ArrayBufferLike> = new Float64Array(C).fill(1);
      const rmB = new Float64Array(C);
      const rvB = new Float64Array(C);
      const dm = Math.abs(Math.fround(momentum) - momentum);
      for (let step = 0; step < 3; step++) {
        const k = makeCase(shape, 100 + step, 1 + step, step - 1);
        const y = hg.batchNorm(hg.tensor(k.x, shape), g, b, state, { training: true, momentum, eps });
        const R = k.x.length / C;
        const ref = refBatchNorm(k.x, C, new Float64Array(C).fill(1), new Float64Array(C), rm, rv, true, momentum, eps);
        const sb = statBounds(k.x, C, rv, true, eps);
        // The error carried from earlier steps shrinks by (1 − m) each step; each step adds its own.
        for (let c = 0; c < C; c++) {
          const ub = ref.variance[c]! * (R / (R - 1));
          rmB[c] = (1 - momentum) * rmB[c]! + 1.01 * (momentum * sb.em[c]! + dm * Math.abs(ref.mean[c]! - rm[c]!) + 4 * U * (Math.abs(rm[c]!) + Math.abs(ref.mean[c]!)));
          rvB[c] = (1 - momentum) * rvB[c]! + 1.01 * ((momentum * sb.es[c]!) / (R - 1) + dm * Math.abs(ub - rv[c]!) + 6 * U * (rv[c]! + ub));
        }
        rm = ref.runningMean;
        rv = ref.runningVar;
        expectClose(await read(state.runningMean), rm, { atol: 0, rtol: 0, bound: rmB, label: `step ${step + 1} running mean` });
        expectClose(await read(state.runningVar), rv, { atol: 0, rtol: 0, bound: rvB, label: `step ${step + 1} running var` });
        y.dispose();
      }
      // Eval with the updated statistics: y = (x − rm) / sqrt(rv + eps) · γ + β; the statistics are
      // the GPU's (f32), so the reference uses them exactly.
      const k = makeCase(shape, 200);
      const rmGpu = await read(state.runningMean);
      const rvGpu = await read(state.runningVar);
      const gv = await read(g);
      const bv = await read(b);
      const y = hg.batchNorm(hg.tensor(k.x, shape), g, b, state, { training: false, eps });
      const ref = refBatchNorm(k.x, C, gv, bv, rmGpu, rvGpu, false, momentum, eps);
      const sb = statBounds(k.x, C, rvGpu, false, eps);
      expectClose(await read(y), ref.y, { atol: 0, rtol: 0, bound: yBound(k.x, C, gv, ref, sb, eps), label: 'eval after 3 steps' });
      expectClose(await read(state.runningMean), rmGpu, { atol: 0, rtol: 0, label: 'eval leaves the running mean' });
      expectClose(await read(state.runningVar), rvGpu, { atol: 0, rtol: 0, label: 'eval leaves the running var' });
    });
  }
});

describe('batchNorm gradients vs central finite differences (float64 reference)', () => {
  const CASES: [Shape, boolean][] = [
    [[5, 3], true],
    [[2, 3, 3, 2], true],
    [[4, 1], true],
    [[5, 3], false],
    [[2, 2, 3, 3], false],
  ];
  for (const [shape, training] of CASES) {
    test(`[${shape}] ${training ? 'training' : 'eval'}`, async () => {
      const C = shape[shape.length - 1]!;
      const k = makeCase(shape, sizeOf(shape) + 77);
      const w = new Rng(sizeOf(shape) + 78).f32(k.x.length);
      const eps = 1e-5;
      const f = (x: ArrayLike<number>, g: ArrayLike<number>, b: ArrayLike<number>) => dot(refBatchNorm(x, C, g, b, k.rm, k.rv, training, 0.1, eps).y, w);
      const fdx = numericGrad((v) => f(v, k.g, k.b), k.x, 1e-4);
      const fdg = numericGrad((v) => f(k.x, v, k.b), k.g, 1e-4);
      const fdb = numericGrad((v) => f(k.x, k.g, v), k.b, 1e-4);
      const ref = refBatchNorm(k.x, C, k.g, k.b, k.rm, k.rv, training, 0.1, eps);
      const an = refBatchNormGrad(k.x, C, k.g, w, ref, training, eps);
      expectClose(an.dx, fdx, { atol: 1e-6, rtol: 0, label: 'reference dx vs FD' });
      expectClose(an.dgamma, fdg, { atol: 1e-6, rtol: 0, label: 'reference dγ vs FD' });
      expectClose(an.dbeta, fdb, { atol: 1e-6, rtol: 0, label: 'reference dβ vs FD' });
      // The GPU against the FD values: its derived bound plus the FD's own 1e-6.
      const tx = hg.tensor(k.x, shape, { requiresGrad: true });
      const tg = hg.tensor(k.g, [C], { requiresGrad: true });
      const tb = hg.tensor(k.b, [C], { requiresGrad: true });
      const y = hg.batchNorm(tx, tg, tb, uploadState(k), { training, eps });
      hg.sum(hg.mul(y, hg.tensor(w, shape))).backward();
      const gb = gradBounds(k.x, C, k.g, w, ref, statBounds(k.x, C, k.rv, training, eps), training, eps);
      expectClose(await readGrad(tx), fdx, { atol: 1e-6, rtol: 0, bound: gb.dx, label: 'GPU dx vs FD' });
      expectClose(await readGrad(tg), fdg, { atol: 1e-6, rtol: 0, bound: gb.dgamma, label: 'GPU dγ vs FD' });
      expectClose(await readGrad(tb), fdb, { atol: 1e-6, rtol: 0, bound: gb.dbeta, label: 'GPU dβ vs FD' });
    });
  }

  test('only x, or only γ and β, require grad', async () => {
    const shape = [6, 4, 3];
    const C = 3;
    const k = makeCase(shape, 5);
    const dy = new Rng(6).f32(k.x.length);
    for (const training of [true, false]) {
      const ref = refBatchNorm(k.x, C, k.g, k.b, k.rm, k.rv, training, 0.1, 1e-5);
      const gb = gradBounds(k.x, C, k.g, dy, ref, statBounds(k.x, C, k.rv, training, 1e-5), training, 1e-5);
      const tx = hg.tensor(k.x, shape, { requiresGrad: true });
      hg.batchNorm(tx, hg.tensor(k.g), hg.tensor(k.b), uploadState(k), { training }).backward(hg.tensor(dy, shape));
      expectClose(await readGrad(tx), gb.grad.dx, { atol: 0, rtol: 0, bound: gb.dx, label: `only x (${training})` });
      const tg = hg.tensor(k.g, [C], { requiresGrad: true });
      const tb = hg.tensor(k.b, [C], { requiresGrad: true });
      hg.batchNorm(hg.tensor(k.x, shape), tg, tb, uploadState(k), { training }).backward(hg.tensor(dy, shape));
      expectClose(await readGrad(tg), gb.grad.dgamma, { atol: 0, rtol: 0, bound: gb.dgamma, label: `only γ (${training})` });
      expectClose(await readGrad(tb), gb.grad.dbeta, { atol: 0, rtol: 0, bound: gb.dbeta, label: `only β (${training})` });
    }
  });
});

describe('batchNorm memory and bad inputs', () => {
  test('no gradient: the statistics are freed at once; with one: freed with the output', async () => {
    const state = hg.batchNormState(4);
    const g = hg.ones([4]);
    const b = hg.zeros([4]);
    const x = hg.rand([8, 4], { seed: 1 });
    const before = hg.memoryStats().liveTensors;
    const y = hg.noGrad(() => hg.batchNorm(x, g, b, state, { training: true }));
    expect(hg.memoryStats().liveTensors).toBe(before + 1);
    y.dispose();
    const xg = hg.rand([8, 4], { seed: 2, requiresGrad: true });
    const before2 = hg.memoryStats().liveTensors;
    const y2 = hg.batchNorm(xg, g, b, state, { training: true });
    expect(hg.memoryStats().liveTensors).toBe(before2 + 2); // y and its [2, C] statistics
    y2.dispose();
    expect(hg.memoryStats().liveTensors).toBe(before2);
  });

  test('bad inputs throw naming the op, the shapes and what is valid', () => {
    const x = hg.zeros([4, 3]);
    const g = hg.ones([3]);
    const b = hg.zeros([3]);
    const st = hg.batchNormState(3);
    const train = { training: true };
    expect(() => hg.batchNorm(hg.zeros([3]), g, b, st, train)).toThrow(/batchNorm: x must have rank ≥ 2 \(\[N, C\] or NHWC \[B, H, W, C\], channels last\), got \[3\]/);
    expect(() => hg.batchNorm(x, hg.ones([4]), b, st, train)).toThrow(/batchNorm: gamma must have shape \[3\] \(one value per channel of x \[4, 3\]\), got \[4\]/);
    expect(() => hg.batchNorm(x, g, hg.zeros([3, 1]), st, train)).toThrow(/batchNorm: beta must have shape \[3\].*got \[3, 1\]/);
    expect(() => hg.batchNorm(x, g, b, hg.batchNormState(2), train)).toThrow(/batchNorm: state.runningMean must have shape \[3\].*got \[2\]/);
    expect(() => hg.batchNorm(x, g, b, { runningMean: st.runningMean, runningVar: hg.ones([1]) }, train)).toThrow(/batchNorm: state.runningVar must have shape \[3\]/);
    expect(() => hg.batchNorm(x, g, b, undefined as unknown as hg.BatchNormState, train)).toThrow(/batchNorm: state must be \{ runningMean, runningVar \}.*batchNormState\(3\)/);
    expect(() => hg.batchNorm(x, g, b, { runningMean: hg.zeros([3], { requiresGrad: true }), runningVar: hg.ones([3]) }, train)).toThrow(
      /batchNorm: state.runningMean has requiresGrad: true; running statistics are buffers/,
    );
    const shared = hg.ones([3]);
    expect(() => hg.batchNorm(x, g, b, { runningMean: shared, runningVar: shared }, train)).toThrow(/batchNorm: state.runningMean and state.runningVar share storage/);
    expect(() => hg.batchNorm(x, g, b, st, {} as { training: boolean })).toThrow(/batchNorm: options.training must be true .* or false .*, got undefined/);
    expect(() => hg.batchNorm(x, g, b, st, { training: true, momentum: 1.5 })).toThrow(/batchNorm: momentum must be a number in \[0, 1\], got 1.5/);
    expect(() => hg.batchNorm(x, g, b, st, { training: true, momentum: Number.NaN })).toThrow(/batchNorm: momentum must be a number in \[0, 1\], got NaN/);
    expect(() => hg.batchNorm(x, g, b, st, { training: true, eps: 0 })).toThrow(/batchNorm: eps must be a finite number > 0, got 0/);
    expect(() => hg.batchNorm(x, g, b, st, { training: true, eps: -1 })).toThrow(/batchNorm: eps must be a finite number > 0, got -1/);
    expect(() => hg.batchNorm(hg.zeros([1, 1, 1, 3]), g, b, st, train)).toThrow(
      /batchNorm: training needs more than one value per channel .*got x \[1, 1, 1, 3\] with 1 value per channel/,
    );
    // One value per channel is fine in eval (the running statistics are used).
    expect(() => hg.batchNorm(hg.zeros([1, 3]), g, b, st, { training: false })).not.toThrow();
    expect(() => hg.batchNorm(x, 'g' as unknown as hg.Tensor, b, st, train)).toThrow(/batchNorm: gamma must be a Tensor/);
    const gone = hg.zeros([4, 3]);
    gone.dispose();
    expect(() => hg.batchNorm(gone, g, b, st, train)).toThrow(/batchNorm: x \(tensor #\d+ \[4, 3\]\) was disposed/);
    expect(() => hg.batchNormState(0)).toThrow(/batchNormState: channels must be a positive integer, got 0/);
    expect(() => hg.batchNorm(x, g, b, st, { training: true, relu: 1 as unknown as boolean })).toThrow(/batchNorm: relu must be true or false, got 1/);
  });
});

describe('batchNorm with relu: true equals relu(batchNorm(...)) to the bit, in fewer passes', () => {
  // Shapes: rows not a multiple of the element-wise passes' runs (32 rows on a CPU driver, 4 on a
  // GPU), one row, one channel, channel tiles, many rows. Every other x sits at its channel's
  // mean (b = 0 there), so y is exactly 0 for some elements: ReLU's adjoint must give 0 there.
  const SHAPES: Shape[] = [
    [7, 3],
    [2, 5, 7, 3],
    [3, 7, 9, 33],
    [8, 8, 8, 48],
    [2, 65, 65, 16],
    [1, 4],
  ];
  for (const shape of SHAPES) {
    for (const training of [true, false]) {
      if (!training || sizeOf(shape) / shape[shape.length - 1]! > 1) {
        test(`[${shape}] ${training ? 'training' : 'eval'}`, async () => {
          const k = makeCase(shape, sizeOf(shape) + (training ? 3 : 4));
          const C = shape[shape.length - 1]!;
          const xs = Float32Array.from(k.x);
          if (training) for (let i = 0; i < xs.length; i += 2 * C) xs.fill(0, i, i + C);
          const dy = hg.tensor(new Rng(sizeOf(shape) + 9).f32(xs.length), shape);
          const run = async (fused: boolean) => {
            const tx = hg.tensor(xs, shape, { requiresGrad: true });
            const tg = hg.tensor(k.g, [C], { requiresGrad: true });
            const tb = hg.tensor(training ? new Float32Array(C) : k.b, [C], { requiresGrad: true });
            const state = uploadState(k);
            const y = fused ? hg.batchNorm(tx, tg, tb, state, { training, relu: true }) : hg.relu(hg.batchNorm(tx, tg, tb, state, { training }));
            y.backward(dy);
            const out = {
              y: await read(y),
              dx: await readGrad(tx),
              dg: await readGrad(tg),
              db: await readGrad(tb),
              rm: await read(state.runningMean),
              rv: await read(state.runningVar),
            };
            for (const t of [tx, tg, tb]) t.zeroGrad();
            for (const t of [tx, tg, tb, y, state.runningMean, state.runningVar]) t.dispose();
            return out;
          };
          const plain = await run(false);
          const fused = await run(true);
          expect(plain.y.some((v) => v === 0) && plain.y.some((v) => v > 0), 'the case has zero and positive outputs').toBe(true);
          for (const key of ['y', 'dx', 'dg', 'db', 'rm', 'rv'] as const) {
            expect(Array.from(fused[key]), key).toEqual(Array.from(plain[key]));
          }
          dy.dispose();
        });
      }
    }
  }

  test('one row per invocation (the GPU mapping) and runs of 32 (a CPU driver) give the same values to the bit', async () => {
    const shape = [2, 9, 7, 33]; // 126 rows: runs of 32 end in a partial one
    const k = makeCase(shape, 21);
    const dy = hg.tensor(new Rng(22).f32(k.x.length), shape);
    const run = async (rows: number) => {
      setBatchNormRowsPerRun(rows);
      try {
        const out: Float64Array[] = [];
        for (const training of [true, false]) {
          const tx = hg.tensor(k.x, shape, { requiresGrad: true });
          const tg = hg.tensor(k.g, [33], { requiresGrad: true });
          const tb = hg.tensor(k.b, [33], { requiresGrad: true });
          const y = hg.batchNorm(tx, tg, tb, uploadState(k), { training, relu: true });
          y.backward(dy);
          out.push(await read(y), await readGrad(tx), await readGrad(tg), await readGrad(tb));
          for (const t of [tx, tg, tb, y]) t.dispose();
        }
        return out;
      } finally {
        setBatchNormRowsPerRun(null);
      }
    };
    const one = await run(1);
    const runs = await run(32);
    expect(one.map((a) => Array.from(a))).toEqual(runs.map((a) => Array.from(a)));
    dy.dispose();
  });

  test('no ReLU pass and no ReLU-adjoint pass of its own', async () => {
    if (!engine.device.features.has('timestamp-query')) return; // the kernel names need the profiler
    const kernels = async (fused: boolean) => {
      const x = hg.rand([4, 6, 6, 8], { seed: 1, requiresGrad: true });
      const g = hg.ones([8], { requiresGrad: true });
      const b = hg.zeros([8], { requiresGrad: true });
      const state = hg.batchNormState(8);
      const prof = await engine.profileKernels(() =>
        hg.tidy(() => {
          const y = fused ? hg.batchNorm(x, g, b, state, { training: true, relu: true }) : hg.relu(hg.batchNorm(x, g, b, state, { training: true }));
          y.backward(hg.ones(y.shape));
        }),
      );
      for (const t of [x, g, b]) t.zeroGrad();
      for (const t of [x, g, b, state.runningMean, state.runningVar]) t.dispose();
      return [...prof.entries()].filter(([k]) => k !== 'fill').reduce((n, [, v]) => n + v.count, 0);
    };
    // relu (unary) and its adjoint (binary): two dispatches fewer.
    expect(await kernels(false)).toBe((await kernels(true)) + 2);
  });
});
