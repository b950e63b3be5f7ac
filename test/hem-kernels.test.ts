/**
 * kernels/hem.wgsl and its launchers (src/kernels/hem.ts): every entry point's interface is its
 * own (bindings numbered 0, 1, … in order, one uniform struct whose every member the WGSL reads),
 * the kernel names are those the profiler and the benchmarks report, and γᵀX (the R-step's
 * gradient, `wsum` + `wsum_finish`) equals a float64 product within its f32 bound. The rest of the
 * kernels are checked through the layer (hem-forward, hem-backward, hem-steps).
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../src/index.node.ts';
import hemWgsl from '../kernels/hem.wgsl';
import { launchWsum, launchWsumFinish } from '../src/kernels/hem.ts';
import { Rng, U, expectClose, gamma as gammaN } from './helpers.ts';

beforeAll(async () => {
  await hg.init();
});

const hemKernels = (): hg.Kernel[] => hg.registeredKernels().filter((k) => k.source === hemWgsl);

describe('hem.wgsl interfaces', () => {
  test('the registered kernels: one per entry point, under their names', () => {
    expect(hemKernels().map((k) => `${k.name}:${k.entry}`).sort()).toEqual(
      [
        'hem_dmu_finish:dmu_finish',
        'hem_dx:dx',
        'hem_elbo:elbo',
        'hem_estep:estep',
        'hem_estep_grad:estep_grad',
        'hem_normalize:normalize',
        'hem_normalize_grad:normalize_grad',
        'hem_nstep_finish:nstep_finish',
        'hem_nstep_prep:nstep_prep',
        'hem_wsum:wsum',
        'hem_wsum_finish:wsum_finish',
      ].sort(),
    );
  });

  for (const name of ['hem_estep', 'hem_wsum', 'hem_nstep_finish', 'hem_wsum_finish', 'hem_normalize', 'hem_normalize_grad', 'hem_nstep_prep', 'hem_estep_grad', 'hem_dx', 'hem_dmu_finish', 'hem_elbo']) {
    test(`${name}: bindings 0, 1, … in order, the uniform last, every uniform member read`, () => {
      const k = hemKernels().find((x) => x.name === name)!;
      expect(k.bindings.map((b) => b.binding)).toEqual(k.bindings.map((_, i) => i));
      const uniforms = k.bindings.filter((b) => b.access === 'uniform');
      expect(uniforms.length).toBe(1);
      const u = uniforms[0]!;
      expect(k.bindings[k.bindings.length - 1]).toBe(u);
      // No dummy fields: each member appears as `<uniform>.<member>` in the source.
      for (const m of u.members!) expect(hemWgsl.includes(`${u.name}.${m.name}`), `${u.name}.${m.name}`).toBe(true);
    });
  }
});

describe('γᵀX: wsum + wsum_finish', () => {
  // N = 205: 7 chunks of ≤ 30 rows; N = 3: one short chunk; C = 12: a half 8-channel tile.
  for (const [B, N, C, K4] of [
    [2, 205, 8, 8],
    [1, 3, 4, 4],
    [3, 70, 12, 16],
  ] as const) {
    test(`W [${B}, ${N}, ${K4}], X [${B}, ${N}, ${C}]`, async () => {
      const rng = new Rng(B * 1000 + N);
      const w = rng.f32(B * N * K4);
      const x = rng.f32(B * N * C);
      const out = hg.tidy(() => {
        const ws = launchWsum('test', hg.tensor(x, [B, N, C]), hg.tensor(w, [B, N, K4]));
        return launchWsumFinish('test', ws);
      });
      const got = await out.read();
      out.dispose();
      expect(got.length).toBe(B * K4 * C);
      const exact = new Float64Array(B * K4 * C);
      const bound = new Float64Array(B * K4 * C);
      for (let b = 0; b < B; b++) {
        for (let k = 0; k < K4; k++) {
          for (let c = 0; c < C; c++) {
            let s = 0;
            let a = 0;
            for (let n = 0; n < N; n++) {
              const p = w[(b * N + n) * K4 + k]! * x[(b * N + n) * C + c]!;
              s += p;
              a += Math.abs(p);
            }
            const i = (b * K4 + k) * C + c;
            exact[i] = s;
            // N products and at most N additions, in any order: γ_{N+1} Σ |w x| (+ u for the product).
            bound[i] = (gammaN(N + 1) + U) * a;
          }
        }
      }
      expectClose(got, exact, { atol: 0, rtol: 0, bound, label: 'γᵀX' });
    });
  }
});
