#!/usr/bin/env node
// Build the package: dist/hemgpu.node.js (Node, Dawn) and dist/hemgpu.browser.js (browser,
// navigator.gpu; no Node API), plus type declarations and dist/digits.bin (the digit asset). Run by `npm ci` through `prepare`.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { browserOptions, nodeOptions } from './esbuild-options.mjs';
import { writeDigitsAsset } from './digits-asset.mjs';

rmSync('dist', { recursive: true, force: true });
await build(nodeOptions('src/index.node.ts', 'dist/hemgpu.node.js'));
await build(browserOptions('src/index.browser.ts', 'dist/hemgpu.browser.js'));
await build(nodeOptions('src/cli/main.ts', 'dist/cli.js'));
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
// Declarations keep the sources' `.ts` specifiers; point them at the emitted `.d.ts` siblings.
for (const f of readdirSync('dist/types', { recursive: true })) {
  if (!String(f).endsWith('.d.ts')) continue;
  const p = join('dist/types', String(f));
  writeFileSync(p, readFileSync(p, 'utf8').replace(/(from\s+'\.{1,2}\/[^']*)\.ts'/g, "$1.js'"));
}
// The digit asset a browser page loads (decodeDigits): from the installed mnist package, never fetched.
const digitsBytes = writeDigitsAsset('dist/digits.bin');
console.log(`hemgpu: built dist/digits.bin (${(digitsBytes / 1024).toFixed(0)} KiB)`);
console.log('hemgpu: built dist/hemgpu.node.js, dist/hemgpu.browser.js, dist/cli.js and dist/types');
