/**
 * Bind groups reused across dispatches (src/gpu/bind-group-cache.ts): a dispatch over the same
 * buffers reuses its bind group and still reads the buffers' current contents; other buffers make
 * other bind groups; the cache keeps the most recently used BIND_GROUP_CACHE_LIMIT of them.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { wgslModule } from '../../src/reflect.ts';
import { BIND_GROUP_CACHE_LIMIT, bindGroupStats } from '../../src/gpu/bind-group-cache.ts';

const double = hg.defineKernel(
  'test_bind_group_cache_double',
  wgslModule(`
  @group(0) @binding(0) var<storage, read> x: array<f32>;
  @group(0) @binding(1) var<storage, read_write> y: array<f32>;
  @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
    if (g.x < arrayLength(&y)) { y[g.x] = 2.0 * x[g.x]; }
  }`),
);

function run(x: hg.Tensor, y: hg.Tensor): void {
  double.dispatch({ bindings: { x: x.bind('test'), y: y.bind('test', 'read_write') }, workgroups: [Math.ceil(y.size / 64)] });
}

let e: hg.Engine;
beforeAll(async () => {
  e = await hg.init();
});

describe('bind group cache', () => {
  test('the same buffers reuse one bind group, which reads what they hold now', async () => {
    const x = hg.tensor([1, 2, 3]).keep();
    const y = hg.zeros([3]).keep();
    const s0 = bindGroupStats(e);
    run(x, y);
    expect(Array.from(await y.read())).toEqual([2, 4, 6]);
    x.write(Float32Array.of(-1, 0.5, 7));
    run(x, y);
    expect(Array.from(await y.read())).toEqual([-2, 1, 14]);
    const s1 = bindGroupStats(e);
    expect(s1.created - s0.created).toBe(1);
    expect(s1.reused - s0.reused).toBe(1);
    x.dispose();
    y.dispose();
  });

  test('another buffer, or another range of the same buffer, is another bind group', async () => {
    const x = hg.tensor([1, 2, 3, 4]).keep();
    const x2 = hg.tensor([10, 20, 30, 40]).keep();
    const y = hg.zeros([4]).keep();
    const z = hg.zeros([4]).keep();
    const s0 = bindGroupStats(e);
    run(x, y);
    run(x, z);
    run(x, y); // the same buffers and ranges again: a hit
    const s1 = bindGroupStats(e);
    expect(s1.created - s0.created).toBe(2);
    expect(s1.reused - s0.reused).toBe(1);
    // y's buffer bound as its first two floats: arrayLength(&y) is 2 in the kernel.
    double.dispatch({ bindings: { x: x2.bind('test'), y: { ...y.bind('test', 'read_write'), bytes: 8 } }, workgroups: [1] });
    expect(bindGroupStats(e).created - s1.created).toBe(1);
    expect(Array.from(await y.read())).toEqual([20, 40, 6, 8]);
    expect(Array.from(await z.read())).toEqual([2, 4, 6, 8]);
    for (const t of [x, x2, y, z]) t.dispose();
  });

  test(`keeps the ${BIND_GROUP_CACHE_LIMIT} most recently used, evicting the oldest`, async () => {
    const x = hg.tensor([3]).keep();
    const ys = Array.from({ length: BIND_GROUP_CACHE_LIMIT + 2 }, () => hg.zeros([1]).keep());
    run(x, ys[0]!); // oldest once the others are in
    run(x, ys[1]!);
    for (let i = 2; i < ys.length; i++) run(x, ys[i]!);
    run(x, ys[1]!); // still cached? it is the 2nd oldest of LIMIT + 2 entries: evicted too
    const s0 = bindGroupStats(e);
    expect(s0.cached).toBe(BIND_GROUP_CACHE_LIMIT);
    run(x, ys[ys.length - 1]!); // the most recent: a hit
    run(x, ys[1]!); // just re-created: a hit
    run(x, ys[0]!); // evicted: created again
    const s1 = bindGroupStats(e);
    expect(s1.reused - s0.reused).toBe(2);
    expect(s1.created - s0.created).toBe(1);
    expect(s1.cached).toBe(BIND_GROUP_CACHE_LIMIT);
    expect(Array.from(await ys[0]!.read())).toEqual([6]);
    expect(Array.from(await ys[ys.length - 1]!.read())).toEqual([6]);
    x.dispose();
    for (const y of ys) y.dispose();
  });
});
