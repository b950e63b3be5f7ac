/**
 * Checkpoints in the safetensors format (https://github.com/huggingface/safetensors):
 *   8 bytes   N, the header length, an unsigned little-endian 64-bit integer;
 *   N bytes   a UTF-8 JSON object: per tensor {"dtype", "shape", "data_offsets": [begin, end]}
 *             (byte offsets into the data section) and an optional "__metadata__" map of
 *             strings to strings; padded with spaces so the data starts 8-byte aligned;
 *   the data  the tensors' raw little-endian bytes, back to back, covering it with no holes.
 * hemgpu writes and reads F32, I32 and I64.
 *
 * The byte codec only, for Node and browsers alike (no file system): encodeSafetensors /
 * decodeSafetensors work on bytes, readToHost brings GPU tensors back first. Files (atomic
 * writes) are src/io/checkpoint-file.ts, Node only.
 */
import { Tensor } from '../tensor/tensor.ts';

export type SafetensorsDtype = 'F32' | 'I32' | 'I64';
export type HostData = Float32Array | Int32Array | BigInt64Array;

/** A host tensor: F32 as Float32Array, I32 as Int32Array, I64 as BigInt64Array. */
export interface HostArray {
  data: HostData;
  shape: readonly number[];
}

/** A tensor as read from a file. */
export interface LoadedTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: HostData;
}

export interface CheckpointInput {
  /** GPU tensors (f32 → F32, i32 → I32; read back here) or host arrays. */
  tensors: Record<string, Tensor | HostArray>;
  /** The `__metadata__` map: string values only (JSON-encode anything else). */
  metadata?: Record<string, string>;
}

export interface Checkpoint {
  tensors: Record<string, LoadedTensor>;
  metadata: Record<string, string>;
}

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, I32: 4, I64: 8 };
/** The reference implementation refuses headers over 100 MB; so do we. */
const MAX_HEADER = 100_000_000;
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function dtypeOf(data: unknown): SafetensorsDtype | null {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof BigInt64Array) return 'I64';
  return null;
}

function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function validShape(shape: unknown): shape is number[] {
  return Array.isArray(shape) && shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0);
}

/** Little-endian bytes of a typed array (a view when the host is little-endian). */
function leBytes(data: HostData): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const v = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) {
    if (data instanceof Float32Array) v.setFloat32(i * 4, data[i]!, true);
    else if (data instanceof Int32Array) v.setInt32(i * 4, data[i]!, true);
    else v.setBigInt64(i * 8, data[i]!, true);
  }
  return out;
}

/** A typed array of `dtype` from little-endian bytes (always a copy, so it is aligned). */
function fromLe(dtype: SafetensorsDtype, bytes: Uint8Array): HostData {
  const n = bytes.byteLength / BYTES[dtype];
  if (LITTLE_ENDIAN) {
    // A fresh, aligned ArrayBuffer of exactly these bytes (Buffer#slice would return a view).
    const buf = new ArrayBuffer(bytes.byteLength);
    new Uint8Array(buf).set(bytes);
    return dtype === 'F32' ? new Float32Array(buf) : dtype === 'I32' ? new Int32Array(buf) : new BigInt64Array(buf);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F32') return Float32Array.from({ length: n }, (_, i) => v.getFloat32(i * 4, true));
  if (dtype === 'I32') return Int32Array.from({ length: n }, (_, i) => v.getInt32(i * 4, true));
  return BigInt64Array.from({ length: n }, (_, i) => v.getBigInt64(i * 8, true));
}

/** encodeSafetensors' parts as one buffer (for callers that need the bytes whole, not streamed). */
export function joinParts(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * Encode host tensors and metadata as safetensors bytes (header + data), in the given key
 * order. Returns the parts (header first) so a writer can stream them without one big copy.
 */
export function encodeSafetensors(tensors: Record<string, HostArray>, metadata: Record<string, string> = {}, where = 'encodeSafetensors'): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new Error(`${where}: metadata must be an object of string values.`);
  }
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') {
      throw new Error(`${where}: metadata '${k}' is ${typeof v}; safetensors metadata values must be strings (JSON-encode it).`);
    }
  }
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '' || name === '__metadata__') throw new Error(`${where}: '${name}' is not a valid tensor name.`);
    const dtype = dtypeOf(t?.data);
    if (!dtype) {
      throw new Error(`${where}: tensor '${name}' has ${Object.prototype.toString.call(t?.data)} data; supported: Float32Array (F32), Int32Array (I32), BigInt64Array (I64).`);
    }
    if (!validShape(t.shape) || shapeSize(t.shape) !== t.data.length) {
      throw new Error(`${where}: tensor '${name}' has ${t.data.length} values for shape ${JSON.stringify(t.shape)}.`);
    }
    const bytes = leBytes(t.data);
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] };
    offset += bytes.byteLength;
    parts.push(bytes);
  }
  let json = JSON.stringify(header);
  // Pad with spaces (allowed by the format) so the data section starts 8-byte aligned.
  let jsonBytes = new TextEncoder().encode(json);
  const pad = (8 - (jsonBytes.byteLength % 8)) % 8;
  if (pad) {
    json += ' '.repeat(pad);
    jsonBytes = new TextEncoder().encode(json);
  }
  const head = new Uint8Array(8 + jsonBytes.byteLength);
  new DataView(head.buffer).setBigUint64(0, BigInt(jsonBytes.byteLength), true);
  head.set(jsonBytes, 8);
  return [head, ...parts];
}

