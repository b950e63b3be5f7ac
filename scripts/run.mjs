#!/usr/bin/env node
// Run a TypeScript entry (an example, a benchmark, the CLI) from source: esbuild bundles it with
// the WGSL text loader into .cache/run/, then Node imports it. Usage: node scripts/run.mjs FILE.ts [args]
import { build } from 'esbuild';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { nodeOptions } from './esbuild-options.mjs';

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/run.mjs FILE.ts [args...]');
  process.exit(2);
}
const out = resolve('.cache/run', basename(file).replace(/\.ts$/, '.mjs'));
await build(nodeOptions(file, out));
process.argv = [process.argv[0], out, ...args];
await import(pathToFileURL(out).href);
