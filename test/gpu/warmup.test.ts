/**
 * Async pipelines and warmup (issue 12, point 3). Every kernel definition declares the override
 * sets its launchers dispatch (src/kernels/*.ts `variants`); warmup() compiles them with
 * createComputePipelineAsync into the cache the dispatches use, so after it a hem() forward and
 * backward, and a whole SegNet training step, compile no pipeline synchronously. These tests fail
 * when a launcher's variant list misses a set it uses (the failure names the pipelines).
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { wgslModule } from '../../src/reflect.ts';

beforeAll(async () => {
  await hg.init();
});

const TINY: hg.TrainConfig = {
  model: 'hemnet',
  eta: 0.5,
  iterations: 2,
  bases: 4,
  channels: 8,
  width: 4,
  dilation: 1,
  emGamma: 1,
  basesAverage: 'plain',
  data: 'digits',
  vocRoot: null,
  size: 16,
  trainScenes: 4,
  valScenes: 2,
  minDigits: 1,
  maxDigits: 2,
  minScale: 8,
  maxScale: 14,
  threshold: 0.5,
  maxOverlap: 1,
  task: 'digits',
  fragment: 12,
  bgKeep: 0.5,
  optimizer: 'adamw',
  lr: 0.01,
  warmup: 1,
  steps: 2,
  batch: 2,
  seed: 7,
  dataSeed: 0,
  out: '',
  resume: null,
  evalEvery: 0,
  checkpointEvery: 0,
};

/** The pipelines `fn` compiles synchronously (their labels). */
async function syncCompiles(fn: () => Promise<void>): Promise<string[]> {
  const before = hg.pipelineStats().syncLabels.length;
  await fn();
  return hg.pipelineStats().syncLabels.slice(before);
}