/**
 * Decode safetensors bytes, validating everything; errors begin with `where` (the file name)
 * and say what is wrong.
 */
export function decodeSafetensors(bytes: Uint8Array, where = 'decodeSafetensors'): Checkpoint {
  const size = bytes.byteLength;
  if (size < 8) {
    throw new Error(`${where}: the file is too short (${size} bytes): a safetensors file starts with an 8-byte header length.`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(size - 8)) {
    throw new Error(`${where}: the header length ${n} runs past the end of the file (${size} bytes, so at most ${size - 8}); the file is truncated or not safetensors.`);
  }
  if (n > BigInt(MAX_HEADER)) throw new Error(`${where}: the header length ${n} is over the format's limit of ${MAX_HEADER} bytes.`);
  const headerLen = Number(n);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    throw new Error(`${where}: the header is not valid UTF-8.`);
  }
  if (!text.startsWith('{')) {
    throw new Error(`${where}: the header is not a JSON object (it must start with '{'; it starts with ${JSON.stringify(text.slice(0, 16))}).`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw new Error(`${where}: the header is not valid JSON (${(err as Error).message}).`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new Error(`${where}: the header is not a JSON object.`);
  const dataStart = 8 + headerLen;
  const dataLen = size - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Array<{ name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }> = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${where}: __metadata__ is not an object of strings.`);
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new Error(`${where}: __metadata__ '${k}' is ${JSON.stringify(v)}, not a string.`);
        metadata[k] = v;
      }
      continue;
    }
    const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!t || typeof t !== 'object') throw new Error(`${where}: tensor '${name}' is ${JSON.stringify(raw)}, not {dtype, shape, data_offsets}.`);
    if (typeof t.dtype !== 'string') throw new Error(`${where}: tensor '${name}' has no dtype.`);
    if (!(t.dtype in BYTES)) {
      throw new Error(`${where}: tensor '${name}' has dtype ${t.dtype}; hemgpu reads F32, I32 and I64 only.`);
    }
    const dtype = t.dtype as SafetensorsDtype;
    if (!validShape(t.shape)) throw new Error(`${where}: tensor '${name}' has shape ${JSON.stringify(t.shape)}; a shape is a list of integers ≥ 0.`);
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
      throw new Error(`${where}: tensor '${name}' has data_offsets ${JSON.stringify(off)}; they must be [begin, end], integers ≥ 0.`);
    }
    const [begin, end] = off as [number, number];
    if (begin > end || end > dataLen) {
      throw new Error(`${where}: tensor '${name}' has data_offsets [${begin}, ${end}] out of range: the data section has ${dataLen} bytes.`);
    }
    const want = shapeSize(t.shape) * BYTES[dtype];
    if (want !== end - begin) {
      throw new Error(
        `${where}: tensor '${name}' of shape ${JSON.stringify(t.shape)} and dtype ${dtype} needs ${want} bytes but its data_offsets [${begin}, ${end}] hold ${end - begin}.`,
      );
    }
    entries.push({ name, dtype, shape: t.shape, begin, end });
  }
  // The tensors must tile the data section exactly: no overlap, no hole, nothing after the end.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: (typeof entries)[number] | null = null;
  for (const e of sorted) {
    if (e.begin < pos) {
      throw new Error(`${where}: tensors '${prev!.name}' [${prev!.begin}, ${prev!.end}) and '${e.name}' [${e.begin}, ${e.end}) overlap in the data section.`);
    }
    if (e.begin > pos) throw new Error(`${where}: bytes [${pos}, ${e.begin}) of the data section belong to no tensor.`);
    pos = e.end;
    prev = e;
  }
  if (pos !== dataLen) {
    throw new Error(`${where}: bytes [${pos}, ${dataLen}) at the end of the data section belong to no tensor (the file has trailing data).`);
  }
  const tensors: Record<string, LoadedTensor> = {};
  for (const e of entries) {
    tensors[e.name] = { dtype: e.dtype, shape: e.shape, data: fromLe(e.dtype, bytes.subarray(dataStart + e.begin, dataStart + e.end)) };
  }
  return { tensors, metadata };
}

/**
 * The tensors of a checkpoint as host arrays: GPU tensors are read back (f32 → Float32Array,
 * i32 → Int32Array), host arrays pass through. A failing read names the tensor.
 */
export async function readToHost(input: CheckpointInput, where = 'readToHost'): Promise<Record<string, HostArray>> {
  if (!input || typeof input !== 'object' || !input.tensors || typeof input.tensors !== 'object') {
    throw new Error(`${where}: expected { tensors, metadata? }.`);
  }
  const host: Record<string, HostArray> = {};
  for (const [name, t] of Object.entries(input.tensors)) {
    if (t instanceof Tensor) {
      let data: Float32Array;
      try {
        data = await t.read();
      } catch (err) {
        throw new Error(`${where}: reading tensor '${name}' from the GPU failed, nothing was written: ${(err as Error).message}`);
      }
      host[name] = { data: t.dtype === 'i32' ? new Int32Array(data.buffer, data.byteOffset, data.length) : data, shape: t.shape };
    } else {
      host[name] = t;
    }
  }
  return host;
}
