/**
 * The checks that read the source rather than run it, inside `npm test` so a developer meets them
 * before CI does:
 * - the type check (`tsc --noEmit`), which also enforces the `@ts-expect-error` lines of
 *   test/autograd/tape-types.test.ts (a backward rule with the wrong number of gradients must not compile);
 * - knip (knip.json): no export, file or dependency that nothing uses. The public API is what the
 *   entry files export; anything else exported from src/ must have a user;
 * - Prettier (.prettierrc.json): the TypeScript and scripts are formatted (`npm run format` fixes it).
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';

function run(bin: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', maxBuffer: 16 << 20 });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

describe('static checks', () => {
  test('tsc --noEmit reports no error', () => {
    const r = run('node_modules/typescript/bin/tsc', ['--noEmit', '-p', '.']);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });

  test('knip finds no unused export, file or dependency', () => {
    const r = run('node_modules/knip/bin/knip.js', ['--no-progress']);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });

  test('prettier finds every file formatted (npm run format)', () => {
    const r = run('node_modules/prettier/bin/prettier.cjs', [
      '--list-different',
      'src/**/*.ts',
      'test/**/*.ts',
      'bench/**/*.ts',
      'examples/**/*.ts',
      'scripts/**/*.{mjs,ts,mts}',
      '*.ts',
    ]);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });
});
