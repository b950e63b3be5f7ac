/**
 * bench/kernel-costs.ts (the FLOPs and bytes behind bench/hem-profile.ts's roofline) and
 * bench/plan.ts (what `npm run bench:gpu` runs): no GPU work, no timing.
 */
import { describe, expect, test } from 'vitest';
import hemWgsl from '../../kernels/hem.wgsl';
import { baseKernelName, HEM_COSTS, hemShape, kernelCost } from '../../bench/kernel-costs.ts';
import { REGISTER_HEM_CONFIG, TILED_HEM_CONFIG } from '../../src/kernels/hem-config.ts';
import { wsumChunking } from '../../src/kernels/hem-kernels.ts';
import { benchCommand, gpuPlan, PAPER_SHAPE, stepCommand, subjectPlan, SUBJECTS } from '../../bench/plan.ts';

describe('HEM kernel costs', () => {
  test('every entry point of kernels/hem.wgsl has a formula, and nothing else does', () => {
    const kernels = Object.keys(hemWgsl.reflection.entries).map((e) => `hem_${e}`);
    expect(Object.keys(HEM_COSTS).sort()).toEqual(kernels.sort());
  });

  test("a variant's name maps to its base kernel's formula", () => {
    expect(baseKernelName('hem_estep_tiled')).toBe('hem_estep');
    expect(baseKernelName('hem_wsum_sg')).toBe('hem_wsum');
    expect(baseKernelName('hem_estep_grad_rows')).toBe('hem_estep_grad');
    expect(baseKernelName('hem_dx_tiled_sg')).toBe('hem_dx');
    expect(baseKernelName('hem_dx_sg_tiled')).toBe('hem_dx');
    expect(baseKernelName('matmul_tiled4')).toBe('matmul_tiled4');
    const s = hemShape(2, 4225, 512, 64, TILED_HEM_CONFIG, false);
    expect(kernelCost('hem_estep_tiled', s)).toEqual(kernelCost('hem_estep', s));
    expect(kernelCost('matmul_tiled4', s)).toBeUndefined();
    expect(kernelCost('reduce', s)).toBeUndefined();
  });

  test('shapes are padded to multiples of 4; the chunks cover N, at most ⌈N / 32⌉ of them, enough for the device', () => {
    expect(hemShape(1, 100, 6, 5, REGISTER_HEM_CONFIG, false)).toMatchObject({ C: 8, K4: 8 });
    for (const [N, K4, C] of [
      [4096, 64, 64],
      [4225, 64, 512],
      [100, 8, 8],
      [31, 4, 4],
    ] as const) {
      // The register path (16 bases × 16 channels per invocation): enough invocations for a large
      // GPU (4096), on a CPU driver for its cores (64), or one chunk per 32 rows.
      for (const [software, fill] of [
        [false, 4096],
        [true, 64],
      ] as const) {
        const chunks = wsumChunking(N, K4, C, REGISTER_HEM_CONFIG, software).chunks;
        const rows = Math.ceil(N / chunks);
        expect(rows * chunks).toBeGreaterThanOrEqual(N);
        expect(rows * (chunks - 1)).toBeLessThan(N); // no empty chunk
        expect(chunks).toBeLessThanOrEqual(Math.ceil(N / 32));
        const invocations = chunks * Math.ceil(K4 / 16) * Math.ceil(C / 16);
        expect(invocations >= fill || chunks >= Math.ceil(N / 32) - 1, `N ${N} K4 ${K4} C ${C} software ${software}`).toBe(true);
        // Not many more chunks than the fill needs: at N 4096, C 64 a CPU driver takes 4, a GPU 128.
        expect(Math.ceil(fill / (Math.ceil(K4 / 16) * Math.ceil(C / 16)))).toBeGreaterThanOrEqual(chunks);
      }
      expect(wsumChunking(4096, 64, 64, REGISTER_HEM_CONFIG, true).chunks).toBe(4);
      expect(wsumChunking(4096, 64, 64, REGISTER_HEM_CONFIG, false).chunks).toBe(128);
      // The tiled path: (chunk, 32 bases, 64 channels) workgroups, at least 64 rows per chunk.
      const t = wsumChunking(N, K4, C, TILED_HEM_CONFIG, false);
      expect(t.rows * t.chunks).toBeGreaterThanOrEqual(N);
      expect(t.rows * (t.chunks - 1)).toBeLessThan(N);
      expect(t.chunks).toBeLessThanOrEqual(Math.max(1, Math.ceil(N / 64)));
      expect(hemShape(1, N, C, K4, TILED_HEM_CONFIG, false).chunks).toBe(t.chunks);
    }
  });

  test("the products' FLOPs: X μᵀ, γᵀ X, X dAᵀ and γ dA + dS μ at the paper's shape", () => {
    const [B, N, C, K] = PAPER_SHAPE;
    const s = hemShape(B, N, C, K, REGISTER_HEM_CONFIG, false);
    const nkc = 2 * B * N * K * C;
    // The softmax, the column sums and the epilogues add at most a few percent when C = 512.
    for (const [name, products] of [
      ['hem_estep', 1],
      ['hem_wsum', 1],
      ['hem_estep_grad', 1],
      ['hem_dx', 2],
    ] as const) {
      const f = kernelCost(name, s)!.flops;
      expect(f).toBeGreaterThanOrEqual(products * nkc);
      expect(f).toBeLessThan(products * nkc * 1.02);
    }
    // Compulsory bytes of the E-step: X [B, N, C], μ [B, K, C] read, γ [B, N, K] written.
    expect(kernelCost('hem_estep', s)!.bytes).toBe(4 * B * (N * C + K * C + N * K));
    // The *_finish kernels read every chunk of the partial products.
    const finish = kernelCost('hem_wsum_finish', s)!;
    expect(finish.bytes).toBe(4 * B * K * C * (s.chunks + 1));
    expect(finish.flops).toBe(B * K * C * s.chunks);
  });

  test('every formula is positive and grows with each size', () => {
    const base = hemShape(2, 1024, 64, 16, REGISTER_HEM_CONFIG, false);
    for (const [name, f] of Object.entries(HEM_COSTS)) {
      const c = f(base);
      expect(c.flops, name).toBeGreaterThan(0);
      expect(c.bytes, name).toBeGreaterThan(0);
      for (const key of ['B', 'C', 'K4'] as const) {
        const bigger = f({ ...base, [key]: base[key] * 2 });
        expect(bigger.flops, `${name} ${key}`).toBeGreaterThan(c.flops);
        expect(bigger.bytes, `${name} ${key}`).toBeGreaterThan(c.bytes);
      }
    }
  });
});

