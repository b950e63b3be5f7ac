/**
 * Test helpers: float64 reference implementations of every core op (forward and analytic
 * gradient), a seeded host RNG, a tolerance-checked comparison that reports the worst element,
 * and central finite differences evaluated in float64 on the references.
 *
 * Tolerances. The engine computes in f32; the references compute in float64 from the very same
 * f32 inputs, so their own error (~1e-16 relative) is negligible and every difference is the
 * engine's rounding. Bounds follow the standard floating-point error model (Higham, "Accuracy and
 * Stability of Numerical Algorithms", ch. 2-3):
 *   - one correctly rounded f32 operation (+, −, ×, fma) errs by at most u = 2^-24 ≈ 6e-8 relative;
 *   - a sum of n terms, in ANY order (serial loop, strided partials, workgroup tree), errs by at
 *     most γ_n · Σ|terms| with γ_n = n·u / (1 − n·u). For a K-term dot product the typical error
 *     is ~sqrt(K)·u·Σ|terms| (random-walk rounding); we use the worst-case γ_K so that a test can
 *     never flake, which is still ~1e3-1e6 times smaller than what an indexing bug produces;
 *   - WGSL (and Vulkan) built-ins are not correctly rounded; their documented accuracies are
 *     (WGSL spec §"Floating Point Accuracy"): x / y 2.5 ULP; exp(x) 3 + 2·|x| ULP; log(x) 3 ULP
 *     outside [0.5, 2] and absolute error < 2^-21 inside; sqrt inherited from 1 / inverseSqrt
 *     (2 ULP + 2.5 ULP); pow(x, y) inherited from exp2(y · log2(x)).
 *     One ULP of a value v is at most 2^-23 · |v| (= 2u · |v|).
 * Integer-valued data whose partial sums stay below 2^24 is summed EXACTLY in f32 by any order;
 * several tests use it with zero tolerance, which catches a single dropped or doubled element.
 */
import { assert } from 'vitest';
import * as hg from '../src/index.node.ts';

/** Unit roundoff of f32 (round to nearest). */
export const U = 2 ** -24;
/** One f32 ULP, relative to the magnitude of the value (an upper bound). */
export const ULP = 2 ** -23;

/** γ_n = n·u / (1 − n·u): the worst-case relative error of an n-term f32 sum. */
export function gamma(n: number): number {
  return (n * U) / (1 - n * U);
}

// ---------------------------------------------------------------------------------------------
// Host RNG

