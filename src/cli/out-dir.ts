/**
 * The output directory of a run (--out): created if missing, refused when it names a file, and
 * held by a lock file (`.hemgpu.lock`, holding the pid) so that two live runs never write into
 * one directory. A lock whose process is gone (a crash, SIGKILL) is taken over with a notice. The
 * lock is removed when the run ends, by any exit path that runs JavaScript (Ctrl-C included).
 */
import { readFileSync, readdirSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './args.ts';
import { makeDirectory } from '../io/make-directory.ts';

const LOCK_FILE = '.hemgpu.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Create `out` if needed and lock it for this process; returns the function that unlocks it. A
 * directory this call created is removed again when the run leaves it empty (a run refused at
 * init, or stopped before it wrote anything), so a failed command leaves no trace.
 */
export function lockOutDir(out: string, command: string): () => void {
  let st: ReturnType<typeof statSync> | undefined;
  try {
    st = statSync(out);
  } catch {
    st = undefined;
  }
  if (st && !st.isDirectory()) throw new UsageError(`--out ${out}: that is a file, not a directory; give a directory (created if missing).`);
  const created = st === undefined;
  try {
    makeDirectory(out);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(`--out ${out}: cannot create the directory (${e.message}${e.code === 'ENOTDIR' || e.code === 'EEXIST' ? ': part of the path is a file' : ''}).`);
  }
  const lock = join(out, LOCK_FILE);
  const write = (): boolean => {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  };
  if (!write()) {
    const pid = Number.parseInt(readFileSync(lock, 'utf8'), 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new UsageError(`--out ${out}: another run (pid ${pid}) is writing there (lock file ${lock}); wait for it to finish or give another --out.`);
    }
    console.error(`hemgpu ${command}: taking over ${lock}: its run (pid ${Number.isInteger(pid) ? pid : '?'}) is no longer running.`);
    rmSync(lock, { force: true });
    if (!write()) throw new UsageError(`--out ${out}: another run took the lock file ${lock} just now; give another --out.`);
  }
  removeInterruptedSaves(out, command);
  const release = (): void => {
    try {
      if (Number.parseInt(readFileSync(lock, 'utf8'), 10) === process.pid) rmSync(lock, { force: true });
    } catch {
      // Already gone.
    }
    try {
      if (created && readdirSync(out).length === 0) rmdirSync(out);
    } catch {
      // Gone already, or not ours to remove.
    }
    process.off('exit', release);
  };
  process.on('exit', release);
  return release;
}

/** A save's temporary file (src/io/checkpoint-file.ts): `.<name>.<pid>.<12 hex>.tmp`. */
const SAVE_TMP = /^\.[^/]+\.safetensors\.\d+\.[0-9a-f]{12}\.tmp$/;

/**
 * Removes what interrupted saves left in `out` (a run killed while writing its checkpoint's
 * temporary file), naming each. Called with the lock held, so no live run is writing them.
 */
function removeInterruptedSaves(out: string, command: string): void {
  for (const name of readdirSync(out)) {
    if (!SAVE_TMP.test(name)) continue;
    rmSync(join(out, name), { force: true });
    console.error(`hemgpu ${command}: removed ${join(out, name)}, left by a save that was interrupted (the checkpoint it was replacing is intact).`);
  }
}
