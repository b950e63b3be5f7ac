/**
 * The import graph of src/ (parsed with the TypeScript compiler API, not run):
 *   - no import cycle among runtime imports (`import type` / `export type` do not count);
 *   - nothing but the CLI and the entry files imports a package entry (src/index.*.ts,
 *     src/api.ts, src/node-extras.ts) or the CLI (src/cli/), type-only imports included;
 *   - imports point down the layers of docs/ARCHITECTURE.md (runtime imports);
 *   - the shared API (src/api.ts, src/index.browser.ts) reaches no Node module and only
 *     packages known to run in a browser, dynamic import() included.
 * A failure names the cycle, the import or the chain of imports.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Import {
  /** As written. */
  specifier: string;
  /** The src/ file it resolves to (repository-relative), or null for packages and files outside src/. */
  target: string | null;
  typeOnly: boolean;
  dynamic: boolean;
}

/** Every .ts file under src/ (not .d.ts), repository-relative with '/'. */
function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
    }
  };
  walk('src');
  return out.sort();
}

/** A file's imports and re-exports; `import { type A }` (no value named) is still a runtime import under verbatimModuleSyntax. */
function importsOf(file: string): Import[] {
  const sf = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.ES2022, true);
  const out: Import[] = [];
  const add = (spec: ts.Expression | undefined, typeOnly: boolean, dynamic: boolean): void => {
    if (!spec || !ts.isStringLiteralLike(spec)) return;
    const s = spec.text;
    const rel = s.startsWith('.')
      ? relative(ROOT, resolve(ROOT, dirname(file), s))
          .split('\\')
          .join('/')
      : null;
    out.push({ specifier: s, target: rel && rel.startsWith('src/') ? rel : null, typeOnly, dynamic });
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n)) add(n.moduleSpecifier, n.importClause?.isTypeOnly ?? false, false);
    else if (ts.isExportDeclaration(n)) add(n.moduleSpecifier, n.isTypeOnly, false);
    else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) add(n.arguments[0], false, true);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

const FILES = sourceFiles();
const GRAPH = new Map(FILES.map((f) => [f, importsOf(f)]));

/** Runtime, static edges between src/ files: the ones that decide evaluation order. */
function runtimeEdges(file: string): string[] {
  return (GRAPH.get(file) ?? []).filter((i) => !i.typeOnly && !i.dynamic && i.target).map((i) => i.target!);
}

/** Every cycle's strongly connected component (Tarjan), each as one concrete cycle a → … → a. */
function cycles(): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of runtimeEdges(v)) {
      if (!GRAPH.has(w)) continue;
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || runtimeEdges(v).includes(v)) components.push(c);
    }
  };
  for (const f of FILES) if (!index.has(f)) connect(f);
  // One concrete cycle per component, from its first file in sorted order (stable messages).
  return components.map((c) => {
    const inC = new Set(c);
    const start = [...c].sort()[0]!;
    const path = [start];
    const seen = new Set([start]);
    const dfs = (v: string): boolean => {
      for (const w of runtimeEdges(v)
        .filter((x) => inC.has(x))
        .sort()) {
        if (w === start) return true;
        if (seen.has(w)) continue;
        seen.add(w);
        path.push(w);
        if (dfs(w)) return true;
        path.pop();
      }
      return false;
    };
    dfs(start);
    return [...path, start];
  });
}

/** Cycles tolerated for now (none); a cycle not listed here fails, and a listed one that is gone too. */
const ALLOWED_CYCLES: string[] = [];

const ENTRY = /^src\/(index\.[\w-]+|api|node-extras|reflect)\.ts$/;

/**
 * The layers of docs/ARCHITECTURE.md, bottom first; a file may import its own layer or lower ones.
 * Type-only imports do not count.
 */
