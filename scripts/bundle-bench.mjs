#!/usr/bin/env node
// Bundle the benchmark entries that `npm run bench:gpu` runs into OUT_DIR/<name>.mjs, every package
// inside except `webgpu` (Dawn's native module, which stays a package beside the bundles) and the
// chart renderers (vega, resvg: imported on first use by src/viz/, which the benchmarks never call), for a
// machine that has node but neither esbuild nor the repository's node_modules (the lent GPU
// machine: scripts/device-prepare.sh makes them, scripts/device-bench.sh runs them with
// HEMGPU_BENCH_PREBUILT=OUT_DIR). Usage: node scripts/bundle-bench.mjs OUT_DIR
import { build } from 'esbuild';
import { resolve } from 'node:path';
import { nodeOptions } from './esbuild-options.mjs';

const ENTRIES = ['run.ts', 'hem.bench.ts', 'matmul.bench.ts', 'hem-profile.ts', 'step-profile.ts', 'render.ts'];
const [outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node scripts/bundle-bench.mjs OUT_DIR');
  process.exit(2);
}
for (const entry of ENTRIES) {
  const { packages: _external, ...options } = nodeOptions(resolve('bench', entry), resolve(outDir, entry.replace(/\.ts$/, '.mjs')));
  // Some bundled CommonJS packages call require(): give the ESM bundle one.
  await build({
    ...options,
    external: ['webgpu', 'vega', 'vega-lite', '@resvg/resvg-js'],
    sourcemap: false,
    banner: { js: "import { createRequire as __hemgpuCreateRequire } from 'node:module'; const require = __hemgpuCreateRequire(import.meta.url);" },
  });
}
console.log(`${ENTRIES.length} bundles in ${outDir}`);
