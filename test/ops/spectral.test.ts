/**
 * spectralFunction, logm, sqrtm, powm (src/ops/spectral.ts): forward and gradient against SciPy
 * goldens (test/fixtures/gen-eigh-goldens.py: Schur/Padé matrix functions and float64 central
 * differences, independent of the eigendecomposition route), the Daleckii-Krein limit on repeated
 * and zero eigenvalues, the eps clamp, and bad input.
 *
 * Bounds. The decomposition's backward error ‖ΔA‖ ≤ 16u·R·‖A‖_F (test/ops/eigh.test.ts; R = S·(d − 1),
 * S ≤ 10) moves f(A) by at most L_f·‖ΔA‖ (L_f = max |G_ij|, the divided differences, ≤ max|f'| on
 * the spectrum), and U's departure from orthogonality (≤ 8u·R) by 2·8u·R·max|f|:
 *   |Ŷ − Y| ≤ 16u·R·(‖A‖_F·L_f + max|f|).
 * Gradient: the same relative error on U and λ, amplified by the spectrum's condition
 * κ = λ_max/λ_min in the divided differences, plus the divided differences' own rounding,
 * 2u·max|f|/(gapTolerance·λ_min) relative to G (pairs closer than the tolerance use f' instead,
 * whose trapezoid error gap²·λ²|f'''|/12 is far smaller for log and powers):
 *   |ĝ − g| ≤ (16u·R·κ + 2u·max|f|/(10⁻³·λ_min·L_min))·max|g|.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng, U as u } from '../helpers.ts';
import { frobenius, mm, refEigh, withSpectrum } from '../eigh-reference.ts';
import goldens from '../fixtures/eigh-goldens.json';

beforeAll(async () => {
  await hg.init();
});

type Op = (a: hg.Tensor) => hg.Tensor;
const OPS: Record<string, { op: Op; f: (x: number) => number; df: (x: number) => number }> = {
  logm: { op: (a) => hg.logm(a), f: Math.log, df: (x) => 1 / x },
  sqrtm: { op: (a) => hg.sqrtm(a), f: Math.sqrt, df: (x) => 0.5 / Math.sqrt(x) },
  'powm(-0.5)': { op: (a) => hg.powm(a, -0.5), f: (x) => x ** -0.5, df: (x) => -0.5 * x ** -1.5 },
  'powm(1.5)': { op: (a) => hg.powm(a, 1.5), f: (x) => x ** 1.5, df: (x) => 1.5 * x ** 0.5 },
};

/** Y = op(A) and the gradient of Σ R ⊙ Y, on the GPU. */
async function run(op: Op, a: Float64Array, r: Float64Array, d: number): Promise<{ y: Float64Array; g: Float64Array }> {
  const t = hg.tensor(Float32Array.from(a), [d, d], { requiresGrad: true });
  const y = op(t);
  hg.sum(hg.mul(y, hg.tensor(Float32Array.from(r), [d, d]))).backward();
  const out = { y: Float64Array.from(await y.read()), g: Float64Array.from(await t.grad!.read()) };
  t.dispose();
  return out;
}

function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

const measured: string[] = [];

describe('spectral functions against SciPy goldens', () => {
  test.each(goldens.spectral.map((c) => [c.fn, c.d, c.repeated ? 'repeated spectrum' : 'distinct', c] as const))('%s, d = %i, %s', async (name, d, _, c) => {
    const { op, f, df } = OPS[name]!;
    const a = Float64Array.from(c.a);
    const lam = refEigh(a, d).values;
    const fs = [...lam].map(f);
    const dfs = [...lam].map((x) => Math.abs(df(x)));
    const lf = Math.max(...dfs);
    const lmin = Math.min(...dfs);
    const R = 10 * (d - 1);
    const { y, g } = await run(op, a, Float64Array.from(c.r), d);
    const maxf = Math.max(...fs.map(Math.abs));
    const tolY = 16 * u * R * (frobenius(a) * lf + maxf);
    const ey = maxAbsDiff(y, c.y);
    expect(ey, `forward (tolerance ${tolY.toExponential(2)})`).toBeLessThanOrEqual(tolY);
    expect(g.every(Number.isFinite)).toBe(true);
    const kappa = lam[d - 1]! / lam[0]!;
    const gmax = Math.max(...c.grad.map(Math.abs));
    const tolG = (16 * u * R * kappa + (2 * u * maxf) / (1e-3 * lam[0]! * lmin)) * gmax;
    const eg = maxAbsDiff(g, c.grad);
    expect(eg, `gradient (tolerance ${tolG.toExponential(2)})`).toBeLessThanOrEqual(tolG);
    measured.push(`${name} d=${d} ${c.repeated ? 'rep' : ''}: y ${ey.toExponential(2)}/${tolY.toExponential(2)} g ${eg.toExponential(2)}/${tolG.toExponential(2)}`);
  });
});

