/**
 * eigh (kernels/eigh.wgsl, src/ops/eigh.ts): forward against the float64 Jacobi reference of
 * test/eigh-reference.ts and LAPACK goldens (test/fixtures/eigh-goldens.json), orthogonality and
 * reconstruction within bounds derived for f32, batches and sizes 1 … 256, the backward against
 * float64 finite differences and, on repeated spectra, against the analytic limit; bad input.
 *
 * Bounds, per method. Jacobi applies R = S·(d − 1) rotations to every row and column of W and U
 * (S sweeps, each visiting every pair once). A rotation computed and applied in f32 is an exact
 * rotation of the stored values plus a perturbation of at most 4u relative to the rotated pair
 * (c and s carry ≤ 2u each, the products and the sum ≤ 2u more); accumulated linearly over R
 * rotations:
 *   |(UᵀU − I)_ij| ≤ 2·4u·R      (ORTHO),
 *   ‖U Λ Uᵀ − sym(A)‖_F ≤ (4u·R·√2 + 2·4u·R)·‖A‖_F ≤ 16u·R·‖A‖_F   (RECON: W's backward error,
 * plus U's departure from orthogonality, plus the 1/max|A| scaling's rounding, absorbed),
 * The tridiagonal method (d − 2 Householder reflections, then QL rotations) is backward stable
 * with ‖ΔA‖ ≤ p(d)·u·‖A‖ for a modest polynomial p (Golub & Van Loan §8.3.6): its bounds are
 * LAPACK's own test of an eigensolver (xSYT21 with THRESH = 30): ORTHO and RECON ≤ 30·d·u.
 * For both, by Weyl's inequality, |λ̂_i − λ_i| ≤ ‖ΔA‖₂ ≤ RECON·‖A‖_F. An eigenvector with gap g_i
 * to the rest of the spectrum is within ‖û_i − u_i‖ ≤ √2·‖ΔA‖₂/g_i (Davis-Kahan) once the sign
 * matches.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { defaultEighMethod, eighJacobi, eighTridiagonal, JACOBI_MAX_SWEEPS, QL_MAX_STEPS, type EighMethod } from '../../src/kernels/eigh.ts';
import { Rng, U as u } from '../helpers.ts';
import { frobenius, mm, randomSymmetric, refEigh, transposeOf, withSpectrum } from '../eigh-reference.ts';
import goldens from '../fixtures/eigh-goldens.json';

beforeAll(async () => {
  await hg.init();
});

interface Host {
  values: Float64Array[];
  vectors: Float64Array[];
  sweeps: number[];
}

const METHODS: EighMethod[] = ['jacobi', 'tridiagonal'];

/**
 * GPU eigh of a batch of d × d matrices through a method's launcher (which also reports sweeps or
 * QL steps); by default the method eigh picks here.
 */
async function gpuEigh(mats: readonly Float64Array[], d: number, method: EighMethod = defaultEighMethod(d), maxSteps?: number): Promise<Host> {
  const flat = new Float32Array(mats.length * d * d);
  mats.forEach((m, k) => flat.set(m, k * d * d));
  const a = hg.tensor(flat, [mats.length, d, d]);
  const r = method === 'jacobi' ? eighJacobi('test', a, maxSteps) : eighTridiagonal('test', a, maxSteps);
  const v = await r.values.read();
  const w = await r.vectors.read();
  const s = new Int32Array((await r.sweeps.read()).buffer.slice(0));
  for (const t of [a, r.values, r.vectors, r.sweeps]) t.dispose();
  return {
    values: mats.map((_, k) => Float64Array.from(v.subarray(k * d, (k + 1) * d))),
    vectors: mats.map((_, k) => Float64Array.from(w.subarray(k * d * d, (k + 1) * d * d))),
    sweeps: Array.from(s),
  };
}

