/**
 * The HEM layer: T unrolled iterations of generalized EM with a Newton-Raphson (convex, step η)
 * M-step on a Gaussian mixture of K bases over N feature vectors, then the reconstruction
 * X̃ = γ μ (Song, Kim, Shim: Highway Expectation Maximization Networks, AAAI 2021; EMANet,
 * Li et al. 2019, is η = 1 with normalised, detached iterations). Formulas: docs/math.md.
 *
 *   fused: true  (default) — per iteration one E-step kernel and one N-step kernel
 *                (kernels/hem.wgsl), and a backward of four kernels per iteration;
 *   fused: false — the same math composed from the core ops through the generic tape: the
 *                reference for the fused kernels and the benchmark's baseline.
 */
import { hook } from '../autograd/hook.ts';
import { isGradEnabled, noGrad, record } from '../autograd/tape.ts';
import { HEM_KERNELS as K } from '../kernels/hem.ts';
import { fmt } from '../tensor/shape.ts';
import { keep } from '../tensor/scope.ts';
import { Tensor } from '../tensor/tensor.ts';
import { full } from '../ops/create.ts';
import { abs, add, div, mul, sqrt, sub } from '../ops/elementwise.ts';
import { checkTensor } from '../ops/check.ts';
import { padTo, reshape, sliceTo } from '../ops/layout.ts';
import { matmul } from '../ops/matmul.ts';
import { mean, sum } from '../ops/reduce.ts';
import { sumAll, sumToShape } from '../kernels/reduce.ts';
import { softmax } from '../ops/softmax.ts';
import { ceil4, grid, uniform } from '../kernels/dispatch.ts';

export type EStepForm = 'dot' | 'rbf';

export interface HemOptions {
  /** 'hemnet' (η = 0.5, τ = √C, gradients through every iteration; the default) or 'emanet'
   * (η = 1, τ = 1, l2-normalised bases, no gradient through the iterations). Explicit options
   * override the preset's. */
  preset?: 'hemnet' | 'emanet';
  /** Step size η ∈ (0, 1] of the convex N-step update μ' = (1 − η) μ + η F. */
  eta?: number;
  /** Iterations T ≥ 1. */
  iterations?: number;
  /** Temperature τ > 0 (σ² in the paper); logits are divided by it. Default √C. */
  temperature?: number;
  /** E-step logits: 'dot' = x·μ (eq. 8, the default) or 'rbf' = −‖x − μ‖² (eq. 7). */
  estep?: EStepForm;
  /** l2-normalise every base after each update (EMANet). */
  normalizeBases?: boolean;
  /** Run the iterations without gradients (EMANet); then no gradient reaches x or μ⁽⁰⁾. */
  detach?: boolean;
  /** Fused WGSL kernels (default true) or the composition of core ops. */
  fused?: boolean;
  /** Record per-iteration diagnostics (see HemTrace). */
  trace?: boolean;
}

export interface ResolvedHemOptions {
  eta: number;
  iterations: number;
  temperature: number;
  estep: EStepForm;
  normalizeBases: boolean;
  detach: boolean;
  fused: boolean;
  trace: boolean;
}

export interface HemResult {
  /** The reconstruction X̃ = γ⁽ᵀ⁾ μ⁽ᵀ⁾, [B, N, C]. Gradients flow from here to x and μ⁽⁰⁾. */
  out: Tensor;
  /** The final bases μ⁽ᵀ⁾, [B, K, C] (detached: no gradient flows back through it). */
  mu: Tensor;
  /** The final responsibilities γ⁽ᵀ⁾, [B, N, K] (detached). */
  gamma: Tensor;
  /** Per-iteration diagnostics when `trace: true`, else null. */
  trace: HemTrace | null;
  /** The options in effect after presets and defaults. */
  options: ResolvedHemOptions;
}

/** ε in N_k + ε and ‖μ‖ + ε (EMANet's reference implementation). */
export const HEM_EPS = 1e-6;

export interface HemTraceValues {
  /** ELBO L(μ⁽ᵗ⁺¹⁾, γ⁽ᵗ⁺¹⁾) after iteration t (the 'rbf' Gaussian form, docs/math.md). */
  elbo: number[];
  /** ‖μ⁽ᵗ⁺¹⁾ − μ⁽ᵗ⁾‖ for t = 0 … T−1. */
  muStep: number[];
  /** After backward(): mean |∂E/∂X| that iteration t's N-step sends to x (Fig. 3b). */
  gradXFromNStep: number[];
  /** After backward(): mean |∂E/∂X| that iteration t's E-step sends to x (Fig. 3c). */
  gradXFromEStep: number[];
  /** After backward(): ‖∂E/∂μ⁽ᵗ⁾‖ for t = 0 … T (μ⁽ᵀ⁾ is the final bases). */
  gradMuNorm: number[];
}

