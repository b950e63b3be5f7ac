/**
 * What a web developer's bundler makes of hemgpu (issue 12, point 3): the package is built
 * (scripts/build.mjs), then an app entry `import { init, matmul, randn } from 'hemgpu'` is
 * bundled and minified by esbuild, resolved through package.json's `browser` condition to
 * dist/hemgpu.browser.js, and again from src/index.browser.ts. Every launcher's kernel definition
 * is pure, so the kernels the app never reaches (HEM, convolutions, batch norm, …) and their WGSL
 * are dropped: the budget is 200 KB minified, 60 KB gzipped. The library bundles carry no WGSL
 * parser (the WGSL is reflected at build time): no wgsl_reflect input in their metafiles.
 */
import { build, type BuildOptions, type Metafile } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, test } from 'vitest';
import { browserOptions, nodeOptions, wgslPlugin } from '../../scripts/esbuild-options.mjs';

const ROOT = join(import.meta.dirname, '../..');
const OUT = join(ROOT, '.cache/bundle-size');
const MIN_BUDGET = 200_000;
const GZIP_BUDGET = 60_000;

interface Sized {
  text: string;
  min: number;
  gzip: number;
  inputs: string[];
}

/** Bundle `entry` (a file under OUT) for the browser as an app would, minified. */
async function app(name: string, source: string): Promise<Sized> {
  const entry = join(OUT, `${name}.ts`);
  writeFileSync(entry, source);
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    write: false,
    metafile: true,
    absWorkingDir: ROOT,
    logLevel: 'warning',
    outfile: join(OUT, `${name}.js`),
    // What hemgpu's sources need to be bundled (the package's build has already applied it).
    plugins: [wgslPlugin()],
  });
  const js = r.outputFiles.find((f) => f.path.endsWith('.js'))!.contents;
  // Inputs that put bytes into the output (the metafile also lists the ones tree-shaken away).
  const out = Object.values(r.metafile.outputs).find((o) => o.entryPoint)!;
  const inputs = Object.entries(out.inputs)
    .filter(([, v]) => v.bytesInOutput > 0)
    .map(([f]) => f);
  return { text: new TextDecoder().decode(js), min: js.length, gzip: gzipSync(js).length, inputs };
}

const kb = (n: number): string => `${(n / 1000).toFixed(1)} KB`;

beforeAll(() => {
  mkdirSync(OUT, { recursive: true });
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'pipe' });
}, 300_000);

describe('bundle size', () => {
  test('package.json resolves hemgpu in a browser to dist/hemgpu.browser.js', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.exports['.'].browser.default).toBe('./dist/hemgpu.browser.js');
    expect(existsSync(join(ROOT, 'dist/hemgpu.browser.js'))).toBe(true);
  });

  for (const [name, from] of [
    ['package', 'hemgpu'],
    ['source', '../../src/index.browser.ts'],
  ] as const) {
    test(`an app importing init, matmul, randn from ${from}: ≤ ${kb(MIN_BUDGET)} minified, ≤ ${kb(GZIP_BUDGET)} gzipped`, async () => {
      const s = await app(`imm-${name}`, `import { init, matmul, randn } from '${from}';\nconsole.log(init, matmul, randn);\n`);
      console.log(`init + matmul + randn from ${from}: ${kb(s.min)} minified, ${kb(s.gzip)} gzipped`);
      if (name === 'package') expect(s.inputs.some((f) => f.endsWith('dist/hemgpu.browser.js'))).toBe(true);
      expect(s.min).toBeLessThanOrEqual(MIN_BUDGET);
      expect(s.gzip).toBeLessThanOrEqual(GZIP_BUDGET);
      // The kernels it never reaches are gone, their definitions and their WGSL (without the
      // pure marks on defineKernel the bundle keeps every one of them).
      for (const name of ['hem_estep', 'conv2d_im2col', 'batchnorm_stats', 'maxpool2d', 'optim_adamw', 'softmax_backward']) {
        expect(s.text.includes(`"${name}"`), `kernel '${name}' in the bundle`).toBe(false);
      }
      expect(s.text.includes('"matmul_tiled4"')).toBe(true);
      expect(s.inputs.filter((f) => /kernels\/(hem|conv2d|batchnorm|pool)\.wgsl$/.test(f))).toEqual([]);
    });
  }

  test('the library bundles carry no WGSL parser (no wgsl_reflect input)', async () => {
    const metas: [string, Metafile][] = [];
    const builds: [string, BuildOptions][] = [
      ['browser', browserOptions('src/index.browser.ts', join(OUT, 'lib.browser.js'))],
      ['browser, minified', { ...browserOptions('src/index.browser.ts', join(OUT, 'lib.browser.min.js')), minify: true }],
      ['node', nodeOptions('src/index.node.ts', join(OUT, 'lib.node.js'))],
    ];
    for (const [label, opts] of builds) {
      const r = await build({ ...opts, absWorkingDir: ROOT, metafile: true, write: false });
      metas.push([label, r.metafile!]);
    }
    for (const [label, m] of metas) {
      const inputs = Object.keys(m.inputs);
      expect(
        inputs.some((f) => f.endsWith('kernels/hem.wgsl')),
        label,
      ).toBe(true);
      expect(
        inputs.filter((f) => /wgsl_reflect|src\/kernels\/reflect\.ts$/.test(f)),
        label,
      ).toEqual([]);
    }
    for (const f of ['hemgpu.browser.js', 'hemgpu.browser.min.js', 'hemgpu.node.js']) {
      expect(readFileSync(join(ROOT, 'dist', f), 'utf8'), f).not.toMatch(/WgslReflect|wgsl_reflect/);
    }
    // Only the explicit run-time entry imports it.
    expect(readFileSync(join(ROOT, 'dist/reflect.js'), 'utf8')).toMatch(/from\s*"wgsl_reflect\/wgsl_reflect\.module\.js"/);
  });

  test('the minified browser bundle has its source map', () => {
    const min = readFileSync(join(ROOT, 'dist/hemgpu.browser.min.js'), 'utf8');
    expect(min).toMatch(/\/\/# sourceMappingURL=hemgpu\.browser\.min\.js\.map\s*$/);
    const map = JSON.parse(readFileSync(join(ROOT, 'dist/hemgpu.browser.min.js.map'), 'utf8'));
    expect(map.sources.some((s: string) => s.endsWith('src/ops/hem/hem.ts'))).toBe(true);
    const full = readFileSync(join(ROOT, 'dist/hemgpu.browser.js'), 'utf8');
    console.log(`full browser bundle: ${kb(full.length)} raw (${kb(gzipSync(full).length)} gzipped), ` + `${kb(min.length)} minified (${kb(gzipSync(min).length)} gzipped)`);
    expect(min.length).toBeLessThan(full.length * 0.85);
  });
});
