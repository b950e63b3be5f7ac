/**
 * The structured layers built on eigh (issue 13): eigenProjector, o2p, gaussianAffinity,
 * normalizedCuts, segmentProjector and projectorLoss, against float64 references
 * (test/eigh-reference.ts: an independent serial Jacobi) and float64 central differences of the
 * whole reference pipeline; repeated eigenvalues inside a projector's block and rank-deficient
 * XᵀX in o2p give finite gradients equal to the analytic limit; bad input errors.
 *
 * Bounds, as in test/ops/spectral.test.ts: the decomposition's backward error ‖ΔA‖ ≤ 16u·R·‖A‖_F
 * (R = 10·(d − 1)) moves a spectral function by at most L_f·‖ΔA‖ (L_f the largest divided
 * difference: for the projector 1/gap, the gap across the subspace boundary), so
 *   |Π̂ − Π| ≤ 16u·R·(‖A‖_F/gap + 1).
 * A gradient computed from that decomposition carries the same relative error amplified once more
 * by 1/gap (its divided differences are 1/gap): ≤ 16u·R·(‖A‖_F/gap + 1)·(‖A‖_F/gap)·max|g|.
 * Central differences of the float64 pipeline err by ≈ h²·|∂³J| (h = 1e-4: ≈ 1e-8 relative here).
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { numericGrad, Rng, U as u } from '../helpers.ts';
import { frobenius, mm, refEigh, transposeOf, withSpectrum } from '../eigh-reference.ts';

beforeAll(async () => {
  await hg.init();
});

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

/** Float64 projector on the k leading eigenvectors of sym(a). */
function refProjector(a: ArrayLike<number>, d: number, k: number): Float64Array {
  const { vectors } = refEigh(a, d);
  const p = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) for (let c = d - k; c < d; c++) p[i * d + j] += vectors[i * d + c]! * vectors[j * d + c]!;
  return p;
}

/** Float64 gradient of ⟨R, Π_k(A)⟩: Q (C ∘ Qᵀ sym(R) Q) Qᵀ, C_ij = (f_i − f_j)/(λ_i − λ_j) (f = 1 on the top k) across the boundary, 0 inside a block. */
function refProjectorGrad(q: Float64Array, lam: readonly number[], r: ArrayLike<number>, k: number): Float64Array {
  const d = lam.length;
  const rs = Float64Array.from({ length: d * d }, (_, e) => 0.5 * (r[e]! + r[(e % d) * d + Math.floor(e / d)]!));
  const m = mm(mm(transposeOf(q, d), rs, d), q, d);
  const top = (i: number): boolean => i >= d - k;
  const core = Float64Array.from(m, (v, e) => {
    const i = Math.floor(e / d);
    const j = e % d;
    return top(i) === top(j) ? 0 : ((Number(top(i)) - Number(top(j))) * v) / (lam[i]! - lam[j]!);
  });
  return mm(mm(q, core, d), transposeOf(q, d), d);
}

/** Π = eigenProjector(A, k) for one d × d matrix and the gradient of Σ R ⊙ Π, on the GPU. */
async function runProjector(a: ArrayLike<number>, r: ArrayLike<number>, d: number, k: number): Promise<{ p: Float64Array; g: Float64Array }> {
  const t = hg.tensor(Float32Array.from(a), [d, d], { requiresGrad: true });
  const p = hg.tidy(() => {
    const y = hg.eigenProjector(t, k);
    hg.sum(hg.mul(y, hg.tensor(Float32Array.from(r), [d, d]))).backward();
    return y;
  });
  const out = { p: Float64Array.from(await p.read()), g: Float64Array.from(await t.grad!.read()) };
  p.dispose();
  t.zeroGrad();
  t.dispose();
  return out;
}

/** Read each tensor, then dispose them all. */
async function readAll(ts: hg.Tensor[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const t of ts) out.push(await t.read());
  for (const t of ts) t.dispose();
  return out;
}

