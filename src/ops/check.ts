/** Argument checks shared by the ops: each throws naming the op and the argument, before any GPU work. */
import { Tensor } from '../tensor/tensor.ts';

/** Throw unless `x` is a live f32 Tensor. */
export function checkTensor(op: string, x: unknown, what: string): asserts x is Tensor {
  if (!(x instanceof Tensor)) {
    throw new Error(`${op}: ${what} must be a Tensor, got ${typeof x === 'object' ? Object.prototype.toString.call(x) : typeof x}.`);
  }
  if (x.dtype !== 'f32') throw new Error(`${op}: ${what} is an ${x.dtype} index tensor; ops take f32 tensors.`);
  // Checked here, before the op allocates its output (else the output would leak on the throw).
  if (x.isDisposed) {
    throw new Error(
      `${op}: ${what} (tensor #${x.id} [${x.shape.join(', ')}]) was disposed and cannot be used. ` +
        'Keep it out of tidy() (return it, or keep() it) or do not dispose it before this use.',
    );
  }
}

/** Throw unless `v` is a number (not NaN). */
export function checkScalar(op: string, v: number): void {
  if (typeof v !== 'number' || Number.isNaN(v)) throw new Error(`${op}: scalar operand must be a number, got ${String(v)}.`);
}

/** A value for error messages: arrays as [a, b], anything else through String. */
export function show(v: unknown): string {
  return Array.isArray(v) ? `[${v.map(String).join(', ')}]` : String(v);
}

/** A size per spatial axis: one number for both, or [h, w]. */
export type Pair = number | readonly [number, number];

/**
 * A spatial option as [h, w]: one integer ≥ `min` for both axes, or a pair of them. `what` names
 * the valid values in the error (default "an integer ≥ min").
 */
export function pair(op: string, name: string, v: unknown, min: number, what = `an integer ≥ ${min}`): [number, number] {
  const ok = (d: unknown): d is number => typeof d === 'number' && Number.isInteger(d) && d >= min;
  if (ok(v)) return [v, v];
  if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1])) return [v[0], v[1]];
  throw new Error(`${op}: ${name} must be ${what} or a pair [h, w] of them, got ${show(v)}.`);
}
