#!/usr/bin/env node
// Build the package: dist/hemgpu.node.js (Node, Dawn); dist/hemgpu.browser.js (browser,
// navigator.gpu; no Node API; unminified ESM for bundlers) and dist/hemgpu.browser.min.js (+ .map,
// minified, for a plain <script type="module">); dist/reflect.js (`hemgpu/reflect`: run-time WGSL
// reflection, the only build that carries wgsl_reflect); dist/cli.js (sharing dist/chunks/ with
// the Node entry); and type declarations. The Node maps name src/ (shipped) rather than copy it.
// `.wgsl` files are reflected here, at build time (scripts/esbuild-options.mjs). Run by `npm ci`
// through `prepare`. Also dist/digits.bin, the digit asset a browser page loads (decodeDigits).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { browserOptions, nodeOptions } from './esbuild-options.mjs';
import { writeDigitsAsset } from './digits-asset.mjs';

rmSync('dist', { recursive: true, force: true });
// The library and the CLI in one build: what they share is one chunk (dist/chunks/), so the
// package holds the library once.
const node = nodeOptions('src/index.node.ts', 'dist/hemgpu.node.js');
delete node.outfile;
await build({ ...node, entryPoints: { 'hemgpu.node': 'src/index.node.ts', cli: 'src/cli/main.ts' }, outdir: 'dist', splitting: true, chunkNames: 'chunks/[name]-[hash]' });
// The package's maps point at src/ and kernels/, which it ships: the sources are not copied into them.
const shipped = (entry, outfile) => ({ ...browserOptions(entry, outfile), sourcesContent: false });
await build(shipped('src/index.browser.ts', 'dist/hemgpu.browser.js'));
await build({ ...shipped('src/index.browser.ts', 'dist/hemgpu.browser.min.js'), minify: true });
// Neutral ESM (Node and browsers); wgsl_reflect stays an import of the package's dependency.
await build({ ...shipped('src/reflect.ts', 'dist/reflect.js'), platform: 'neutral', packages: 'external' });
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
// Declarations keep the sources' `.ts` specifiers; point them at the emitted `.d.ts` siblings.
for (const f of readdirSync('dist/types', { recursive: true })) {
  if (!String(f).endsWith('.d.ts')) continue;
  const p = join('dist/types', String(f));
  writeFileSync(
    p,
    readFileSync(p, 'utf8')
      .replace(/(from\s+'\.{1,2}\/[^']*)\.ts'/g, "$1.js'")
      .replace(/(import\('\.{1,2}\/[^']*)\.ts'\)/g, "$1.js')"),
  );
}
// The digit asset a browser page loads (decodeDigits): from the installed mnist package, never fetched.
const digitsBytes = writeDigitsAsset('dist/digits.bin');
console.log(`hemgpu: built dist/digits.bin (${(digitsBytes / 1024).toFixed(0)} KiB)`);
console.log('hemgpu: built dist/hemgpu.node.js, dist/hemgpu.browser.js, dist/hemgpu.browser.min.js, dist/reflect.js, dist/cli.js and dist/types');