describe('eigenProjector', () => {
  test.each([
    ['distinct spectrum, k = 2', [-1, 0.5, 2, 3.5, 5], 2],
    ['repeated inside the subspace (5, 5, 5), k = 3', [1, 2, 5, 5, 5], 3],
    ['repeated outside the subspace (1, 1, 1), k = 2', [1, 1, 1, 4, 6], 2],
    ['repeated on both sides (0, 0 | 3, 3, 3), k = 3', [0, 0, 3, 3, 3], 3],
  ])('%s: projector and gradient against float64 (finite where eigh alone divides by 0)', async (_, lam, k) => {
    const rng = new Rng(700 + k);
    const d = lam.length;
    const a = Float64Array.from(Float32Array.from(withSpectrum(rng, lam)));
    const r = Float64Array.from({ length: d * d }, () => rng.uniform(-1, 1));
    const { p, g } = await runProjector(a, r, d, k);
    const gap = lam[d - k]! - lam[d - k - 1]!;
    const R = 10 * (d - 1);
    const fro = frobenius(a);
    const tolP = 16 * u * R * (fro / gap + 1);
    expect(maxAbsDiff(p, refProjector(a, d, k)), `projector (bound ${tolP.toExponential(2)})`).toBeLessThanOrEqual(tolP);
    expect(g.every(Number.isFinite)).toBe(true);
    // The float64 decomposition of the f32-rounded A (its exact spectrum differs from lam by ~u).
    const ev = refEigh(a, d);
    const ref = refProjectorGrad(ev.vectors, [...ev.values], r, k);
    const tolG = 16 * u * R * (fro / gap + 1) * (fro / gap) * maxAbs(ref);
    expect(maxAbsDiff(g, ref), `gradient (bound ${tolG.toExponential(2)})`).toBeLessThanOrEqual(tolG);
    // The analytic limit is the derivative: central differences of the float64 projector agree.
    const fd = numericGrad((x) => refProjector(x, d, k).reduce((s, v, e) => s + v * r[e]!, 0), a, 1e-4);
    const fdSym = Float64Array.from(fd, (_, e) => 0.5 * (fd[e]! + fd[(e % d) * d + Math.floor(e / d)]!));
    expect(maxAbsDiff(ref, fdSym)).toBeLessThanOrEqual(1e-6 * maxAbs(ref));
  });

  test('a batch with one k per matrix; k = 0 gives 0 and k = d the identity', async () => {
    const rng = new Rng(710);
    const d = 4;
    const mats = [withSpectrum(rng, [1, 2, 3, 4]), withSpectrum(rng, [-2, 0, 1, 7]), withSpectrum(rng, [0.5, 1, 1.5, 2])];
    const ks = [0, 4, 2];
    const a = Float32Array.from(mats.flatMap((m) => [...m]));
    const [p] = await readAll([hg.tidy(() => hg.eigenProjector(hg.tensor(a, [3, d, d]), ks))]);
    const tol = 16 * u * 10 * (d - 1) * (frobenius(mats[2]!) / 0.5 + 1);
    ks.forEach((k, b) => {
      const want = refProjector(a.subarray(b * d * d, (b + 1) * d * d), d, k);
      expect(maxAbsDiff(p.subarray(b * d * d, (b + 1) * d * d), want), `matrix ${b}, k = ${k}`).toBeLessThanOrEqual(tol);
    });
  });

  test('bad k: a clear error before any GPU work', () => {
    const a = hg.zeros([2, 3, 3]);
    expect(() => hg.eigenProjector(a, 4)).toThrow(/eigenProjector: k must be an integer in \[0, 3\].*got 4/);
    expect(() => hg.eigenProjector(a, [1])).toThrow(/eigenProjector: k must be a number or an array of one k per matrix \(2 for 2×3×3\)/);
    expect(() => hg.eigenProjector(a, [1, 1.5])).toThrow(/got 1.5 for matrix 1/);
    expect(() => hg.eigenProjector(hg.zeros([3, 4]), 1)).toThrow(/eigenProjector: the last two dimensions must be equal/);
    a.dispose();
  });
});

