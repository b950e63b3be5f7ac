/**
 * Elementwise ops: add/sub/mul/div with broadcasting (tensor–tensor, tensor–scalar, scalar–tensor),
 * neg, exp, log, sqrt, relu and pow (negative bases with integer exponents included), forward and
 * backward against float64 references, broadcast gradients summed back to each operand's shape,
 * and central finite differences for small shapes.
 *
 * Tolerances (helpers.ts has the error model): + − × are correctly rounded (≤ u relative);
 * x / y is 2.5 ULP = 5u; built-ins carry their WGSL accuracies (exp 3 + 2|x| ULP, log 3 ULP or
 * 2^-21 absolute on [0.5, 2], sqrt ≤ 4.5 ULP, pow via exp2(p·log2|x|)). A gradient summed over n
 * broadcast copies adds γ_n · Σ|terms| on top of the per-term error.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import {
  Rng,
  U,
  ULP,
  abs,
  broadcastShape,
  dot,
  expectClose,
  expectExact,
  gamma,
  map,
  nd,
  numericGrad,
  read,
  readGrad,
  refBinary,
  refSumToShape,
  sizeOf,
  upload,
  type Nd,
  type Shape,
} from '../helpers.ts';

beforeAll(async () => {
  await hg.init();
});

type BinName = 'add' | 'sub' | 'mul' | 'div';
const BIN: Record<BinName, { f: (a: number, b: number) => number; gpu: (a: hg.Tensor | number, b: hg.Tensor | number) => hg.Tensor }> = {
  add: { f: (a, b) => a + b, gpu: hg.add },
  sub: { f: (a, b) => a - b, gpu: hg.sub },
  mul: { f: (a, b) => a * b, gpu: hg.mul },
  div: { f: (a, b) => a / b, gpu: hg.div },
};

/** Analytic partial derivatives ∂f/∂a, ∂f/∂b of each binary op. */
const PARTIALS: Record<BinName, [(a: number, b: number) => number, (a: number, b: number) => number]> = {
  add: [() => 1, () => 1],
  sub: [() => 1, () => -1],
  mul: [(_a, b) => b, (a) => a],
  div: [(_a, b) => 1 / b, (a, b) => -a / (b * b)],
};

/**
 * Per-term relative error of the engine's forward result and of each gradient term before the
 * broadcast sum: add/sub/mul one rounding (u); div 2.5 ULP (5u); da of div = g / b (5u);
 * db of div = −(g · z) / b with z = a / b computed in f32: 5u + u + 5u = 11u.
 */
const TERM_ERR: Record<BinName, { fwd: number; da: number; db: number }> = {
  add: { fwd: U, da: 0, db: 0 },
  sub: { fwd: U, da: 0, db: 0 },
  mul: { fwd: U, da: U, db: U },
  div: { fwd: 5 * U, da: 5 * U, db: 11 * U },
};

/** Inputs: a in [-1, 1]; b away from 0 for div (|b| in [0.5, 2]) so a / b stays well scaled. */
function operands(rng: Rng, op: BinName, aShape: Shape, bShape: Shape): [Nd, Nd] {
  const a = nd(rng.f32(sizeOf(aShape)), aShape);
  const b = nd(op === 'div' ? rng.awayFromZero(sizeOf(bShape), 0.5, 2) : rng.f32(sizeOf(bShape)), bShape);
  return [a, b];
}

/** Reference gradients of L = Σ g ⊙ f(a, b), and Σ|terms| for the error bounds. */
function refGrads(op: BinName, a: Nd, b: Nd, g: Nd): { da: Nd; db: Nd; ma: Nd; mb: Nd } {
  const [pa, pb] = PARTIALS[op];
  const ta = refBinary(refBinary(a, b, pa), g, (p, gv) => p * gv);
  const tb = refBinary(refBinary(a, b, pb), g, (p, gv) => p * gv);
  return {
    da: refSumToShape(ta, a.shape),
    db: refSumToShape(tb, b.shape),
    ma: refSumToShape(abs(ta), a.shape),
    mb: refSumToShape(abs(tb), b.shape),
  };
}

