/**
 * Creating a directory with its missing parents (Node only), one component at a time.
 * `mkdirSync(path, { recursive: true })` can spin forever on some paths (Node 20 loops at 100 %
 * CPU on `/proc/x`, deaf to Ctrl-C); creating each missing component alone fails at once instead,
 * with the component and the system's code.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Creates `path` and its missing parents; throws naming the component that could not be made. */
export function makeDirectory(path: string): void {
  const missing: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    let st: ReturnType<typeof statSync> | undefined;
    try {
      st = statSync(p);
    } catch {
      st = undefined;
    }
    if (st) {
      if (!st.isDirectory()) throw Object.assign(new Error(`${p} is a file, not a directory`), { code: 'ENOTDIR' });
      break;
    }
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // Another process may have made it meanwhile.
      if (e.code === 'EEXIST' && statSync(p).isDirectory()) continue;
      throw Object.assign(new Error(`cannot create ${p} (${e.code ?? e.message})`), { code: e.code });
    }
  }
}