/** ORTHO and RECON (file comment) for a method's decomposition that took `sweeps` sweeps or QL steps. */
function bounds(method: EighMethod, d: number, sweeps: number): { ortho: number; recon: number } {
  if (method === 'tridiagonal') {
    expect(sweeps, 'QL steps: converged (−2 is not)').toBeGreaterThanOrEqual(0);
    expect(sweeps, 'QL steps within the bound').toBeLessThanOrEqual(QL_MAX_STEPS * d);
    return { ortho: 30 * d * u, recon: 30 * d * u };
  }
  expect(sweeps, 'sweeps').toBeGreaterThanOrEqual(1);
  expect(sweeps, 'converged within the bound').toBeLessThanOrEqual(JACOBI_MAX_SWEEPS);
  const R = sweeps * Math.max(1, d - 1);
  return { ortho: 8 * u * R, recon: 16 * u * R };
}

/** The f32 values of a float64 matrix (what the GPU sees). */
function f32(m: Float64Array): Float64Array {
  return Float64Array.from(Float32Array.from(m));
}

interface Errors {
  ortho: number;
  recon: number;
  values: number;
}

/** Measured errors of one decomposition against the bounds above; asserts them. */
function checkDecomposition(label: string, a: Float64Array, d: number, values: Float64Array, vectors: Float64Array, sweeps: number, method: EighMethod): Errors {
  const bound = bounds(method, d, sweeps);
  for (let i = 1; i < d; i++) expect(values[i]!, `${label}: ascending`).toBeGreaterThanOrEqual(values[i - 1]!);
  const utu = mm(transposeOf(vectors, d), vectors, d);
  let ortho = 0;
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) ortho = Math.max(ortho, Math.abs(utu[i * d + j]! - (i === j ? 1 : 0)));
  expect(ortho, `${label}: max |UᵀU − I|`).toBeLessThanOrEqual(bound.ortho);
  const ul = Float64Array.from(vectors, (x, e) => x * values[e % d]!);
  const rec = mm(ul, vectors, d, true);
  const sym = Float64Array.from(a, (_, e) => 0.5 * (a[e]! + a[(e % d) * d + Math.floor(e / d)]!));
  const fro = frobenius(sym);
  const recon = frobenius(Float64Array.from(rec, (x, e) => x - sym[e]!)) / Math.max(fro, 1e-30);
  expect(recon, `${label}: ‖UΛUᵀ − A‖_F / ‖A‖_F`).toBeLessThanOrEqual(bound.recon);
  const ref = refEigh(a, d);
  let verr = 0;
  for (let i = 0; i < d; i++) verr = Math.max(verr, Math.abs(values[i]! - ref.values[i]!));
  expect(verr, `${label}: eigenvalues vs float64`).toBeLessThanOrEqual(bound.recon * fro);
  // Eigenvectors with a gap to the rest: against the reference, sign included where the
  // convention is unambiguous (the largest entry leads the next by more than the error).
  const dA = bound.recon * fro;
  for (let i = 0; i < d; i++) {
    const gap = Math.min(i > 0 ? ref.values[i]! - ref.values[i - 1]! : Infinity, i < d - 1 ? ref.values[i + 1]! - ref.values[i]! : Infinity);
    const bound = (Math.SQRT2 * dA) / gap;
    if (!(bound <= 0.1)) continue; // no gap (or a zero matrix: 0/0): no bound on the vector
    const col = (m: Float64Array) => Float64Array.from({ length: d }, (_, k) => m[k * d + i]!);
    const mine = col(vectors);
    const theirs = col(ref.vectors);
    const mags = [...theirs].map(Math.abs).sort((x, y) => y - x);
    const clear = d === 1 || mags[0]! - mags[1]! > 2 * bound;
    const sign = clear ? 1 : Math.sign(mine.reduce((s, x, k) => s + x * theirs[k]!, 0)) || 1;
    const diff = frobenius(mine.map((x, k) => x - sign * theirs[k]!));
    expect(diff, `${label}: eigenvector ${i} (gap ${gap.toExponential(2)})`).toBeLessThanOrEqual(bound);
  }
  return { ortho, recon, values: verr / fro };
}

const measured: string[] = [];