const PAIRS: [Shape, Shape][] = [
  [
    [3, 5],
    [3, 5],
  ],
  [[3, 5], [5]],
  [[5], [3, 5]],
  [
    [3, 1],
    [1, 5],
  ],
  [
    [2, 3, 4],
    [3, 1],
  ],
  [
    [2, 1, 4],
    [3, 1],
  ],
  [[1], [7, 3]],
  [[], [4, 3]],
  [[4, 3], []],
  [[257], [257]],
  [
    [33, 1],
    [33, 129],
  ],
  [
    [4, 1, 3, 1],
    [1, 5, 1, 2],
  ],
  // Rank 6 after coalescing: the kernel reads its rank from the uniform (B_RANK 0) past rank 3.
  [
    [2, 1, 3, 1, 2, 1],
    [1, 2, 1, 3, 1, 2],
  ],
  [[1, 1], [1]],
];

describe('binary ops with broadcasting', () => {
  for (const op of ['add', 'sub', 'mul', 'div'] as BinName[]) {
    for (const [as, bs] of PAIRS) {
      test(`${op} [${as}] ⊕ [${bs}]: forward, backward and broadcast gradient reduction`, async () => {
        const rng = new Rng(as.length * 97 + bs.length * 13 + op.length + sizeOf(as) + sizeOf(bs));
        const [a, b] = operands(rng, op, as, bs);
        const ta = upload(a, undefined, true);
        const tb = upload(b, undefined, true);
        const z = BIN[op].gpu(ta, tb);
        const ref = refBinary(a, b, BIN[op].f);
        expect(z.shape).toEqual(broadcastShape(as, bs));
        expectClose(await read(z), ref.data, { atol: 0, rtol: TERM_ERR[op].fwd, shape: ref.shape, label: `${op} forward` });

        const g = nd(rng.f32(ref.data.length), ref.shape);
        z.backward(upload(g));
        const r = refGrads(op, a, b, g);
        const n = (x: Nd): number => ref.data.length / x.data.length; // copies summed per element
        expect(ta.grad!.shape).toEqual([...as]);
        expect(tb.grad!.shape).toEqual([...bs]);
        expectClose(await readGrad(ta, 'a'), r.da.data, {
          atol: 0,
          rtol: 0,
          bound: r.ma.data.map((m) => (TERM_ERR[op].da + gamma(n(a))) * m),
          shape: as,
          label: `${op} da`,
        });
        expectClose(await readGrad(tb, 'b'), r.db.data, {
          atol: 0,
          rtol: 0,
          bound: r.mb.data.map((m) => (TERM_ERR[op].db + gamma(n(b))) * m),
          shape: bs,
          label: `${op} db`,
        });
      });
    }
  }

  test('broadcast gradient sums of integer data are exact', async () => {
    // g integer-valued, summed over up to 64 copies: every partial sum is an exact f32 integer.
    const rng = new Rng(3);
    const a = upload(rng.ints(4, -3, 3), [4, 1], true);
    const b = upload(rng.ints(16, -3, 3), [16], true);
    const z = hg.add(a, b); // [4, 16]
    const g = nd(rng.ints(64, -5, 5), [4, 16]);
    z.backward(upload(g));
    expectExact(await readGrad(a), refSumToShape(g, [4, 1]).data, 'd a');
    expectExact(await readGrad(b), refSumToShape(g, [16]).data, 'd b');
  });

  test('binary gradients vs central finite differences (float64 reference)', async () => {
    const rng = new Rng(4);
    for (const op of ['add', 'sub', 'mul', 'div'] as BinName[]) {
      for (const [as, bs] of [
        [[2, 3], [3]],
        [
          [2, 1],
          [1, 3],
        ],
        [[], [2, 2]],
      ] as [Shape, Shape][]) {
        const [a, b] = operands(rng, op, as, bs);
        const outShape = broadcastShape(as, bs);
        const w = nd(rng.f32(sizeOf(outShape)), outShape);
        const L = (x: Nd, y: Nd): number => dot(refBinary(x, y, BIN[op].f).data, w.data);
        const fdA = numericGrad((x) => L({ data: x, shape: [...as] }, b), a.data);
        const fdB = numericGrad((y) => L(a, { data: y, shape: [...bs] }), b.data);
        const r = refGrads(op, a, b, w);
        // FD truncation h²/6·|∂³f|: 0 for add/sub/mul; for div |∂³(1/b)| = 6/|b|⁴ ≤ 96 → 1.6e-5.
        const fdErr = op === 'div' ? 2e-5 : 1e-9;
        expectClose(r.da.data, fdA, { atol: fdErr, rtol: 0, label: `${op} reference da vs FD` });
        expectClose(r.db.data, fdB, { atol: fdErr, rtol: 0, label: `${op} reference db vs FD` });
        const ta = upload(a, undefined, true);
        const tb = upload(b, undefined, true);
        BIN[op].gpu(ta, tb).backward(upload(w));
        const n = (x: Nd): number => sizeOf(outShape) / x.data.length;
        expectClose(await readGrad(ta), fdA, {
          atol: fdErr,
          rtol: 0,
          bound: r.ma.data.map((m) => (TERM_ERR[op].da + gamma(n(a))) * m),
          label: `${op} [${as}]⊕[${bs}] GPU da vs FD`,
        });
        expectClose(await readGrad(tb), fdB, {
          atol: fdErr,
          rtol: 0,
          bound: r.mb.data.map((m) => (TERM_ERR[op].db + gamma(n(b))) * m),
          label: `${op} [${as}]⊕[${bs}] GPU db vs FD`,
        });
      }
    }
  });
});