/**
 * Diagnostics of one HEM call. Values are GPU scalars until `read()`; gradient entries fill in
 * when backward() runs through the layer. The trace keeps its scalars alive outside tidy();
 * call dispose() when done.
 */
export class HemTrace {
  readonly elbo: Tensor[] = [];
  readonly muStep: Tensor[] = [];
  readonly gradXFromNStep: (Tensor | null)[];
  readonly gradXFromEStep: (Tensor | null)[];
  readonly gradMuNorm: (Tensor | null)[];

  constructor(readonly iterations: number) {
    this.gradXFromNStep = new Array(iterations).fill(null);
    this.gradXFromEStep = new Array(iterations).fill(null);
    this.gradMuNorm = new Array(iterations + 1).fill(null);
  }

  /** Store a scalar (kept out of tidy scopes) into one of the gradient slots. */
  set(slot: 'gradXFromNStep' | 'gradXFromEStep' | 'gradMuNorm', t: number, value: Tensor): void {
    const arr = this[slot];
    arr[t]?.dispose();
    arr[t] = keep(value);
  }

  async read(): Promise<HemTraceValues> {
    const get = async (v: (Tensor | null)[]): Promise<number[]> => Promise.all(v.map((t) => (t ? t.item() : NaN)));
    return {
      elbo: await get(this.elbo),
      muStep: await get(this.muStep),
      gradXFromNStep: await get(this.gradXFromNStep),
      gradXFromEStep: await get(this.gradXFromEStep),
      gradMuNorm: await get(this.gradMuNorm),
    };
  }

  dispose(): void {
    for (const list of [this.elbo, this.muStep, this.gradXFromNStep, this.gradXFromEStep, this.gradMuNorm]) {
      for (const t of list) t?.dispose();
    }
  }
}

const PRESETS: Record<'hemnet' | 'emanet', (C: number) => Omit<ResolvedHemOptions, 'fused' | 'trace'>> = {
  hemnet: (C) => ({ eta: 0.5, iterations: 3, temperature: Math.sqrt(C), estep: 'dot', normalizeBases: false, detach: false }),
  emanet: () => ({ eta: 1, iterations: 3, temperature: 1, estep: 'dot', normalizeBases: true, detach: true }),
};

/** Resolve presets and defaults and validate every option, naming the bad one. */
export function resolveHemOptions(C: number, options: HemOptions = {}, op = 'hem'): ResolvedHemOptions {
  const presetName = options.preset ?? 'hemnet';
  const preset = PRESETS[presetName];
  if (!preset) throw new Error(`${op}: unknown preset '${String(presetName)}'; use 'hemnet' or 'emanet'.`);
  const base = preset(C);
  const o: ResolvedHemOptions = {
    eta: options.eta ?? base.eta,
    iterations: options.iterations ?? base.iterations,
    temperature: options.temperature ?? base.temperature,
    estep: options.estep ?? base.estep,
    normalizeBases: options.normalizeBases ?? base.normalizeBases,
    detach: options.detach ?? base.detach,
    fused: options.fused ?? true,
    trace: options.trace ?? false,
  };
  if (typeof o.eta !== 'number' || !(o.eta > 0 && o.eta <= 1)) {
    throw new Error(`${op}: eta must be in (0, 1] (η = 1 is plain EM; the paper uses 0.5), got ${String(o.eta)}.`);
  }
  if (!Number.isInteger(o.iterations) || o.iterations < 1) {
    throw new Error(`${op}: iterations must be an integer ≥ 1 (the paper trains with T = 3), got ${String(o.iterations)}.`);
  }
  if (typeof o.temperature !== 'number' || !Number.isFinite(o.temperature) || o.temperature <= 0) {
    throw new Error(`${op}: temperature must be a finite number > 0 (default √C = ${Math.sqrt(C).toFixed(3)}), got ${String(o.temperature)}.`);
  }
  if (o.estep !== 'dot' && o.estep !== 'rbf') throw new Error(`${op}: estep must be 'dot' or 'rbf', got '${String(o.estep)}'.`);
  return o;
}

function checkInputs(x: Tensor, mu0: Tensor, op = 'hem'): { B: number; N: number; C: number; K: number; shared: boolean } {
  checkTensor(op, x, 'x');
  checkTensor(op, mu0, 'mu0');
  if (x.rank !== 3) throw new Error(`${op}: x must be [B, N, C] (N = H·W positions), got ${fmt(x.shape)}.`);
  const [B, N, C] = x.shape as [number, number, number];
  if (mu0.rank !== 2 && mu0.rank !== 3) {
    throw new Error(`${op}: mu0 must be [K, C] (shared) or [B, K, C], got ${fmt(mu0.shape)}.`);
  }
  const [K, Cm] = mu0.shape.slice(-2) as [number, number];
  if (Cm !== C) {
    throw new Error(`${op}: x ${fmt(x.shape)} has C = ${C} channels but mu0 ${fmt(mu0.shape)} has ${Cm}; the bases must live in the feature space.`);
  }
  if (mu0.rank === 3 && mu0.shape[0] !== B) {
    throw new Error(`${op}: mu0 ${fmt(mu0.shape)} has batch ${mu0.shape[0]} but x ${fmt(x.shape)} has ${B}; use [K, C] to share bases.`);
  }
  return { B, N, C, K, shared: mu0.rank === 2 };
}

