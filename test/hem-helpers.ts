/**
 * HEM-specific test helpers: run the engine's layer (forward, backward, trace) and collect every
 * quantity as float64; compute the same quantities with the float64 reference; estimate the
 * engine's f32 error per element by Monte Carlo arithmetic on the reference (hem-reference.ts,
 * "Error model"); compare the two within that allowance; and the covering case set (CASES) the
 * hem-*.test.ts files share.
 */
import * as hg from '../src/index.node.ts';
import { Rng, expectClose, numericGrad } from './helpers.ts';
import { hemLoss, hemReference, hemReferenceBackward, meanAbs, type EStepForm, type HemProblem, type HemRefOptions } from './hem-reference.ts';

/** Everything the layer reports, as float64. Gradients for E = Σ G ⊙ out. */
export interface HemQuantities {
  out: Float64Array;
  mu: Float64Array;
  gamma: Float64Array;
  dx: Float64Array;
  dmu0: Float64Array;
  elbo: Float64Array;
  muStep: Float64Array;
  gradMuNorm: Float64Array;
  gradXFromNStep: Float64Array;
  gradXFromEStep: Float64Array;
}

export type QuantityName = keyof HemQuantities;
export const FORWARD: QuantityName[] = ['out', 'mu', 'gamma'];
export const GRADS: QuantityName[] = ['dx', 'dmu0'];
export const TRACE: QuantityName[] = ['elbo', 'muStep', 'gradMuNorm', 'gradXFromNStep', 'gradXFromEStep'];

/** A problem plus the loss weights G and the layer options, all f32-representable. */
export interface HemCase extends HemProblem {
  name: string;
  G: Float32Array;
  opts: HemRefOptions;
}

export function makeProblem(
  rng: Rng,
  name: string,
  d: { B: number; N: number; C: number; K: number; shared: boolean },
  opts: { estep: EStepForm; eta: number; iterations: number; temperature?: number; normalizeBases?: boolean },
): HemCase {
  const x = rng.f32(d.B * d.N * d.C);
  const mu0 = rng.f32((d.shared ? 1 : d.B) * d.K * d.C);
  const G = rng.f32(d.B * d.N * d.C);
  return {
    name,
    ...d,
    x,
    mu0,
    G,
    opts: {
      estep: opts.estep,
      eta: opts.eta,
      iterations: opts.iterations,
      temperature: opts.temperature ?? Math.sqrt(d.C),
      normalizeBases: opts.normalizeBases ?? false,
    },
  };
}

/** The engine's options for a case (temperature always explicit). */
export function engineOptions(c: HemCase, fused: boolean, trace: boolean): hg.HemOptions {
  return {
    eta: c.opts.eta,
    iterations: c.opts.iterations,
    temperature: c.opts.temperature,
    estep: c.opts.estep,
    normalizeBases: c.opts.normalizeBases ?? false,
    fused,
    trace,
  };
}

/** Run the layer forward and backward (E = Σ G ⊙ out) on the engine; read everything back. */
export async function runEngine(c: HemCase, fused: boolean, trace: boolean): Promise<HemQuantities & { fusedUsed: boolean }> {
  const { B, N, C, K } = c;
  const x = hg.tensor(Float32Array.from(c.x), [B, N, C], { requiresGrad: true });
  const mu0 = hg.tensor(Float32Array.from(c.mu0), c.shared ? [K, C] : [B, K, C], { requiresGrad: true });
  try {
    const r = hg.tidy(() => {
      const res = hg.hem(x, mu0, engineOptions(c, fused, trace));
      const loss = hg.sum(hg.mul(res.out, hg.tensor(c.G, [B, N, C])));
      loss.backward();
      return { out: res.out, mu: res.mu, gamma: res.gamma, trace: res.trace, fusedUsed: res.options.fused };
    });
    const f64 = async (t: hg.Tensor): Promise<Float64Array> => Float64Array.from(await t.read());
    const tv = r.trace ? await r.trace.read() : null;
    const q: HemQuantities & { fusedUsed: boolean } = {
      out: await f64(r.out),
      mu: await f64(r.mu),
      gamma: await f64(r.gamma),
      dx: x.grad ? await f64(x.grad) : new Float64Array(0),
      dmu0: mu0.grad ? await f64(mu0.grad) : new Float64Array(0),
      elbo: Float64Array.from(tv?.elbo ?? []),
      muStep: Float64Array.from(tv?.muStep ?? []),
      gradMuNorm: Float64Array.from(tv?.gradMuNorm ?? []),
      gradXFromNStep: Float64Array.from(tv?.gradXFromNStep ?? []),
      gradXFromEStep: Float64Array.from(tv?.gradXFromEStep ?? []),
      fusedUsed: r.fusedUsed,
    };
    r.out.dispose();
    r.mu.dispose();
    r.gamma.dispose();
    r.trace?.dispose();
    return q;
  } finally {
    x.zeroGrad();
    mu0.zeroGrad();
    x.dispose();
    mu0.dispose();
  }
}