/** A seeded host RNG (mulberry32): reproducible inputs for every test. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo = -1, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }
  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  normal(): number {
    const u1 = 1 - this.next();
    const u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  /** n f32-representable values uniform in [lo, hi). */
  f32(n: number, lo = -1, hi = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.uniform(lo, hi);
    return out;
  }
  /** n integer values in [lo, hi] (exact in f32). */
  ints(n: number, lo: number, hi: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(lo, hi);
    return out;
  }
  /** n values with |x| in [minAbs, maxAbs] and a random sign (keeps inputs away from kinks). */
  awayFromZero(n: number, minAbs: number, maxAbs: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (this.next() < 0.5 ? -1 : 1) * this.uniform(minAbs, maxAbs);
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// N-d arrays in float64

export type Shape = readonly number[];

/** A float64 array with a row-major shape. */
export interface Nd {
  data: Float64Array;
  shape: number[];
}

export function sizeOf(shape: Shape): number {
  return shape.reduce((a, d) => a * d, 1);
}

export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function unravel(i: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return idx;
}

export function nd(data: ArrayLike<number>, shape: Shape): Nd {
  if (data.length !== sizeOf(shape)) throw new Error(`nd: ${data.length} values for shape [${shape.join(', ')}]`);
  return { data: Float64Array.from(data), shape: [...shape] };
}

export function map(x: Nd, f: (v: number, i: number) => number): Nd {
  return { data: x.data.map(f), shape: [...x.shape] };
}

export function abs(x: Nd): Nd {
  return map(x, Math.abs);
}

/** Σ over all elements of w ⊙ x (the scalar loss used for gradient checks). */
export function dot(x: ArrayLike<number>, w: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * w[i]!;
  return s;
}

// ---------------------------------------------------------------------------------------------
// References: forward ops

export interface MatmulOpts {
  transA?: boolean;
  transB?: boolean;
}

interface MatmulPlan {
  M: number;
  N: number;
  K: number;
  batch: number;
  batchShape: number[];
  sa: number;
  sb: number;
}

function matmulPlan(aShape: Shape, bShape: Shape, o: MatmulOpts): MatmulPlan {
  const [ar, ac] = aShape.slice(-2) as [number, number];
  const [br, bc] = bShape.slice(-2) as [number, number];
  const M = o.transA ? ac : ar;
  const K = o.transA ? ar : ac;
  const Kb = o.transB ? bc : br;
  const N = o.transB ? br : bc;
  if (K !== Kb) throw new Error(`refMatmul: K ${K} vs ${Kb}`);
  const la = aShape.slice(0, -2);
  const lb = bShape.slice(0, -2);
  const ba = sizeOf(la);
  const bb = sizeOf(lb);
  let batchShape: number[];
  if (ba === 1) batchShape = [...lb];
  else if (bb === 1) batchShape = [...la];
  else if (la.length === lb.length && la.every((d, i) => d === lb[i])) batchShape = [...la];
  else throw new Error(`refMatmul: batch [${la}] vs [${lb}]`);
  if (ba === 1 && bb === 1) batchShape = la.length >= lb.length ? [...la] : [...lb];
  return { M, N, K, batch: Math.max(ba, bb), batchShape, sa: ba === 1 ? 0 : M * K, sb: bb === 1 ? 0 : K * N };
}

/** C = op(A)·op(B), batched over leading dims; a 2-D (or batch-1) operand is shared. */
export function refMatmul(a: Nd, b: Nd, o: MatmulOpts = {}): Nd {
  const p = matmulPlan(a.shape, b.shape, o);
  const { M, N, K } = p;
  const c = new Float64Array(p.batch * M * N);
  for (let z = 0; z < p.batch; z++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = a.data[z * p.sa + (o.transA ? k * M + i : i * K + k)]!;
          const bv = b.data[z * p.sb + (o.transB ? j * K + k : k * N + j)]!;
          s += av * bv;
        }
        c[z * M * N + i * N + j] = s;
      }
    }
  }
  return { data: c, shape: [...p.batchShape, M, N] };
}

/**
 * Analytic gradient of L = Σ G ⊙ (op(A)·op(B)), written from the definition (not from the
 * engine's transpose-flag formulas): ∂L/∂op(A)[i,k] = Σ_j G[i,j] op(B)[k,j], ∂L/∂op(B)[k,j] =
 * Σ_i op(A)[i,k] G[i,j], accumulated into the stored layout and summed over the batch for a
 * shared operand.
 */
export function refMatmulGrad(a: Nd, b: Nd, g: Nd, o: MatmulOpts = {}): { da: Nd; db: Nd } {
  const p = matmulPlan(a.shape, b.shape, o);
  const { M, N, K } = p;
  const da = new Float64Array(a.data.length);
  const db = new Float64Array(b.data.length);
  for (let z = 0; z < p.batch; z++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        const gv = g.data[z * M * N + i * N + j]!;
        for (let k = 0; k < K; k++) {
          const ia = z * p.sa + (o.transA ? k * M + i : i * K + k);
          const ib = z * p.sb + (o.transB ? j * K + k : k * N + j);
          da[ia]! += gv * b.data[ib]!;
          db[ib]! += gv * a.data[ia]!;
        }
      }
    }
  }
  return { da: { data: da, shape: [...a.shape] }, db: { data: db, shape: [...b.shape] } };
}

