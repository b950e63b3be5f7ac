/**
 * Browser-side checks, run by test/browser/browser.test.ts in headless Chromium. Bundled on its own with
 * the hemgpu import left external: the page loads ./hemgpu.browser.js, the engine's browser bundle,
 * exactly as a user's page would.
 *
 * Each check draws inputs from a seeded host RNG, computes a float64 reference here in the page,
 * and compares the engine's forward result, its gradient (backward with a random seed gradient W,
 * i.e. the loss L = Σ out ⊙ W) against the reference's analytic gradient, and that gradient against
 * central finite differences of the engine's own forward pass. Nothing throws out of a check: it
 * returns its failures so the Node side can report all of them.
 */
import { adapterInfo, init, matmul, memoryStats, noGrad, softmax, tensor, tidy, withEngine, type AdapterSummary, type Tensor, type TuningRecord } from '../../src/index.browser.ts';
import { TuningIndexedDb } from '../../src/io/tuning-indexeddb.ts';

export interface MatmulCase {
  op: 'matmul';
  name: string;
  /** Stored shapes of a and b (before the transpose flags apply). */
  a: number[];
  b: number[];
  transA?: boolean;
  transB?: boolean;
  seed: number;
}

export interface SoftmaxCase {
  op: 'softmax';
  name: string;
  shape: number[];
  scale?: number;
  /** Logits are offset + spread · U(-1, 1). */
  offset?: number;
  spread: number;
  seed: number;
}

export type Case = MatmulCase | SoftmaxCase;

export interface CaseResult {
  name: string;
  failures: string[];
  /** Largest errors seen, for the report. */
  stats: Record<string, number>;
  ms: number;
}

// ---------------------------------------------------------------------------------------------
// Host helpers

/** mulberry32: a small seeded generator; the same seed gives the same inputs everywhere. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** f32 values offset + spread · U(-1, 1); the reference uses exactly these (rounded) values. */
function uniform(n: number, next: () => number, spread = 1, offset = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = offset + spread * (2 * next() - 1);
  return out;
}

const prod = (s: readonly number[]): number => s.reduce((x, y) => x * y, 1);

/** Indices to check by finite differences: first, last and a few drawn from the RNG. */
function sampleIndices(n: number, next: () => number, extra = 4): number[] {
  const set = new Set<number>([0, n - 1]);
  for (let i = 0; i < extra; i++) set.add(Math.floor(next() * n));
  return [...set];
}

/** Σ out ⊙ w in float64. */
function dot64(out: Float32Array, w: Float32Array): number {
  let s = 0;
  for (let i = 0; i < out.length; i++) s += out[i]! * w[i]!;
  return s;
}

async function readOnce(make: () => Tensor): Promise<Float32Array> {
  const t = noGrad(() => tidy(make));
  try {
    return await t.read();
  } finally {
    t.dispose();
  }
}

const maxAbs = (x: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
};

function allFinite(x: Float32Array): boolean {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]!)) return false;
  return true;
}

const fmtShape = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** The largest |got - want| / bound(i) and its index. */
function worst(got: ArrayLike<number>, want: ArrayLike<number>, bound: (i: number) => number): { ratio: number; at: number } {
  let ratio = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const r = Math.abs(got[i]! - want[i]!) / bound(i);
    if (!(r <= ratio)) {
      ratio = r; // NaN also lands here and stays (NaN <= x is false)
      at = i;
      if (Number.isNaN(r)) break;
    }
  }
  return { ratio, at };
}

// ---------------------------------------------------------------------------------------------
// matmul

interface MatmulRef {
  c: Float64Array;
  /** Σ_k |A_ik| |B_kj|: the scale of C's rounding error. */
  cAbs: Float64Array;
  da: Float64Array;
  db: Float64Array;
  /** Σ|terms| of each gradient entry, and the most terms any entry sums. */
  daAbs: Float64Array;
  dbAbs: Float64Array;
  gradTerms: number;
  cShape: number[];
}

