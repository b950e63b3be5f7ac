import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.ts';

/**
 * `npm run test:unit`: the edit-test loop (under a minute on 2 cores). It leaves out the tiers that
 * start processes or browsers, build or pack the package, train for many steps, time candidates or
 * sweep large grids of shapes; `npm test` runs everything (as CI does). A file given on the
 * command line (`npm run test:unit -- test/ops/matmul.test.ts`) runs even if it is a slow one.
 */
const SLOW = [
  // processes, terminals, browsers
  'test/cli/cli-interrupt.test.ts',
  'test/cli/cli-output.test.ts',
  'test/browser/web-demo.test.ts',
  'test/browser/guide-browser.test.ts',
  'test/browser/browser.test.ts',
  'test/browser/browser-start.test.ts',
  'test/train/twin-parity.test.ts',
  // builds, packing, tsc and knip
  'test/package/package-install.test.ts',
  'test/package/package-types.test.ts',
  'test/package/static-checks.test.ts',
  'test/package/bundle-size.test.ts',
  // training runs, tuning, checkpoints on disk
  'test/train/train.test.ts',
  'test/train/train-step.test.ts',
  'test/train/structured-train.test.ts',
  'test/train/checkpoint-faults.test.ts',
  'test/gpu/tuning.test.ts',
  'test/gpu/warmup.test.ts',
  'test/train/em-diagnostics.test.ts',
  // large grids of shapes and kernel paths
  'test/ops/matmul.test.ts',
  'test/gpu/robustness.test.ts',
  'test/hem/hem-kernel-paths.test.ts',
  'test/ops/eigh.test.ts',
  'test/hem/hem-paper.test.ts',
  'test/data/digit-scenes.test.ts',
];

const files = process.argv.filter((a) => a.endsWith('.test.ts'));

export default mergeConfig(base, defineConfig({ test: { exclude: files.length ? [] : SLOW, isolate: false } }));