describe('npm run bench:gpu', () => {
  test('the GPU preset: the HEM grid, the paper shape, matmul to 4096³, the profile at the paper shape, the training step profile, PyTorch, the README', () => {
    const steps = gpuPlan(['--no-peers']);
    expect(steps.map((s) => (s.kind === 'subject' ? `${s.subject} ${s.args.join(' ')}` : s.kind))).toEqual([
      'hem --full --no-peers',
      'hem --paper --no-peers',
      'matmul --full --tune --no-peers',
      'profile 8 4225 512 64 --no-peers',
      'step --recipe gpu --no-peers',
      'torch',
      'render',
    ]);
  });

  test('commands: from source through scripts/run.mjs, or from the prepared bundles', () => {
    expect(benchCommand('hem-profile.ts', ['8'])).toEqual(['scripts/run.mjs', 'bench/hem-profile.ts', '8']);
    expect(benchCommand('hem-profile.ts', ['8'], '/kit/bench')).toEqual(['/kit/bench/hem-profile.mjs', '8']);
    expect(stepCommand(gpuPlan()[0]!, 'node')).toBe('node scripts/run.mjs bench/hem.bench.ts --full');
    expect(stepCommand(gpuPlan().at(-1)!, 'node', '/kit/bench')).toBe('node /kit/bench/render.mjs');
  });

  test('npm run bench: all subjects by default, an unknown one named', () => {
    expect(subjectPlan([], []).length).toBe(Object.keys(SUBJECTS).length);
    expect(Object.keys(SUBJECTS)).toContain('step');
    expect(() => subjectPlan(['hem', 'nope'], [])).toThrow(/unknown subject 'nope'/);
  });
});