function matmulReference(cs: MatmulCase, a: Float32Array, b: Float32Array, w: Float32Array | null): MatmulRef {
  const { transA = false, transB = false } = cs;
  const [ar, ac] = cs.a.slice(-2) as [number, number];
  const [br, bc] = cs.b.slice(-2) as [number, number];
  const M = transA ? ac : ar;
  const K = transA ? ar : ac;
  const N = transB ? br : bc;
  if ((transB ? bc : br) !== K) throw new Error(`bad case ${cs.name}: inner dimensions differ`);
  const la = cs.a.slice(0, -2);
  const lb = cs.b.slice(0, -2);
  const ba = prod(la);
  const bb = prod(lb);
  const batch = Math.max(ba, bb);
  const batchShape = ba === bb ? (la.length >= lb.length ? la : lb) : ba === 1 ? lb : la;
  const sA = ba === 1 ? 0 : M * K;
  const sB = bb === 1 ? 0 : K * N;
  const ia = (z: number, i: number, k: number): number => z * sA + (transA ? k * M + i : i * K + k);
  const ib = (z: number, k: number, j: number): number => z * sB + (transB ? j * K + k : k * N + j);
  const c = new Float64Array(batch * M * N);
  const cAbs = new Float64Array(batch * M * N);
  const da = new Float64Array(a.length);
  const db = new Float64Array(b.length);
  const daAbs = new Float64Array(a.length);
  const dbAbs = new Float64Array(b.length);
  for (let z = 0; z < batch; z++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        const o = z * M * N + i * N + j;
        let s = 0;
        let sa = 0;
        for (let k = 0; k < K; k++) {
          const x = a[ia(z, i, k)]! * b[ib(z, k, j)]!;
          s += x;
          sa += Math.abs(x);
        }
        c[o] = s;
        cAbs[o] = sa;
        if (w) {
          // L = Σ C ⊙ W: ∂L/∂A_ik = Σ_j W_ij B_kj, ∂L/∂B_kj = Σ_i A_ik W_ij (summed over a shared operand's batch).
          const wij = w[o]!;
          for (let k = 0; k < K; k++) {
            const ga = wij * b[ib(z, k, j)]!;
            const gb = a[ia(z, i, k)]! * wij;
            da[ia(z, i, k)]! += ga;
            db[ib(z, k, j)]! += gb;
            daAbs[ia(z, i, k)]! += Math.abs(ga);
            dbAbs[ib(z, k, j)]! += Math.abs(gb);
          }
        }
      }
    }
  }
  // An entry of dA sums N terms per batch it is used in (all of them when a is shared); dB sums M.
  const gradTerms = Math.max(N * (ba === 1 ? batch : 1), M * (bb === 1 ? batch : 1));
  return { c, cAbs, da, db, daAbs, dbAbs, gradTerms, cShape: [...batchShape, M, N] };
}

