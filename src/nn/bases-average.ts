/**
 * The moving-average rules of the EM bases μ⁽⁰⁾ (HemModuleOptions.basesAverage): 'plain', the
 * moving average the paper cites, not normalised (the default); 'l2norm', the average with each
 * base l2-normalised (hemgpu before issue 22). A leaf module: the training settings list the rules
 * without importing the layer.
 */
export const BASES_AVERAGES = ['plain', 'l2norm'] as const;
export type BasesAverage = (typeof BASES_AVERAGES)[number];