/**
 * One HEM layer: T iterations from bases mu0 over features x, then the reconstruction.
 * x: [B, N, C]; mu0: [K, C] (shared by the batch) or [B, K, C]. See HemOptions.
 * NaN in x is not checked for (that would need a read-back): the call completes, and the batch
 * element holding it gets NaN in mu and in every entry of out (other batch elements are unaffected).
 */
export function hem(x: Tensor, mu0: Tensor, options: HemOptions = {}): HemResult {
  const dims = checkInputs(x, mu0);
  const o = resolveHemOptions(dims.C, options);
  const trace = o.trace ? new HemTrace(o.iterations) : null;
  const r = o.fused ? hemFused(x, mu0, o, dims, trace) : hemUnfused(x, mu0, o, dims, trace);
  return { ...r, trace, options: o };
}

/** The E-step and N-step alone refuse inputs that would need a gradient (they record none). */
function forwardOnly(op: string, ...inputs: Tensor[]): void {
  if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    throw new Error(
      `${op}: a forward-only building block (no gradient is recorded), but an input requires grad; ` +
        'use hem() for a differentiable layer (its backward is fused across iterations), or call this under noGrad().',
    );
  }
}

/**
 * The fused E-step alone: γ = softmax(S / τ) with S = X μᵀ ('dot') or −‖x − μ‖² ('rbf'), in one
 * kernel (logits and an online softmax over k; the logits are never stored). The kernel hem()
 * runs for every iteration, exposed for benchmarks and for EM variants built from the pieces.
 * x: [B, N, C]; mu: [K, C] (shared) or [B, K, C] → γ [B, N, K]. Forward only.
 */
export function hemEStep(x: Tensor, mu: Tensor, options: { temperature?: number; estep?: EStepForm } = {}): Tensor {
  const op = 'hemEStep';
  const { B, N, C, K: nb, shared } = checkInputs(x, mu, op);
  const o = resolveHemOptions(C, { temperature: options.temperature, estep: options.estep }, op);
  forwardOnly(op, x, mu);
  return noGrad(() => {
    const C4 = ceil4(C);
    const K4 = ceil4(nb);
    const xp = C4 !== C ? padTo(x, [B, N, C4]) : x;
    const mp = C4 !== C || K4 !== nb ? padTo(mu, [...mu.shape.slice(0, -2), K4, C4]) : mu;
    const gamma = Tensor.empty([B, N, K4], op);
    K.hemEstep.dispatch({
      bindings: { ex: xp.bind(op), emu: mp.bind(op), egamma: gamma.bind(op, 'read_write'), ep: params({ B, N, C: C4, K: nb, K4, shared, eta: 1, invTau: 1 / o.temperature, scale: 0, cReal: C }) },
      overrides: { WG, RBF: o.estep === 'rbf' },
      workgroups: batched(Math.ceil(Math.ceil(N / 8) / WG), B),
    });
    if (xp !== x) xp.dispose();
    if (mp !== mu) mp.dispose();
    if (K4 === nb) return gamma;
    const g = sliceTo(gamma, [B, N, nb]);
    gamma.dispose();
    return g;
  });
}

/**
 * The fused N-step alone (eqs. 11-13): N_k = Σ_n γ_nk, F = γᵀX / (N + ε), and the highway
 * μ' = (1 − η) μ + η F — the chunked reduction over N and its finishing kernel, as in hem().
 * x: [B, N, C]; gamma: [B, N, K]; mu: [K, C] or [B, K, C] → μ' [B, K, C]. Forward only.
 */