/** Float64 o2p: log (or power) of XᵀX/N + εI for one x [N, C]; with the eigendecomposition. */
function refO2p(x: ArrayLike<number>, N: number, C: number, eps: number, f: (v: number) => number): { y: Float64Array; a: Float64Array } {
  const a = new Float64Array(C * C);
  for (let i = 0; i < C; i++)
    for (let j = 0; j < C; j++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += x[n * C + i]! * x[n * C + j]!;
      a[i * C + j] = s / N + (i === j ? eps : 0);
    }
  const { values, vectors } = refEigh(a, C);
  const fv = mm(
    Float64Array.from(vectors, (v, e) => v * f(values[e % C]!)),
    vectors,
    C,
    true,
  );
  return { y: fv, a };
}

describe('o2p', () => {
  const cases: [string, number, number, number | undefined, (v: number) => number, (v: number) => number][] = [
    ['log, N = 12 > C = 4', 12, 4, undefined, Math.log, (v) => 1 / v],
    ['power ½, N = 12 > C = 4', 12, 4, 0.5, Math.sqrt, (v) => 0.5 / Math.sqrt(v)],
    ['log, rank-deficient N = 2 < C = 5 (ε three times)', 2, 5, undefined, Math.log, (v) => 1 / v],
  ];
  test.each(cases)('%s: forward and gradient against float64 (Daleckii-Krein limit, central differences)', async (_, N, C, power, f, df) => {
    const rng = new Rng(720 + N + C);
    const eps = 1e-2;
    const x = Float64Array.from({ length: 2 * N * C }, () => Math.fround(rng.uniform(-1, 1)));
    const r = Float64Array.from({ length: 2 * C * C }, () => rng.uniform(-1, 1));
    const xt = hg.tensor(Float32Array.from(x), [2, N, C], { requiresGrad: true });
    const yt = hg.tidy(() => {
      const out = hg.o2p(xt, { eps, ...(power === undefined ? {} : { power }) });
      hg.sum(hg.mul(out, hg.tensor(Float32Array.from(r), [2, C, C]))).backward();
      return out;
    });
    const [y32, g32] = await readAll([yt, xt.grad!]);
    const [y, g] = [Float64Array.from(y32!), Float64Array.from(g32!)];
    xt.dispose();
    expect(g.every(Number.isFinite)).toBe(true);
    for (let b = 0; b < 2; b++) {
      const xb = x.subarray(b * N * C, (b + 1) * N * C);
      const rb = r.subarray(b * C * C, (b + 1) * C * C);
      const ref = refO2p(xb, N, C, eps, f);
      const lam = [...refEigh(ref.a, C).values];
      const kappa = lam[C - 1]! / lam[0]!;
      const R = 10 * (C - 1);
      // Forward: the Lipschitz constant of f on the spectrum is |f'(λ_min)|; A's f32 rounding adds u‖A‖ the same way.
      const tolY = 16 * u * R * (frobenius(ref.a) * Math.abs(df(lam[0]!)) + maxAbs(lam.map(f)));
      expect(maxAbsDiff(y.subarray(b * C * C, (b + 1) * C * C), ref.y), `forward ${b} (bound ${tolY.toExponential(2)})`).toBeLessThanOrEqual(tolY);
      // Gradient: central differences of the float64 pipeline in x, against the GPU's f32 adjoint.
      const fd = numericGrad((xv) => refO2p(xv, N, C, eps, f).y.reduce((s, v, e) => s + v * rb[e]!, 0), xb, 1e-4);
      const tolG = (16 * u * R * kappa + (2 * u * maxAbs(lam.map(f))) / (1e-3 * lam[0]! * Math.abs(df(lam[C - 1]!)))) * kappa * maxAbs(fd) + 1e-6 * maxAbs(fd);
      expect(maxAbsDiff(g.subarray(b * N * C, (b + 1) * N * C), fd), `gradient ${b} (bound ${tolG.toExponential(2)})`).toBeLessThanOrEqual(tolG);
    }
  });

  test('bad input: clear errors before any GPU work', () => {
    const x = hg.zeros([2, 3]);
    expect(() => hg.o2p(x)).toThrow(/o2p: features must be \[B, N, C\].*got \[2, 3\].*reshape an NHWC map to \[B, H·W, C\]/);
    const y = hg.zeros([1, 3, 2]);
    expect(() => hg.o2p(y, { eps: 0 })).toThrow(/o2p: eps must be a finite number > 0, got 0/);
    expect(() => hg.o2p(y, { power: 0 })).toThrow(/o2p: power must be a finite non-zero number/);
    x.dispose();
    y.dispose();
  });
});

