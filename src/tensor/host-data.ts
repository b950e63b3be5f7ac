/**
 * Host data for tensor() and Tensor.write(): one reader, so both take the same inputs and refuse
 * the same ones, before any GPU work. f32 tensors take a Float32Array, a Float64Array (converted),
 * a number, or (nested) number arrays; i32 index tensors take an Int32Array or integer arrays.
 */
import { fmt, type Shape } from './shape.ts';

/** A number or arbitrarily nested arrays of numbers. */
export type NestedArray = number | readonly NestedArray[];

/** What tensor() and write() accept. */
export type HostInput = Float32Array | Float64Array | Int32Array | NestedArray;

export interface HostValues {
  values: Float32Array | Int32Array;
  /** The shape the data implies: [] for a number, [n] for flat data, the nesting for nested arrays. */
  shape: number[];
  /** True for arrays nested two or more deep (their nesting is checked against a given shape). */
  nested: boolean;
  /** Why nested arrays are ragged (rows of different lengths), or null. */
  ragged: string | null;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'string') return `'${v}' (a string)`;
  if (typeof v === 'object') return Object.prototype.toString.call(v);
  return `${String(v)} (a ${typeof v})`;
}

/** The shape of nested arrays, checking every element is a number and every row the same length. */
function nestedShape(op: string, data: readonly unknown[], path: string, out: number[], ragged: { why: string | null }): number[] {
  if (data.length === 0) throw new Error(`${op}: ${path} is an empty array; hemgpu has no empty tensors.`);
  const firstIsArray = Array.isArray(data[0]);
  let inner: number[] | null = null;
  data.forEach((d, i) => {
    const at = `${path}[${i}]`;
    if (Array.isArray(d) !== firstIsArray) {
      throw new Error(
        `${op}: ${at} is ${Array.isArray(d) ? 'an array' : describe(d)} but ${path}[0] is ${firstIsArray ? 'an array' : 'a number'}; nested arrays must be regular (every element at one depth numbers, or arrays of one length).`,
      );
    }
    if (!firstIsArray) {
      if (typeof d !== 'number') throw new Error(`${op}: ${at} is ${describe(d)}; data must hold numbers only.`);
      out.push(d);
      return;
    }
    const s = nestedShape(op, d as readonly unknown[], at, out, ragged);
    if (inner === null) inner = s;
    else if (fmt(s) !== fmt(inner)) {
      ragged.why ??= `${op}: ragged nested arrays: ${at} has shape ${fmt(s)} but ${path}[0] has shape ${fmt(inner)}; every row must have the same length.`;
    }
  });
  return [data.length, ...(inner ?? [])];
}

/** Read `data` as the values of an f32 or i32 tensor, or throw naming `op` and the bad element. */
export function hostValues(op: string, data: unknown, dtype: 'f32' | 'i32'): HostValues {
  const kinds = dtype === 'f32' ? 'a Float32Array, a number or (nested) number arrays, or a Float64Array' : 'an Int32Array or (nested) arrays of integers';
  if (dtype === 'f32') {
    if (data instanceof Float32Array) return { values: data, shape: [data.length], nested: false, ragged: null };
    if (data instanceof Float64Array) return { values: Float32Array.from(data), shape: [data.length], nested: false, ragged: null };
    if (typeof data === 'number') return { values: Float32Array.of(data), shape: [], nested: false, ragged: null };
  } else if (data instanceof Int32Array) {
    return { values: data, shape: [data.length], nested: false, ragged: null };
  }
  if (Array.isArray(data)) {
    const flat: number[] = [];
    const ragged = { why: null as string | null };
    const shape = nestedShape(op, data, 'data', flat, ragged);
    if (dtype === 'i32') {
      const bad = flat.findIndex((v) => !Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff);
      if (bad >= 0) throw new Error(`${op}: element ${bad} = ${flat[bad]} is not a 32-bit integer; an i32 tensor holds integers.`);
      return { values: Int32Array.from(flat), shape, nested: shape.length > 1, ragged: ragged.why };
    }
    return { values: Float32Array.from(flat), shape, nested: shape.length > 1, ragged: ragged.why };
  }
  const got = ArrayBuffer.isView(data) ? `${data.constructor.name} data` : describe(data);
  const hint = dtype === 'f32' && data instanceof Int32Array ? ' (an Int32Array is index data: convert it with Float32Array.from(data))' : '';
  throw new Error(`${op}: data must be ${kinds}; got ${got}${hint}.`);
}

/**
 * Throw unless nested data is regular and its own shape is `shape` (flat data and typed arrays
 * only fill it). Call after the element count was checked against the shape.
 */
export function checkNesting(op: string, host: HostValues, shape: Shape): void {
  if (host.ragged) throw new Error(host.ragged);
  if (host.nested && fmt(host.shape) !== fmt(shape)) {
    throw new Error(`${op}: nested data has shape ${fmt(host.shape)} but the shape is ${fmt(shape)}; pass nested data of that shape, or flat data to fill it.`);
  }
}