export function hemNStep(x: Tensor, gamma: Tensor, mu: Tensor, options: { eta?: number } = {}): Tensor {
  const op = 'hemNStep';
  const { B, N, C, K: nb, shared } = checkInputs(x, mu, op);
  checkTensor(op, gamma, 'gamma');
  if (gamma.rank !== 3 || gamma.shape[0] !== B || gamma.shape[1] !== N || gamma.shape[2] !== nb) {
    throw new Error(`${op}: gamma must be [B, N, K] = ${fmt([B, N, nb])} for x ${fmt(x.shape)} and mu ${fmt(mu.shape)}, got ${fmt(gamma.shape)}.`);
  }
  const o = resolveHemOptions(C, { eta: options.eta }, op);
  forwardOnly(op, x, gamma, mu);
  return noGrad(() => {
    const C4 = ceil4(C);
    const K4 = ceil4(nb);
    const xp = C4 !== C ? padTo(x, [B, N, C4]) : x;
    const gp = K4 !== nb ? padTo(gamma, [B, N, K4]) : gamma;
    const mp = C4 !== C || K4 !== nb ? padTo(mu, [...mu.shape.slice(0, -2), K4, C4]) : mu;
    const p = params({ B, N, C: C4, K: nb, K4, shared, eta: o.eta, invTau: 0, scale: 0, cReal: C });
    const ws = weightedSums(xp, gp, p, { B, N, C: C4, K4 });
    const next = Tensor.empty([B, K4, C4], op);
    const f = Tensor.empty([B, K4, C4], op);
    const counts = Tensor.empty([B, K4], op);
    K.hemNstepFinish.dispatch({
      bindings: {
        fpart: ws.part.bind(op),
        fsum: ws.sums.bind(op),
        fmu: mp.bind(op),
        nmu_out: next.bind(op, 'read_write'),
        nf: f.bind(op, 'read_write'),
        ncount: counts.bind(op, 'read_write'),
        fp: p,
      },
      overrides: { WG },
      workgroups: batched(Math.ceil((K4 * (C4 / 4)) / WG), B),
    });
    for (const t of [ws.part, ws.sums, f, counts]) t.dispose();
    for (const [padded, orig] of [[xp, x], [gp, gamma], [mp, mu]] as const) if (padded !== orig) padded.dispose();
    if (K4 === nb && C4 === C) return next;
    const out = sliceTo(next, [B, nb, C]);
    next.dispose();
    return out;
  });
}

// ------------------------------------------------------------------------------------ diagnostics

/** ‖a − b‖ (Frobenius, broadcasting b), a scalar tensor; no gradient. */
function distance(a: Tensor, b: Tensor): Tensor {
  return noGrad(() => {
    const d = sub(a, b);
    const d2 = mul(d, d);
    d.dispose();
    const s = sumAll('hem trace', d2, 1);
    d2.dispose();
    const n = sqrt(s);
    s.dispose();
    return n;
  });
}

function norm(a: Tensor): Tensor {
  return noGrad(() => {
    const a2 = mul(a, a);
    const s = sumAll('hem trace', a2, 1);
    a2.dispose();
    const n = sqrt(s);
    s.dispose();
    return n;
  });
}

function meanAbs(a: Tensor): Tensor {
  return noGrad(() => {
    const m = abs(a);
    const r = mean(m);
    m.dispose();
    return r;
  });
}


/** The ELBO kernel on operands already padded to C4, K4 (`cReal`: channels before padding). */
function elboPadded(
  x: Tensor,
  mu: Tensor,
  gamma: Tensor,
  d: { B: number; N: number; C4: number; K: number; K4: number; shared: boolean; cReal: number },
  tau: number,
): Tensor {
  const rows = Tensor.empty([d.B, d.N], 'elbo');
  K.hemElbo.dispatch({
    bindings: {
      lx: x.bind('elbo'),
      lmu: mu.bind('elbo'),
      lgamma: gamma.bind('elbo'),
      lrow: rows.bind('elbo', 'read_write'),
      lp: params({ N: d.N, C: d.C4, K: d.K, K4: d.K4, B: d.B, shared: d.shared, eta: 0, invTau: 1 / tau, scale: 0, cReal: d.cReal }),
    },
    overrides: { WG: 64 },
    workgroups: batched(Math.ceil(d.N / 64), d.B),
  });
  const total = sumAll('elbo', rows, 1);
  rows.dispose();
  return total;
}

/**
 * The ELBO of an isotropic Gaussian mixture with equal weights and variance v = τ/2
 * (docs/math.md): Σ_n Σ_k γ_nk ln N(x_n | μ_k, vI) − γ_nk ln γ_nk, summed over the batch.
 * x: [B, N, C]; mu: [K, C] or [B, K, C]; gamma: [B, N, K]. A scalar tensor, no gradient.
 */
