// Shared esbuild settings. A `.wgsl` import becomes a WgslModule { file, code, reflection }: the
// WGSL text and its interface, reflected HERE, at build time, by src/gpu/reflect.ts (the
// same code the vitest plugin in vitest.config.ts calls), so the bundles carry no WGSL parser.
import { build } from 'esbuild';
import { existsSync, readFileSync } from 'node:fs';
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
 * src/gpu/reflect.ts, bundled once per process (with wgsl_reflect) in memory and imported
 * from a data: URL: Node 20 cannot import .ts, and nothing is written to disk.
 */
function loadReflector() {
  reflector ??= build({
    entryPoints: [resolve(ROOT, 'src/gpu/reflect.ts')],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
  }).then((r) => import(`data:text/javascript;base64,${Buffer.from(r.outputFiles[0].contents).toString('base64')}`));
  return reflector;
}

/** A build-time include: a line `// #include "name.wgsl"` (a comment, so the file stays WGSL). */
const INCLUDE = /^[ \t]*\/\/[ \t]*#include[ \t]+"([^"]+)"[ \t]*$/gm;

/**
 * The WGSL text of the kernel file at `path` with its includes resolved: each `// #include
 * "name.wgsl"` line is replaced by kernels/include/name.wgsl (a shared struct or preamble written
 * once), between marker comments. An include file includes nothing; a missing one is an error
 * naming the kernel file and the line. `files`: the included paths (for watchers).
 */
export function wgslSource(path) {
  const text = readFileSync(path, 'utf8');
  const file = relative(ROOT, path).split('\\').join('/');
  const files = [];
  const code = text.replace(INCLUDE, (line, name, offset) => {
    const at = resolve(ROOT, 'kernels/include', name);
    const lineNo = text.slice(0, offset).split('\n').length;
    if (!existsSync(at)) throw new Error(`${file}:${lineNo}: #include "${name}": no file kernels/include/${name}`);
    const body = readFileSync(at, 'utf8');
    if (/^[ \t]*\/\/[ \t]*#include\b/m.test(body)) throw new Error(`kernels/include/${name}: an include file includes nothing (it is pasted into ${file}:${lineNo})`);
    files.push(at);
    return `// ---- begin kernels/include/${name}\n${body.trimEnd()}\n// ---- end kernels/include/${name}`;
  });
  return { code, files };
}

/**
 * The JavaScript module a `.wgsl` file becomes (what `import x from './k.wgsl'` yields): its text
 * with the includes resolved (wgslSource) and its reflection. Throws when wgsl_reflect cannot
 * parse it: a broken kernel fails the build, naming the file.
 */
export async function wgslModuleSource(path) {
  const { code } = wgslSource(path);
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
          return { contents: await wgslModuleSource(args.path), loader: 'js', watchFiles: [args.path, ...wgslSource(args.path).files] };
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
