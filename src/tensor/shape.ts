/** Shape arithmetic and validation shared by tensors and ops. Errors name the op. */

export type Shape = readonly number[];

export function fmt(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Throw unless every dimension is a positive integer. */
export function checkShape(op: string, shape: Shape, what = 'shape'): void {
  if (!Array.isArray(shape)) throw new Error(`${op}: ${what} must be an array of dimensions, got ${String(shape)}.`);
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]!;
    if (typeof d !== 'number') {
      const got = typeof d === 'string' ? `'${d}' (a string)` : `${String(d)} (${d === null ? 'null' : `a ${typeof d}`})`;
      throw new Error(`${op}: ${what} has dimension ${i} = ${got}; dimensions must be positive integer numbers${typeof d === 'string' ? ` (write ${d} without quotes)` : ''}.`);
    }
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`${op}: ${what} ${fmt(shape)} has dimension ${i} = ${String(d)}; dimensions must be positive integers.`);
    }
    if (d === 0) {
      throw new Error(`${op}: ${what} ${fmt(shape)} has dimension ${i} = 0; hemgpu has no empty tensors, every dimension must be ≥ 1.`);
    }
  }
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** NumPy broadcasting of two shapes; throws naming the op and both shapes. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = new Array(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${fmt(a)} and ${fmt(b)} do not broadcast (dimension ${i} of the result: ${da} vs ${db}). ` + 'Each trailing dimension must match or be 1.');
    }
    out[i] = Math.max(da, db);
  }
  return out;
}

/** Row-major strides of a shape, with stride 0 on dimensions broadcast up to `target`. */
export function broadcastStrides(shape: Shape, target: Shape): number[] {
  const rank = target.length;
  const strides = new Array<number>(rank).fill(0);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const ti = rank - shape.length + i;
    strides[ti] = shape[i] === 1 && target[ti] !== 1 ? 0 : s;
    s *= shape[i]!;
  }
  return strides;
}

/** Normalise axes (negative allowed) for a tensor of rank `rank`; throws naming the op. */
export function normAxes(op: string, axes: number | readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out = new Set<number>();
  for (const a of list) {
    if (!Number.isInteger(a) || a < -rank || a >= Math.max(rank, 1)) {
      throw new Error(`${op}: axis ${a} is out of range for a tensor of rank ${rank} (valid: ${-rank}..${rank - 1}).`);
    }
    const n = a < 0 ? a + rank : a;
    // As PyTorch: an axis listed twice is a mistake (sum over it once, or a typo for another axis).
    if (out.has(n)) throw new Error(`${op}: axis ${n} appears twice in [${list.join(', ')}] for a tensor of rank ${rank}; list each axis once.`);
    out.add(n);
  }
  return [...out].sort((x, y) => x - y);
}
