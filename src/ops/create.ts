/** Making tensors: from host data, or filled on the GPU (constants, seeded random numbers). */
import { fillConst, fillRandom } from '../kernels/random.ts';
import { checkShape, fmt, sizeOf, type Shape } from '../tensor/shape.ts';
import { checkNesting, hostValues, type NestedArray } from '../tensor/host-data.ts';
import { checkOptions } from '../tensor/options.ts';
import { Tensor, type TensorOptions } from '../tensor/tensor.ts';

const TENSOR_OPTION_KEYS = ['requiresGrad'] as const satisfies readonly (keyof TensorOptions)[];

/**
 * A tensor from host data. `data` is a Float32Array, a Float64Array (converted to f32), a number,
 * a flat number array, or nested arrays; the shape defaults to the data's own: [] for a number,
 * [n] for flat data, the nesting for nested arrays ([[1, 2, 3], [4, 5, 6]] is [2, 3]). Ragged
 * nested arrays and non-numbers are refused naming the element. Options: requiresGrad.
 */
export function tensor(data: Float32Array | Float64Array | NestedArray, shape?: Shape, options: TensorOptions = {}): Tensor {
  checkOptions('tensor()', options, TENSOR_OPTION_KEYS);
  const host = hostValues('tensor()', data, 'f32');
  const values = host.values as Float32Array;
  if (shape === undefined && host.ragged) throw new Error(host.ragged);
  const s = shape ?? host.shape;
  checkShape('tensor()', s);
  if (values.length !== sizeOf(s)) {
    throw new Error(
      `tensor(): ${values.length} values do not fill shape ${fmt(s)}, which holds ${sizeOf(s)}. ` + 'Pass data of exactly that length, or the shape that matches the data.',
    );
  }
  checkNesting('tensor()', host, s);
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
  checkOptions(op, options, TENSOR_OPTION_KEYS);
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
  checkOptions('rand()', options, [...TENSOR_OPTION_KEYS, 'seed', 'low', 'high']);
  return random('rand()', shape, 'uniform', options, options.low ?? 0, options.high ?? 1);
}

/** Normal random numbers (mean 0, std 1 unless given), generated on the GPU from (seed, index). */
export function randn(shape: Shape, options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  checkOptions('randn()', options, [...TENSOR_OPTION_KEYS, 'seed', 'mean', 'std']);
  const std = options.std ?? 1;
  if (!(Number.isFinite(std) && std >= 0)) throw new Error(`randn(): std must be a finite number ≥ 0, got ${String(options.std)} (a negative std would negate the draws).`);
  return random('randn()', shape, 'normal', options, options.mean ?? 0, options.std ?? 1);
}