async function checkMatmul(cs: MatmulCase, fail: (msg: string) => void, stats: Record<string, number>): Promise<void> {
  const next = rng(cs.seed);
  const a = uniform(prod(cs.a), next);
  const b = uniform(prod(cs.b), next);
  const opts = { transA: cs.transA ?? false, transB: cs.transB ?? false };
  const probe = matmulReference(cs, a, b, null);
  const w = uniform(probe.c.length, next);
  const ref = matmulReference(cs, a, b, w);
  const K = cs.transA ? cs.a[cs.a.length - 2]! : cs.a[cs.a.length - 1]!;

  // Forward, and the gradients from one backward pass seeded with W.
  const ta = tensor(a, cs.a, { requiresGrad: true });
  const tb = tensor(b, cs.b, { requiresGrad: true });
  let c: Float32Array;
  let cShape: readonly number[];
  let ga: Float32Array;
  let gb: Float32Array;
  let gaShape: readonly number[];
  let gbShape: readonly number[];
  try {
    const out = tidy(() => {
      const y = matmul(ta, tb, opts);
      y.backward(tensor(w, y.shape));
      return y;
    });
    cShape = out.shape;
    c = await out.read();
    out.dispose();
    if (!ta.grad || !tb.grad) throw new Error('backward() left a.grad or b.grad null');
    gaShape = ta.grad.shape;
    gbShape = tb.grad.shape;
    ga = await ta.grad.read();
    gb = await tb.grad.read();
  } finally {
    ta.zeroGrad();
    tb.zeroGrad();
    ta.dispose();
    tb.dispose();
  }

  if (fmtShape(cShape) !== fmtShape(ref.cShape)) fail(`forward shape ${fmtShape(cShape)}, expected ${fmtShape(ref.cShape)}`);
  if (fmtShape(gaShape) !== fmtShape(cs.a)) fail(`a.grad shape ${fmtShape(gaShape)}, expected ${fmtShape(cs.a)}`);
  if (fmtShape(gbShape) !== fmtShape(cs.b)) fail(`b.grad shape ${fmtShape(gbShape)}, expected ${fmtShape(cs.b)}`);
  if (!allFinite(c) || !allFinite(ga) || !allFinite(gb)) fail('non-finite values in the forward result or the gradients');

  // f32 dot products of length K: error below a few K·2⁻²⁴ · Σ|a·b|.
  const fwdTol = 4 * K * 2 ** -24;
  const f = worst(c, ref.c, (i) => fwdTol * ref.cAbs[i]! + 1e-30);
  stats.forward = f.ratio * fwdTol;
  if (!(f.ratio <= 1))
    fail(`forward: C[${f.at}] = ${c[f.at]} vs reference ${ref.c[f.at]} (error ${(f.ratio * fwdTol).toExponential(2)} · Σ|a·b|, allowed ${fwdTol.toExponential(2)})`);

  // Gradients vs the analytic float64 gradient: each entry is an f32 sum of gradTerms products,
  // so the same bound applies with that length (plus the product's own rounding).
  const gradTol = 4 * (ref.gradTerms + 1) * 2 ** -24;
  for (const [label, got, want, abs] of [
    ['a.grad', ga, ref.da, ref.daAbs],
    ['b.grad', gb, ref.db, ref.dbAbs],
  ] as const) {
    const r = worst(got, want, (i) => gradTol * abs[i]! + 1e-30);
    stats[label] = r.ratio * gradTol;
    if (!(r.ratio <= 1))
      fail(`${label}[${r.at}] = ${got[r.at]} vs analytic ${want[r.at]} (error ${(r.ratio * gradTol).toExponential(2)} · Σ|terms|, allowed ${gradTol.toExponential(2)})`);
  }

  // Central differences of the engine's forward: L(x ± h) = Σ C(x ± h) ⊙ W in float64 (exact
  // for a bilinear map up to C's f32 rounding, so the tolerance can be tight).
  const fdTol = 1e-4;
  let fdWorst = 0;
  for (const [label, host, shape, grad, want] of [
    ['a', a, cs.a, ga, ref.da],
    ['b', b, cs.b, gb, ref.db],
  ] as const) {
    const scale = maxAbs(want) || 1;
    for (const idx of sampleIndices(host.length, next)) {
      const h = 0.05;
      const plus = host.slice();
      const minus = host.slice();
      plus[idx]! += h;
      minus[idx]! -= h;
      const run = (x: Float32Array) => () => (label === 'a' ? matmul(tensor(x, shape), tensor(b, cs.b), opts) : matmul(tensor(a, cs.a), tensor(x, shape), opts));
      const lp = dot64(await readOnce(run(plus)), w);
      const lm = dot64(await readOnce(run(minus)), w);
      const fd = (lp - lm) / (plus[idx]! - minus[idx]!);
      const err = Math.abs(fd - grad[idx]!) / scale;
      fdWorst = Math.max(fdWorst, err);
      if (!(err <= fdTol)) fail(`finite difference d L/d ${label}[${idx}] = ${fd} vs gradient ${grad[idx]} (analytic ${want[idx]}); error ${err.toExponential(2)} of max |grad|`);
    }
  }
  stats.finiteDifference = fdWorst;
}