export function elbo(x: Tensor, mu: Tensor, gamma: Tensor, options: { temperature?: number } = {}): Tensor {
  const { B, N, C, K, shared } = checkInputs(x, mu);
  checkTensor('elbo', gamma, 'gamma');
  if (gamma.rank !== 3 || gamma.shape[0] !== B || gamma.shape[1] !== N || gamma.shape[2] !== K) {
    throw new Error(`elbo: gamma must be [B, N, K] = [${B}, ${N}, ${K}] for x ${fmt(x.shape)} and mu ${fmt(mu.shape)}, got ${fmt(gamma.shape)}.`);
  }
  const tau = options.temperature ?? Math.sqrt(C);
  if (!(tau > 0) || !Number.isFinite(tau)) throw new Error(`elbo: temperature must be a finite number > 0, got ${tau}.`);
  return noGrad(() => {
    const C4 = ceil4(C);
    const K4 = ceil4(K);
    const xp = C4 !== C ? padTo(x, [B, N, C4]) : x;
    const mp = C4 !== C || K4 !== K ? padTo(mu, [...mu.shape.slice(0, -2), K4, C4]) : mu;
    const gp = K4 !== K ? padTo(gamma, [B, N, K4]) : gamma;
    const total = elboPadded(xp, mp, gp, { B, N, C4, K, K4, shared, cReal: C }, tau);
    if (xp !== x) xp.dispose();
    if (mp !== mu) mp.dispose();
    if (gp !== gamma) gp.dispose();
    return total;
  });
}

// --------------------------------------------------------------------------------------- unfused

function hemUnfused(
  x: Tensor,
  mu0: Tensor,
  o: ResolvedHemOptions,
  d: { B: number; N: number; C: number; K: number },
  trace: HemTrace | null,
): Omit<HemResult, 'trace' | 'options'> {
  const { B, K } = d;
  const scale = 1 / o.temperature;
  const run = (): { out: Tensor; mu: Tensor; gamma: Tensor } => {
    let mu = mu0;
    let gamma: Tensor | null = null;
    for (let t = 0; t < o.iterations; t++) {
      const muT = trace ? hook(mu, (g) => trace.set('gradMuNorm', t, norm(g))) : mu;
      const xE = trace ? hook(x, (g) => trace.set('gradXFromEStep', t, meanAbs(g))) : x;
      let logits = matmul(xE, muT, { transB: true }); // [B, N, K]
      if (o.estep === 'rbf') {
        // S = −‖x − μ‖² = 2 x·μ − ‖x‖² − ‖μ‖²
        const x2 = sum(mul(xE, xE), -1, { keepdim: true }); // [B, N, 1]
        const m2 = reshape(sum(mul(muT, muT), -1), [...muT.shape.slice(0, -2), 1, K]); // [(B,) 1, K]
        logits = sub(sub(mul(logits, 2), x2), m2);
      }
      gamma = softmax(logits, { scale }); // γ = softmax(S / τ)
      const xN = trace ? hook(x, (g) => trace.set('gradXFromNStep', t, meanAbs(g))) : x;
      const counts = reshape(sum(gamma, 1), [B, K, 1]); // N_k
      const A = matmul(gamma, xN, { transA: true }); // γᵀ X, [B, K, C]
      const F = div(A, add(counts, HEM_EPS));
      let next = add(mul(muT, 1 - o.eta), mul(F, o.eta)); // the highway: (1 − η) μ + η F
      if (o.normalizeBases) {
        next = div(next, add(sqrt(sum(mul(next, next), -1, { keepdim: true })), HEM_EPS));
      }
      if (trace) {
        trace.muStep.push(keep(distance(next, mu)));
        trace.elbo.push(keep(elbo(x, next, gamma, { temperature: o.temperature })));
      }
      mu = next;
    }
    const muT = trace ? hook(mu, (g) => trace.set('gradMuNorm', o.iterations, norm(g))) : mu;
    const out = matmul(gamma!, muT); // R-step X̃ = γ μ
    return { out, mu, gamma: gamma! };
  };
  const r = o.detach ? noGrad(run) : run();
  return { out: r.out, mu: r.mu.detach(), gamma: r.gamma.detach() };
}

// ----------------------------------------------------------------------------------------- fused

interface Dims {
  B: number;
  N: number;
  cReal: number; // channels before padding
  C: number; // padded to a multiple of 4
  K: number; // real
  K4: number; // padded
  shared: boolean; // μ⁽⁰⁾ shared across the batch
}

function params(p: {
  N: number;
  C: number;
  K: number;
  K4: number;
  B: number;
  shared: boolean;
  eta: number;
  invTau: number;
  scale: number;
  cReal?: number;
}): ReturnType<typeof uniform> {
  const ch = chunking(p.N, p.K4, p.C);
  return uniform({
    N: p.N,
    C: p.C,
    K: p.K,
    K4: p.K4,
    x_stride: p.N * p.C,
    mu_stride: p.shared ? 0 : p.K4 * p.C,
    eta: p.eta,
    inv_tau: p.invTau,
    scale: p.scale,
    c_real: p.cReal ?? p.C,
    chunks: ch.chunks,
    rows_per_chunk: ch.rows,
  });
}

/**
 * How the reductions over N (wsum) are split: enough (chunk, 8 bases, 8 channels) invocations to
 * fill a large GPU (~4096), with at least 32 rows per chunk.
 */