describe('scalar forms', () => {
  // Each scalar form is one affine kernel p0·x + p1 (or s / x): ≤ 2 roundings, so the error is at
  // most 2u·(|p0·x| + |p1|); the scalar itself is rounded to f32 first (another u·|s| term), and
  // 1/s for tensor / scalar is rounded too (u relative). s / x is one division (5u).
  const S = 2.75;
  const S_INV = 1 / 3; // not representable in f32: exercises the rounding of the scalar
  const cases: {
    name: string;
    gpu: (x: hg.Tensor) => hg.Tensor;
    f: (x: number) => number;
    df: (x: number) => number;
    bound: (x: number) => number;
    gbound: (x: number, g: number) => number;
  }[] = [
    { name: 'x + s', gpu: (x) => hg.add(x, S), f: (x) => x + S, df: () => 1, bound: (x) => 2 * U * (Math.abs(x) + S), gbound: () => 0 },
    { name: 's + x', gpu: (x) => hg.add(S, x), f: (x) => S + x, df: () => 1, bound: (x) => 2 * U * (Math.abs(x) + S), gbound: () => 0 },
    { name: 'x − s', gpu: (x) => hg.sub(x, S), f: (x) => x - S, df: () => 1, bound: (x) => 2 * U * (Math.abs(x) + S), gbound: () => 0 },
    { name: 's − x', gpu: (x) => hg.sub(S, x), f: (x) => S - x, df: () => -1, bound: (x) => 2 * U * (Math.abs(x) + S), gbound: () => 0 },
    { name: 'x · s', gpu: (x) => hg.mul(x, S), f: (x) => x * S, df: () => S, bound: (x) => 2 * U * Math.abs(x * S), gbound: (_x, g) => U * Math.abs(g * S) },
    { name: 's · x', gpu: (x) => hg.mul(S, x), f: (x) => S * x, df: () => S, bound: (x) => 2 * U * Math.abs(x * S), gbound: (_x, g) => U * Math.abs(g * S) },
    {
      name: 'x · (1/3)',
      gpu: (x) => hg.mul(x, S_INV),
      f: (x) => x * S_INV,
      df: () => S_INV,
      bound: (x) => 3 * U * Math.abs(x * S_INV),
      gbound: (_x, g) => 2 * U * Math.abs(g * S_INV),
    },
    { name: 'x / s', gpu: (x) => hg.div(x, S), f: (x) => x / S, df: () => 1 / S, bound: (x) => 3 * U * Math.abs(x / S), gbound: (_x, g) => 2 * U * Math.abs(g / S) },
    {
      name: 's / x',
      gpu: (x) => hg.div(S, x),
      f: (x) => S / x,
      df: (x) => -S / (x * x),
      bound: (x) => 5 * U * Math.abs(S / x),
      // −g · (z / x) with z = s / x: 5u (z) + 5u (z / x) + u (· g).
      gbound: (x, g) => 11 * U * Math.abs((g * S) / (x * x)),
    },
  ];
  for (const c of cases) {
    test(`${c.name}: forward, backward and FD`, async () => {
      const rng = new Rng(c.name.charCodeAt(0) * 31 + c.name.length);
      const shape = [7, 33];
      const x = nd(rng.awayFromZero(sizeOf(shape), 0.25, 2), shape);
      const tx = upload(x, undefined, true);
      const y = c.gpu(tx);
      expect(y.shape).toEqual(shape);
      expectClose(await read(y), x.data.map(c.f), { atol: 0, rtol: 0, bound: x.data.map(c.bound), shape, label: c.name });
      const g = nd(rng.f32(sizeOf(shape)), shape);
      y.backward(upload(g));
      const expected = x.data.map((v, i) => g.data[i]! * c.df(v));
      expectClose(await readGrad(tx), expected, {
        atol: 0,
        rtol: 0,
        bound: x.data.map((v, i) => c.gbound(v, g.data[i]!)),
        shape,
        label: `${c.name} backward`,
      });
      // FD of Σ g ⊙ f(x) on the first few elements (float64).
      const small = nd(x.data.slice(0, 6), [6]);
      const fd = numericGrad((v) => dot(v.map(c.f), g.data.subarray(0, 6)), small.data, 1e-4);
      // Truncation for s / x: h²/6 · 6s/|x|⁴ ≤ 1e-8 · 2.75 · 256 ≈ 7e-6.
      expectClose(expected.subarray(0, 6), fd, { atol: 1e-5, rtol: 0, label: `${c.name} analytic vs FD` });
    });
  }

  test('scalar ops reject a second number and non-numbers', () => {
    expect(() => hg.add(1 as unknown as hg.Tensor, 2)).toThrow(/add: at least one operand must be a Tensor/);
    const x = hg.tensor([1, 2]);
    expect(() => hg.mul(x, Number.NaN)).toThrow(/mul: scalar operand must be a number, got NaN/);
    expect(() => hg.div(x, 0)).toThrow(/div: division by the scalar 0/);
  });
});