describe.each(METHODS)('eigh forward (%s)', (method) => {
  test.each([1, 2, 3, 4, 5, 7, 16, 33, 64])('random symmetric, d = %i, batch of 3: bounds and the float64 reference', async (d) => {
    const rng = new Rng(100 + d);
    const mats = [0, 1, 2].map(() => f32(randomSymmetric(rng, d)));
    const r = await gpuEigh(mats, d, method);
    mats.forEach((a, k) => {
      const e = checkDecomposition(`d=${d} #${k}`, a, d, r.values[k]!, r.vectors[k]!, r.sweeps[k]!, method);
      if (k === 0) measured.push(`${method} d=${d}: steps ${r.sweeps[k]} ortho ${e.ortho.toExponential(2)} recon ${e.recon.toExponential(2)} values ${e.values.toExponential(2)}`);
    });
  });

  // Structures that exercise the methods' edge paths: reflections skipped (diagonal and
  // tridiagonal input, zero columns), repeated eigenvalues, a rank-one matrix, extreme scales
  // (the 1/max|A| scaling), and Wilkinson's W21⁺, whose eigenvalues come in pairs 1e-14 apart.
  const special: [string, number, (i: number, j: number) => number][] = [
    ['zero', 6, () => 0],
    ['identity', 40, (i, j) => (i === j ? 1 : 0)],
    ['diagonal, unsorted with repeats', 9, (i, j) => (i === j ? [3, -1, 3, 0, 2, -1, 5, 3, 0][i]! : 0)],
    ['rank one (all ones)', 17, () => 1],
    ['scaled by 1e30', 12, (i, j) => 1e30 * Math.cos(i + 2 * j) * Math.cos(j + 2 * i)],
    ['scaled by 1e-30', 12, (i, j) => 1e-30 * Math.cos(i + 2 * j) * Math.cos(j + 2 * i)],
    ["Wilkinson's W21+", 21, (i, j) => (i === j ? Math.abs(10 - i) : Math.abs(i - j) === 1 ? 1 : 0)],
    ['tridiagonal with a zero off-diagonal', 10, (i, j) => (i === j ? i % 3 : Math.abs(i - j) === 1 && Math.min(i, j) !== 4 ? 0.5 : 0)],
  ];
  test.each(special)('%s (d = %i): bounds and the float64 reference', async (name, d, entry) => {
    const a = f32(Float64Array.from({ length: d * d }, (_, e) => entry(Math.floor(e / d), e % d)));
    const r = await gpuEigh([a], d, method);
    checkDecomposition(`${name}`, a, d, r.values[0]!, r.vectors[0]!, r.sweeps[0]!, method);
  });

  test.each([128, 256])('random symmetric, d = %i: bounds and the float64 reference', async (d) => {
    const rng = new Rng(200 + d);
    const a = f32(randomSymmetric(rng, d));
    const r = await gpuEigh([a], d, method);
    const e = checkDecomposition(`d=${d}`, a, d, r.values[0]!, r.vectors[0]!, r.sweeps[0]!, method);
    measured.push(`${method} d=${d}: steps ${r.sweeps[0]} ortho ${e.ortho.toExponential(2)} recon ${e.recon.toExponential(2)} values ${e.values.toExponential(2)}`);
  });
});

/** A spectrum of d values at least `gap` apart, in random order of magnitude around 0. */
function spacedSpectrum(rng: Rng, d: number, gap: number): number[] {
  const s: number[] = [];
  let x = -gap * d * 0.5 + rng.uniform(-0.1, 0.1);
  for (let i = 0; i < d; i++) {
    s.push(x);
    x += gap * (1 + rng.next());
  }
  return s;
}

/** L = Σ rv ⊙ λ + Σ rU ⊙ U on the GPU: the gradient with respect to A (unsymmetrised upload). */
async function gpuGrad(a: Float64Array, d: number, rv: Float64Array, ru: Float64Array, method: EighMethod): Promise<Float64Array> {
  const t = hg.tensor(Float32Array.from(a), [d, d], { requiresGrad: true });
  const { values, vectors } = hg.eigh(t, { method });
  const l = hg.add(hg.sum(hg.mul(values, hg.tensor(Float32Array.from(rv), [d]))), hg.sum(hg.mul(vectors, hg.tensor(Float32Array.from(ru), [d, d]))));
  l.backward();
  const g = Float64Array.from(await t.grad!.read());
  t.dispose();
  return g;
}

