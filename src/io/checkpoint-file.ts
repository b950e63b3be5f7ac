/**
 * Checkpoint files (Node only: node:fs): safetensors bytes (src/io/safetensors.ts) written
 * atomically (temporary file, fsync, rename, directory fsync) and read back with validation.
 * Reached through src/node-extras.ts, never from src/api.ts.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { checkOptions, optionKeys } from '../tensor/options.ts';
import { decodeSafetensors, encodeSafetensors, readToHost, type Checkpoint, type CheckpointInput } from './safetensors.ts';

/** Options of saveCheckpoint. */
export interface SaveOptions {
  /**
   * Called with the temporary file read back and decoded, before it is renamed over `path`;
   * throwing keeps the existing file (write, verify, then rename).
   */
  verify?(written: Checkpoint, tmpPath: string): void;
}

/**
 * Write a checkpoint atomically: every GPU tensor is read back first, then the bytes go to a
 * temporary file in the same directory, which is fsync'ed, optionally read back and verified,
 * and renamed over `path` (then the directory is fsync'ed). On any failure the temporary file is
 * removed and an existing file at `path` is left as it was. Test hook: HEMGPU_TEST_SAVE_PAUSE_MS
 * pauses that long after the first part (the header) is written, so a test can kill the
 * process mid-save.
 */
export async function saveCheckpoint(path: string, input: CheckpointInput, options: SaveOptions = {}): Promise<void> {
  const where = `saveCheckpoint(${path})`;
  checkOptions('saveCheckpoint', options, optionKeys<SaveOptions>({ verify: true }));
  // Read everything back before touching the file system, so a failing read writes nothing.
  const host = await readToHost(input, where);
  await writeAtomically(path, encodeSafetensors(host, input.metadata ?? {}, where), where, options.verify);
}

/**
 * Write safetensors bytes made elsewhere (e.g. saveWeights) to `path` the same atomic way as
 * saveCheckpoint, whose name the errors carry: temporary file, fsync, optional read-back
 * verification, rename.
 */
export async function saveCheckpointBytes(path: string, bytes: Uint8Array, verify?: SaveOptions['verify']): Promise<void> {
  // Written as header, then data (where the test pause falls), as saveCheckpoint writes its parts.
  const head = bytes.byteLength >= 8 ? 8 + Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true)) : bytes.byteLength;
  const parts = head < bytes.byteLength ? [bytes.subarray(0, head), bytes.subarray(head)] : [bytes];
  await writeAtomically(path, parts, `saveCheckpoint(${path})`, verify);
}

async function writeAtomically(path: string, parts: Uint8Array[], where: string, verify: SaveOptions['verify']): Promise<void> {
  const target = resolve(path);
  const dir = dirname(target);
  const tmp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let stage = 'creating the temporary file';
  let fh: Awaited<ReturnType<typeof open>> | null = null;
  try {
    fh = await open(tmp, 'wx', 0o644);
    stage = 'writing the temporary file';
    let position = 0;
    for (const part of parts) {
      let done = 0;
      while (done < part.byteLength) {
        const { bytesWritten } = await fh.write(part, done, part.byteLength - done, position);
        if (bytesWritten <= 0) throw new Error('the write made no progress');
        done += bytesWritten;
        position += bytesWritten;
      }
      if (part === parts[0] && TEST_PAUSE_MS > 0) await new Promise((r) => setTimeout(r, TEST_PAUSE_MS));
    }
    stage = 'flushing the temporary file to disk (fsync)';
    await fh.sync();
    stage = 'closing the temporary file';
    await fh.close();
    fh = null;
    if (verify) {
      stage = 'verifying the temporary file';
      verify(decodeSafetensors(await readFile(tmp), tmp), tmp);
    }
    stage = `renaming the temporary file onto ${target}`;
    await rename(tmp, target);
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new Error(`${where}: ${stage} failed (${(err as Error).message}); nothing was written and any existing file is unchanged.`);
  }
  // Make the rename itself durable. Best effort: some platforms cannot open or fsync a directory.
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    /* the data is safely in the renamed file either way */
  }
}

const TEST_PAUSE_MS = Number(process.env.HEMGPU_TEST_SAVE_PAUSE_MS ?? 0) || 0;

/**
 * Read and validate a checkpoint: host arrays (F32 → Float32Array, I32 → Int32Array,
 * I64 → BigInt64Array) and the metadata map. A short, truncated or corrupt file is refused with
 * an error naming the file and what is wrong.
 */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  const where = `loadCheckpoint(${path})`;
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new Error(`${where}: cannot read the file (${(err as Error).message}).`);
  }
  return decodeSafetensors(bytes, where);
}
