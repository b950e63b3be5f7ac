#!/usr/bin/env node
// `npm run web`: build the demo page (examples/web/) and serve it on 127.0.0.1.
// The page and its workers (worker.ts: the engine; charts-worker.ts: the charts, to SVG) are
// bundled by esbuild with the library's browser options (WGSL loads as in dist/hemgpu.browser.js),
// minified with source maps, into --out with index.html and the digit asset (dist/digits.bin,
// written by `npm run build`, which runs first when it is missing).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { browserOptions } from './esbuild-options.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = `usage: npm run web -- [--port N] [--out DIR] [--build-only]

Builds the demo page (examples/web/) and serves it on http://127.0.0.1:PORT/.
  --port N       port to listen on (default 8080)
  --out DIR      build folder (default .cache/web)
  --build-only   build and exit (tests, CI)
  --help         this text`;

function usageError(message) {
  console.error(`npm run web: ${message}\n\n${USAGE}`);
  process.exit(2);
}

let flags;
try {
  flags = parseArgs({
    args: process.argv.slice(2),
    options: {
      port: { type: 'string' },
      out: { type: 'string' },
      'build-only': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  }).values;
} catch (err) {
  usageError(err.message);
}
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
const port = flags.port === undefined ? 8080 : Number(flags.port);
if (!Number.isInteger(port) || port < 0 || port > 65535 || flags.port?.trim() === '') {
  usageError(`--port ${flags.port}: must be an integer in [0, 65535].`);
}
const out = resolve(flags.out ?? join(ROOT, '.cache/web'));

async function buildPage() {
  const digits = join(ROOT, 'dist/digits.bin');
  if (!existsSync(digits)) {
    console.log('dist/digits.bin is missing: running npm run build first');
    execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: 'inherit' });
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const page = (entry, file) => ({
    ...browserOptions(join(ROOT, 'examples/web', entry), join(out, file)),
    absWorkingDir: ROOT,
    minify: true,
    sourcemap: true,
    metafile: true,
  });
  const results = await Promise.all([build(page('main.ts', 'main.js')), build(page('worker.ts', 'worker.js')), build(page('charts-worker.ts', 'charts-worker.js'))]);
  copyFileSync(join(ROOT, 'examples/web/index.html'), join(out, 'index.html'));
  copyFileSync(digits, join(out, 'digits.bin'));
  // What the page links to: the README and its own source, as plain text.
  copyFileSync(join(ROOT, 'README.md'), join(out, 'README.md'));
  for (const f of readdirSync(join(ROOT, 'examples/web'))) if (f.endsWith('.ts')) copyFileSync(join(ROOT, 'examples/web', f), join(out, f));
  const sizes = results
    .flatMap((r) => Object.entries(r.metafile.outputs))
    .filter(([f]) => f.endsWith('.js'))
    .map(([f, o]) => `${f.split('/').pop()} ${(o.bytes / 1024).toFixed(0)} KB`);
  console.log(`hemgpu web: built ${out} (${sizes.join(', ')})`);
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.bin': 'application/octet-stream',
  '.md': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

function serve() {
  const server = createServer((req, res) => {
    let path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/') path = '/index.html';
    const type = TYPES[extname(path)];
    let body = null;
    if (type && /^\/[\w.-]+$/.test(path)) {
      try {
        body = readFileSync(join(out, path.slice(1)));
      } catch {
        body = null;
      }
    }
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`not found: ${path}`);
      return;
    }
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  });
  server.on('error', (err) => {
    if (err.code === 'EADDRINUSE') console.error(`npm run web: port ${port} on 127.0.0.1 is busy; stop what uses it or pass another: npm run web -- --port ${port + 1}`);
    else console.error(`npm run web: cannot listen on 127.0.0.1:${port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, '127.0.0.1', () => {
    const url = `http://127.0.0.1:${server.address().port}/`;
    console.log(`\nhemgpu demo page: ${url}
Open it in Chrome or Edge 113+ (WebGPU). URL parameters, e.g. ${url}?model=emanet&steps=60&autostart=1
On a Linux machine without a GPU, start Chromium on SwiftShader:
  chromium --enable-unsafe-webgpu --enable-features=Vulkan --use-vulkan=swiftshader --use-webgpu-adapter=swiftshader ${url}
Ctrl-C stops the server.`);
  });
  const stop = () => {
    console.log('\nhemgpu web: stopped');
    server.closeAllConnections?.();
    server.close(() => process.exit(0));
    // A browser's half-open keep-alive socket must not hold the exit up.
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

try {
  await buildPage();
} catch (err) {
  console.error(`npm run web: the build failed: ${err.message}`);
  process.exit(1);
}
if (!flags['build-only']) serve();
