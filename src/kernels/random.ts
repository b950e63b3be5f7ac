/**
 * Launchers for kernels/random.wgsl: a constant fill, and seeded counter-based uniform and normal
 * random numbers (element i depends only on (seed, i)). Forward only; src/ops/create.ts checks
 * arguments and sets requiresGrad.
 */
import randomWgsl from '../../kernels/random.wgsl';
import type { Shape } from '../tensor/shape.ts';
import { Tensor } from '../tensor/tensor.ts';
import { groupsFor, uniform } from './dispatch.ts';
import { defineKernel } from '../gpu/registry.ts';

const K = {
  fill: /* @__PURE__ */ defineKernel('fill', randomWgsl, 'const_fill'),
  uniform: /* @__PURE__ */ defineKernel('uniform_random', randomWgsl, 'uniform_fill'),
  normal: /* @__PURE__ */ defineKernel('normal_random', randomWgsl, 'normal_fill'),
};

const WG = 256;

/** A new tensor of `shape` with every element `value`. */
export function fillConst(op: string, shape: Shape, value: number): Tensor {
  const t = Tensor.empty(shape, op);
  K.fill.dispatch({ bindings: { fy: t.bind(op, 'read_write'), fp: uniform({ n: t.size, value }) }, workgroups: groupsFor(t.size, WG) });
  return t;
}

/**
 * A new tensor of `shape` of random numbers from (seed, index): 'uniform' in [a, b), or 'normal'
 * with mean a and standard deviation b.
 */
export function fillRandom(op: string, shape: Shape, dist: 'uniform' | 'normal', seed: number, a: number, b: number): Tensor {
  const t = Tensor.empty(shape, op);
  K[dist].dispatch({ bindings: { y: t.bind(op, 'read_write'), p: uniform({ n: t.size, seed, a, b }) }, workgroups: groupsFor(t.size, WG) });
  return t;
}
