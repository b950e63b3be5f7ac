/**
 * Integrity of training checkpoints (browser-safe, no GPU): the format version, the type of
 * every metadata field, CRC-32 checksums of every tensor's bytes and of the metadata, and finite
 * values in every F32 tensor (weights, buffers, optimizer state). verifyCheckpoint runs before
 * anything is loaded; sealCheckpoint adds the checksums when one is written.
 *
 * Versions: '2' (this build) carries 'checksums' and 'changes'; '1' (before issue 11, e.g.
 * test/fixtures/segnet-4ad1b4d.safetensors) has no checksums and loads with a notice.
 */
import type { Checkpoint, HostArray, HostData } from '../io/safetensors.ts';
import { expectedText, fitsSetting, settingEntries, withAbsentFields, type TrainConfig } from './config.ts';

export const CHECKPOINT_KIND = 'hemgpu-segnet';
export const CHECKPOINT_VERSION = '2';
const READABLE_VERSIONS = ['1', '2'];

/** Losses and learning rates per step, validation mIoU at some steps. */
export interface History {
  loss: number[];
  lr: number[];
  val: { step: number; miou: number }[];
}

/** A training-changing field changed on resume (recorded in the checkpoint's 'changes'). */
export interface ConfigChange {
  step: number;
  flag: string;
  old: unknown;
  new: unknown;
}

/** What a verified checkpoint's metadata says. */
export interface CheckpointInfo {
  step: number;
  config: TrainConfig;
  history: History;
  changes: ConfigChange[];
  /** False for version-1 checkpoints (no checksums): loaded without checksum verification. */
  checksummed: boolean;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE, as zlib) of bytes, as 8 hex digits. */
function crc32(bytes: Uint8Array): string {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ((c ^ 0xffffffff) >>> 0).toString(16).padStart(8, '0');
}

/** The bytes a tensor is stored as (little-endian hosts; the checksum is over what is written). */
function bytesOf(data: HostData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The metadata's canonical text for its checksum: every field but 'checksums', sorted by key. */
function metadataText(meta: Record<string, string>): string {
  return JSON.stringify(
    Object.keys(meta)
      .filter((k) => k !== 'checksums')
      .sort()
      .map((k) => [k, meta[k]]),
  );
}

/** The first non-finite value of an F32 array, or null. */
function firstNonFinite(data: HostData): { index: number; value: number } | null {
  if (!(data instanceof Float32Array)) return null;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return { index: i, value: data[i]! };
  return null;
}

/** A checkpoint tensor holds NaN or ±Infinity (refused when written or loaded). */
export class NonFiniteTensorError extends Error {}

/**
 * Refuse non-finite values in host tensors, naming the tensor (`what` says where: writing or
 * loading).
 */
export function assertFiniteTensors(tensors: Record<string, { data: HostData }>, what: string): void {
  for (const [name, t] of Object.entries(tensors)) {
    const bad = firstNonFinite(t.data);
    if (bad) throw new NonFiniteTensorError(`${what}: tensor '${name}' holds ${bad.value} at index ${bad.index}; a checkpoint must be finite.`);
  }
}

/** The metadata with 'checksums' added: CRC-32 of each tensor's bytes and of the other metadata. */
export function sealCheckpoint(tensors: Record<string, HostArray>, metadata: Record<string, string>): Record<string, string> {
  const sums: Record<string, string> = { __metadata__: crc32(new TextEncoder().encode(metadataText(metadata))) };
  for (const [k, t] of Object.entries(tensors)) sums[k] = crc32(bytesOf(t.data));
  return { ...metadata, checksums: JSON.stringify(sums) };
}

function parseJson(path: string, field: string, text: string | undefined, expected: string): unknown {
  if (text === undefined) throw new Error(`${path}: metadata '${field}' is missing (expected ${expected}); nothing was loaded.`);
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${path}: metadata '${field}' is not JSON (expected ${expected}, got ${JSON.stringify(text.slice(0, 40))}); nothing was loaded.`);
  }
}

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

function checkConfig(path: string, raw: unknown): TrainConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${path}: metadata 'flags' must be a JSON object (the training config); nothing was loaded.`);
  // Fields newer than the checkpoint: it trained with the value their absence means.
  const c = withAbsentFields(raw as Record<string, unknown>);
  for (const [k, s] of settingEntries()) {
    const v = c[k];
    if (!fitsSetting(s, v))
      throw new Error(`${path}: metadata 'flags' field '${k}' (--${s.flag}) is ${JSON.stringify(v) ?? 'missing'}; expected ${expectedText(s)}. Nothing was loaded.`);
  }
  return c as unknown as TrainConfig;
}

