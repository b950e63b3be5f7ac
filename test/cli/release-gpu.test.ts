/**
 * releaseGpu (src/cli/interrupt.ts): what bin/hemgpu.mjs does after every command before
 * process.exit — wait (bounded) for the submitted GPU work, then destroy the device — since
 * exiting while Dawn's or SwiftShader's threads still run work can crash the process.
 */
import { expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { releaseGpu } from '../../src/cli/interrupt.ts';

test('waits for the submitted work, destroys the default engine, and is harmless without one', async () => {
  const e = await hg.init();
  const a = hg.randn([256, 256], { seed: 1 });
  hg.matmul(a, a); // submitted, not awaited
  await releaseGpu();
  expect(e.isDestroyed).toBe(true);
  await expect(hg.sync()).rejects.toThrow(/no device yet/);
  // No engine now: it returns without creating one.
  await releaseGpu();
  await expect(hg.sync()).rejects.toThrow(/no device yet/);
  // init() makes a new engine afterwards.
  const again = await hg.init();
  expect(again).not.toBe(e);
  expect(Array.from(await hg.tensor([1, 2], [2]).read())).toEqual([1, 2]);
});

test('bin/hemgpu.mjs releases the GPU after the command, before it exits', async () => {
  const { readFileSync } = await import('node:fs');
  const bin = readFileSync(new URL('../../bin/hemgpu.mjs', import.meta.url), 'utf8');
  const release = bin.indexOf('await releaseGpu()');
  expect(release).toBeGreaterThan(bin.indexOf('await main('));
  expect(bin.indexOf('process.exit(code)')).toBeGreaterThan(release);
});