/** ULP-based bounds of the WGSL built-ins for one element (see the file comment). */
function expBound(x: number): number {
  return (3 + 2 * Math.abs(x)) * ULP * Math.exp(x);
}
function logBound(x: number): number {
  return x >= 0.5 && x <= 2 ? 2 ** -21 : 3 * ULP * Math.abs(Math.log(x));
}
function sqrtBound(x: number): number {
  return 4.5 * ULP * Math.sqrt(x) + U * Math.sqrt(x);
}
/**
 * pow(|x|, p) = exp2(p · log2|x|): an error δ in log2 (2^-21 absolute on [0.5, 2], else 3 ULP)
 * becomes a relative error ln2 · |p| · δ; the product p · log2|x| adds u · |p·log2|x|| (times ln2)
 * and exp2 adds (3 + 2·|p·log2|x||) ULP.
 */
function powBound(x: number, p: number): number {
  if (p === 0) return 0;
  const ax = Math.abs(x);
  if (ax === 0) return 0;
  const l = Math.log2(ax);
  const dlog = ax >= 0.5 && ax <= 2 ? 2 ** -21 : 3 * ULP * Math.abs(l);
  const rel = Math.LN2 * (Math.abs(p) * dlog + U * Math.abs(p * l)) + (3 + 2 * Math.abs(p * l)) * ULP;
  return rel * Math.abs(ax ** p);
}