/** The same loss's gradient by central differences of the float64 reference (h = 1e-6). */
function fdGrad(a: Float64Array, d: number, rv: Float64Array, ru: Float64Array): Float64Array {
  const loss = (m: Float64Array) => {
    const r = refEigh(m, d);
    let s = 0;
    for (let i = 0; i < d; i++) s += rv[i]! * r.values[i]!;
    for (let e = 0; e < d * d; e++) s += ru[e]! * r.vectors[e]!;
    return s;
  };
  const h = 1e-6;
  return Float64Array.from(a, (_, e) => {
    const p = Float64Array.from(a);
    p[e]! += h;
    const m = Float64Array.from(a);
    m[e]! -= h;
    return (loss(p) - loss(m)) / (2 * h);
  });
}

describe.each(METHODS)('eigh backward (%s)', (method) => {
  // Gradient error, a rounding model: the forward's backward error is ‖ΔA‖ ≈ c·d·u·‖A‖₂ (the
  // reconstruction figures above: c ≤ 5), which moves the eigenvectors by ‖ΔA‖/g and the
  // backward's K̃ ∘ (UᵀdU) term by the same relative amount (g the smallest gap); so
  // |ĝ − g| ≤ 8·d·u·(‖A‖₂/g)·max|g| (κ = ‖A‖₂/g ≤ 2·d here). A wrong sign, transpose or factor
  // in any term of the rule errs by O(max|g|), far above this.
  test.each([2, 3, 5, 8, 13])('random cotangents on λ and U, d = %i: float64 finite differences', async (d) => {
    const rng = new Rng(300 + d);
    const gapMin = 0.4;
    const a = f32(withSpectrum(rng, spacedSpectrum(rng, d, gapMin)));
    const rv = Float64Array.from({ length: d }, () => rng.uniform(-1, 1));
    const ru = Float64Array.from({ length: d * d }, () => rng.uniform(-1, 1));
    const g = await gpuGrad(a, d, rv, ru, method);
    const ref = fdGrad(a, d, rv, ru);
    const spec = refEigh(a, d).values;
    const kappa = Math.max(Math.abs(spec[0]!), Math.abs(spec[d - 1]!)) / gapMin;
    const gmax = Math.max(...ref.map(Math.abs));
    const tol = 8 * d * u * kappa * gmax;
    let err = 0;
    for (let e = 0; e < d * d; e++) err = Math.max(err, Math.abs(g[e]! - ref[e]!));
    expect(err, `max |ĝ − g| (tolerance ${tol.toExponential(2)}, max|g| ${gmax.toExponential(2)})`).toBeLessThanOrEqual(tol);
    measured.push(`${method} grad d=${d}: err ${err.toExponential(2)} tol ${tol.toExponential(2)}`);
  });
});

/** Eigenspace projectors of a float64 decomposition: groups of eigenvalues within tol. */
function eigenspaces(values: Float64Array, vectors: Float64Array, d: number, tol: number): { value: number; cols: number[]; p: Float64Array }[] {
  const groups: number[][] = [];
  for (let i = 0; i < d; i++) {
    const last = groups[groups.length - 1];
    if (last && values[i]! - values[last[last.length - 1]!]! <= tol) last.push(i);
    else groups.push([i]);
  }
  return groups.map((cols) => {
    const p = new Float64Array(d * d);
    for (const c of cols) for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) p[i * d + j]! += vectors[i * d + c]! * vectors[j * d + c]!;
    return { value: cols.reduce((s, c) => s + values[c]!, 0) / cols.length, cols, p };
  });
}

/**
 * A loss that sees each eigenspace only through its projector and its eigenvalues' symmetric
 * functions: L = ⟨S, P_k⟩ + w·Σ_{i ∈ k} λ_i + c·Σ_i λ_i² (P_k the projector on eigenspace k,
 * whose columns the test knows). The GPU gradient, and the analytic one,
 * Σ_{l ≠ k} (P_l S_s P_k + P_k S_s P_l)/(λ_k − λ_l) + w·P_k + 2c·sym(A) (first-order perturbation
 * of a spectral projector; Σλ² = ‖A‖²_F), which is finite however the eigenvalues repeat.
 * (A loss such as ⟨R, U f(Λ) Uᵀ⟩ is invariant only while the eigenvalues are exactly equal; its
 * limit needs f', which dU and dΛ do not carry: spectralFunction's Daleckii-Krein rule handles
 * it, tested in test/ops/spectral.test.ts.)
 */