/** NumPy broadcast of two shapes. */
export function broadcastShape(a: Shape, b: Shape): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`broadcastShape: [${a}] vs [${b}]`);
    out.push(Math.max(da, db));
  }
  return out;
}

/** Index into `shape`'s data of the element that broadcasts to multi-index `idx` of `target`. */
function broadcastIndex(idx: number[], shape: Shape, target: Shape): number {
  const lead = target.length - shape.length;
  let off = 0;
  const st = stridesOf(shape);
  for (let d = 0; d < shape.length; d++) off += (shape[d] === 1 ? 0 : idx[lead + d]!) * st[d]!;
  return off;
}

/** x broadcast (materialised) to `shape`. */
export function refExpand(x: Nd, shape: Shape): Nd {
  const out = new Float64Array(sizeOf(shape));
  for (let i = 0; i < out.length; i++) out[i] = x.data[broadcastIndex(unravel(i, shape), x.shape, shape)]!;
  return { data: out, shape: [...shape] };
}

/** z = f(a, b) with NumPy broadcasting. */
export function refBinary(a: Nd, b: Nd, f: (x: number, y: number) => number): Nd {
  const shape = broadcastShape(a.shape, b.shape);
  const out = new Float64Array(sizeOf(shape));
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, shape);
    out[i] = f(a.data[broadcastIndex(idx, a.shape, shape)]!, b.data[broadcastIndex(idx, b.shape, shape)]!);
  }
  return { data: out, shape };
}

/** Sum a tensor broadcast from `shape` back down to `shape` (the adjoint of broadcasting). */
export function refSumToShape(g: Nd, shape: Shape): Nd {
  const out = new Float64Array(sizeOf(shape));
  for (let i = 0; i < g.data.length; i++) out[broadcastIndex(unravel(i, g.shape), shape, g.shape)]! += g.data[i]!;
  return { data: out, shape: [...shape] };
}

/** Σ over `axes` (all if undefined; negative allowed), keeping size-1 dims when keepdim. */
export function refSum(x: Nd, axes?: number | readonly number[], keepdim = false): Nd {
  const r = x.shape.length;
  const list = axes === undefined ? x.shape.map((_, i) => i) : typeof axes === 'number' ? [axes] : [...axes];
  const ax = new Set(list.map((a) => (a < 0 ? a + r : a)));
  const keptShape = x.shape.map((d, i) => (ax.has(i) ? 1 : d));
  const out = new Float64Array(sizeOf(keptShape));
  const ks = stridesOf(keptShape);
  for (let i = 0; i < x.data.length; i++) {
    const idx = unravel(i, x.shape);
    let o = 0;
    for (let d = 0; d < r; d++) if (!ax.has(d)) o += idx[d]! * ks[d]!;
    out[o]! += x.data[i]!;
  }
  const shape = keepdim ? keptShape : x.shape.filter((_, i) => !ax.has(i));
  return { data: out, shape };
}

export function refMean(x: Nd, axes?: number | readonly number[], keepdim = false): Nd {
  const s = refSum(x, axes, keepdim);
  const n = x.data.length / s.data.length;
  return map(s, (v) => v / n);
}

/** y.shape[i] = x.shape[perm[i]]. */
export function refPermute(x: Nd, perm: readonly number[]): Nd {
  const shape = perm.map((p) => x.shape[p]!);
  const xs = stridesOf(x.shape);
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, shape);
    let o = 0;
    for (let d = 0; d < perm.length; d++) o += idx[d]! * xs[perm[d]!]!;
    out[i] = x.data[o]!;
  }
  return { data: out, shape };
}

/** Swap the last two axes. */
export function refTranspose(x: Nd): Nd {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
  return refPermute(x, perm);
}

/** softmax(scale · x) along the last axis (max-shifted, float64). */
export function refSoftmax(x: Nd, scale = 1): Nd {
  const cols = x.shape[x.shape.length - 1]!;
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < x.data.length / cols; r++) {
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, scale * x.data[r * cols + c]!);
    let s = 0;
    for (let c = 0; c < cols; c++) s += out[r * cols + c] = Math.exp(scale * x.data[r * cols + c]! - m);
    for (let c = 0; c < cols; c++) out[r * cols + c]! /= s;
  }
  return { data: out, shape: [...x.shape] };
}