describe('unary ops', () => {
  const shape = [7, 33]; // 231 elements: several invocations, not a multiple of anything
  const cases: {
    name: string;
    gpu: (x: hg.Tensor) => hg.Tensor;
    f: (x: number) => number;
    df: (x: number) => number;
    input: (rng: Rng, n: number) => Float32Array;
    bound: (x: number) => number;
    /** Error of one gradient element g · f'(x) as the engine computes it. */
    gbound: (x: number, g: number) => number;
  }[] = [
    { name: 'neg', gpu: hg.neg, f: (x) => -x, df: () => -1, input: (r, n) => r.f32(n), bound: () => 0, gbound: () => 0 },
    {
      name: 'exp',
      gpu: hg.exp,
      f: Math.exp,
      df: Math.exp,
      input: (r, n) => r.f32(n, -3, 3),
      bound: expBound,
      gbound: (x, g) => Math.abs(g) * (expBound(x) + U * Math.exp(x)),
    },
    {
      name: 'log',
      gpu: hg.log,
      f: Math.log,
      df: (x) => 1 / x,
      input: (r, n) => r.f32(n, 0.1, 10),
      bound: logBound,
      gbound: (x, g) => 5 * U * Math.abs(g / x),
    },
    {
      name: 'sqrt',
      gpu: hg.sqrt,
      f: Math.sqrt,
      df: (x) => 0.5 / Math.sqrt(x),
      input: (r, n) => r.f32(n, 0.05, 10),
      bound: sqrtBound,
      // (g / y) · 0.5: y's own error (sqrtBound, relative) + the division (5u); · 0.5 is exact.
      gbound: (x, g) => (sqrtBound(x) / Math.sqrt(x) + 5 * U) * Math.abs((0.5 * g) / Math.sqrt(x)),
    },
    {
      name: 'relu',
      gpu: hg.relu,
      f: (x) => Math.max(x, 0),
      df: (x) => (x > 0 ? 1 : 0),
      input: (r, n) => r.awayFromZero(n, 0.01, 1),
      bound: () => 0,
      gbound: () => 0,
    },
  ];
  for (const c of cases) {
    test(`${c.name}: forward and backward vs reference`, async () => {
      const rng = new Rng(c.name.length * 7 + c.name.charCodeAt(1));
      const x = nd(c.input(rng, sizeOf(shape)), shape);
      const tx = upload(x, undefined, true);
      const y = c.gpu(tx);
      expectClose(await read(y), x.data.map(c.f), { atol: 0, rtol: 0, bound: x.data.map(c.bound), shape, label: `${c.name} forward` });
      const g = nd(rng.f32(sizeOf(shape)), shape);
      y.backward(upload(g));
      expectClose(
        await readGrad(tx),
        x.data.map((v, i) => g.data[i]! * c.df(v)),
        {
          atol: 0,
          rtol: 0,
          bound: x.data.map((v, i) => c.gbound(v, g.data[i]!)),
          shape,
          label: `${c.name} backward`,
        },
      );
    });

    test(`${c.name}: gradient vs central finite differences`, async () => {
      const rng = new Rng(c.name.length * 11);
      const x = nd(c.input(rng, 12), [3, 4]);
      const w = nd(rng.f32(12), [3, 4]);
      const fd = numericGrad((v) => dot(v.map(c.f), w.data), x.data, 1e-4);
      const analytic = x.data.map((v, i) => w.data[i]! * c.df(v));
      // FD truncation h²/6 · |f'''| with h = 1e-4: ≤ 1.7e-9 · max|f'''| (exp on [-3, 3]: 20;
      // log on [0.1, 10]: 2000; sqrt on [0.05, 10]: 0.375 · 0.05^-2.5 ≈ 670) → ≤ 4e-6.
      const fdErr = 4e-6;
      expectClose(analytic, fd, { atol: fdErr, rtol: 0, label: `${c.name} analytic vs FD` });
      const tx = upload(x, undefined, true);
      c.gpu(tx).backward(upload(w));
      expectClose(await readGrad(tx), fd, {
        atol: fdErr,
        rtol: 0,
        bound: x.data.map((v, i) => c.gbound(v, w.data[i]!)),
        label: `${c.name} GPU grad vs FD`,
      });
    });
  }

  test('IEEE edge values: log(0) = −∞, log(x < 0) and sqrt(x < 0) are NaN, relu(±0) = 0 with gradient 0', async () => {
    // WGSL leaves log outside (0, ∞) indeterminate (SwiftShader returned −88.03 for log(0) and
    // log|x| for x < 0); the engine documents IEEE results and must produce them on every driver.
    const x = hg.tensor([0, -0, -1, -4, 4, 1]);
    const l = await hg.log(x).read();
    expect(l[0]).toBe(-Infinity);
    expect(l[1]).toBe(-Infinity);
    expect(Number.isNaN(l[2]!)).toBe(true);
    expect(Number.isNaN(l[3]!)).toBe(true);
    expectClose([l[4]!, l[5]!], [Math.log(4), 0], { atol: 0, rtol: 0, bound: [logBound(4), logBound(1)], label: 'log' });
    const s = await hg.sqrt(x).read();
    expect(s[0]).toBe(0);
    expect(Number.isNaN(s[2]!)).toBe(true);
    expect(s[4]).toBe(2);
    const z = hg.tensor([0, -0, 2, -2], [4], { requiresGrad: true });
    const r = hg.relu(z);
    expect(Array.from(await r.read()).map((v) => v + 0)).toEqual([0, 0, 2, 0]);
    r.backward(hg.ones([4]));
    expect(Array.from(await z.grad!.read())).toEqual([0, 0, 1, 0]);
  });
});

