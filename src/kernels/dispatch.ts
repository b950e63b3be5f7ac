/**
 * Small helpers shared by the launcher files of src/kernels/: uniform values, workgroup counts,
 * and the shape/stride arithmetic that fills the kernels' rank-8 uniform arrays.
 */
import type { UniformArg } from '../gpu/registry.ts';
import type { Shape } from '../tensor/shape.ts';

const MAX_RANK = 8;

export function uniform(values: UniformArg['values']): UniformArg {
  return { kind: 'uniform', values };
}

/** 1-D dispatch helper: spread `groups` workgroups over x and y within the per-dimension limit. */
export function grid(groups: number, maxPerDim = 65535): [number, number, number] {
  const g = Math.max(1, groups);
  if (g <= maxPerDim) return [g, 1, 1];
  const y = Math.ceil(g / maxPerDim);
  return [Math.ceil(g / y), y, 1];
}

/** Workgroups for `n` invocations in groups of `wg`, spread over x and y. */
export function groupsFor(n: number, wg: number): [number, number, number] {
  return grid(Math.ceil(n / wg));
}

/** `v` rounded up to a multiple of 4 (the vec4 kernels' row lengths). */
export function ceil4(v: number): number {
  return Math.ceil(v / 4) * 4;
}

/** Row-major strides. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/**
 * Merge adjacent dimensions that are contiguous for every stride list (and drop size-1 ones),
 * so index arithmetic in the kernels runs over as few dimensions as possible.
 */
export function coalesce(shape: Shape, strides: number[][]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d]!;
    if (size === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, k) => outStrides[k]![last] === s[d]! * size)) {
      outShape[last]! *= size;
      strides.forEach((s, k) => (outStrides[k]![last] = s[d]!));
    } else {
      outShape.push(size);
      strides.forEach((s, k) => outStrides[k]!.push(s[d]!));
    }
  }
  if (outShape.length === 0) {
    outShape.push(1);
    outStrides.forEach((s) => s.push(0));
  }
  return { shape: outShape, strides: outStrides };
}

/** Pad a dimension list to the kernels' fixed rank-8 uniform arrays (with `fill`: 0, or 1 for a shape walked as rank 8). */
export function pad8(v: readonly number[], fill = 0): number[] {
  if (v.length > MAX_RANK) throw new Error(`hemgpu: rank ${v.length} is above the supported ${MAX_RANK}`);
  return [...v, ...new Array<number>(MAX_RANK - v.length).fill(fill)];
}

/** The rank overrides such a kernel is compiled for (rankOverride's values). */
export const RANK_OVERRIDES = [1, 2, 3, MAX_RANK] as const;

/**
 * The rank override of a kernel that writes its per-dimension offset arithmetic out for ranks 1–3
 * and walks any other rank as 8 (`pad8(shape, 1)`: padded dimensions of size 1 change nothing).
 */
export function rankOverride(rank: number): number {
  return rank <= 3 ? rank : MAX_RANK;
}

/**
 * The override sets a kernel's launchers use, for its definition's `variants`: `fixed` in every
 * set, times each combination of the `axes` values, e.g. overrideSets({ WG: 64 }, { RBF: [false, true] }).
 */
export function overrideSets(
  fixed: Record<string, number | boolean>,
  axes: Record<string, readonly (number | boolean)[]> = {},
): Record<string, number | boolean>[] {
  let sets: Record<string, number | boolean>[] = [{ ...fixed }];
  for (const [name, values] of Object.entries(axes)) sets = sets.flatMap((s) => values.map((v) => ({ ...s, [name]: v })));
  return sets;
}
