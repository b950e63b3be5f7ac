/** The HEM op package: the layer, its building blocks, its options and its trace. */
export { hem, type HemResult } from './hem.ts';
export { hemEStep, hemNStep } from './steps.ts';
export { elbo } from './elbo.ts';
export { resolveHemOptions, HEM_EPS, HEM_OPTION_KEYS, type HemOptions, type ResolvedHemOptions, type EStepForm } from './options.ts';
export { HemTrace, type HemTraceValues } from './trace.ts';