/** Float64 normalized-cuts pipeline for one image: features f [n, c] → J against the segment projector of `labels`. */
function refNcutsLoss(f: ArrayLike<number>, n: number, c: number, sigma: number, labels: readonly number[]): number {
  const w = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let e = 0; e < c; e++) s += (f[i * c + e]! - f[j * c + e]!) ** 2;
      w[i * n + j] = Math.exp(-s / sigma ** 2);
    }
  const deg = Array.from({ length: n }, (_, i) => w.subarray(i * n, (i + 1) * n).reduce((s, v) => s + v, 0));
  const m = Float64Array.from(w, (v, e) => v / Math.sqrt(deg[Math.floor(e / n)]! * deg[e % n]!));
  const k = new Set(labels).size;
  const p = refProjector(m, n, k);
  let j = 0;
  for (let a = 0; a < n; a++)
    for (let b = 0; b < n; b++) {
      const t = labels[a] === labels[b] ? 1 / labels.filter((l) => l === labels[a]).length : 0;
      j += 0.5 * (p[a * n + b]! - t) ** 2;
    }
  return j;
}

describe('normalized cuts', () => {
  test('segmentProjector: E(EᵀE)⁻¹Eᵀ and the segment counts', async () => {
    const { projector, segments } = hg.segmentProjector([3, 3, 7, 0, 7, 7], 2, 3);
    expect(segments).toEqual([2, 2]);
    expect([...(await projector.read())]).toEqual([0.5, 0.5, 0, 0.5, 0.5, 0, 0, 0, 1, 1, 0, 0, 0, 0.5, 0.5, 0, 0.5, 0.5]);
    projector.dispose();
    expect(() => hg.segmentProjector([1, 2, 3], 2, 2)).toThrow(/segmentProjector: labels must hold batch × n = 2 × 2 ids, got 3/);
    expect(() => hg.segmentProjector([1, 2.5], 1, 2)).toThrow(/label 1 of image 0 is 2.5, not an integer id/);
  });

  test('gaussianAffinity and the normalised affinity against float64; Π is a rank-k projector', async () => {
    const rng = new Rng(730);
    const [B, n, c, sigma] = [2, 6, 3, 1.3];
    const f = Float32Array.from({ length: B * n * c }, () => rng.uniform(-1, 1));
    const [w, m, p] = await readAll(
      hg.tidy(() => {
        const ft = hg.tensor(f, [B, n, c]);
        const r = hg.normalizedCuts(ft, [2, 3], { sigma });
        return [hg.gaussianAffinity(ft, { sigma }), r.affinity, r.projector];
      }),
    );
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let e = 0; e < c; e++) s += (f[(b * n + i) * c + e]! - f[(b * n + j) * c + e]!) ** 2;
          // exp of a sum of c + 2 terms of size ≤ 12: a few ulp of its argument (≤ 12/σ²) relative.
          expect(Math.abs(w[(b * n + i) * n + j]! - Math.exp(-s / sigma ** 2))).toBeLessThanOrEqual(16 * u * (12 / sigma ** 2 + 1));
        }
      const pb = Float64Array.from(p.subarray(b * n * n, (b + 1) * n * n));
      const k = [2, 3][b]!;
      // Π² = Π and trace Π = k, to the projector's rounding (bounded by the eigh test's 8u·R per entry of U).
      const tol = 64 * u * 10 * (n - 1);
      expect(maxAbsDiff(mm(pb, pb, n), pb)).toBeLessThanOrEqual(tol);
      expect(Math.abs(pb.reduce((s, v, e) => s + (e % (n + 1) === 0 ? v : 0), 0) - k)).toBeLessThanOrEqual(n * tol);
      // M's leading eigenvalue is 1 (eigenvector D^{1/2}1).
      expect(Math.abs(refEigh(m.subarray(b * n * n, (b + 1) * n * n), n).values[n - 1]! - 1)).toBeLessThanOrEqual(tol);
    }
  });

  test('projectorLoss through the eigenvectors: gradient w.r.t. the features against float64 central differences', async () => {
    const rng = new Rng(731);
    const [n, c, sigma] = [8, 3, 1.2];
    const labels = [0, 0, 0, 1, 1, 2, 2, 2];
    // Features near their segment's centre, so the k = 3 leading eigenvalues stand apart from the rest.
    const centres = [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ];
    const f = Float64Array.from({ length: n * c }, (_, e) => Math.fround(centres[labels[Math.floor(e / c)]!]![e % c]! + 0.4 * rng.uniform(-1, 1)));
    const ft = hg.tensor(Float32Array.from(f), [1, n, c], { requiresGrad: true });
    const [l32, m32] = await readAll(
      hg.tidy(() => {
        const target = hg.segmentProjector(labels, 1, n);
        const r = hg.normalizedCuts(ft, target.segments, { sigma });
        const l = hg.projectorLoss(r.projector, target.projector);
        l.backward();
        return [l, r.affinity];
      }),
    );
    const g = Float64Array.from(await ft.grad!.read());
    ft.zeroGrad();
    ft.dispose();
    const loss = l32![0]!;
    const lam = refEigh(m32!, n).values;
    const ref = refNcutsLoss(f, n, c, sigma, labels);
    const gap = lam[n - 3]! - lam[n - 4]!;
    expect(gap).toBeGreaterThan(0.05);
    const R = 10 * (n - 1);
    // M's eigenvalues lie in [−1, 1], so ‖M‖_F ≤ √n.
    const fro = Math.sqrt(n);
    expect(Math.abs(loss - ref)).toBeLessThanOrEqual(16 * u * R * (fro / gap + 1) * n);
    const fd = numericGrad((x) => refNcutsLoss(x, n, c, sigma, labels), f, 1e-4);
    const tolG = 16 * u * R * (fro / gap + 1) * (fro / gap) * maxAbs(fd) + 1e-6 * maxAbs(fd);
    expect(g.every(Number.isFinite)).toBe(true);
    expect(maxAbsDiff(g, fd), `gradient (bound ${tolG.toExponential(2)}, gap ${gap.toFixed(3)})`).toBeLessThanOrEqual(tolG);
    // And the loss falls along −g (the gradient points the right way, not only within the bound).
    const step = Float64Array.from(f, (v, e) => v - (0.05 * g[e]!) / maxAbs(g));
    expect(refNcutsLoss(step, n, c, sigma, labels)).toBeLessThan(ref);
  });

  test('bad input: clear errors before any GPU work', () => {
    const f = hg.zeros([2, 4]);
    expect(() => hg.normalizedCuts(f, 1)).toThrow(/normalizedCuts: features must be \[B, n, c\].*got \[2, 4\]/);
    const g = hg.zeros([1, 4, 2]);
    expect(() => hg.gaussianAffinity(g, { sigma: -1 })).toThrow(/gaussianAffinity: sigma must be a finite number > 0, got -1/);
    expect(() => hg.normalizedCuts(g, 5)).toThrow(/eigenProjector: k must be an integer in \[0, 4\]/);
    expect(() => hg.projectorLoss(hg.zeros([1, 4, 4]), hg.zeros([1, 3, 3]))).toThrow(
      /projectorLoss: projector and target must both be \[B, n, n\] of the same shape, got \[1, 4, 4\] and \[1, 3, 3\]/,
    );
    f.dispose();
    g.dispose();
  });
});
