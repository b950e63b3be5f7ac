/**
 * The HEM layer's options: presets ('hemnet', 'emanet'), defaults, and their validation, which
 * names the bad option before any GPU work.
 */
import { checkOptions, optionKeys } from '../../tensor/options.ts';

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

/** ε in N_k + ε and ‖μ‖ + ε (EMANet's reference implementation). */
export const HEM_EPS = 1e-6;

const PRESETS: Record<'hemnet' | 'emanet', (C: number) => Omit<ResolvedHemOptions, 'fused' | 'trace'>> = {
  hemnet: (C) => ({ eta: 0.5, iterations: 3, temperature: Math.sqrt(C), estep: 'dot', normalizeBases: false, detach: false }),
  emanet: () => ({ eta: 1, iterations: 3, temperature: 1, estep: 'dot', normalizeBases: true, detach: true }),
};

/** Every key of HemOptions, for the unknown-option check. */
export const HEM_OPTION_KEYS = optionKeys<HemOptions>({
  preset: true,
  eta: true,
  iterations: true,
  temperature: true,
  estep: true,
  normalizeBases: true,
  detach: true,
  fused: true,
  trace: true,
});

/** Resolve presets and defaults and validate every option, naming the bad one. */
export function resolveHemOptions(C: number, options: HemOptions = {}, op = 'hem'): ResolvedHemOptions {
  checkOptions(op, options, HEM_OPTION_KEYS);
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
