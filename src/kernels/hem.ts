/**
 * The kernels of kernels/hem.wgsl, registered once at load. (Launch functions per entry point
 * come with the HEM op package, src/ops/hem/.)
 */
import hemWgsl from '../../kernels/hem.wgsl';
import { defineKernel } from './registry.ts';

export const HEM_KERNELS = {
  hemEstep: defineKernel('hem_estep', hemWgsl, 'estep'),
  hemWsum: defineKernel('hem_wsum', hemWgsl, 'wsum'),
  hemNstepFinish: defineKernel('hem_nstep_finish', hemWgsl, 'nstep_finish'),
  hemNormalize: defineKernel('hem_normalize', hemWgsl, 'normalize'),
  hemNormalizeGrad: defineKernel('hem_normalize_grad', hemWgsl, 'normalize_grad'),
  hemNstepPrep: defineKernel('hem_nstep_prep', hemWgsl, 'nstep_prep'),
  hemEstepGrad: defineKernel('hem_estep_grad', hemWgsl, 'estep_grad'),
  hemDx: defineKernel('hem_dx', hemWgsl, 'dx'),
  hemDmuFinish: defineKernel('hem_dmu_finish', hemWgsl, 'dmu_finish'),
  hemElbo: defineKernel('hem_elbo', hemWgsl, 'elbo'),
} as const;