export function chunking(N: number, K4: number, C: number): { chunks: number; rows: number } {
  const tiles = Math.ceil(K4 / 8) * Math.ceil(C / 8);
  const want = Math.max(1, Math.min(Math.ceil(4096 / tiles), Math.ceil(N / 32)));
  const rows = Math.ceil(N / want);
  return { chunks: Math.ceil(N / rows), rows };
}

/** Σ over chunks of rows of Wᵀ ⊗ X and of W (kernels/hem.wgsl `wsum`): partials for *_finish. */
function weightedSums(x: Tensor, w: Tensor, p: ReturnType<typeof uniform>, d: { B: number; N: number; C: number; K4: number }): { part: Tensor; sums: Tensor } {
  const { chunks } = chunking(d.N, d.K4, d.C);
  const part = Tensor.empty([d.B, chunks, d.K4, d.C], 'hem wsum');
  const sums = Tensor.empty([d.B, chunks, d.K4], 'hem wsum');
  K.hemWsum.dispatch({
    bindings: { wx: x.bind('hem'), ww: w.bind('hem'), wpart: part.bind('hem', 'read_write'), wsum_w: sums.bind('hem', 'read_write'), wp: p },
    overrides: { WG },
    workgroups: batched(Math.ceil((chunks * Math.ceil(d.K4 / 8) * Math.ceil(d.C / 8)) / WG), d.B),
  });
  return { part, sums };
}

const WG = 64;
function batched(groups: number, B: number): [number, number, number] {
  const [gx, gy] = grid(groups);
  return [gx, gy, B];
}

interface Saved {
  gammas: Tensor[]; // γ⁽ᵗ⁺¹⁾, [B, N, K4]
  mus: Tensor[]; // μ⁽ᵗ⁾ (μ⁽⁰⁾ may be shared [K4, C]); mus[T] = μ⁽ᵀ⁾
  fs: Tensor[]; // F⁽ᵗ⁾ [B, K4, C]
  counts: Tensor[]; // N⁽ᵗ⁾ [B, K4]
  muHats: (Tensor | null)[]; // pre-normalisation bases when normalizeBases
}

function fusedForward(x: Tensor, mu0: Tensor, o: ResolvedHemOptions, d: Dims, trace: HemTrace | null): Saved {
  const { B, N, C, K4 } = d;
  const s: Saved = { gammas: [], mus: [mu0], fs: [], counts: [], muHats: [] };
  for (let t = 0; t < o.iterations; t++) {
    const mu = s.mus[t]!;
    const shared = t === 0 && d.shared;
    const p = params({ ...d, shared, eta: o.eta, invTau: 1 / o.temperature, scale: 0 });
    const gamma = Tensor.empty([B, N, K4], 'hem E-step');
    K.hemEstep.dispatch({
      bindings: { ex: x.bind('hem'), emu: mu.bind('hem'), egamma: gamma.bind('hem', 'read_write'), ep: p },
      overrides: { WG, RBF: o.estep === 'rbf' },
      workgroups: batched(Math.ceil(Math.ceil(N / 8) / WG), B),
    });
    const muHat = Tensor.empty([B, K4, C], 'hem N-step');
    const f = Tensor.empty([B, K4, C], 'hem N-step');
    const counts = Tensor.empty([B, K4], 'hem N-step');
    const ws = weightedSums(x, gamma, p, d);
    K.hemNstepFinish.dispatch({
      bindings: {
        fpart: ws.part.bind('hem'),
        fsum: ws.sums.bind('hem'),
        fmu: mu.bind('hem'),
        nmu_out: muHat.bind('hem', 'read_write'),
        nf: f.bind('hem', 'read_write'),
        ncount: counts.bind('hem', 'read_write'),
        fp: p,
      },
      overrides: { WG },
      workgroups: batched(Math.ceil((K4 * (C / 4)) / WG), B),
    });
    ws.part.dispose();
    ws.sums.dispose();
    let next = muHat;
    if (o.normalizeBases) {
      next = Tensor.empty([B, K4, C], 'hem normalize');
      K.hemNormalize.dispatch({
        bindings: { zin: muHat.bind('hem'), zout: next.bind('hem', 'read_write'), zp: p },
        overrides: { WG },
        workgroups: batched(Math.ceil(K4 / WG), B),
      });
      s.muHats.push(muHat);
    } else {
      s.muHats.push(null);
    }
    s.gammas.push(gamma);
    s.fs.push(f);
    s.counts.push(counts);
    s.mus.push(next);
    if (trace) {
      trace.muStep.push(keep(distance(next, mu)));
      const ed = { B, N, C4: C, K: d.K, K4, shared: false, cReal: d.cReal };
      trace.elbo.push(keep(elboPadded(x, next, gamma, ed, o.temperature)));
    }
  }
  return s;
}