const LAYERS: [string, RegExp][] = [
  ['version', /^src\/version\.ts$/],
  ['device', /^src\/device\//],
  ['kernel registry', /^src\/gpu\//],
  ['tensor', /^src\/tensor\//],
  ['kernel launchers', /^src\/kernels\//],
  ['autograd', /^src\/autograd\//],
  ['ops', /^src\/ops\//],
  ['nn', /^src\/nn\//],
  ['optim, data, io, model, viz', /^src\/(optim|data|io|model|viz)\//],
  ['train', /^src\/train\//],
  // The package entries re-export the layers below; the CLI is an application of the package.
  ['entry', ENTRY],
  ['cli', /^src\/cli\//],
];

function layerOf(file: string): number {
  const i = LAYERS.findIndex(([, re]) => re.test(file));
  if (i < 0) throw new Error(`${file}: in no layer of test/package/imports.test.ts; add its directory to LAYERS (and to docs/ARCHITECTURE.md).`);
  return i;
}

/** Upward imports tolerated for now (none), as 'importer → imported'; kept honest like ALLOWED_CYCLES. */
const ALLOWED_UPWARD: string[] = [];

/** Packages the shared API may reach: they run in a browser (everything else is Node-only until shown otherwise). */
const BROWSER_PACKAGES = ['wgsl_reflect'];

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function isNodeBuiltin(spec: string): boolean {
  return spec.startsWith('node:') || builtinModules.includes(packageName(spec));
}

describe('import graph of src/', () => {
  it('parses every file and finds imports', () => {
    expect(FILES.length).toBeGreaterThan(40);
    expect(runtimeEdges('src/api.ts').length).toBeGreaterThan(10);
    // Type-only imports are told apart: segnet.ts's Tensor import is `import type`.
    const seg = GRAPH.get('src/model/segnet.ts')!;
    expect(seg.find((i) => i.specifier === '../tensor/tensor.ts')?.typeOnly).toBe(true);
    expect(seg.find((i) => i.specifier === '../nn/em-block.ts')?.typeOnly).toBe(false);
  });

  it('has no import cycle (runtime imports)', () => {
    const found = cycles().map((c) => c.join(' → '));
    expect(
      found.filter((c) => !ALLOWED_CYCLES.includes(c)),
      'import cycles',
    ).toEqual([]);
    // An allowed cycle that is gone must leave the list, so the list cannot go stale.
    expect(
      ALLOWED_CYCLES.filter((c) => !found.includes(c)),
      'ALLOWED_CYCLES entries no longer found',
    ).toEqual([]);
  });

  it('nothing but the CLI and the entry files imports a package entry or the CLI', () => {
    const bad: string[] = [];
    for (const [file, imports] of GRAPH) {
      if (ENTRY.test(file) || file.startsWith('src/cli/')) continue;
      for (const i of imports) if (i.target && (ENTRY.test(i.target) || i.target.startsWith('src/cli/'))) bad.push(`${file} → ${i.target}`);
    }
    expect(bad).toEqual([]);
  });

  it('imports point down the layers (runtime imports)', () => {
    const up: string[] = [];
    for (const file of FILES) {
      for (const t of runtimeEdges(file)) if (layerOf(t) > layerOf(file)) up.push(`${file} → ${t}`);
    }
    expect(
      up.filter((e) => !ALLOWED_UPWARD.includes(e)),
      'upward imports',
    ).toEqual([]);
    expect(
      ALLOWED_UPWARD.filter((e) => !up.includes(e)),
      'ALLOWED_UPWARD entries no longer found',
    ).toEqual([]);
  });

  for (const entry of ['src/api.ts', 'src/index.browser.ts']) {
    it(`${entry} reaches no Node module and no Node-only package`, () => {
      const via = new Map<string, string>([[entry, '']]);
      const queue = [entry];
      const bad: string[] = [];
      const chain = (f: string): string => {
        const out = [f];
        while (via.get(out[0]!)) out.unshift(via.get(out[0]!)!);
        return out.join(' → ');
      };
      while (queue.length) {
        const f = queue.shift()!;
        for (const i of GRAPH.get(f) ?? []) {
          if (i.typeOnly) continue;
          if (i.target) {
            if (!via.has(i.target)) {
              via.set(i.target, f);
              queue.push(i.target);
            }
          } else if (!i.specifier.startsWith('.')) {
            if (isNodeBuiltin(i.specifier)) bad.push(`${chain(f)} imports ${i.specifier}`);
            else if (!BROWSER_PACKAGES.includes(packageName(i.specifier))) bad.push(`${chain(f)} imports the package ${i.specifier} (not in BROWSER_PACKAGES)`);
          }
        }
      }
      expect(bad).toEqual([]);
      // The walk reached what the shared API promises: the model, the layers, the training step, the codec.
      for (const f of ['src/model/segnet.ts', 'src/nn/conv2d.ts', 'src/train/step.ts', 'src/io/safetensors.ts', 'src/data/digit-scenes.ts']) {
        expect(via.has(f), f).toBe(true);
      }
    });
  }

  it('the Node-only files are where the walk would catch them', () => {
    // A guard on the guard: these import Node modules, so the shared API must not reach them.
    for (const f of ['src/io/checkpoint-file.ts', 'src/train/trainer.ts', 'src/data/mnist.ts', 'src/data/voc.ts']) {
      expect(
        (GRAPH.get(f) ?? []).some((i) => isNodeBuiltin(i.specifier)),
        f,
      ).toBe(true);
    }
  });
});
