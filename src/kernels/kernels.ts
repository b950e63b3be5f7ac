/**
 * Every WGSL entry point the engine dispatches, registered (and so reflected) once at load.
 * The sources are imported as text, identically in Node and in the browser bundle.
 */
import elementwiseWgsl from '../../kernels/elementwise.wgsl';
import reduceWgsl from '../../kernels/reduce.wgsl';
import matmulWgsl from '../../kernels/matmul.wgsl';
import softmaxWgsl from '../../kernels/softmax.wgsl';
import crossEntropyWgsl from '../../kernels/cross_entropy.wgsl';
import randomWgsl from '../../kernels/random.wgsl';
import { defineKernel } from './registry.ts';

export const K = {
  unary: defineKernel('unary', elementwiseWgsl, 'unary'),
  binary: defineKernel('binary', elementwiseWgsl, 'binary'),
  gather: defineKernel('gather', elementwiseWgsl, 'gather'),
  pad: defineKernel('pad', elementwiseWgsl, 'pad'),
  reduce: defineKernel('reduce', reduceWgsl, 'main'),
  matmul: defineKernel('matmul', matmulWgsl, 'main'),
  matmulTiled4: defineKernel('matmul_tiled4', matmulWgsl, 'tiled4'),
  softmax: defineKernel('softmax', softmaxWgsl, 'forward'),
  softmaxBackward: defineKernel('softmax_backward', softmaxWgsl, 'backward'),
  crossEntropy: defineKernel('cross_entropy', crossEntropyWgsl, 'forward'),
  crossEntropyBackward: defineKernel('cross_entropy_backward', crossEntropyWgsl, 'backward'),
  fill: defineKernel('fill', randomWgsl, 'const_fill'),
  uniformRandom: defineKernel('uniform_random', randomWgsl, 'uniform_fill'),
  normalRandom: defineKernel('normal_random', randomWgsl, 'normal_fill'),
} as const;

/** Unary op codes of kernels/elementwise.wgsl (keep in sync with its constants). */
export const UNARY = { affine: 0, exp: 1, log: 2, sqrt: 3, relu: 4, pow: 5, rdiv: 6, abs: 7 } as const;
/** Binary op codes of kernels/elementwise.wgsl. */
export const BINARY = { add: 0, sub: 1, mul: 2, div: 3, reluGrad: 4, signMul: 5 } as const;