/** Float64 Daleckii-Krein gradient of Σ R ⊙ f(A) at A = Q diag(λ) Qᵀ (exact λ, Q): sym form. */
function dkGrad(q: Float64Array, lam: readonly number[], r: Float64Array, f: (x: number) => number, df: (x: number) => number): Float64Array {
  const d = lam.length;
  const rs = Float64Array.from(r, (_, e) => 0.5 * (r[e]! + r[(e % d) * d + Math.floor(e / d)]!));
  const qt = Float64Array.from(q, (_, e) => q[(e % d) * d + Math.floor(e / d)]!);
  const m = mm(mm(qt, rs, d), q, d);
  const core = Float64Array.from(m, (v, e) => {
    const i = Math.floor(e / d);
    const j = e % d;
    const g = Math.abs(lam[i]! - lam[j]!) < 1e-12 ? df(lam[i]!) : (f(lam[i]!) - f(lam[j]!)) / (lam[i]! - lam[j]!);
    return g * v;
  });
  return mm(mm(q, core, d), qt, d);
}

describe('repeated and zero eigenvalues: the Daleckii-Krein limit', () => {
  test('⟨R, f(A)⟩ with f(x) = x at the identity and at a rank-deficient XᵀX: gradient sym(R) (where eigh alone cannot)', async () => {
    const rng = new Rng(600);
    const d = 5;
    const x = Float64Array.from({ length: 2 * d }, () => Math.fround(rng.uniform(-1, 1)));
    const xtx = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) xtx[i * d + j] = Math.fround(x[i]! * x[j]! + x[d + i]! * x[d + j]!);
    const eye = Float64Array.from({ length: d * d }, (_, e) => (e % (d + 1) === 0 ? 1 : 0));
    for (const a of [eye, xtx]) {
      const r = Float64Array.from({ length: d * d }, () => rng.uniform(-1, 1));
      const { g } = await run(
        (t) =>
          hg.spectralFunction(
            t,
            (l) => hg.mul(l, 1),
            (l) => hg.add(hg.mul(l, 0), 1),
          ),
        a,
        r,
        d,
      );
      const rs = Float64Array.from(r, (_, e) => 0.5 * (r[e]! + r[(e % d) * d + Math.floor(e / d)]!));
      // G ≡ 1: dA = U sym(UᵀRU) Uᵀ = sym(R), up to U's orthogonality (8u·R).
      expect(maxAbsDiff(g, rs)).toBeLessThanOrEqual(16 * u * 10 * (d - 1) * Math.max(...rs.map(Math.abs)));
    }
  });

  test('logm at block-repeated spectra (1, 1, 1, 3, 3, 0.5): finite and equal to the float64 limit', async () => {
    const rng = new Rng(601);
    const lam = [0.5, 1, 1, 1, 3, 3];
    const d = lam.length;
    const a = withSpectrum(rng, lam);
    const ev = refEigh(a, d);
    const r = Float64Array.from({ length: d * d }, () => rng.uniform(-1, 1));
    const { g } = await run((t) => hg.logm(t), Float64Array.from(Float32Array.from(a)), r, d);
    const ref = dkGrad(ev.vectors, lam, r, Math.log, (v) => 1 / v);
    expect(g.every(Number.isFinite)).toBe(true);
    const gmax = Math.max(...ref.map(Math.abs));
    // As the golden bound, κ = 6, plus the f32 rounding of A (its eigenvalues move by ≤ 16u‖A‖_F).
    expect(maxAbsDiff(g, ref)).toBeLessThanOrEqual((16 * u * 10 * (d - 1) * 6 + (2 * u * 2) / (1e-3 * 0.5 * (1 / 3))) * gmax);
  });

  test('sqrtm and logm of a singular XᵀX with eps: the clamped function, finite gradient', async () => {
    const rng = new Rng(602);
    const d = 4;
    const x = Float64Array.from({ length: 2 * d }, () => Math.fround(rng.uniform(-1, 1)));
    const a = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) a[i * d + j] = Math.fround(x[i]! * x[j]! + x[d + i]! * x[d + j]!);
    const ev = refEigh(a, d);
    const eps = 1e-3;
    const clamp = (v: number) => Math.max(v, eps);
    const r = Float64Array.from({ length: d * d }, () => rng.uniform(-1, 1));
    for (const [name, op, f] of [
      ['logm', (t: hg.Tensor) => hg.logm(t, { eps }), Math.log],
      ['sqrtm', (t: hg.Tensor) => hg.sqrtm(t, { eps }), Math.sqrt],
    ] as const) {
      const { y, g } = await run(op, a, r, d);
      const fl = [...ev.values].map((v) => f(clamp(v)));
      const yref = mm(
        Float64Array.from(ev.vectors, (v, e) => v * fl[e % d]!),
        ev.vectors,
        d,
        true,
      );
      const maxf = Math.max(...fl.map(Math.abs));
      expect(maxAbsDiff(y, yref), name).toBeLessThanOrEqual(16 * u * 10 * (d - 1) * (frobenius(a) / eps + maxf));
      expect(g.every(Number.isFinite), `${name}: finite gradient`).toBe(true);
    }
  });

  test('without eps, one rule for non-positive eigenvalues in logm, sqrtm and powm: raised to d·2⁻²³·‖A‖_F, finite, the positive part exact', async () => {
    const F32_EPS = 2 ** -23;
    // The cases: the valid entry must come through, and nothing is ±Inf or NaN.
    const diag = async (op: Op, l: number[]) => {
      const d = l.length;
      const a = new Float64Array(d * d);
      l.forEach((v, i) => (a[i * d + i] = v));
      return (
        await run(
          op,
          a,
          Float64Array.from({ length: d * d }, () => 1),
          d,
        )
      ).y;
    };
    const floor2 = (l: number[]) => 2 * F32_EPS * Math.hypot(...l);
    const lg = await diag((t) => hg.logm(t), [-1, 2]);
    expect(Array.from(lg)).toEqual([Math.fround(Math.log(Math.fround(floor2([-1, 2])))), 0, 0, Math.fround(Math.log(2))].map((v, i) => expect.closeTo(v, i === 0 ? 4 : 6)));
    const sq = await diag((t) => hg.sqrtm(t), [-4, 9]);
    expect(sq[1]).toBe(0);
    expect(sq[2]).toBe(0);
    expect(sq[3]).toBeCloseTo(3, 6);
    expect(sq[0]).toBeCloseTo(Math.sqrt(floor2([-4, 9])), 5);
    const pw = await diag((t) => hg.powm(t, -0.5), [0, 4]);
    expect(pw[3]).toBeCloseTo(0.5, 6);
    expect(pw[0]! / (2 * F32_EPS * 4) ** -0.5).toBeCloseTo(1, 4);
    // A dense indefinite matrix: each function equals f(max(λ, floor)) through the same
    // eigenvectors, and its gradient is finite (f' = 0 on the raised eigenvalues). Its negative
    // eigenvalues lie far below the floor (≈ 1e-6) next to the decomposition's error, so the
    // bound's L_f is over the positive ones only. (An exact 0 in a dense matrix is computed as
    // ±rounding, and log of that is as ill-conditioned as the input; the diagonal cases above.)
    const rng = new Rng(604);
    const d = 5;
    const lam = [-0.8, -0.2, -1e-3, 0.4, 1.7];
    const a = Float64Array.from(Float32Array.from(withSpectrum(rng, lam)));
    const ev = refEigh(a, d);
    const floor = d * F32_EPS * frobenius(a);
    const r = Float64Array.from({ length: d * d }, () => rng.uniform(-1, 1));
    for (const [name, op, f, df] of [
      ['logm', (t: hg.Tensor) => hg.logm(t), Math.log, (x: number) => 1 / x],
      ['sqrtm', (t: hg.Tensor) => hg.sqrtm(t), Math.sqrt, (x: number) => 0.5 / Math.sqrt(x)],
      ['powm(-0.5)', (t: hg.Tensor) => hg.powm(t, -0.5), (x: number) => x ** -0.5, (x: number) => 0.5 * x ** -1.5],
      ['powm(2)', (t: hg.Tensor) => hg.powm(t, 2), (x: number) => x * x, (x: number) => 2 * x],
    ] as const) {
      const { y, g } = await run(op, a, r, d);
      const fl = [...ev.values].map((v) => f(Math.max(v, floor)));
      const yref = mm(
        Float64Array.from(ev.vectors, (v, e) => v * fl[e % d]!),
        ev.vectors,
        d,
        true,
      );
      const maxf = Math.max(...fl.map(Math.abs));
      const lf = Math.max(...[...ev.values].filter((v) => v > floor).map((v) => Math.abs(df(v))));
      expect(y.every(Number.isFinite), `${name}: finite`).toBe(true);
      // The floor's own rounding (‖λ‖₂ in f32) moves f there by about |f'(floor)|·4u·floor.
      const atFloor = Math.abs(f(floor * (1 + 4 * u)) - f(floor));
      expect(maxAbsDiff(y, yref), name).toBeLessThanOrEqual(16 * u * 10 * (d - 1) * (frobenius(a) * lf + maxf) + 3 * atFloor);
      expect(g.every(Number.isFinite), `${name}: finite gradient`).toBe(true);
    }
  });

  test('spectralFunction(A, exp, exp) on indefinite input: float64 forward and finite-difference gradient', async () => {
    const rng = new Rng(603);
    const d = 6;
    const a = Float64Array.from(Float32Array.from(withSpectrum(rng, [-1.5, -0.7, 0.1, 0.6, 1.2, 2.0])));
    const r = Float64Array.from({ length: d * d }, () => rng.uniform(-1, 1));
    const { y, g } = await run((t) => hg.spectralFunction(t, hg.exp, hg.exp), a, r, d);
    const fA = (m: Float64Array) => {
      const e = refEigh(m, d);
      const fl = [...e.values].map(Math.exp);
      return mm(
        Float64Array.from(e.vectors, (v, k) => v * fl[k % d]!),
        e.vectors,
        d,
        true,
      );
    };
    const maxf = Math.exp(2);
    expect(maxAbsDiff(y, fA(a))).toBeLessThanOrEqual(16 * u * 10 * (d - 1) * (frobenius(a) * maxf + maxf));
    const h = 1e-6;
    const fd = Float64Array.from(a, (_, e) => {
      const p = Float64Array.from(a);
      p[e]! += h;
      const m = Float64Array.from(a);
      m[e]! -= h;
      const yp = fA(p);
      const ym = fA(m);
      let s = 0;
      for (let k = 0; k < d * d; k++) s += r[k]! * (yp[k]! - ym[k]!);
      return s / (2 * h);
    });
    const gmax = Math.max(...fd.map(Math.abs));
    expect(maxAbsDiff(g, fd)).toBeLessThanOrEqual((16 * u * 10 * (d - 1) * Math.exp(3.5) + (2 * u * maxf) / (1e-3 * 0.1 * Math.exp(-1.5))) * gmax);
  });
});

describe('spectral input', () => {
  const m = () => hg.zeros([3, 3]);
  const bad: [string, () => unknown, RegExp][] = [
    ['logm: eps < 0', () => hg.logm(m(), { eps: -1 }), /logm: eps must be a finite number ≥ 0, got -1/],
    ['powm: p = NaN', () => hg.powm(m(), NaN), /powm: the power p must be a finite number, got NaN/],
    ['sqrtm: non-square', () => hg.sqrtm(hg.zeros([3, 4])), /sqrtm: the last two dimensions must be equal/],
    ['spectralFunction: f not a function', () => hg.spectralFunction(m(), 1 as never, hg.exp), /spectralFunction: f and df must be functions/],
    ['logm: unknown option', () => hg.logm(m(), { epsilon: 1 } as never), /logm.*epsilon/],
    ['powm: gapTolerance 1', () => hg.powm(m(), 2, { gapTolerance: 1 }), /powm: gapTolerance must be a number in \[0, 1\), got 1/],
  ];
  test.each(bad)('%s', (_, fn, pattern) => {
    expect(fn).toThrow(pattern);
  });
});

afterAll(() => console.log(measured.join('\n')));
