#!/usr/bin/env node
// The hemgpu command line (built to dist/cli.js by `npm run build`, which `npm ci` runs).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  console.error('hemgpu: dist/cli.js is missing; run `npm run build` (npm ci runs it) first.');
  process.exit(1);
}
const { main, releaseGpu } = await import(cli.href);
const code = await main(process.argv.slice(2));
// Exiting while the GPU (or SwiftShader's threads) still runs submitted work can crash the
// process, so wait for it briefly and destroy the device first; and Dawn can keep Node alive after
// the work is done, hence the explicit exit.
await releaseGpu();
process.exit(code);
