import { readFileSync } from 'node:fs';
import { defineConfig, type Plugin } from 'vitest/config';

/** Load kernels/*.wgsl as text, exactly as esbuild's `text` loader does for the bundles. */
function wgslText(): Plugin {
  return {
    name: 'hemgpu-wgsl-text',
    load(id) {
      if (!id.endsWith('.wgsl')) return null;
      return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
    },
  };
}

export default defineConfig({
  plugins: [wgslText()],
  test: {
    include: ['test/**/*.test.ts'],
    // One WebGPU device per worker: tests share it, so run files one after another.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // The default console report, plus a JSON summary .ci/run turns into a plain closing line.
    reporters: ['default', 'json'],
    outputFile: { json: '.cache/vitest-results.json' },
  },
});