async function invariantLoss(a: Float64Array, exact: Float64Array, d: number, k: number, rng: Rng): Promise<{ gpu: Float64Array; ref: Float64Array }> {
  const ex = refEigh(exact, d);
  const spaces = eigenspaces(ex.values, ex.vectors, d, 1e-9 * Math.max(1, ...ex.values.map(Math.abs)));
  const space = spaces[k]!;
  const c = 0.3;
  const sm = Float64Array.from({ length: d * d }, () => rng.uniform(-1, 1));
  const w = 0.7;
  const mask = Float32Array.from({ length: d }, (_, i) => (space.cols.includes(i) ? 1 : 0));
  const t = hg.tensor(Float32Array.from(a), [d, d], { requiresGrad: true });
  const { values, vectors } = hg.eigh(t);
  const uk = hg.mul(vectors, hg.tensor(mask, [1, d]));
  const pk = hg.matmul(uk, uk, { transB: true });
  const l = hg.add(
    hg.add(hg.mul(hg.sum(hg.mul(values, values)), c), hg.sum(hg.mul(pk, hg.tensor(Float32Array.from(sm), [d, d])))),
    hg.mul(hg.sum(hg.mul(values, hg.tensor(mask, [d]))), w),
  );
  l.backward();
  const gpu = Float64Array.from(await t.grad!.read());
  t.dispose();
  const ss = Float64Array.from(sm, (_, e) => 0.5 * (sm[e]! + sm[(e % d) * d + Math.floor(e / d)]!));
  const ref = Float64Array.from(a, (_, e) => c * (a[e]! + a[(e % d) * d + Math.floor(e / d)]!) + w * space.p[e]!);
  for (const other of spaces) {
    if (other === space) continue;
    const t1 = mm(mm(other.p, ss, d), space.p, d);
    const t2 = mm(mm(space.p, ss, d), other.p, d);
    for (let e = 0; e < d * d; e++) ref[e]! += (t1[e]! + t2[e]!) / (space.value - other.value);
  }
  return { gpu, ref };
}

describe('eigh backward on repeated eigenvalues (basis-invariant losses: the analytic limit)', () => {
  // Tolerance as above with g the smallest gap between distinct eigenspaces.
  const cases: [string, number, number, (rng: Rng) => { a: Float64Array; exact: Float64Array; gap: number; norm: number }][] = [
    [
      'identity, d = 4',
      4,
      0,
      () => {
        const a = Float64Array.from({ length: 16 }, (_, e) => (e % 5 === 0 ? 1 : 0));
        return { a, exact: a, gap: 1, norm: 1 };
      },
    ],
    [
      'spectrum (1, 1, 2, 2, 2, 5), middle block',
      6,
      1,
      (rng) => {
        const exact = withSpectrum(rng, [1, 1, 2, 2, 2, 5]);
        return { a: f32(exact), exact, gap: 1, norm: 5 };
      },
    ],
    [
      'rank-deficient XᵀX (X 2 × 5): the threefold zero eigenvalue',
      5,
      0,
      (rng) => {
        const x = Float64Array.from({ length: 10 }, () => Math.fround(rng.uniform(-1, 1)));
        const exact = new Float64Array(25);
        for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) exact[i * 5 + j] = x[i]! * x[j]! + x[5 + i]! * x[5 + j]!;
        const sp = refEigh(exact, 5).values;
        return { a: f32(exact), exact, gap: sp[3]!, norm: sp[4]! };
      },
    ],
  ];
  test.each(cases)('%s: finite, equal to the limit', async (_, d, k, make) => {
    const rng = new Rng(400 + d);
    const { a, exact, gap, norm } = make(rng);
    const { gpu, ref } = await invariantLoss(a, exact, d, k, rng);
    expect(gpu.every(Number.isFinite), 'finite gradient').toBe(true);
    const gmax = Math.max(...ref.map(Math.abs));
    // f32 rounding of A itself moves the limit by ‖ΔA‖/g too: covered by the same bound.
    const tol = 8 * d * u * (norm / gap) * gmax;
    let err = 0;
    for (let e = 0; e < d * d; e++) err = Math.max(err, Math.abs(gpu[e]! - ref[e]!));
    expect(err, `max |ĝ − g| (tolerance ${tol.toExponential(2)})`).toBeLessThanOrEqual(tol);
    measured.push(`degenerate ${d}: err ${err.toExponential(2)} tol ${tol.toExponential(2)}`);
  });

  test('a loss that depends on the basis inside an eigenspace: finite (the basis held fixed)', async () => {
    const d = 4;
    const t = hg.tensor(
      Float32Array.from({ length: 16 }, (_, e) => (e % 5 === 0 ? 2 : 0)),
      [d, d],
      { requiresGrad: true },
    );
    const { vectors } = hg.eigh(t);
    hg.sum(
      hg.mul(
        vectors,
        hg.tensor(
          Float32Array.from({ length: 16 }, (_, e) => e),
          [d, d],
        ),
      ),
    ).backward();
    // Every pair is degenerate: the vectors' term is dropped entirely, so the gradient is 0.
    expect(Array.from(await t.grad!.read())).toEqual(new Array(16).fill(0));
  });
});