describe('pow', () => {
  const shape = [5, 9];
  // Negative bases with integer exponents (odd and even, positive and negative), positive bases
  // with fractional exponents, and the trivial 0 and 1.
  const cases: { p: number; lo: number; hi: number; negative: boolean }[] = [
    { p: 2, lo: 0.1, hi: 3, negative: true },
    { p: 3, lo: 0.1, hi: 3, negative: true },
    { p: -1, lo: 0.25, hi: 3, negative: true },
    { p: -2, lo: 0.25, hi: 3, negative: true },
    { p: 4, lo: 0.1, hi: 2, negative: true },
    { p: 0.5, lo: 0.05, hi: 4, negative: false },
    { p: 1.5, lo: 0.05, hi: 4, negative: false },
    { p: -0.5, lo: 0.1, hi: 4, negative: false },
    { p: 1, lo: 0.1, hi: 3, negative: true },
  ];
  for (const { p, lo, hi, negative } of cases) {
    test(`x^${p}${negative ? ' (negative bases)' : ''}: forward, backward and FD`, async () => {
      const rng = new Rng(Math.round(p * 100) + 1000);
      const n = sizeOf(shape);
      const x = nd(negative ? rng.awayFromZero(n, lo, hi) : rng.f32(n, lo, hi), shape);
      const tx = upload(x, undefined, true);
      const y = hg.pow(tx, p);
      expectClose(
        await read(y),
        x.data.map((v) => v ** p),
        {
          atol: 0,
          rtol: 0,
          bound: x.data.map((v) => powBound(v, p)),
          shape,
          label: `pow ${p} forward`,
        },
      );
      const g = nd(rng.f32(n), shape);
      y.backward(upload(g));
      // g · x^(p−1) (pow error, then u for · g) · p (u).
      const dfx = x.data.map((v) => p * v ** (p - 1));
      expectClose(
        await readGrad(tx),
        dfx.map((d, i) => d * g.data[i]!),
        {
          atol: 0,
          rtol: 0,
          bound: x.data.map((v, i) => Math.abs(p * g.data[i]!) * (powBound(v, p - 1) + 2 * U * Math.abs(v ** (p - 1)))),
          shape,
          label: `pow ${p} backward`,
        },
      );
      // FD in float64 on 8 elements: truncation h²/6·|p(p−1)(p−2) x^(p−3)| is tiny for h = 1e-4
      // on these ranges (≤ 1.7e-9 · 6 · 0.1^-5 ≈ 1e-3 in the very worst case of p = −2 at 0.25,
      // i.e. 1.7e-9 · 24 · 0.25^-5 ≈ 4e-5); atol 5e-5 covers it.
      const xs = x.data.subarray(0, 8);
      const ws = g.data.subarray(0, 8);
      const fd = numericGrad(
        (v) =>
          dot(
            v.map((t) => t ** p),
            ws,
          ),
        xs,
        1e-4,
      );
      expectClose(
        dfx.subarray(0, 8).map((d, i) => d * ws[i]!),
        fd,
        { atol: 5e-5, rtol: 0, label: `pow ${p} analytic vs FD` },
      );
    });
  }

  test('x^0 = 1 everywhere (gradient 0), and a negative base with a fractional exponent is NaN', async () => {
    const x = hg.tensor([-2, -0.5, 0.5, 3], [4], { requiresGrad: true });
    const y0 = hg.pow(x, 0);
    expect(Array.from(await y0.read())).toEqual([1, 1, 1, 1]);
    y0.backward(hg.ones([4]));
    expect(Array.from(await x.grad!.read())).toEqual([0, 0, 0, 0]);
    const yh = await hg.pow(x, 0.5).read();
    expect(Number.isNaN(yh[0]!)).toBe(true);
    expect(Number.isNaN(yh[1]!)).toBe(true);
    expectClose([yh[2]!, yh[3]!], [Math.sqrt(0.5), Math.sqrt(3)], {
      atol: 0,
      rtol: 0,
      bound: [powBound(0.5, 0.5), powBound(3, 0.5)],
      label: 'pow 0.5',
    });
    // Integer exponents keep the sign rules of real powers.
    const yi = await hg.pow(hg.tensor([-2, -3]), 3).read();
    expectClose(Array.from(yi), [-8, -27], { atol: 0, rtol: 0, bound: [powBound(-2, 3), powBound(-3, 3)], label: 'pow 3' });
    // A zero base: pow(0, p) = exp2(p · log2 0) is indeterminate in WGSL (SwiftShader returned
    // 7.7e-20 for p = 0.5 and 1.7e38 for p = −1); the real values are 0 for p > 0 and +∞ for p < 0.
    const zero = hg.tensor([0, 0]);
    expect(Array.from(await hg.pow(zero, 0.5).read())).toEqual([0, 0]);
    expect(Array.from(await hg.pow(zero, 3).read())).toEqual([0, 0]);
    expect(Array.from(await hg.pow(zero, -1).read())).toEqual([Infinity, Infinity]);
    expect(Array.from(await hg.pow(zero, 0).read())).toEqual([1, 1]);
    expect(() => hg.pow(x, Number.POSITIVE_INFINITY)).toThrow(/pow: the exponent must be a finite number/);
  });
});

