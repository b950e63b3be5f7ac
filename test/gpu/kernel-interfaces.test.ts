/**
 * Every entry point's WGSL interface is its own (issue 10): its bindings are numbered 0, 1, … in
 * order with the uniform last, and every member of that uniform (padding `_…` aside) is read by
 * the entry point or by a helper it calls, so no call site passes a dummy value. Every kernel file,
 * hem.wgsl included.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { wgslSource } from '../../scripts/esbuild-options.mjs';
import { describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';

const root = join(import.meta.dirname, '../..');
const files = readdirSync(join(root, 'kernels'))
  .filter((f) => f.endsWith('.wgsl'))
  .map((f) => ({ file: f, source: wgslSource(join(root, 'kernels', f)).code }));

/** The module's functions by name, each with its text from `fn` to its closing brace. */
function functions(source: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of source.matchAll(/^fn (\w+)\(/gm)) {
    let i = source.indexOf('{', m.index);
    let depth = 0;
    for (; i < source.length; i++) {
      if (source[i] === '{') depth++;
      else if (source[i] === '}' && --depth === 0) break;
    }
    out.set(m[1]!, source.slice(m.index, i + 1));
  }
  return out;
}

/** The text of `entry` and of every function it calls, transitively. */
function reachable(fns: Map<string, string>, entry: string): string {
  const seen = new Set([entry]);
  const todo = [entry];
  while (todo.length) {
    const text = fns.get(todo.pop()!)!;
    for (const m of text.matchAll(/\b(\w+)\(/g)) {
      if (fns.has(m[1]!) && !seen.has(m[1]!)) {
        seen.add(m[1]!);
        todo.push(m[1]!);
      }
    }
  }
  return [...seen].map((f) => fns.get(f)!).join('\n');
}

describe('per-entry-point WGSL interfaces', () => {
  const kernels = hg.registeredKernels();
  for (const { file, source } of files) {
    const fns = functions(source);
    const mine = kernels.filter((k) => k.source === source);
    test(`${file}: its entry points are registered`, () => {
      expect(mine.length).toBeGreaterThan(0);
    });
    for (const k of mine) {
      test(`${file} ${k.entry} ('${k.name}'): bindings 0, 1, … in order, one uniform, last, every member read`, () => {
        expect(k.bindings.map((b) => b.binding)).toEqual(k.bindings.map((_, i) => i));
        // Numbered in the order they are declared.
        const at = k.bindings.map((b) => source.search(new RegExp(`var<[\\w, ]+> ${b.name}:`)));
        expect(
          at.every((a, i) => a >= 0 && (i === 0 || a > at[i - 1]!)),
          `declaration order of ${k.bindings.map((b) => b.name).join(', ')}`,
        ).toBe(true);
        const uniforms = k.bindings.filter((b) => b.access === 'uniform');
        expect(uniforms.length).toBe(1);
        const u = uniforms[0]!;
        expect(k.bindings[k.bindings.length - 1]).toBe(u);
        const text = reachable(fns, k.entry);
        const unread = u.members!.filter((m) => !m.name.startsWith('_') && !new RegExp(`\\w\\.${m.name}\\b`).test(text)).map((m) => m.name);
        expect(unread, `${u.name}: members ${k.entry} never reads`).toEqual([]);
      });
    }
  }
});