/** Analytic adjoint of y = softmax(scale·x): dx = scale · y ⊙ (dy − rowsum(dy ⊙ y)). */
export function refSoftmaxGrad(y: Nd, dy: Nd, scale = 1): Nd {
  const cols = y.shape[y.shape.length - 1]!;
  const out = new Float64Array(y.data.length);
  for (let r = 0; r < y.data.length / cols; r++) {
    let d = 0;
    for (let c = 0; c < cols; c++) d += dy.data[r * cols + c]! * y.data[r * cols + c]!;
    for (let c = 0; c < cols; c++) out[r * cols + c] = scale * y.data[r * cols + c]! * (dy.data[r * cols + c]! - d);
  }
  return { data: out, shape: [...y.shape] };
}

/** Mean over counted rows of logsumexp(x_i) − x_i[label_i]; 0 when every row is ignored. */
export function refCrossEntropy(logits: Nd, labels: ArrayLike<number>, ignoreIndex = -100): number {
  const C = logits.shape[logits.shape.length - 1]!;
  let total = 0;
  let count = 0;
  for (let r = 0; r < labels.length; r++) {
    const l = labels[r]!;
    if (l === ignoreIndex) continue;
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, logits.data[r * C + c]!);
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(logits.data[r * C + c]! - m);
    total += m + Math.log(s) - logits.data[r * C + l]!;
    count++;
  }
  return count ? total / count : 0;
}

/** Analytic gradient of refCrossEntropy: (softmax(x_i) − onehot(label_i)) / count, 0 if ignored. */
export function refCrossEntropyGrad(logits: Nd, labels: ArrayLike<number>, ignoreIndex = -100): Nd {
  const C = logits.shape[logits.shape.length - 1]!;
  let count = 0;
  for (let r = 0; r < labels.length; r++) if (labels[r] !== ignoreIndex) count++;
  const p = refSoftmax(logits);
  const out = new Float64Array(logits.data.length);
  for (let r = 0; r < labels.length; r++) {
    const l = labels[r]!;
    if (l === ignoreIndex) continue;
    for (let c = 0; c < C; c++) out[r * C + c] = (p.data[r * C + c]! - (c === l ? 1 : 0)) / count;
  }
  return { data: out, shape: [...logits.shape] };
}

// ---------------------------------------------------------------------------------------------
// Finite differences

/**
 * Central finite differences of a scalar function, evaluated in float64 (on the references):
 * g_i ≈ (f(x + h e_i) − f(x − h e_i)) / 2h. Error: truncation h²/6 · |∂³f| (≈ 2e-7 for h = 1e-3
 * and third derivatives of order one; zero for functions linear in x_i such as matmul) plus
 * roundoff ≈ 1e-16 · |f| / h (≈ 1e-13 · |f|).
 */
export function numericGrad(f: (x: Float64Array) => number, x: ArrayLike<number>, h = 1e-3): Float64Array {
  const xs = Float64Array.from(x);
  const g = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i]!;
    xs[i] = v + h;
    const fp = f(xs);
    xs[i] = v - h;
    const fm = f(xs);
    xs[i] = v;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

// ---------------------------------------------------------------------------------------------
// Comparison

export interface Tolerance {
  /** Absolute slack. */
  atol: number;
  /** Slack relative to |expected|. */
  rtol: number;
  /** Optional extra per-element error bound (e.g. γ_K · (|A||B|)_ij from an error analysis). */
  bound?: ArrayLike<number>;
  /** Shape of the data, to report the worst element's multi-index. */
  shape?: Shape;
  /** What is being compared, for the message. */
  label?: string;
}