/** The reference's quantities (exact, or one Monte Carlo arithmetic sample with `seed`). */
export function referenceQuantities(c: HemCase, seed: number | null = null): HemQuantities {
  const f = hemReference(c, c.opts, seed === null ? null : new Rng(seed));
  const g = hemReferenceBackward(c, c.opts, f, c.G, seed === null ? null : new Rng(seed + 7919));
  return {
    out: f.out,
    mu: f.mu,
    gamma: f.gamma,
    dx: g.dx,
    dmu0: g.dmu0,
    elbo: Float64Array.from(f.elbo),
    muStep: Float64Array.from(f.muStep),
    gradMuNorm: Float64Array.from(g.gradMuNorm),
    gradXFromNStep: Float64Array.from(g.dxFromNStep.map(meanAbs)),
    gradXFromEStep: Float64Array.from(g.dxFromEStep.map(meanAbs)),
  };
}

/** Monte Carlo arithmetic samples per estimate. */
export const MCA_SAMPLES = 4;
/** Safety factor on the Monte Carlo estimate. */
export const MCA_FACTOR = 3;

/**
 * Per-element allowance for the engine's f32 error in each quantity: the exact reference, and
 * MCA_FACTOR · (max over MCA_SAMPLES noisy runs of |noisy − exact| + the rms of all deviations of
 * that quantity). The max over samples estimates the spread of the f32 error of each element; the
 * rms term is a floor for an element whose few samples happened to land near zero; the factor
 * covers the tail. (The noise is per-operation worst-case-sized, so the estimate is already
 * larger than typical f32 errors; a logic error is orders of magnitude larger still.)
 */
export function mcaAllowance(c: HemCase, seed: number): { exact: HemQuantities; allow: Record<QuantityName, Float64Array> } {
  const exact = referenceQuantities(c);
  const samples = Array.from({ length: MCA_SAMPLES }, (_, s) => referenceQuantities(c, seed + 104729 * (s + 1)));
  const allow = {} as Record<QuantityName, Float64Array>;
  for (const key of Object.keys(exact) as QuantityName[]) {
    const e = exact[key];
    const dev = new Float64Array(e.length);
    let sq = 0;
    for (const s of samples) {
      for (let i = 0; i < e.length; i++) {
        const d = Math.abs(s[key][i]! - e[i]!);
        dev[i] = Math.max(dev[i]!, d);
        sq += d * d;
      }
    }
    const rms = e.length ? Math.sqrt(sq / (e.length * samples.length)) : 0;
    allow[key] = dev.map((d) => MCA_FACTOR * (d + rms));
  }
  return { exact, allow };
}

/** Host l2-normalisation of each row: v / (‖v‖ + ε). */
export function normalizeRows(a: ArrayLike<number>, rows: number, cols: number, eps = 1e-6): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let c = 0; c < cols; c++) ss += a[r * cols + c]! ** 2;
    const d = Math.sqrt(ss) + eps;
    for (let c = 0; c < cols; c++) out[r * cols + c] = a[r * cols + c]! / d;
  }
  return out;
}

// ----------------------------------------------------- comparing the engine with the reference

/** The shape of a quantity of a case (for the positions named in a failed comparison). */
export function shapeOf(c: HemCase, q: QuantityName): number[] {
  const { B, N, C, K, shared } = c;
  const T = c.opts.iterations;
  switch (q) {
    case 'out':
    case 'dx':
      return [B, N, C];
    case 'mu':
      return [B, K, C];
    case 'gamma':
      return [B, N, K];
    case 'dmu0':
      return shared ? [K, C] : [B, K, C];
    case 'gradMuNorm':
      return [T + 1];
    default:
      return [T];
  }
}

/**
 * Assert `actual` within `factor` · allowance of `expected` for each named quantity.
 *
 * Tolerances. The layer is T nonlinear iterations, so a closed-form f32 bound is not practical;
 * the engine's error per element is estimated instead by Monte Carlo arithmetic on the float64
 * reference (hem-reference.ts, "Error model"; mcaAllowance above): every operation of the
 * reference is perturbed by a random error up to the worst-case f32 bound of the operation the
 * engine performs, and the allowance is MCA_FACTOR = 3 times the observed spread (plus the rms
 * spread as a floor). Each path must be within that allowance of the exact reference; fused and
 * unfused must then be within twice it of each other (triangle inequality). Measured on
 * SwiftShader: the engine's errors use at most ~20 % of the allowance (typically ~3 %), and the
 * allowances are 1e-6 - 1e-4 of each quantity's largest magnitude (up to 2e-3 for ∂E/∂μ⁽⁰⁾ at
 * η = 1, which arrives only through the E-step's cancelling terms) — orders of magnitude below
 * what a wrong index, sign, scale or missing term produces. Where a property is tested directly
 * (ELBO monotonicity, the highway ratios), the bound is derived in place.
 */
