/**
 * The HEM layer's other kernel paths: the workgroup-tiled kernels (kernels/hem-tiled.wgsl) and
 * the subgroup E-step kernels (kernels/hem-subgroups.wgsl). The whole layer — forward, the trace
 * (its dX parts), the fused backward — on each path against the float64 reference over the
 * covering case set, under tile shapes that put the cases in one tile and in many (several K
 * blocks, row blocks, channel chunks and row chunks); against central differences; the tuner.
 * The subgroup kernels need a fixed subgroup size: SwiftShader has one (4), so CI runs them.
 */
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng, expectClose } from '../helpers.ts';
import { hemKernels } from '../../src/kernels/hem-kernels.ts';
import { CASES, FORWARD, GRADS, TRACE, compare, makeProblem, mcaAllowance, referenceFiniteDifferences, runEngine } from '../hem-helpers.ts';

beforeAll(async () => {
  await hg.init();
});

afterEach(() => {
  hg.setHemKernelConfig(hg.REGISTER_HEM_CONFIG);
});

/**
 * The default GPU tiles, small ones that split every case into many tiles and chunks, and the
 * subgroup E-step beside either path.
 */
const CONFIGS: hg.HemKernelConfig[] = [
  hg.TILED_HEM_CONFIG,
  { path: 'tiled', TX: 1, TY: 1, RT: 4 },
  { path: 'tiled', TX: 2, TY: 4, RT: 8 },
  // SwiftShader's subgroups have 4 lanes: true runs the 'rows' mapping there, so both are named.
  { ...hg.REGISTER_HEM_CONFIG, subgroups: 'rows' },
  { ...hg.REGISTER_HEM_CONFIG, subgroups: 'bases' },
  { path: 'tiled', TX: 2, TY: 2, RT: 4, subgroups: true },
  // The register path's products with either block count (its default is tested everywhere).
  { ...hg.REGISTER_HEM_CONFIG, blocks: 2 },
  { ...hg.REGISTER_HEM_CONFIG, blocks: 4 },
];

const name = (c: hg.HemKernelConfig): string =>
  (c.path === 'register' ? `register${c.blocks ? `, ${4 * c.blocks} × ${4 * c.blocks} product blocks` : ''}` : `tiles TX=${c.TX} TY=${c.TY} RT=${c.RT}`) +
  (c.subgroups ? `, subgroup E-step (${c.subgroups === true ? "the adapter's mapping" : `lanes split the ${c.subgroups}`})` : '');

/** Names of the HEM kernels dispatched while `f` ran (GPU timestamps per dispatch, by kernel). */
async function dispatchedDuring(f: () => Promise<unknown>): Promise<string[]> {
  const e = await hg.init();
  const prof = await e.profileKernels(async () => {
    await f();
  });
  return [...prof.keys()].filter((k) => k.startsWith('hem_'));
}

for (const config of CONFIGS) {
  describe(name(config), () => {
    for (const [i, c] of CASES.entries()) {
      test(c.name, async () => {
        hg.setHemKernelConfig(config);
        const { exact, allow } = mcaAllowance(c, 1000 + i);
        const q = await runEngine(c, true, true);
        expect(q.fusedUsed).toBe(true);
        compare(c, 'tiled vs reference', q, exact, allow, [...FORWARD, ...GRADS, ...TRACE]);
      });
    }

    test('K = 65 and 130: several blocks of bases per row', async () => {
      hg.setHemKernelConfig(config);
      const rng = new Rng(77);
      for (const K of [65, 130]) {
        const c = makeProblem(rng, `K=${K}`, { B: 2, N: 9, C: 6, K, shared: false }, { estep: K === 65 ? 'rbf' : 'dot', eta: 0.5, iterations: 2 });
        const { exact, allow } = mcaAllowance(c, 2000 + K);
        compare(c, 'tiled vs reference', await runEngine(c, true, false), exact, allow, [...FORWARD, ...GRADS]);
      }
    });
  });
}

