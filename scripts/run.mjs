#!/usr/bin/env node
// Run a TypeScript entry (an example, a benchmark, the CLI) from source: esbuild bundles it with
// the WGSL text loader into the repository's .cache/run/ (found from this script's location, not
// the working directory, so that the bundle's packages resolve from the repository's node_modules
// wherever it is run from), then Node imports it. Usage: node scripts/run.mjs FILE.ts [args]
// (FILE relative to the working directory).
import { build } from 'esbuild';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { nodeOptions } from './esbuild-options.mjs';

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/run.mjs FILE.ts [args...]');
  process.exit(2);
}
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(root, '.cache/run', basename(file).replace(/\.ts$/, '.mjs'));
await build(nodeOptions(resolve(file), out));
process.argv = [process.argv[0], out, ...args];
await import(pathToFileURL(out).href);