// ---------------------------------------------------------------------------------------------
// softmax

function softmaxReference(x: Float32Array, cols: number, scale: number, w: Float32Array): { y: Float64Array; dx: Float64Array } {
  const y = new Float64Array(x.length);
  const dx = new Float64Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    const o = r * cols;
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, scale * x[o + j]!);
    let s = 0;
    for (let j = 0; j < cols; j++) s += y[o + j] = Math.exp(scale * x[o + j]! - m);
    let wy = 0;
    for (let j = 0; j < cols; j++) {
      y[o + j]! /= s;
      wy += w[o + j]! * y[o + j]!;
    }
    // dS = scale · Y ⊙ (W − rowsum(W ⊙ Y)).
    for (let j = 0; j < cols; j++) dx[o + j] = scale * y[o + j]! * (w[o + j]! - wy);
  }
  return { y, dx };
}

async function checkSoftmax(cs: SoftmaxCase, fail: (msg: string) => void, stats: Record<string, number>): Promise<void> {
  const next = rng(cs.seed);
  const scale = cs.scale ?? 1;
  const cols = cs.shape[cs.shape.length - 1]!;
  const n = prod(cs.shape);
  const x = uniform(n, next, cs.spread, cs.offset ?? 0);
  const w = uniform(n, next);
  const ref = softmaxReference(x, cols, scale, w);
  const opts = cs.scale === undefined ? {} : { scale };

  const tx = tensor(x, cs.shape, { requiresGrad: true });
  let y: Float32Array;
  let g: Float32Array;
  try {
    const out = tidy(() => {
      const t = softmax(tx, opts);
      t.backward(tensor(w, t.shape));
      return t;
    });
    y = await out.read();
    out.dispose();
    if (!tx.grad) throw new Error('backward() left x.grad null');
    g = await tx.grad.read();
  } finally {
    tx.zeroGrad();
    tx.dispose();
  }

  if (!allFinite(y)) fail(`forward gave non-finite values (logits up to ${maxAbs(x).toExponential(1)})`);
  if (!allFinite(g)) fail(`backward gave non-finite values (logits up to ${maxAbs(x).toExponential(1)})`);

  // Forward: relative error per entry, plus a floor for the entries that underflow to ~0.
  const fwdTol = 1e-5;
  const f = worst(y, ref.y, (i) => fwdTol * ref.y[i]! + 1e-7);
  stats.forward = f.ratio;
  if (!(f.ratio <= 1)) fail(`forward: y[${f.at}] = ${y[f.at]} vs reference ${ref.y[f.at]}`);
  let rowSumErr = 0;
  for (let r = 0; r < n / cols; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += y[r * cols + j]!;
    rowSumErr = Math.max(rowSumErr, Math.abs(s - 1));
  }
  stats.rowSum = rowSumErr;
  if (!(rowSumErr <= 1e-5)) fail(`forward: a row sums to 1 ± ${rowSumErr}`);

  // Gradient vs the analytic float64 gradient. Its entries are |scale| · y · O(1): bound each
  // error by a part of that scale.
  const gScale = Math.abs(scale) * (maxAbs(ref.y) || 1);
  const gradTol = 1e-5;
  const r = worst(g, ref.dx, () => gScale);
  stats.grad = r.ratio;
  if (!(r.ratio <= gradTol)) fail(`x.grad[${r.at}] = ${g[r.at]} vs analytic ${ref.dx[r.at]} (error ${r.ratio.toExponential(2)} of |scale|·max y)`);

  // Central differences of the engine's forward, with a step of 1e-2 in the scaled logits (the
  // actual step is whatever the f32 logits moved by, which matters around 1e4).
  const fdTol = 5e-4;
  let fdWorst = 0;
  for (const idx of sampleIndices(n, next)) {
    const h = 1e-2 / Math.abs(scale);
    const plus = x.slice();
    const minus = x.slice();
    plus[idx]! += h;
    minus[idx]! -= h;
    const lp = dot64(await readOnce(() => softmax(tensor(plus, cs.shape), opts)), w);
    const lm = dot64(await readOnce(() => softmax(tensor(minus, cs.shape), opts)), w);
    const fd = (lp - lm) / (plus[idx]! - minus[idx]!);
    const err = Math.abs(fd - g[idx]!) / gScale;
    fdWorst = Math.max(fdWorst, err);
    if (!(err <= fdTol)) fail(`finite difference d L/d x[${idx}] = ${fd} vs gradient ${g[idx]} (analytic ${ref.dx[idx]}); error ${err.toExponential(2)} of |scale|·max y`);
  }
  stats.finiteDifference = fdWorst;
}