describe('the kernel paths', () => {
  test('SwiftShader has a fixed subgroup size, so the subgroup kernels are tested here', () => {
    const info = hg.adapterInfo();
    if (info.software && info.architecture === 'swiftshader') expect(info.subgroupSize).toBe(4);
    else expect(info.subgroupSize === null || info.subgroupSize >= 4).toBe(true);
  });

  test("the subgroup E-step kernels run in the mapping asked for, and the other path's do not", async () => {
    const rng = new Rng(6);
    const c = makeProblem(rng, 'probe', { B: 2, N: 13, C: 7, K: 9, shared: false }, { estep: 'rbf', eta: 0.5, iterations: 2 });
    const heavy = ['hem_estep_tiled', 'hem_estep_grad_tiled', 'hem_estep', 'hem_estep_grad'];
    const rows = ['hem_estep_rows', 'hem_estep_grad_rows'];
    const bases = ['hem_estep_sg', 'hem_estep_grad_sg'];
    for (const [subgroups, ran, not] of [
      ['bases', bases, rows],
      ['rows', rows, bases],
      // true: the adapter's mapping, 'rows' at SwiftShader's subgroup size of 4.
      [true, hg.adapterInfo().subgroupSize === 4 ? rows : bases, hg.adapterInfo().subgroupSize === 4 ? bases : rows],
    ] as const) {
      hg.setHemKernelConfig({ path: 'tiled', TX: 3, TY: 3, RT: 4, subgroups });
      const names = await dispatchedDuring(() => runEngine(c, true, false));
      for (const k of [...ran, 'hem_wsum_tiled', 'hem_dx_tiled']) expect(names, `subgroups: ${subgroups}`).toContain(k);
      for (const k of [...heavy, ...not]) expect(names, `subgroups: ${subgroups}`).not.toContain(k);
    }
  });

  test('runs the tiled kernels, and only those, for the heavy products', async () => {
    const rng = new Rng(5);
    hg.setHemKernelConfig({ path: 'tiled', TX: 3, TY: 5, RT: 12 });
    const c = makeProblem(rng, 'probe', { B: 1, N: 11, C: 5, K: 7, shared: true }, { estep: 'dot', eta: 0.5, iterations: 2 });
    const names = await dispatchedDuring(() => runEngine(c, true, false));
    for (const k of ['hem_estep_tiled', 'hem_estep_grad_tiled', 'hem_wsum_tiled', 'hem_dx_tiled']) expect(names).toContain(k);
    for (const k of ['hem_estep', 'hem_estep_grad', 'hem_wsum', 'hem_dx']) expect(names).not.toContain(k);
  });

  test('the kernels are picked once per configuration, and a backward runs the kernels of its forward', async () => {
    const first = hemKernels();
    expect(hemKernels()).toBe(first);
    hg.setHemKernelConfig({ path: 'tiled', TX: 2, TY: 2, RT: 4 });
    const tiled = hemKernels();
    expect(tiled).not.toBe(first);
    expect(tiled.config.path).toBe('tiled');
    // The forward on the tiled path; the configuration changes before the backward runs.
    const rng = new Rng(8);
    const x = hg.tensor(rng.f32(2 * 9 * 8), [2, 9, 8], { requiresGrad: true });
    const mu0 = hg.tensor(rng.f32(4 * 8), [4, 8], { requiresGrad: true });
    const names = await dispatchedDuring(async () => {
      const loss = hg.sum(hg.hem(x, mu0, { iterations: 2 }).out);
      hg.setHemKernelConfig(hg.REGISTER_HEM_CONFIG);
      loss.backward();
      await x.grad!.read();
      loss.dispose();
    });
    for (const k of ['hem_estep_grad_tiled', 'hem_dx_tiled']) expect(names).toContain(k);
    for (const k of ['hem_estep_grad', 'hem_dx']) expect(names).not.toContain(k);
    for (const t of [x, mu0]) t.dispose();
  });

  test('fused gradients equal central differences of the float64 reference', async () => {
    const rng = new Rng(4243);
    const cases = [
      makeProblem(rng, 'dot shared', { B: 2, N: 11, C: 3, K: 5, shared: true }, { estep: 'dot', eta: 0.5, iterations: 3 }),
      makeProblem(rng, 'rbf batched normalized', { B: 1, N: 9, C: 6, K: 18, shared: false }, { estep: 'rbf', eta: 0.2, iterations: 2, normalizeBases: true }),
    ];
    const configs: hg.HemKernelConfig[] = [{ path: 'tiled', TX: 2, TY: 2, RT: 4 }];
    if (hg.adapterInfo().subgroupSize === 4) configs.push({ ...hg.REGISTER_HEM_CONFIG, subgroups: 'rows' });
    for (const [config, c] of configs.flatMap((k) => cases.map((c) => [k, c] as const))) {
      hg.setHemKernelConfig(config);
      const { allow } = mcaAllowance(c, 3000);
      const q = await runEngine(c, true, false);
      for (const [which, key] of [
        ['x', 'dx'],
        ['mu0', 'dmu0'],
      ] as const) {
        const { g, err } = referenceFiniteDifferences(c, which);
        expectClose(q[key], g, { atol: 0, rtol: 0, bound: allow[key].map((a, i) => a + err[i]!), label: `${name(config)}: ${c.name} d${which}` });
      }
    }
  });

  test('bad configurations are refused with the field and the fix', () => {
    const bad =
      (c: unknown): (() => void) =>
      () =>
        hg.setHemKernelConfig(c as hg.HemKernelConfig);
    expect(bad({ path: 'shared', TX: 8, TY: 8, RT: 16 })).toThrow(/path must be 'register' or 'tiled'/);
    expect(bad({ path: 'tiled', TX: 8, TY: 8, RT: 10 })).toThrow(/RT must be a positive multiple of 4, got 10/);
    expect(bad({ path: 'tiled', TX: 64, TY: 64, RT: 16 })).toThrow(/TX × TY = 64 × 64 .* at most/);
    expect(bad({ path: 'tiled', TX: 16, TY: 16, RT: 128 })).toThrow(/bytes of workgroup memory, above this adapter's \d+; use smaller tiles/);
    expect(bad({ path: 'tiled', TX: 8, TY: 8, RT: 16, WG: 3 })).toThrow(/WG/);
    expect(bad({ path: 'tiled', TX: 8, TY: 8, RT: 16, subgroups: 'yes' })).toThrow(/subgroups must be true, false, 'rows' or 'bases', got "yes"/);
    if (hg.adapterInfo().subgroupSize !== 4) {
      expect(bad({ ...hg.REGISTER_HEM_CONFIG, subgroups: 'rows' })).toThrow(/subgroups: 'rows' needs a subgroup size of 4 .*; use subgroups: 'bases' or true/);
    }
    expect(bad({ ...hg.REGISTER_HEM_CONFIG, blocks: 3 })).toThrow(/blocks must be 2 or 4, got 3/);
    expect(hg.getHemKernelConfig()).toEqual(hg.REGISTER_HEM_CONFIG);
  });
});

describe('an engine without subgroups (the portable path)', () => {
  test('starts, warms up, runs the layer, and refuses the subgroup kernels with the reason', async () => {
    const plain = await hg.createEngine({ subgroups: false });
    try {
      expect(plain.adapterInfo.subgroupSize).toBeNull();
      expect(plain.device.features.has('subgroups')).toBe(false);
      // Every kernel whose module compiles here compiles: warmup skips the subgroup file.
      await hg.withEngine(plain, () => hg.warmup(['hem']));
      hg.withEngine(plain, () => {
        for (const subgroups of [true, 'rows', 'bases'] as const) {
          expect(() => hg.setHemKernelConfig({ ...hg.REGISTER_HEM_CONFIG, subgroups })).toThrow(
            /subgroups: (true|"rows"|"bases") needs the adapter's 'subgroups' feature with a fixed subgroup size, which this engine lacks .*; use subgroups: false/,
          );
        }
      });
      const sg = hg.registeredKernels().find((k) => k.name === 'hem_estep_sg')!;
      expect(sg.missingFeatures(plain)).toEqual(['subgroups']);
      expect(() => sg.pipeline(plain, { SG: 4, RBF: false })).toThrow(/hem_estep_sg'.*needs the device feature 'subgroups', which this engine's adapter .* does not offer/);
      // The layer on the portable kernels gives the same numbers as on the default engine.
      const rng = new Rng(8);
      const c = makeProblem(rng, 'plain', { B: 2, N: 19, C: 6, K: 7, shared: true }, { estep: 'dot', eta: 0.5, iterations: 2 });
      for (const config of [hg.REGISTER_HEM_CONFIG, hg.TILED_HEM_CONFIG]) {
        hg.setHemKernelConfig(config);
        const here = await runEngine(c, true, false);
        const there = await hg.withEngine(plain, () => {
          hg.setHemKernelConfig(config);
          return runEngine(c, true, false);
        });
        for (const q of [...FORWARD, ...GRADS]) expect(Array.from(there[q]), `${config.path} ${q}`).toEqual(Array.from(here[q]));
      }
    } finally {
      plain.destroy();
    }
    await expect(hg.createEngine({ subgroups: 'no' } as never)).rejects.toThrow(/subgroups must be true or false, got "no"/);
  });
});

describe('tuneHem', () => {
  test('times the register path and the tiled candidates, installs the fastest, refuses bad options', async () => {
    const candidates: hg.HemKernelConfig[] = [hg.REGISTER_HEM_CONFIG, { path: 'tiled', TX: 2, TY: 2, RT: 4 }, { path: 'tiled', TX: 64, TY: 64, RT: 4 }];
    const r = await hg.tuneHem({ B: 2, N: 37, C: 9, K: 5, reps: 1, candidates });
    // The third asks for more invocations than any adapter allows: dropped, not fatal.
    expect(r.map((x) => x.config.path).sort()).toEqual(['register', 'tiled']);
    expect(r[0]!.ms).toBeLessThanOrEqual(r[1]!.ms);
    expect(hg.getHemKernelConfig()).toEqual(r[0]!.config);
    await expect(hg.tuneHem({ N: 0 })).rejects.toThrow(/tuneHem: N must be a positive integer, got 0/);
    await expect(hg.tuneHem({ shape: [1, 2] } as never)).rejects.toThrow(/tuneHem.*shape/);
  });
});