function checkHistory(path: string, raw: unknown): History {
  const h = raw as History;
  const ok =
    !!h &&
    typeof h === 'object' &&
    Array.isArray(h.loss) &&
    h.loss.every(isNum) &&
    Array.isArray(h.lr) &&
    h.lr.every(isNum) &&
    Array.isArray(h.val) &&
    h.val.every((e) => !!e && isInt(e.step) && isNum(e.miou));
  if (!ok) throw new Error(`${path}: metadata 'history' must be {loss: number[], lr: number[], val: {step, miou}[]} of finite numbers; nothing was loaded.`);
  return h;
}

function checkChanges(path: string, raw: unknown): ConfigChange[] {
  const ok = Array.isArray(raw) && raw.every((e: ConfigChange) => !!e && isInt(e.step) && typeof e.flag === 'string' && 'old' in e && 'new' in e);
  if (!ok) throw new Error(`${path}: metadata 'changes' must be a list of {step, flag, old, new}; nothing was loaded.`);
  return raw as ConfigChange[];
}

function checkChecksums(path: string, ck: Checkpoint): void {
  const raw = parseJson(path, 'checksums', ck.metadata.checksums, 'a JSON object of CRC-32s');
  if (!raw || typeof raw !== 'object' || Array.isArray(raw) || !Object.values(raw).every((v) => typeof v === 'string' && /^[0-9a-f]{8}$/.test(v))) {
    throw new Error(`${path}: metadata 'checksums' must map names to 8-digit hex CRC-32s; nothing was loaded.`);
  }
  const sums = raw as Record<string, string>;
  const names = ['__metadata__', ...Object.keys(ck.tensors)];
  for (const k of Object.keys(sums))
    if (!names.includes(k)) throw new Error(`${path}: the checksums name a tensor '${k}' the file does not hold (the header is corrupt); nothing was loaded.`);
  const metaSum = crc32(new TextEncoder().encode(metadataText(ck.metadata)));
  if (sums.__metadata__ !== metaSum)
    throw new Error(`${path}: checksum mismatch in the metadata (stored ${sums.__metadata__ ?? 'none'}, computed ${metaSum}): the header is corrupt; nothing was loaded.`);
  for (const [k, t] of Object.entries(ck.tensors)) {
    const sum = crc32(bytesOf(t.data));
    if (sums[k] !== sum) throw new Error(`${path}: checksum mismatch in tensor '${k}' (stored ${sums[k] ?? 'none'}, computed ${sum}): the payload is corrupt; nothing was loaded.`);
  }
}

/**
 * Verify a decoded training checkpoint (`path` names it in errors): kind, version, every
 * metadata field's type, the checksums (version 2) and finite tensors. Throws before anything
 * is loaded; returns the parsed metadata.
 */
export function verifyCheckpoint(ck: Checkpoint, path: string): CheckpointInfo {
  const meta = ck.metadata;
  if (meta.kind !== CHECKPOINT_KIND) {
    throw new Error(`${path}: not a hemgpu training checkpoint (metadata kind '${meta.kind ?? 'missing'}'); nothing was loaded.`);
  }
  if (!READABLE_VERSIONS.includes(meta.version ?? '')) {
    throw new Error(
      `${path}: checkpoint format version ${JSON.stringify(meta.version ?? null)}; this build reads versions ${READABLE_VERSIONS.join(' and ')}. Nothing was loaded.`,
    );
  }
  const checksummed = meta.version !== '1';
  if (checksummed) checkChecksums(path, ck);
  if (meta.step === undefined || !/^(0|[1-9][0-9]{0,14})$/.test(meta.step)) {
    throw new Error(`${path}: metadata 'step' is ${JSON.stringify(meta.step ?? null)}; expected an integer ≥ 0 as a string. Nothing was loaded.`);
  }
  for (const k of ['optimizer', 'model']) {
    if (typeof meta[k] !== 'string') throw new Error(`${path}: metadata '${k}' is missing; expected a string. Nothing was loaded.`);
  }
  const config = checkConfig(path, parseJson(path, 'flags', meta.flags, 'the training config as JSON'));
  const history = checkHistory(path, parseJson(path, 'history', meta.history, 'the history as JSON'));
  const changes = checksummed ? checkChanges(path, parseJson(path, 'changes', meta.changes, 'a JSON list')) : [];
  assertFiniteTensors(ck.tensors, `${path}: refused, nothing was loaded`);
  return { step: Number(meta.step), config, history, changes, checksummed };
}