describe('large tensors', () => {
  test('an op over more than 65535 workgroups (2-D dispatch grid) covers every element once', async () => {
    // 2^24 + 300 elements at 256 per workgroup → 65538 workgroups: the grid spreads over x and y.
    const n = 2 ** 24 + 300;
    const y = hg.tidy(() => hg.add(hg.mul(hg.full([n], 1.5), 2), 0.5)); // 3.5, exactly
    const v = await y.read();
    y.dispose();
    let bad = -1;
    for (let i = 0; i < n; i++)
      if (v[i] !== 3.5) {
        bad = i;
        break;
      }
    expect(bad).toBe(-1);
    // The broadcast path of the binary kernel over the same grid.
    const z = hg.tidy(() => hg.sub(hg.exp(hg.zeros([n])), hg.ones([1])));
    const zv = await z.read();
    z.dispose();
    let nonzero = -1;
    for (let i = 0; i < n; i++)
      if (zv[i] !== 0) {
        nonzero = i;
        break;
      }
    expect(nonzero).toBe(-1);
  });

  test('the float64 broadcasting reference itself', () => {
    const r = refBinary(nd([1, 2], [2, 1]), nd([10, 20, 30], [3]), (a, b) => a + b);
    expect(Array.from(map(r, (v) => v).data)).toEqual([11, 21, 31, 12, 22, 32]);
  });
});
