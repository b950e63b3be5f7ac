import { defineConfig, type Plugin } from 'vitest/config';
import { wgslModuleSource } from './scripts/esbuild-options.mjs';

/**
 * Load kernels/*.wgsl as reflected WgslModule objects, with the same code as the esbuild plugin
 * of the bundles (scripts/esbuild-options.mjs → src/gpu/reflect.ts).
 */
function wgslModules(): Plugin {
  return {
    name: 'hemgpu-wgsl',
    async load(id) {
      if (!id.endsWith('.wgsl')) return null;
      return wgslModuleSource(id);
    },
  };
}

export default defineConfig({
  plugins: [wgslModules()],
  test: {
    include: ['test/**/*.test.ts'],
    // One WebGPU device per worker: tests share it, so run files one after another.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // A tuning cache of the developer's (hemgpu tune) must not change what the tests run: the
    // CLI's commands install stored winners. Tests that want a store set their own.
    env: { HEMGPU_TUNING_CACHE: '.cache/test-tuning-none/tuning.json' },
    // The default console report, plus a JSON summary .ci/run turns into a plain closing line.
    reporters: ['default', 'json'],
    outputFile: { json: '.cache/vitest-results.json' },
  },
});
