import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.ts';

/**
 * `npm run test:unit`: the edit-test loop (under a minute on 2 cores). It leaves out the tiers that
 * start processes or browsers, build or pack the package, train for many steps, time candidates or
 * sweep large grids of shapes; `npm test` runs everything (as CI does). A file given on the
 * command line (`npm run test:unit -- test/matmul.test.ts`) runs even if it is a slow one.
 */
const SLOW = [
  // processes, terminals, browsers
  'test/cli-interrupt.test.ts',
  'test/cli-output.test.ts',
  'test/web-demo.test.ts',
  'test/guide-browser.test.ts',
  'test/browser.test.ts',
  'test/browser-start.test.ts',
  'test/twin-parity.test.ts',
  // builds, packing, tsc and knip
  'test/package-install.test.ts',
  'test/package-types.test.ts',
  'test/static-checks.test.ts',
  'test/bundle-size.test.ts',
  // training runs, tuning, checkpoints on disk
  'test/train.test.ts',
  'test/train-step.test.ts',
  'test/structured-train.test.ts',
  'test/checkpoint-faults.test.ts',
  'test/tuning.test.ts',
  'test/warmup.test.ts',
  'test/em-diagnostics.test.ts',
  // large grids of shapes and kernel paths
  'test/matmul.test.ts',
  'test/robustness.test.ts',
  'test/hem-kernel-paths.test.ts',
  'test/eigh.test.ts',
  'test/hem-paper.test.ts',
  'test/digit-scenes.test.ts',
];

const files = process.argv.filter((a) => a.endsWith('.test.ts'));

export default mergeConfig(base, defineConfig({ test: { exclude: files.length ? [] : SLOW, isolate: false } }));