function hemFused(
  x: Tensor,
  mu0: Tensor,
  o: ResolvedHemOptions,
  dims: { B: number; N: number; C: number; K: number; shared: boolean },
  trace: HemTrace | null,
): Omit<HemResult, 'trace' | 'options'> {
  const { B, N, C, K } = dims;
  const C4 = ceil4(C);
  const K4 = ceil4(K);
  // Odd C or K: zero-pad (padded channels add nothing to dot products or distances; padded bases
  // are masked out of the softmax). The pads are recorded ops, so gradients are sliced back.
  const padX = C4 !== C;
  const padMu = C4 !== C || K4 !== K;
  const grad = !o.detach;
  const run = (): { out: Tensor; mu: Tensor; gamma: Tensor } => {
    const xp = padX ? padTo(x, [B, N, C4]) : x;
    const mp = padMu ? padTo(mu0, [...mu0.shape.slice(0, -2), K4, C4]) : mu0;
    const d: Dims = { B, N, cReal: C, C: C4, K, K4, shared: dims.shared };
    const saved = noGrad(() => fusedForward(xp, mp, o, d, trace));
    const T = o.iterations;
    const gammaT = saved.gammas[T - 1]!;
    const muT = saved.mus[T]!;
    const outP = noGrad(() => matmul(gammaT, muT)); // R-step X̃ = γ⁽ᵀ⁾ μ⁽ᵀ⁾
    const mu = noGrad(() => (padMu ? sliceTo(muT, [B, K, C]) : muT.alias()));
    const gamma = noGrad(() => (K4 !== K ? sliceTo(gammaT, [B, N, K]) : gammaT.alias()));
    const kept = [...saved.gammas, ...saved.mus.slice(1), ...saved.fs, ...saved.counts];
    for (const t of saved.muHats) if (t) kept.push(t);
    if (grad && (xp.requiresGrad || mp.requiresGrad)) {
      record('hem', outP, [xp, mp], (g) => fusedBackward(g, xp, mp, saved, o, d, trace));
      // What backward needs lives exactly as long as the output it differentiates.
      for (const t of kept) outP.own(t);
    } else {
      for (const t of kept) t.dispose();
    }
    const out = padX ? sliceTo(outP, [B, N, C]) : outP;
    return { out, mu, gamma };
  };
  return o.detach ? noGrad(run) : run();
}

/** Wᵀ X for W [B, N, K4], X [B, N, C] → [B, K4, C]: wsum over row chunks, then the chunks summed
 * by dmu_finish with η = 1 and s = 1 (so its highway term (1 − η)·dμ̂' vanishes). */
function transposedProduct(w: Tensor, x: Tensor, d: Dims): Tensor {
  const p = params({ ...d, shared: false, eta: 1, invTau: 0, scale: 1 });
  const ws = weightedSums(x, w, p, d);
  const out = Tensor.empty([d.B, d.K4, d.C], 'hem backward');
  K.hemDmuFinish.dispatch({
    bindings: {
      mpart: ws.part.bind('hem backward'),
      msum: ws.sums.bind('hem backward'),
      mmu: ws.part.bind('hem backward'), // unused: RBF is off
      mdnext: ws.part.bind('hem backward'), // multiplied by 1 − η = 0
      mdmu: out.bind('hem backward', 'read_write'),
      mp: p,
    },
    overrides: { WG, RBF: false },
    workgroups: batched(Math.ceil((d.K4 * (d.C / 4)) / WG), d.B),
  });
  ws.part.dispose();
  ws.sums.dispose();
  return out;
}