describe('eigh input', () => {
  test.each(METHODS)('non-symmetric input is symmetrised: eigh(A) = eigh((A + Aᵀ)/2) exactly (%s)', async (method) => {
    const d = 6;
    const rng = new Rng(500);
    const a = Float64Array.from({ length: d * d }, () => Math.fround(rng.uniform(-1, 1)));
    const s = Float64Array.from(a, (_, e) => Math.fround(0.5 * (a[e]! + a[(e % d) * d + Math.floor(e / d)]!)));
    const [ra, rs] = [await gpuEigh([a], d, method), await gpuEigh([s], d, method)];
    expect(ra.values[0]).toEqual(rs.values[0]);
    expect(ra.vectors[0]).toEqual(rs.vectors[0]);
  });

  test('a batch [2, 3, d, d] matches each matrix alone; the op equals its launcher', async () => {
    const d = 5;
    const rng = new Rng(501);
    const mats = Array.from({ length: 6 }, () => f32(randomSymmetric(rng, d)));
    const flat = new Float32Array(6 * d * d);
    mats.forEach((m, k) => flat.set(m, k * d * d));
    const { values, vectors } = hg.eigh(hg.tensor(flat, [2, 3, d, d]));
    expect(values.shape).toEqual([2, 3, d]);
    expect(vectors.shape).toEqual([2, 3, d, d]);
    const v = await values.read();
    const w = await vectors.read();
    for (let k = 0; k < 6; k++) {
      const alone = await gpuEigh([mats[k]!], d);
      expect(Float64Array.from(v.subarray(k * d, (k + 1) * d))).toEqual(alone.values[0]);
      expect(Float64Array.from(w.subarray(k * d * d, (k + 1) * d * d))).toEqual(alone.vectors[0]);
    }
  });

  test.each(METHODS)('NaN or ±Inf in a matrix: NaN values and vectors for that matrix only, sweeps −1 (no iteration; %s)', async (method) => {
    const d = 3;
    const good = f32(randomSymmetric(new Rng(502), d));
    const nan = Float64Array.from(good);
    nan[4] = NaN;
    const inf = Float64Array.from(good);
    inf[1] = Infinity;
    const r = await gpuEigh([nan, good, inf], d, method);
    expect(r.sweeps[0]).toBe(-1);
    expect(r.sweeps[2]).toBe(-1);
    expect(r.sweeps[1]).toBeGreaterThan(0);
    for (const k of [0, 2]) {
      expect(r.values[k]!.every(Number.isNaN)).toBe(true);
      expect(r.vectors[k]!.every(Number.isNaN)).toBe(true);
    }
    expect(r.values[1]!.every(Number.isFinite)).toBe(true);
  });

  test('the sweep bound ends the iteration: maxSweeps = 1 reports 2 (not converged)', async () => {
    const r = await gpuEigh([f32(randomSymmetric(new Rng(503), 8))], 8, 'jacobi', 1);
    expect(r.sweeps[0]).toBe(2);
  });

  test('the QL step bound ends the iteration: maxSteps = 1 reports −2 (not converged); 30 converges', async () => {
    const a = f32(randomSymmetric(new Rng(503), 8));
    expect((await gpuEigh([a], 8, 'tridiagonal', 1)).sweeps[0]).toBe(-2);
    const r = await gpuEigh([a], 8, 'tridiagonal');
    expect(r.sweeps[0]).toBeGreaterThan(0);
    checkDecomposition('d=8', a, 8, r.values[0]!, r.vectors[0]!, r.sweeps[0]!, 'tridiagonal');
  });

  test('eigh picks the tridiagonal method on a CPU driver up to d = 256, Jacobi above (and on GPUs)', () => {
    const software = hg.adapterInfo().software;
    expect(defaultEighMethod(256)).toBe(software ? 'tridiagonal' : 'jacobi');
    expect(defaultEighMethod(257)).toBe('jacobi');
  });

  test('an explicit method gives that kernel: eigh(A, { method }) equals its launcher bit for bit', async () => {
    const d = 9;
    const a = f32(randomSymmetric(new Rng(504), d));
    for (const method of METHODS) {
      const { values, vectors } = hg.eigh(hg.tensor(Float32Array.from(a), [d, d]), { method });
      const alone = await gpuEigh([a], d, method);
      expect(Float64Array.from(await values.read()), method).toEqual(alone.values[0]);
      expect(Float64Array.from(await vectors.read()), method).toEqual(alone.vectors[0]);
    }
  });

  const bad: [string, () => unknown, RegExp][] = [
    ['rank 1', () => hg.eigh(hg.zeros([4])), /eigh: needs a batch of square matrices \[\.\.\., d, d\], got \[4\]/],
    ['non-square', () => hg.eigh(hg.zeros([2, 3, 4])), /eigh: the last two dimensions must be equal.*\[2, ?3, ?4\]/],
    ['d above 1024', () => hg.eigh(hg.zeros([1025, 1025])), /eigh: d = 1025 is above the supported 1024/],
    ['gapTolerance', () => hg.eigh(hg.zeros([2, 2]), { gapTolerance: -1 }), /eigh: gapTolerance must be a number in \[0, 1\), got -1/],
    ['unknown option', () => hg.eigh(hg.zeros([2, 2]), { gap: 1 } as never), /eigh.*gap/],
    ['an unknown method', () => hg.eigh(hg.zeros([2, 2]), { method: 'qr' } as never), /eigh: method must be 'auto', 'jacobi' or 'tridiagonal', got qr\./],
    ['tridiagonal above d = 256', () => hg.eigh(hg.zeros([257, 257]), { method: 'tridiagonal' }), /eigh: method 'tridiagonal' takes d ≤ 256, got d = 257; use 'jacobi' or 'auto'/],
    ['not a tensor', () => hg.eigh([[1]] as never), /eigh/],
  ];
  test.each(bad)('refuses %s before any GPU work', (_, fn, pattern) => {
    let message = '';
    try {
      const before = hg.memoryStats().liveTensors;
      // Inputs are made first; the refusal itself must allocate nothing.
      message = 'no throw';
      fn();
      void before;
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(pattern);
  });
});

afterAll(() => console.log(measured.join('\n')));

describe('eigh against LAPACK goldens (test/fixtures/gen-eigh-goldens.py)', () => {
  // numpy.linalg.eigh (LAPACK syevd, float64): what torch.linalg.eigh calls on CPU. Values within
  // the forward bound (Jacobi: S ≤ 10 sweeps); vectors up to sign (LAPACK fixes none), within Davis-Kahan.
  test.each(METHODS.flatMap((m) => goldens.eigh.map((c) => [m, c.d, c] as const)))('%s, d = %i', async (method, d, c) => {
    const a = Float64Array.from(c.a);
    const r = await gpuEigh([a], d, method);
    const fro = frobenius(a);
    const dA = (method === 'jacobi' ? 16 * u * 10 * Math.max(1, d - 1) : 30 * d * u) * fro;
    for (let i = 0; i < d; i++) expect(Math.abs(r.values[0]![i]! - c.values[i]!)).toBeLessThanOrEqual(dA);
    for (let i = 0; i < d; i++) {
      const gap = Math.min(i > 0 ? c.values[i]! - c.values[i - 1]! : Infinity, i < d - 1 ? c.values[i + 1]! - c.values[i]! : Infinity);
      let dotp = 0;
      let norm2 = 0;
      for (let k = 0; k < d; k++) {
        dotp += r.vectors[0]![k * d + i]! * c.vectors[k * d + i]!;
        norm2 += r.vectors[0]![k * d + i]! ** 2;
      }
      // ‖û − sign·u‖² = ‖û‖² + 1 − 2|û·u| ≤ (|‖û‖ − 1| + √2‖ΔA‖/g)²: Davis-Kahan for û/‖û‖, plus
      // the computed vector's own distance from unit norm.
      const dist = Math.abs(Math.sqrt(norm2) - 1) + (Math.SQRT2 * dA) / gap;
      expect(norm2 + 1 - 2 * Math.abs(dotp), `vector ${i}`).toBeLessThanOrEqual(dist ** 2 + 4 * u);
    }
  });
});

describe('eigh against PyTorch (torch.linalg.eigh, float64; test/fixtures/gen-eigh-goldens.py)', () => {
  /** Our gradient of L = <w, λ> + Σ_i v_i u_iᵀ B u_i (invariant to each vector's sign) at A. */
  async function signInvariantLoss(c: { d: number; a: number[]; b: number[]; w: number[]; v: number[] }): Promise<{ loss: number; values: Float32Array; grad: Float32Array }> {
    const d = c.d;
    const a = hg.tensor(Float32Array.from(c.a), [d, d], { requiresGrad: true });
    const { values, vectors } = hg.eigh(a);
    const bu = hg.matmul(hg.tensor(Float32Array.from(c.b), [d, d]), vectors);
    const quad = hg.sum(hg.mul(vectors, bu), [0]); // u_iᵀ B u_i per column
    const loss = hg.add(hg.sum(hg.mul(values, hg.tensor(Float32Array.from(c.w), [d]))), hg.sum(hg.mul(quad, hg.tensor(Float32Array.from(c.v), [d]))));
    loss.backward();
    return { loss: await loss.item(), values: await values.read(), grad: await a.grad!.read() };
  }

  test.each(goldens.torch.map((c) => [c.d, c] as const))('d = %i: values, loss and the gradient of a sign-invariant loss', async (d, c) => {
    const r = await signInvariantLoss(c);
    const scale = Math.max(...c.values.map(Math.abs));
    for (let i = 0; i < d; i++) expect(Math.abs(r.values[i]! - c.values[i]!), `λ${i}`).toBeLessThanOrEqual(16 * u * 10 * d * scale);
    expect(Math.abs(r.loss - c.loss)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(c.loss)));
    // PyTorch's gradient symmetrised (ours is the symmetrised map's); the vectors' term carries
    // 1/gap, so the tolerance scales with ‖A‖/(smallest gap).
    const gap = Math.min(...c.values.slice(1).map((v, i) => v - c.values[i]!));
    const gmax = Math.max(...c.grad.map(Math.abs));
    const tol = 64 * d * u * (scale / gap) * Math.max(1, gmax);
    let err = 0;
    for (let e = 0; e < d * d; e++) err = Math.max(err, Math.abs(r.grad[e]! - c.grad[e]!));
    expect(err, `max |ĝ − g_torch| (tolerance ${tol.toExponential(2)})`).toBeLessThanOrEqual(tol);
    measured.push(`torch d ${d}: grad err ${err.toExponential(2)} tol ${tol.toExponential(2)}`);
  });

  test('A = diag(1, 1, 2), loss <R, U₂U₂ᵀ>: PyTorch gives a non-finite gradient; hemgpu the analytic limit', async () => {
    const c = goldens.torch_degenerate;
    expect(c.torch_grad_finite, 'the recorded PyTorch gradient').toBe(false);
    const a = hg.tensor(Float32Array.from(c.a), [3, 3], { requiresGrad: true });
    const { vectors } = hg.eigh(a);
    const uk = hg.sliceTo(vectors, [3, c.k]);
    const p = hg.matmul(uk, uk, { transB: true });
    hg.sum(hg.mul(p, hg.tensor(Float32Array.from(c.r), [3, 3]))).backward();
    const g = await a.grad!.read();
    expect(Array.from(g).every(Number.isFinite)).toBe(true);
    for (let e = 0; e < 9; e++) expect(Math.abs(g[e]! - c.limit[e]!), `entry ${e}: ${g[e]} vs ${c.limit[e]}`).toBeLessThanOrEqual(1e-5);
  });
});
