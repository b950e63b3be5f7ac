/**
 * The run's output directory (src/cli/out-dir.ts): a directory the run created is removed when
 * the run leaves it empty; one that existed, or that holds anything, stays.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { lockOutDir } from '../../src/cli/out-dir.ts';

describe('lockOutDir', () => {
  const root = mkdtempSync(join(tmpdir(), 'hemgpu-outdir-'));

  test('a directory it created and the run left empty is removed with the lock', () => {
    const out = join(root, 'new', 'nested');
    const release = lockOutDir(out, 'test');
    expect(existsSync(join(out, '.hemgpu.lock'))).toBe(true);
    release();
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(root, 'new'))).toBe(true); // only the run's own directory goes
  });

  test('a directory it created that holds a file stays', () => {
    const out = join(root, 'wrote');
    const release = lockOutDir(out, 'test');
    writeFileSync(join(out, 'result.json'), '{}');
    release();
    expect(existsSync(join(out, 'result.json'))).toBe(true);
    expect(existsSync(join(out, '.hemgpu.lock'))).toBe(false);
  });

  test('an empty directory that was there before stays', () => {
    const out = join(root, 'given');
    mkdirSync(out);
    lockOutDir(out, 'test')();
    expect(existsSync(out)).toBe(true);
    expect(existsSync(join(out, '.hemgpu.lock'))).toBe(false);
  });
});