function fusedBackward(
  g: Tensor,
  x: Tensor,
  mu0: Tensor,
  s: Saved,
  o: ResolvedHemOptions,
  d: Dims,
  trace: HemTrace | null,
): [dx: Tensor | null, dmu0: Tensor | null] {
  const { B, N, C, K4 } = d;
  const T = o.iterations;
  const sScale = (o.estep === 'rbf' ? 2 : 1) / o.temperature;
  const gammaT = s.gammas[T - 1]!;
  const muT = s.mus[T]!;
  // R-step X̃ = γ μ: dμ⁽ᵀ⁾ = γᵀ dX̃ (a reduction over N: the N-step's chunked wsum kernel, which
  // keeps a GPU busy where a product with a 64 × C output and N-long dot products would not),
  // dγ⁽ᵀ⁾ = dX̃ μᵀ.
  let dnext = transposedProduct(gammaT, g, d);
  const dgammaR = matmul(g, muT, { transB: true }); // [B, N, K4]
  if (trace) trace.set('gradMuNorm', T, norm(dnext));
  const dx = full([B, N, C], 0);
  for (let t = T - 1; t >= 0; t--) {
    const shared = t === 0 && d.shared;
    const p = params({ ...d, shared, eta: o.eta, invTau: 1 / o.temperature, scale: sScale });
    const gamma = s.gammas[t]!;
    const mu = s.mus[t]!;
    let dhat = dnext;
    const muHat = s.muHats[t];
    if (muHat) {
      // Through μ = μ̂ / (‖μ̂‖ + ε).
      dhat = Tensor.empty([B, K4, C], 'hem backward');
      K.hemNormalizeGrad.dispatch({
        bindings: { yu: muHat.bind('hem backward'), ydy: dnext.bind('hem backward'), ydu: dhat.bind('hem backward', 'read_write'), yp: p },
        overrides: { WG },
        workgroups: batched(Math.ceil(K4 / WG), B),
      });
      dnext.dispose();
    }
    // N-step: dF = η dμ̂, dA = dF / (N + ε), dN = −Σ_c dF F / (N + ε).
    const dA = Tensor.empty([B, K4, C], 'hem backward');
    const dN = Tensor.empty([B, K4], 'hem backward');
    K.hemNstepPrep.dispatch({
      bindings: {
        pdmu: dhat.bind('hem backward'),
        pf: s.fs[t]!.bind('hem backward'),
        pcount: s.counts[t]!.bind('hem backward'),
        pda: dA.bind('hem backward', 'read_write'),
        pdn: dN.bind('hem backward', 'read_write'),
        pp: p,
      },
      overrides: { WG },
      workgroups: batched(Math.ceil(K4 / WG), B),
    });
    // E-step: dγ = X dAᵀ + 1 dNᵀ (+ dγ from the R-step), dS = γ ⊙ (dγ − rowsum(dγ ⊙ γ)).
    const dS = Tensor.empty([B, N, K4], 'hem backward');
    const extra = t === T - 1 ? dgammaR : gamma;
    K.hemEstepGrad.dispatch({
      bindings: {
        gx: x.bind('hem backward'),
        gda: dA.bind('hem backward'),
        gdn: dN.bind('hem backward'),
        ggamma: gamma.bind('hem backward'),
        gextra: extra.bind('hem backward'),
        gds: dS.bind('hem backward', 'read_write'),
        gp: p,
      },
      overrides: { WG, HAS_EXTRA: t === T - 1 },
      workgroups: batched(Math.ceil(Math.ceil(N / 8) / WG), B),
    });
    // dX += γ dA (N-step) + s dS μ (E-step).
    const dxBindings = (out: Tensor) => ({
      xgamma: gamma.bind('hem backward'),
      xds: dS.bind('hem backward'),
      xda: dA.bind('hem backward'),
      xmu: mu.bind('hem backward'),
      xdx: out.bind('hem backward', 'read_write'),
      xp: p,
    });
    const dxGroups = batched(Math.ceil((Math.ceil(N / 8) * Math.ceil(C / 8)) / WG), B);
    if (trace) {
      // The two parts separately (the paper's Fig. 3b-c), then their sum into dX.
      for (const [part, slot] of [[1, 'gradXFromNStep'], [2, 'gradXFromEStep']] as const) {
        const piece = Tensor.empty([B, N, C], 'hem trace');
        K.hemDx.dispatch({ bindings: dxBindings(piece), overrides: { WG, PART: part }, workgroups: dxGroups });
        // Mean over the real channels (padded ones are 0).
        const real = d.cReal === C ? piece : noGrad(() => sliceTo(piece, [B, N, d.cReal]));
        trace.set(slot, t, meanAbs(real));
        if (real !== piece) real.dispose();
        piece.dispose();
      }
    }
    K.hemDx.dispatch({ bindings: dxBindings(dx), overrides: { WG, PART: 0 }, workgroups: dxGroups });
    // dμ⁽ᵗ⁾ = (1 − η) dμ̂ (the highway) + s (dSᵀ X − [rbf] colsum(dS) μ).
    const dmu = Tensor.empty([B, K4, C], 'hem backward');
    const ws = weightedSums(x, dS, p, d);
    K.hemDmuFinish.dispatch({
      bindings: {
        mpart: ws.part.bind('hem backward'),
        msum: ws.sums.bind('hem backward'),
        mmu: mu.bind('hem backward'),
        mdnext: dhat.bind('hem backward'),
        mdmu: dmu.bind('hem backward', 'read_write'),
        mp: p,
      },
      overrides: { WG, RBF: o.estep === 'rbf' },
      workgroups: batched(Math.ceil((K4 * (C / 4)) / WG), B),
    });
    ws.part.dispose();
    ws.sums.dispose();
    dhat.dispose();
    dA.dispose();
    dN.dispose();
    dS.dispose();
    dnext = dmu;
    if (trace) trace.set('gradMuNorm', t, norm(shared ? sumToShape(dmu, mu0.shape) : dmu));
  }
  dgammaR.dispose();
  return [x.requiresGrad ? dx : (dx.dispose(), null), mu0.requiresGrad ? dnext : (dnext.dispose(), null)];
}