// ---------------------------------------------------------------------------------------------
// Entry points (called from the test through page.evaluate)

/** Initialise the engine (compiles every kernel) and describe the adapter. */
export async function setup(): Promise<AdapterSummary & { hasNavigatorGpu: boolean }> {
  const hasNavigatorGpu = typeof navigator !== 'undefined' && 'gpu' in navigator;
  await init();
  return { ...adapterInfo(), hasNavigatorGpu };
}

export async function run(cs: Case): Promise<CaseResult> {
  const t0 = performance.now();
  const failures: string[] = [];
  const stats: Record<string, number> = {};
  const fail = (msg: string): void => {
    failures.push(msg);
  };
  try {
    await init();
    const before = memoryStats().liveTensors;
    if (cs.op === 'matmul') await checkMatmul(cs, fail, stats);
    else await checkSoftmax(cs, fail, stats);
    const after = memoryStats().liveTensors;
    if (after !== before) fail(`${after - before} tensors leaked (live tensors ${before} → ${after})`);
  } catch (err) {
    const e = err as Error;
    fail(`threw: ${e?.stack ?? String(err)}`);
  }
  return { name: cs.name, failures, stats, ms: performance.now() - t0 };
}

/**
 * The browser's tuning store (IndexedDB): empty at first, a saved record read back, a second
 * record of the same adapter and version replacing it, another version not found.
 */
export async function tuningStore(): Promise<{ where: string; first: unknown; after: unknown; replaced: unknown; otherVersion: unknown }> {
  const s = new TuningIndexedDb();
  const record = (bm: number): TuningRecord => ({
    key: 'test adapter',
    version: '0.0.0-test',
    date: '2026-12-06T00:00:00.000Z',
    matmul: { kind: 'register', BM: bm, BN: 1, WG_X: 8, WG_Y: 8 },
    hem: { path: 'register', TX: 8, TY: 8, RT: 16 },
    timings: { matmul: [], hem: [] },
  });
  const first = await s.load('test adapter', '0.0.0-test');
  await s.save(record(2));
  const after = await s.load('test adapter', '0.0.0-test');
  await s.save(record(4));
  const replaced = await s.load('test adapter', '0.0.0-test');
  const otherVersion = await s.load('test adapter', '0.0.1-test');
  return { where: s.where, first, after, replaced, otherVersion };
}

/** withEngine in a browser: a synchronous function runs; an async one is refused before it runs. */
export async function withEngineInBrowser(): Promise<{ sync: number; asyncError: string; ran: boolean }> {
  const e = await init();
  const sync = withEngine(e, () => 41 + 1);
  let ran = false;
  let asyncError = '';
  try {
    withEngine(e, async () => {
      ran = true;
    });
  } catch (err) {
    asyncError = (err as Error).message;
  }
  return { sync, asyncError, ran };
}