describe('warmup', () => {
  test("after warmup(['hem', 'matmul', …setup]) hem() forward + backward compiles no pipeline synchronously", async () => {
    // The layer's reconstruction γμ and its gradients are matmuls; the rest is the test's setup:
    // random inputs, the loss (sum), backward's seed and accumulation.
    const report = await hg.warmup(['hem', 'matmul', 'normal_random', 'fill', 'reduce', 'unary', 'binary', 'pad', 'gather']);
    expect(report.kernels).toContain('hem_estep');
    expect(report.kernels).toContain('hem_dx');
    expect(report.compiled + report.cached).toBeGreaterThan(20);
    const compiled = await syncCompiles(async () => {
      const x = hg.randn([1, 256, 64], { seed: 1, requiresGrad: true });
      const mu = hg.randn([16, 64], { seed: 2, requiresGrad: true });
      const r = hg.hem(x, mu, { iterations: 3 });
      hg.sum(r.out).backward();
      await x.grad!.read();
      await mu.grad!.read();
    });
    expect(compiled, 'pipelines compiled synchronously after warmup').toEqual([]);
    // And a second warmup compiles nothing new.
    const again = await hg.warmup(['hem']);
    expect(again.compiled).toBe(0);
    expect(again.cached).toBeGreaterThan(0);
  });

  test('after warmup() a SegNet (hemnet) training step compiles no pipeline synchronously', async () => {
    await hg.warmup();
    const compiled = await syncCompiles(async () => {
      const data = hg.digitSceneData(TINY, hg.mnistDigits());
      const model = hg.buildModel(TINY, data.train);
      const opt = hg.makeOptimizer(model, TINY);
      const { loss } = await hg.scheduledStep(model, opt, data.train, TINY, 0);
      expect(Number.isFinite(loss)).toBe(true);
      await hg.evaluate(model, data.val, { batch: 2 });
    });
    expect(compiled, 'pipelines compiled synchronously after warmup()').toEqual([]);
  });

  test("under a shared matmul config, warmup(['matmul']) covers the products it dispatches", async () => {
    const before = hg.getMatmulConfig();
    try {
      hg.setMatmulConfig({ kind: 'shared', TM: 4, TN: 4, TK: 16, WG_X: 8, WG_Y: 4 });
      await hg.warmup(['matmul', 'normal_random', 'reduce']);
      const compiled = await syncCompiles(async () => {
        const x = hg.randn([2, 70, 9], { seed: 3 });
        const y = hg.randn([9, 70], { seed: 4 });
        // Large (shared kernel, every flag), small (the small register tile) and split-K products.
        for (const [transA, transB] of [
          [false, false],
          [true, false],
          [false, true],
          [true, true],
        ] as const) {
          const a = hg.randn(transA ? [9, 70] : [70, 9], { seed: 5 });
          const b = transB ? hg.randn([70, 9], { seed: 6 }) : y;
          await hg.matmul(a, b, { transA, transB }).read();
        }
        await hg.matmul(x, y).read();
        await hg.matmul(hg.randn([8, 9], { seed: 7 }), hg.randn([9, 8], { seed: 8 })).read();
        await hg.matmul(hg.randn([65, 1100], { seed: 9 }), hg.randn([1100, 66], { seed: 10 })).read();
      });
      expect(compiled, 'pipelines compiled synchronously after warmup').toEqual([]);
    } finally {
      hg.setMatmulConfig(before);
    }
  });

  test('without warmup a first dispatch compiles synchronously, and is counted', async () => {
    const k = hg.defineKernel(
      'test_warmup_counted',
      wgslModule(`override V: f32 = 1.0;
        @group(0) @binding(0) var<storage, read_write> y: array<f32>;
        @compute @workgroup_size(1) fn main() { y[0] = V; }`),
      'main',
      { variants: [{ V: 3 }] },
    );
    const y = hg.zeros([1]);
    const compiled = await syncCompiles(async () => {
      k.dispatch({ bindings: { y: y.bind('test', 'read_write') }, overrides: { V: 2 }, workgroups: [1] });
      expect(Array.from(await y.read())).toEqual([2]);
    });
    expect(compiled).toEqual(['test_warmup_counted [V=2]']);
    // The declared variant, warmed, is then used without a synchronous compile.
    const w = await hg.warmup(['test_warmup_counted']);
    expect(w.compiled).toBe(1);
    const after = await syncCompiles(async () => {
      k.dispatch({ bindings: { y: y.bind('test', 'read_write') }, overrides: { V: 3 }, workgroups: [1] });
      expect(Array.from(await y.read())).toEqual([3]);
    });
    expect(after).toEqual([]);
    expect(hg.pipelineStats().async).toBeGreaterThan(0);
  });

  test('two concurrent warmups compile each pipeline once', async () => {
    const k = hg.defineKernel(
      'test_warmup_once',
      wgslModule(`override V: f32 = 1.0;
        @group(0) @binding(0) var<storage, read_write> y: array<f32>;
        @compute @workgroup_size(1) fn main() { y[0] = V; }`),
      'main',
      { variants: [{ V: 1 }, { V: 2 }] },
    );
    const asyncBefore = hg.pipelineStats().async;
    const [a, b] = await Promise.all([hg.warmup(['test_warmup_once']), hg.warmup(['test_warmup_once'])]);
    expect(a.compiled + b.compiled).toBe(2);
    expect(a.cached + b.cached).toBe(2);
    expect(hg.pipelineStats().async - asyncBefore).toBe(2);
    expect(k.variants()).toHaveLength(2);
  });

  test('errors name the function, the values and the fix', async () => {
    await expect(hg.warmup(['nope_'])).rejects.toThrow(/warmup: no registered kernel name starts with 'nope_'\. Registered: .*hem_estep/);
    await expect(hg.warmup('hem' as never)).rejects.toThrow(/warmup: prefixes must be an array of kernel-name prefixes/);
    await expect(hg.init({ warmup: 'hem' as never })).rejects.toThrow(/hemgpu init: warmup must be true, false or a list/);
    expect(() =>
      hg.defineKernel(
        'test_bad_variant',
        wgslModule('override V: f32 = 1.0; @group(0) @binding(0) var<storage, read_write> y: array<f32>; @compute @workgroup_size(1) fn main() { y[0] = V; }'),
        'main',
        {
          variants: [{ W: 1 }],
        },
      ),
    ).toThrow(/kernel 'test_bad_variant': variant \{"W":1\} sets override 'W', which the WGSL does not declare \(declared: V\)/);
  });

  test("init({ warmup: ['softmax'] }) warms before resolving", async () => {
    const before = hg.pipelineStats();
    await hg.init({ warmup: ['softmax'] });
    const after = hg.pipelineStats();
    // Already warmed by warmup() above: nothing new, and no synchronous compile.
    expect(after.sync).toBe(before.sync);
    const compiled = await syncCompiles(async () => {
      await hg.softmax(hg.randn([3, 5], { seed: 4 })).read();
    });
    expect(compiled).toEqual([]);
  });
});
