/** Making tensors: from host data, or filled on the GPU (constants, seeded random numbers). */
import { fillConst, fillRandom } from '../kernels/random.ts';
import { checkShape, fmt, sizeOf, type Shape } from '../tensor/shape.ts';
import { Tensor, type TensorOptions } from '../tensor/tensor.ts';

type NestedArray = number | readonly NestedArray[];

function flatten(data: NestedArray, out: number[]): void {
  if (typeof data === 'number') out.push(data);
  else for (const d of data) flatten(d, out);
}

/**
 * A tensor from host data. `data` is a Float32Array, a flat number array, or nested arrays; the
 * shape defaults to the data's length (1-D). Options: requiresGrad.
 */
export function tensor(data: Float32Array | NestedArray, shape?: Shape, options: TensorOptions = {}): Tensor {
  let values: Float32Array;
  if (data instanceof Float32Array) values = data;
  else if (typeof data === 'number') values = Float32Array.of(data);
  else if (Array.isArray(data)) {
    const flat: number[] = [];
    flatten(data, flat);
    values = Float32Array.from(flat);
  } else {
    throw new Error(`tensor(): data must be a Float32Array, a number or (nested) number arrays, got ${Object.prototype.toString.call(data)}.`);
  }
  const s = shape ?? (typeof data === 'number' ? [] : [values.length]);
  checkShape('tensor()', s);
  if (values.length !== sizeOf(s)) {
    throw new Error(
      `tensor(): ${values.length} values do not fill shape ${fmt(s)}, which holds ${sizeOf(s)}. ` +
        'Pass data of exactly that length, or the shape that matches the data.',
    );
  }
  const t = Tensor.empty(s, 'tensor()');
  t.write(values);
  t.requiresGrad = options.requiresGrad ?? false;
  return t;
}

/** A tensor with every element equal to `value`, filled on the GPU. */
export function full(shape: Shape, value: number, options: TensorOptions = {}): Tensor {
  return fill('full()', shape, value, options);
}

/** full() under the caller's name, so its errors name the op the user called. */
function fill(op: string, shape: Shape, value: number, options: TensorOptions): Tensor {
  checkShape(op, shape);
  const t = fillConst(op, shape, value);
  t.requiresGrad = options.requiresGrad ?? false;
  return t;
}

export function zeros(shape: Shape, options: TensorOptions = {}): Tensor {
  return fill('zeros()', shape, 0, options);
}

export function ones(shape: Shape, options: TensorOptions = {}): Tensor {
  return fill('ones()', shape, 1, options);
}

export interface RandomOptions extends TensorOptions {
  /** Seed (an unsigned 32-bit integer). The same seed gives the same tensor on every device. */
  seed?: number;
}

let autoSeed = 0x1234567;
function seedOf(op: string, seed: number | undefined): number {
  if (seed === undefined) {
    autoSeed = (Math.imul(autoSeed, 1664525) + 1013904223) >>> 0;
    return autoSeed;
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`${op}: seed must be an integer in [0, 2^32), got ${seed}.`);
  }
  return seed;
}

/** rand() and randn(): one path, the distribution and its two parameters chosen by the caller. */
function random(op: string, shape: Shape, dist: 'uniform' | 'normal', options: RandomOptions, a: number, b: number): Tensor {
  checkShape(op, shape);
  const t = fillRandom(op, shape, dist, seedOf(op, options.seed), a, b);
  t.requiresGrad = options.requiresGrad ?? false;
  return t;
}

/** Uniform random numbers in [low, high), generated on the GPU from (seed, index). */
export function rand(shape: Shape, options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  return random('rand()', shape, 'uniform', options, options.low ?? 0, options.high ?? 1);
}

/** Normal random numbers (mean 0, std 1 unless given), generated on the GPU from (seed, index). */
export function randn(shape: Shape, options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  return random('randn()', shape, 'normal', options, options.mean ?? 0, options.std ?? 1);
}
