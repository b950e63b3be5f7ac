// Shared esbuild settings. A `.wgsl` import becomes a WgslModule { file, code, reflection }: the
// WGSL text and its interface, reflected HERE, at build time, by src/kernels/reflect.ts (the
// same code the vitest plugin in vitest.config.ts calls), so the bundles carry no WGSL parser.
import { build } from 'esbuild';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The hemgpu package root: the nearest folder above this file with hemgpu's package.json (this
 * file may itself have been bundled into a .cache/ folder by scripts/run.mjs). */
function packageRoot() {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const pkg = resolve(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'hemgpu') return dir;
    if (dirname(dir) === dir) throw new Error(`hemgpu's package.json not found above ${fileURLToPath(import.meta.url)}`);
  }
}
const ROOT = packageRoot();

let reflector = null;

/**
 * src/kernels/reflect.ts, bundled once per process (with wgsl_reflect) in memory and imported
 * from a data: URL: Node 20 cannot import .ts, and nothing is written to disk.
 */
function loadReflector() {
  reflector ??= build({
    entryPoints: [resolve(ROOT, 'src/kernels/reflect.ts')],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
  }).then((r) => import(`data:text/javascript;base64,${Buffer.from(r.outputFiles[0].contents).toString('base64')}`));
  return reflector;
}

/**
 * The JavaScript module a `.wgsl` file becomes (what `import x from './k.wgsl'` yields). Throws
 * when wgsl_reflect cannot parse the file: a broken kernel fails the build, naming the file.
 */
export async function wgslModuleSource(path) {
  const code = await readFile(path, 'utf8');
  const { reflectWgsl } = await loadReflector();
  const reflection = reflectWgsl(code);
  const file = relative(ROOT, path).split('\\').join('/');
  if (reflection.error) throw new Error(`${file}: ${reflection.error}`);
  return `export default ${JSON.stringify({ file, code, reflection })};`;
}

/** The esbuild plugin: `.wgsl` files load as reflected WgslModule objects. */
export function wgslPlugin() {
  return {
    name: 'hemgpu-wgsl',
    setup(b) {
      b.onLoad({ filter: /\.wgsl$/ }, async (args) => {
        try {
          return { contents: await wgslModuleSource(args.path), loader: 'js', watchFiles: [args.path] };
        } catch (err) {
          return { errors: [{ text: err.message }] };
        }
      });
    },
  };
}

export function nodeOptions(entry, outfile) {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    plugins: [wgslPlugin()],
    sourcemap: true,
    // The maps point at src/, which the package ships: the sources are not copied into them.
    sourcesContent: false,
    logLevel: 'warning',
  };
}

export function browserOptions(entry, outfile) {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    plugins: [wgslPlugin()],
    sourcemap: true,
    logLevel: 'warning',
  };
}
