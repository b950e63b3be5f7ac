/**
 * The package's types match what each platform gets (issue 12, point 2): with the `browser`
 * condition (a bundler's `customConditions: ["browser"]`) `import … from 'hemgpu'` sees the
 * browser entry's declarations, where the Node-only exports (saveCheckpoint, mnistDigits) do not
 * exist, and the shared API type-checks; without it Node sees its own. Both consumers are
 * type-checked by tsc against the built package (dist/types, through package.json `exports`);
 * `hemgpu/reflect` has its types too.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const OUT = join(ROOT, '.cache/package-types');

const SHARED = `
import { init, matmul, randn, hem, warmup, pipelineStats, defineKernel, type WarmupReport, type WgslModule } from 'hemgpu';
import { wgslModule } from 'hemgpu/reflect';

export async function run(): Promise<number> {
  await init({ warmup: ['matmul'] });
  const report: WarmupReport = await warmup();
  const a = randn([4, 4], { seed: 1 });
  const y = hem(randn([1, 16, 4], { seed: 2 }), randn([4, 4], { seed: 3 }));
  const m: WgslModule = wgslModule('@compute @workgroup_size(1) fn main() {}');
  defineKernel('consumer_noop', m);
  return matmul(a, a).size + y.out.size + report.compiled + pipelineStats().sync;
}
`;

const BROWSER = `${SHARED}
// @ts-expect-error saveCheckpoint is Node-only: not in the browser entry
import { saveCheckpoint } from 'hemgpu';
// @ts-expect-error mnistDigits is Node-only: not in the browser entry
import { mnistDigits } from 'hemgpu';
export const nodeOnly = [saveCheckpoint, mnistDigits];
`;

const NODE = `${SHARED}
import { saveCheckpoint, mnistDigits } from 'hemgpu';
export const nodeOnly = [saveCheckpoint, mnistDigits];
`;

function tsconfig(conditions: string[]): string {
  return JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      module: 'ESNext',
      moduleResolution: 'Bundler',
      customConditions: conditions,
      lib: ['ES2022', 'DOM'],
      types: ['@webgpu/types', 'node'],
      typeRoots: [join(ROOT, 'node_modules/@types'), join(ROOT, 'node_modules')],
      strict: true,
      noEmit: true,
      skipLibCheck: false,
    },
    files: ['consumer.ts'],
  });
}

/** tsc's diagnostics for one consumer ('' when it type-checks). */
function typecheck(name: string, source: string, conditions: string[]): string {
  const dir = join(OUT, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'consumer.ts'), source);
  writeFileSync(join(dir, 'tsconfig.json'), tsconfig(conditions));
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: dir, stdio: 'pipe' });
    return '';
  } catch (err) {
    return String((err as { stdout?: Buffer }).stdout ?? err);
  }
}

beforeAll(() => {
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'pipe' });
}, 300_000);

describe('package types per condition', () => {
  test('with customConditions ["browser"]: the shared API type-checks, Node-only exports are errors', () => {
    expect(typecheck('browser', BROWSER, ['browser'])).toBe('');
    // Without the @ts-expect-error lines the same imports fail, naming the missing exports.
    const bare = typecheck('browser-bare', BROWSER.replace(/^\/\/ @ts-expect-error.*$/gm, ''), ['browser']);
    expect(bare).toMatch(/has no exported member (named )?'saveCheckpoint'/);
    expect(bare).toMatch(/has no exported member (named )?'mnistDigits'/);
  });

  test('without it (Node): the Node-only exports type-check', () => {
    expect(typecheck('node', NODE, [])).toBe('');
  });
});
