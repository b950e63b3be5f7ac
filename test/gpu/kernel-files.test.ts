/**
 * One registration pattern: every WGSL file kernels/<stem>.wgsl has exactly one launcher file
 * src/kernels/<stem>.ts, the only file that imports that WGSL and the only one that registers its
 * entry points with defineKernel; every kernel the engine registers is defined in the launcher of
 * the WGSL file its source comes from.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { wgslSource } from '../../scripts/esbuild-options.mjs';
import { describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';

const root = join(import.meta.dirname, '../..');
const stems = readdirSync(join(root, 'kernels'))
  .filter((f) => f.endsWith('.wgsl'))
  .map((f) => f.slice(0, -'.wgsl'.length));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}
const srcFiles = sources(join(root, 'src')).map((p) => ({ path: relative(root, p), text: readFileSync(p, 'utf8') }));
const launcherOf = (stem: string): string => `src/kernels/${stem}.ts`;

describe('kernels/<stem>.wgsl ↔ src/kernels/<stem>.ts', () => {
  test('every WGSL file has its launcher file', () => {
    expect(stems.length).toBeGreaterThan(0);
    const missing = stems.filter((s) => !srcFiles.some((f) => f.path === launcherOf(s)));
    expect(missing).toEqual([]);
  });

  test('a WGSL file is imported only by its own launcher', () => {
    const wrong: string[] = [];
    for (const f of srcFiles) {
      for (const m of f.text.matchAll(/from\s+'[./]*kernels\/([\w-]+)\.wgsl'/g)) {
        if (f.path !== launcherOf(m[1]!)) wrong.push(`${f.path} imports kernels/${m[1]}.wgsl`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test('defineKernel is called only in launcher files', () => {
    const callers = srcFiles.filter((f) => /\bdefineKernel\(/.test(f.text) && f.path !== 'src/gpu/registry.ts').map((f) => f.path);
    expect(callers.filter((p) => !stems.some((s) => p === launcherOf(s)))).toEqual([]);
  });

  test("every engine kernel is registered by the launcher of its source's WGSL file", () => {
    const wgsl = new Map(stems.map((s) => [wgslSource(join(root, 'kernels', `${s}.wgsl`)).code, s]));
    const engine = hg.registeredKernels().filter((k) => !k.name.startsWith('test_'));
    expect(engine.length).toBeGreaterThan(20);
    const wrong: string[] = [];
    for (const k of engine) {
      const stem = wgsl.get(k.source);
      const launcher = stem && srcFiles.find((f) => f.path === launcherOf(stem));
      if (!stem) wrong.push(`${k.name}: source is no kernels/*.wgsl file`);
      else if (!launcher || !launcher.text.includes(`defineKernel('${k.name}', `)) wrong.push(`${k.name}: not defined in ${launcherOf(stem)}`);
    }
    expect(wrong).toEqual([]);
    // Every WGSL file's entry points are in use.
    expect(new Set(engine.map((k) => wgsl.get(k.source)))).toEqual(new Set(stems));
  });
});

describe('build-time includes (kernels/include/)', () => {
  const includes = readdirSync(join(root, 'kernels/include')).filter((f) => f.endsWith('.wgsl'));
  const users = (name: string): string[] => stems.filter((s) => readFileSync(join(root, 'kernels', `${s}.wgsl`), 'utf8').includes(`// #include "${name}"`));

  test.each(includes)('%s is written once and shared by two kernel files or more, pasted whole', (name) => {
    expect(users(name).length).toBeGreaterThanOrEqual(2);
    const body = readFileSync(join(root, 'kernels/include', name), 'utf8').trimEnd();
    for (const s of users(name)) {
      const { code, files } = wgslSource(join(root, 'kernels', `${s}.wgsl`));
      expect(code).toContain(`// ---- begin kernels/include/${name}\n${body}\n// ---- end kernels/include/${name}`);
      expect(code).not.toContain(`#include "${name}"`);
      expect(files).toContain(join(root, 'kernels/include', name));
    }
  });

  test('a missing include is an error naming the kernel file and the line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hemgpu-include-'));
    try {
      writeFileSync(join(dir, 'k.wgsl'), 'override WG: u32 = 1;\n// #include "no-such.wgsl"\n');
      expect(() => wgslSource(join(dir, 'k.wgsl'))).toThrow(/k\.wgsl:2: #include "no-such\.wgsl": no file kernels\/include\/no-such\.wgsl$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
