/**
 * Where the HEM layer's time goes: every dispatch of one forward+backward timed with GPU
 * timestamps (Engine.profileKernels), grouped by kernel, for the fused and the unfused path, with
 * a roofline: each HEM kernel's GFLOPS and GB/s (FLOPs and bytes from bench/kernel-costs.ts)
 * against the adapter's peaks, measured first by bench/roofline.ts.
 *   node scripts/run.mjs bench/hem-profile.ts [B N C K]      (default: 1 4096 C 64, C ∈ {64, 256})
 */
import { getHemKernelConfig, hem, init, mul, randn, sum, sync, tidy } from '../src/index.node.ts';
import { adapterLine, recordResults, table } from './common.ts';
import { hemShape, kernelCost } from './kernel-costs.ts';
import { measurePeaks } from './roofline.ts';

const given = process.argv
  .slice(2)
  .filter((a) => !a.startsWith('--'))
  .map(Number);
if (given.some((v) => !Number.isInteger(v) || v < 1)) throw new Error(`hem-profile: expected positive integers B N C K, got ${process.argv.slice(2).join(' ')}`);
const shapes = given.length
  ? [[given[0] ?? 1, given[1] ?? 4096, given[2] ?? 64, given[3] ?? 64]]
  : [
      [1, 4096, 64, 64],
      [1, 4096, 256, 64],
    ];
const engine = await init();
const peaks = await measurePeaks(engine);
console.log(
  `# Peaks measured on ${adapterLine(engine.adapterInfo)}: ${peaks.gflops.toFixed(1)} GFLOPS (f32 FMA), ` +
    `${peaks.gbs.toFixed(1)} GB/s (read ${peaks.readGBs.toFixed(1)}, copy ${peaks.copyGBs.toFixed(1)})\n`,
);
const pct = (v: number, peak: number): string => `${((100 * v) / peak).toFixed(1)}%`;
for (const [B, N, C, K] of shapes as [number, number, number, number][]) {
  const kc = getHemKernelConfig();
  const path = kc.path === 'tiled' ? `tiled TX ${kc.TX} TY ${kc.TY} RT ${kc.RT}` : 'register';
  console.log(
    `# HEM forward+backward profile, B=${B} N=${N} C=${C} K=${K} T=3 η=0.5, kernel path ${path}${kc.subgroups ? ' + subgroup E-step' : ''}, on ${adapterLine(engine.adapterInfo)}`,
  );
  const x = randn([B, N, C], { seed: 1, requiresGrad: true }).keep();
  const mu0 = randn([K, C], { seed: 2, std: 1 / Math.sqrt(C), requiresGrad: true }).keep();
  const g = randn([B, N, C], { seed: 3 }).keep();
  const shape = hemShape(B, N, C, K, getHemKernelConfig(), engine.adapterInfo.software);
  const report: Record<string, unknown> = { peaks, kernelConfig: kc };
  for (const fused of [true, false]) {
    const step = (): void => {
      x.zeroGrad();
      mu0.zeroGrad();
      tidy(() => {
        sum(mul(hem(x, mu0, { eta: 0.5, iterations: 3, fused }).out, g)).backward();
      });
    };
    step();
    await sync(); // warm-up: pipelines compiled, pool filled
    const prof = await engine.profileKernels(async () => {
      step();
      await sync();
    });
    const rows = [...prof.entries()].sort((a, b) => b[1].ms - a[1].ms);
    const total = rows.reduce((s, [, v]) => s + v.ms, 0);
    const dispatches = rows.reduce((s, [, v]) => s + v.count, 0);
    console.log(`\n${fused ? 'fused' : 'unfused'}: ${dispatches} dispatches, ${total.toFixed(2)} ms of kernel time`);
    const kernels = rows.map(([k, v]) => {
      const cost = kernelCost(k, shape);
      if (!cost) return [k, v] as const;
      const gflops = (v.count * cost.flops) / (v.ms * 1e6);
      const gbs = (v.count * cost.bytes) / (v.ms * 1e6);
      return [k, { ...v, flops: v.count * cost.flops, bytes: v.count * cost.bytes, gflops, gbs }] as const;
    });
    console.log(
      table(
        ['kernel', 'dispatches', 'ms', 'share', 'GFLOPS', '% peak FLOPS', 'GB/s', '% peak GB/s'],
        kernels.map(([k, v]) => [
          k,
          v.count,
          v.ms.toFixed(2),
          pct(v.ms, total),
          ...('gflops' in v ? [v.gflops.toFixed(1), pct(v.gflops, peaks.gflops), v.gbs.toFixed(1), pct(v.gbs, peaks.gbs)] : ['—', '—', '—', '—']),
        ]),
      ),
    );
    report[fused ? 'fused' : 'unfused'] = { dispatches, totalMs: total, kernels: Object.fromEntries(kernels) };
  }
  for (const t of [x, mu0, g]) {
    t.zeroGrad();
    t.dispose();
  }
  const file = recordResults(`hem-profile-B${B}-N${N}-C${C}-K${K}`, engine.adapterInfo, report);
  console.log(`results: ${file}\n`);
}
process.exit(0);
