/**
 * HEM-specific test helpers: run the engine's layer (forward, backward, trace) and collect every
 * quantity as float64; compute the same quantities with the float64 reference; estimate the
 * engine's f32 error per element by Monte Carlo arithmetic on the reference (hem-reference.ts,
 * "Error model").
 */
import * as hg from '../src/index.node.ts';
import { Rng } from './helpers.ts';
import {
  hemReference,
  hemReferenceBackward,
  meanAbs,
  type EStepForm,
  type HemProblem,
  type HemRefOptions,
} from './hem-reference.ts';

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