export function compare(
  c: HemCase,
  label: string,
  actual: HemQuantities,
  expected: HemQuantities,
  allow: Record<QuantityName, Float64Array>,
  names: QuantityName[],
  factor = 1,
): void {
  for (const q of names) {
    expectClose(actual[q], expected[q], {
      atol: 0,
      rtol: 0,
      bound: allow[q].map((a) => factor * a),
      shape: shapeOf(c, q),
      label: `${c.name} ${label} ${q}`,
    });
  }
}

// ------------------------------------------------------------------------------- the case set

export const ETAS = [0.2, 0.5, 1] as const;
/** K mod 4 per case: every residue, and odd K together with odd C (cases 1 and 5). */
const K_RESIDUES = [1, 3, 0, 2, 3, 1, 2, 0, 1] as const;
export const TS = [1, 3, 6] as const;

/**
 * Nine seeded random cases: B ∈ {1, 3}, shared/per-batch μ⁽⁰⁾ and the E-step form run through a
 * 2³ factorial (case 8 repeats case 0's), every (η, T) pair of {0.2, 0.5, 1} × {1, 3, 6} appears
 * once; N alternates odd/even; C mod 4 and K mod 4 take every value 0-3 (C, K not multiples of
 * 4 take the zero-padding path), with odd C and odd K together in two cases; two cases normalise the bases (the normalize_grad kernel), one uses a
 * temperature other than √C. A tenth case has a long N (several row chunks in the fused
 * reductions over N).
 */
function buildCases(): HemCase[] {
  const rng = new Rng(20240611);
  const cases: HemCase[] = [];
  for (let i = 0; i < 9; i++) {
    const B = i & 1 ? 3 : 1;
    const shared = ((i >> 1) & 1) === 0;
    const estep = ((i >> 2) & 1) === 0 ? 'dot' : 'rbf';
    const eta = ETAS[i % 3]!;
    const T = TS[(i + Math.floor(i / 3)) % 3]!;
    const N = 2 * rng.int(3, 25) + (i % 2 === 0 ? 1 : 0);
    const C = 4 * rng.int(1, 4) + (i % 4);
    const K = 4 * rng.int(1, 3) + K_RESIDUES[i]!;
    const normalizeBases = i === 2 || i === 7;
    const temperature = i === 3 ? 0.7 : undefined;
    const name = `#${i} B=${B} N=${N} C=${C} K=${K} ${shared ? 'shared' : 'batched'} ${estep} η=${eta} T=${T}${normalizeBases ? ' normalized' : ''}${temperature ? ` τ=${temperature}` : ''}`;
    cases.push(makeProblem(rng, name, { B, N, C, K, shared }, { estep, eta, iterations: T, normalizeBases, ...(temperature ? { temperature } : {}) }));
  }
  // Long N: the fused reductions over N run in several row chunks (7 here, the last one short).
  cases.push(
    makeProblem(rng, '#9 B=2 N=205 C=6 K=3 batched rbf η=0.5 T=3 (many row chunks)', { B: 2, N: 205, C: 6, K: 3, shared: false }, { estep: 'rbf', eta: 0.5, iterations: 3 }),
  );
  return cases;
}

export const CASES = buildCases();

/**
 * Central differences of the float64 reference loss at h and 2h. Their error is truncation
 * ≈ h²/6 · f''' (the reference's roundoff, ~1e-16 · |E| / h, is negligible); Richardson:
 * g_h − g_2h ≈ −3 · (error of g_h), so 2·|g_h − g_2h| bounds the error of g_h.
 */
export function referenceFiniteDifferences(c: HemCase, which: 'x' | 'mu0'): { g: Float64Array; err: Float64Array } {
  const h = 1e-4;
  const f = (v: Float64Array): number => {
    const p: HemProblem = which === 'x' ? { ...c, x: v } : { ...c, mu0: v };
    return hemLoss(p, c.opts, c.G);
  };
  const v = Float64Array.from(which === 'x' ? c.x : c.mu0);
  const g1 = numericGrad(f, v, h);
  const g2 = numericGrad(f, v, 2 * h);
  return { g: g1, err: g1.map((a, i) => 2 * Math.abs(a - g2[i]!)) };
}
