/**
 * The shape of the source, as issue 10 set it: no file under src/ longer than 400 lines unless its
 * header says why (a line `Longer than 400 lines: <reason>` in the opening comment), and no
 * function in src/ops/ longer than 80 lines. Functions are found with the TypeScript parser
 * (declarations, methods, arrow functions and function expressions), so a long function cannot
 * hide inside an object literal or a callback.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';

const FILE_LINES = 400;
const OPS_FUNCTION_LINES = 80;

function sources(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

function lineCount(text: string): number {
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

/** Every function-like node of a file with its name (or a description) and length in lines. */
function functionsOf(path: string): { name: string; line: number; lines: number }[] {
  const text = readFileSync(path, 'utf8');
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true);
  const found: { name: string; line: number; lines: number }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const named = node.name && ts.isIdentifier(node.name) ? node.name.text : null;
      const parent = node.parent && ts.isVariableDeclaration(node.parent) && ts.isIdentifier(node.parent.name) ? node.parent.name.text : null;
      found.push({ name: named ?? parent ?? '(anonymous)', line: start + 1, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

describe('source shape', () => {
  test(`no file under src/ is over ${FILE_LINES} lines without a stated reason`, () => {
    const over = sources('src')
      .map((p) => ({ p, text: readFileSync(p, 'utf8') }))
      .filter(({ text }) => lineCount(text) > FILE_LINES)
      .filter(({ text }) => !/^\s*\*?\s*Longer than 400 lines: \S/m.test(text.slice(0, 4000)))
      .map(({ p, text }) => `${relative('.', p)}: ${lineCount(text)} lines`);
    expect(over, 'split the file, or state the reason at its top ("Longer than 400 lines: …")').toEqual([]);
  });

  test(`no function in src/ops/ is over ${OPS_FUNCTION_LINES} lines`, () => {
    const long = sources('src/ops').flatMap((p) =>
      functionsOf(p)
        .filter((f) => f.lines > OPS_FUNCTION_LINES)
        .map((f) => `${relative('.', p)}:${f.line} ${f.name} (${f.lines} lines)`),
    );
    expect(long).toEqual([]);
  });

  test('the function finder sees functions in every form', () => {
    const dir = sources('src/ops');
    expect(dir.length).toBeGreaterThan(10);
    const names = functionsOf('src/ops/elementwise.ts').map((f) => f.name);
    expect(names).toContain('add');
    const longest = Math.max(...sources('src/ops').flatMap((p) => functionsOf(p).map((f) => f.lines)));
    expect(longest).toBeGreaterThan(20);
  });
});