/**
 * Assert |actual_i − expected_i| ≤ atol + rtol·|expected_i| + bound_i for every i (NaN must match
 * NaN, ±∞ must match exactly). On failure the message names the worst element (largest error
 * relative to its allowance), its values, and how many elements failed.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): void {
  const label = tol.label ?? 'values';
  if (actual.length !== expected.length) {
    assert.fail(`${label}: got ${actual.length} values, expected ${expected.length}`);
  }
  let failures = 0;
  let worst = -1;
  let worstRatio = -1;
  let worstAllowed = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    let ratio: number;
    let allowed = 0;
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      ratio = Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)) ? 0 : Infinity;
    } else if (!Number.isFinite(a)) {
      ratio = Infinity;
    } else {
      allowed = tol.atol + tol.rtol * Math.abs(e) + (tol.bound ? tol.bound[i]! : 0);
      const err = Math.abs(a - e);
      ratio = err === 0 ? 0 : allowed > 0 ? err / allowed : Infinity;
    }
    if (ratio > 1) failures++;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = i;
      worstAllowed = allowed;
    }
  }
  if (failures > 0) {
    const a = actual[worst]!;
    const e = expected[worst]!;
    const where = tol.shape ? `[${unravel(worst, tol.shape).join(', ')}]` : '';
    assert.fail(
      `${label}: ${failures} of ${expected.length} elements out of tolerance; worst at index ${worst}${where}: ` +
        `actual ${a}, expected ${e}, |diff| ${Math.abs(a - e)} > allowed ${worstAllowed} ` +
        `(atol ${tol.atol}, rtol ${tol.rtol}${tol.bound ? `, bound ${tol.bound[worst]}` : ''})`,
    );
  }
}

/** Assert exact equality (for integer-valued data), reporting the first difference. */
export function expectExact(actual: ArrayLike<number>, expected: ArrayLike<number>, label = 'values', shape?: Shape): void {
  expectClose(actual, expected, { atol: 0, rtol: 0, label, ...(shape ? { shape } : {}) });
}

// ---------------------------------------------------------------------------------------------
// GPU glue

/** Upload an f32 array (or an Nd whose values are f32-representable) as a tensor. */
export function upload(x: Nd | Float32Array, shape?: Shape, requiresGrad = false): hg.Tensor {
  if (x instanceof Float32Array) return hg.tensor(x, shape ?? [x.length], { requiresGrad });
  return hg.tensor(Float32Array.from(x.data), shape ?? x.shape, { requiresGrad });
}

/** Read a tensor back as float64. */
export async function read(t: hg.Tensor): Promise<Float64Array> {
  return Float64Array.from(await t.read());
}

/** Read a tensor's gradient (failing clearly when there is none). */
export async function readGrad(t: hg.Tensor, label = 'tensor'): Promise<Float64Array> {
  if (!t.grad) assert.fail(`${label} has no .grad after backward()`);
  return read(t.grad);
}

/** Command-line flags written as one string: `flags('--steps 3 --quiet')`. */
export function flags(text: string): string[] {
  return text.trim().split(/\s+/);
}

/**
 * `base` with each flag of `extra` replacing the same flag there (with its value), then `extra`:
 * the CLI refuses a flag given twice. A flag followed by another flag (or nothing) has no value.
 */
export function withFlags(base: readonly string[], extra: readonly string[]): string[] {
  const given = new Set(extra.filter((a) => a.startsWith('--')));
  const out: string[] = [];
  for (let i = 0; i < base.length; i++) {
    if (!given.has(base[i]!)) out.push(base[i]!);
    else if (base[i + 1] !== undefined && !base[i + 1]!.startsWith('--')) i++;
  }
  return [...out, ...extra];
}

/** The smallest digit-scene training run of the CLI and trainer tests: 16-px scenes, C 8, K 4, batch 2, 12 training and 4 validation scenes. */
export const TINY_RUN: readonly string[] = flags('--size 16 --min-scale 8 --max-scale 14 --channels 8 --bases 4 --batch 2 --train-scenes 12 --val-scenes 4');
