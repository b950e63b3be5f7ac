/**
 * The package as a developer installs it (issue 25): `npm pack` builds the tarball, which is
 * unpacked into a fresh project's node_modules/hemgpu beside the packages that project would get
 * from npm — hemgpu's `dependencies`, plus the peers a consumer chooses (`webgpu` for Node; none
 * for a browser), linked from this checkout's node_modules (the tests run offline). Then:
 * - a strict TypeScript consumer for Node (no `@webgpu/types` of its own, no skipLibCheck)
 *   compiles and runs a product on the default adapter; with lib ES2022 alone only @webgpu/types
 *   fails (it needs the DOM's types), none of hemgpu's declarations;
 * - a strict consumer for a bundler (customConditions ["browser"], lib DOM) compiles, and esbuild
 *   bundles it for the browser without Dawn;
 * - the install sizes: the browser consumer's closure holds no Dawn binaries; the Node consumer
 *   of the engine (hemgpu + webgpu) stays under 150 MB;
 * - the tarball holds LICENSE, CHANGELOG.md and README.md, and no test or benchmark; the library
 *   once (the CLI imports the chunk it shares with the Node entry; maps point at src/).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { build } from 'esbuild';

const ROOT = join(import.meta.dirname, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
let work: string;
let files: string[];

/** Bytes under `dir` (symlinks not followed). */
function sizeOf(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isSymbolicLink()) continue;
    total += e.isDirectory() ? sizeOf(p) : lstatSync(p).size;
  }
  return total;
}

/** The directory of package `name` as resolved from `from` (a package directory), or null. */
function packageDir(name: string, from: string): string | null {
  for (let d = from; ; d = dirname(d)) {
    const p = join(d, 'node_modules', name);
    if (existsSync(join(p, 'package.json'))) return realpathSync(p);
    if (dirname(d) === d) return null;
  }
}

/** `names` and every package they depend on (dependencies and optional dependencies), as directories. */
function closure(names: string[]): Map<string, string> {
  const seen = new Map<string, string>();
  const visit = (name: string, base: string): void => {
    const dir = packageDir(name, base);
    if (!dir || seen.has(dir)) return;
    seen.set(dir, name);
    const pj = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    for (const dep of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) visit(dep, dir);
  };
  for (const n of names) visit(n, ROOT);
  return seen;
}

