/**
 * kernels/hem.wgsl and its launchers (src/kernels/hem.ts): the kernel names are those the profiler and the benchmarks report, and γᵀX (the R-step's
 * gradient, `wsum` + `wsum_finish`) equals a float64 product within its f32 bound. The rest of the
 * kernels are checked through the layer (hem-forward, hem-backward, hem-steps).
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import hemWgsl from '../../kernels/hem.wgsl';
import { launchWsumFinish } from '../../src/kernels/hem.ts';
import { hemKernels } from '../../src/kernels/hem-kernels.ts';
import { Rng, U, expectClose, gamma as gammaN } from '../helpers.ts';

beforeAll(async () => {
  await hg.init();
});

const hemWgslKernels = (): hg.Kernel[] => hg.registeredKernels().filter((k) => k.source === hemWgsl.code);

describe('hem.wgsl interfaces', () => {
  test('the registered kernels: one per entry point, under their names', () => {
    expect(
      hemWgslKernels()
        .map((k) => `${k.name}:${k.entry}`)
        .sort(),
    ).toEqual(
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

  // Bindings in order, one uniform last, every member read: test/gpu/kernel-interfaces.test.ts, for
  // every kernel file.
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
        const ws = hemKernels().wsum('test', hg.tensor(x, [B, N, C]), hg.tensor(w, [B, N, K4]));
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