/** A project with hemgpu unpacked and `extra` packages (and hemgpu's dependencies) linked. */
function project(name: string, extra: string[]): string {
  const dir = join(work, name);
  const nm = join(dir, 'node_modules');
  mkdirSync(join(nm, '@types'), { recursive: true });
  mkdirSync(join(nm, 'hemgpu'), { recursive: true });
  execFileSync('tar', ['-xzf', join(work, 'hemgpu.tgz'), '-C', join(nm, 'hemgpu'), '--strip-components=1']);
  const deps = Object.keys((JSON.parse(readFileSync(join(nm, 'hemgpu/package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
  for (const dep of [...deps, ...extra]) {
    const target = join(nm, dep);
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(realpathSync(join(ROOT, 'node_modules', dep)), target, 'dir');
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  return dir;
}

function tsc(dir: string, compilerOptions: Record<string, unknown>): string {
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, ...compilerOptions }, files: ['consumer.ts'] }),
  );
  try {
    execFileSync(process.execPath, [TSC, '-p', dir], { cwd: dir, stdio: 'pipe' });
    return '';
  } catch (err) {
    return String((err as { stdout?: Buffer }).stdout ?? err);
  }
}

beforeAll(() => {
  work = join(tmpdir(), `hemgpu-pack-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'pipe' });
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' });
  const info = (JSON.parse(out) as { filename: string; files: { path: string }[] }[])[0]!;
  files = info.files.map((f) => f.path);
  execFileSync('mv', [join(work, info.filename), join(work, 'hemgpu.tgz')]);
}, 300_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('the packed package, installed', () => {
  test("holds the license, the changelog, the README and the docs it links to; no tests, benchmarks, experiments' data or images", () => {
    for (const f of ['LICENSE', 'CHANGELOG.md', 'README.md', 'package.json', 'dist/hemgpu.node.js', 'dist/hemgpu.browser.js', 'dist/types/index.node.d.ts', 'dist/digits.bin'])
      expect(files, f).toContain(f);
    expect(files.filter((f) => /^(test|bench|examples|python)\//.test(f))).toEqual([]);
    expect(files.filter((f) => f.startsWith('docs/') && !f.endsWith('.md'))).toEqual([]);
    // Every file the README links to is in the package (its anchors: test/package/doc-links.test.ts).
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const targets = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/.test(t));
    expect(targets.length).toBeGreaterThan(5);
    expect(targets.filter((t) => !files.includes(t.replace(/^\.\//, '')))).toEqual([]);
  });

  test('holds the library once: the CLI shares its chunk, and every map points at src/ instead of copying it', () => {
    const cli = readFileSync(join(ROOT, 'dist/cli.js'), 'utf8');
    expect(cli).toMatch(/from ["']\.\/chunks\/chunk-[\w-]+\.js["']/);
    expect(cli.length).toBeLessThan(200_000);
    const chunks = files.filter((f) => /^dist\/chunks\/.*\.js$/.test(f));
    expect(chunks.length).toBeGreaterThan(0);
    for (const f of [...chunks, 'dist/cli.js', 'dist/hemgpu.node.js', 'dist/hemgpu.browser.js', 'dist/hemgpu.browser.min.js', 'dist/reflect.js']) {
      const map = JSON.parse(readFileSync(join(ROOT, `${f}.map`), 'utf8')) as { sources: string[]; sourcesContent?: unknown };
      expect(map.sourcesContent, f).toBeUndefined();
      for (const src of map.sources.filter((x) => x.includes('/src/'))) expect(files, `${f}.map → ${src}`).toContain(join(dirname(f), src).replace(/^.*?src\//, 'src/'));
    }
  });

  test('a strict Node consumer (no @webgpu/types of its own, no skipLibCheck) compiles and runs a product', () => {
    const dir = project('node-consumer', ['webgpu', '@types/node']);
    writeFileSync(
      join(dir, 'consumer.ts'),
      `import { init, matmul, tensor } from 'hemgpu';
const engine = await init();
const a = tensor([1, 2, 3, 4], [2, 2]);
const device: GPUDevice = engine.device;
console.log(device.limits.maxBindGroups > 0, Array.from(await matmul(a, a).read()).join(','));
`,
    );
    // TypeScript's default libraries (which include the DOM's, as WebGPU's types need).
    expect(tsc(dir, { module: 'NodeNext', moduleResolution: 'NodeNext', types: ['node'] })).toBe('');
    // With lib ES2022 alone, only @webgpu/types itself fails (it needs the DOM's BufferSource,
    // ImageBitmap, ...): hemgpu's own declarations need no DOM (no vega-lite, no Element).
    const bare = tsc(dir, { module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022'], types: ['node'] })
      .trim()
      .split('\n');
    expect(bare.filter((l) => /error TS/.test(l) && !l.includes('@webgpu/types/'))).toEqual([]);
    // Run it: esbuild strips the types (the consumer's own build step), Node resolves hemgpu from node_modules.
    writeFileSync(join(dir, 'consumer.mjs'), readFileSync(join(dir, 'consumer.ts'), 'utf8').replace('const device: GPUDevice = ', 'const device = '));
    const out = execFileSync(process.execPath, ['consumer.mjs'], { cwd: dir, encoding: 'utf8' });
    expect(out.trim()).toBe('true 7,10,15,22');
  }, 120_000);

  test('without webgpu installed, Node says to install it (a browser needs none)', () => {
    const dir = project('node-no-dawn', []);
    writeFileSync(join(dir, 'consumer.mjs'), "import { init } from 'hemgpu';\ntry { await init(); } catch (e) { console.log(e.message); }\n");
    const out = execFileSync(process.execPath, ['consumer.mjs'], { cwd: dir, encoding: 'utf8' });
    expect(out).toMatch(/WebGPU under Node runs on Dawn from the 'webgpu' package, which is not installed .*npm install webgpu/);
  }, 60_000);

  test('a strict bundler consumer (customConditions ["browser"]) compiles and bundles for the browser without Dawn', async () => {
    const dir = project('browser-consumer', []);
    writeFileSync(
      join(dir, 'consumer.ts'),
      `import { init, matmul, randn, lossChartSpec, type ChartSpec } from 'hemgpu';
export async function run(): Promise<number> {
  await init();
  const spec: ChartSpec = lossChartSpec([{ name: 'a', history: { loss: [1, 0.5], val: [] } }]);
  const a = randn([4, 4], { seed: 1 });
  return (await matmul(a, a).read()).length + (spec.$schema ? 1 : 0);
}
`,
    );
    expect(tsc(dir, { module: 'ESNext', moduleResolution: 'Bundler', customConditions: ['browser'], lib: ['ES2022', 'DOM'], types: [] })).toBe('');
    const r = await build({ entryPoints: [join(dir, 'consumer.ts')], bundle: true, write: false, format: 'esm', platform: 'browser', absWorkingDir: dir, logLevel: 'silent' });
    const text = r.outputFiles[0]!.text;
    expect(text).toContain('navigator.gpu');
    expect(text).not.toMatch(/from ["']webgpu["']|require\(["']webgpu["']\)/);
  }, 120_000);

  test('install sizes: a browser consumer gets no Dawn binaries; hemgpu with webgpu for Node stays under 150 MB', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const browser = closure(Object.keys(pkg.dependencies));
    expect([...browser.values()]).not.toContain('webgpu');
    const node = closure([...Object.keys(pkg.dependencies), 'webgpu']);
    const unpacked = sizeOf(join(work, 'node-consumer/node_modules/hemgpu'));
    const bytes = unpacked + [...node.keys()].reduce((s, d) => s + sizeOf(d), 0);
    console.log(
      `install size: hemgpu ${(unpacked / 2 ** 20).toFixed(1)} MB; with its dependencies ${((unpacked + [...browser.keys()].reduce((s, d) => s + sizeOf(d), 0)) / 2 ** 20).toFixed(1)} MB (browser); with webgpu ${(bytes / 2 ** 20).toFixed(1)} MB (Node)`,
    );
    expect(bytes).toBeLessThan(150 * 2 ** 20);
  });
});
