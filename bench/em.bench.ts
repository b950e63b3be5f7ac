/**
 * The HEM layer: fused WGSL kernels vs the same math composed from core ops (unfused), forward
 * and forward+backward, and HEM (η = 0.5) vs plain EM (η = 1) at equal T, both fused.
 * Shapes: N = 4096 (a 64×64 map), K = 64, T = 3, C ∈ {64, 256, 512}, B ∈ {1, 8}.
 * Every case is checked (fused against unfused: outputs and gradients) before it is timed.
 *   node scripts/run.mjs bench/em.bench.ts [--full | --quick]
 * Default: the whole grid on a GPU; on a CPU driver (SwiftShader) B = 1 and C ∈ {64, 256} —
 * the grid's largest case is ~100 GFLOP forward+backward, minutes per call there. --full
 * forces the whole grid, --quick runs C = 64, B = 1 only.
 */
import { hem, mul, randn, sum, sync, tidy, type Tensor, type HemOptions } from '../src/index.node.ts';
import { adapterLine, recordResults, startBench, table, timeCases, type Case } from './common.ts';

const args = new Set(process.argv.slice(2));
const adapter = await startBench();
console.log(`# HEM layer, fused vs unfused, on ${adapterLine(adapter)}`);

const N = 4096;
const K = 64;
const T = 3;
const full = args.has('--full') || (!adapter.software && !args.has('--quick'));
const channels = args.has('--quick') ? [64] : full ? [64, 256, 512] : [64, 256];
const batches = args.has('--quick') ? [1] : full ? [1, 8] : [1];

interface Inputs {
  x: Tensor;
  mu0: Tensor;
  g: Tensor;
}

function inputs(B: number, C: number): Inputs {
  return {
    x: randn([B, N, C], { seed: 100 + C + B, requiresGrad: true }).keep(),
    mu0: randn([K, C], { seed: 200 + C, std: 1 / Math.sqrt(C), requiresGrad: true }).keep(),
    g: randn([B, N, C], { seed: 300 + C }).keep(),
  };
}

/** One call of the layer; with backward, the gradient of sum(out ⊙ G) w.r.t. x and μ⁽⁰⁾. */
function call(inp: Inputs, opts: HemOptions, backward: boolean): void {
  inp.x.zeroGrad();
  inp.mu0.zeroGrad();
  tidy(() => {
    const r = hem(inp.x, inp.mu0, { iterations: T, ...opts });
    if (backward) sum(mul(r.out, inp.g)).backward();
  });
}

async function outputs(inp: Inputs, opts: HemOptions, backward: boolean): Promise<Float32Array[]> {
  inp.x.zeroGrad();
  inp.mu0.zeroGrad();
  const out = tidy(() => {
    const r = hem(inp.x, inp.mu0, { iterations: T, ...opts });
    if (backward) sum(mul(r.out, inp.g)).backward();
    return r.out;
  });
  const res = [await out.read()];
  out.dispose();
  if (backward) res.push(await inp.x.grad!.read(), await inp.mu0.grad!.read());
  return res;
}

/** Relative L2 error ‖a − b‖ / ‖b‖ (f32 paths that differ only in summation order: ~1e-6). */
function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

const rows: (string | number)[][] = [];
const all: unknown[] = [];
for (const B of batches) {
  for (const C of channels) {
    const inp = inputs(B, C);
    const shape = `B=${B} C=${C}`;
    const verify = (opts: HemOptions, backward: boolean) => async () => {
      const f = await outputs(inp, { ...opts, fused: true }, backward);
      const u = await outputs(inp, { ...opts, fused: false }, backward);
      // out and dX: 1e-4. dμ⁽⁰⁾: 2e-3, because with η = 1 (no highway) it is only the E-step
      // path, Σ_n dS_n x_nᵀ over 4096 rows whose terms cancel to ~1e-3 of their size, so f32
      // summation-order differences show up ~1000× magnified (a wrong kernel is off by O(1)).
      f.forEach((v, i) => {
        const e = relErr(v, u[i]!);
        if (!(e < (i === 2 ? 2e-3 : 1e-4))) throw new Error(`${['out', 'dX', 'dμ⁰'][i]} differs between fused and unfused: relative L2 error ${e}`);
      });
    };
    const mk = (name: string, opts: HemOptions, backward: boolean, check: () => Promise<void>): Case => ({
      name: `${shape} ${name}`,
      verify: check,
      run: async () => {
        call(inp, opts, backward);
        await sync();
      },
    });
    const hemOpts: HemOptions = { eta: 0.5 };
    const emOpts: HemOptions = { eta: 1 };
    const noCheck = async (): Promise<void> => {};
    const cases: Case[] = [
      mk('fused fwd', { ...hemOpts, fused: true }, false, verify(hemOpts, false)),
      mk('unfused fwd', { ...hemOpts, fused: false }, false, noCheck),
      mk('fused fwd+bwd', { ...hemOpts, fused: true }, true, verify(hemOpts, true)),
      mk('unfused fwd+bwd', { ...hemOpts, fused: false }, true, noCheck),
      mk('EM η=1 fused fwd+bwd', { ...emOpts, fused: true }, true, verify(emOpts, true)),
    ];
    const r = await timeCases(cases, { rounds: adapter.software ? 2 : 5, timePerRound: adapter.software ? 0 : 500, iterations: adapter.software ? 2 : 10 });
    const ms = (i: number): number => r[i]!.medianMs;
    rows.push([shape, ms(0).toFixed(1), ms(1).toFixed(1), (ms(1) / ms(0)).toFixed(2), ms(2).toFixed(1), ms(3).toFixed(1), (ms(3) / ms(2)).toFixed(2), ms(4).toFixed(1), (ms(2) / ms(4)).toFixed(3)]);
    all.push({ B, C, N, K, T, cases: r, speedupForward: ms(1) / ms(0), speedupForwardBackward: ms(3) / ms(2), hemOverEm: ms(2) / ms(4) });
    for (const t of [inp.x, inp.mu0, inp.g]) {
      t.zeroGrad();
      t.dispose();
    }
  }
}
console.log(
  table(
    ['shape (N=4096, K=64, T=3)', 'fused fwd ms', 'unfused fwd ms', 'speedup', 'fused fwd+bwd ms', 'unfused fwd+bwd ms', 'speedup', 'EM (η=1) fwd+bwd ms', 'HEM/EM cost'],
    rows,
  ),
);
const file = recordResults('em', adapter, all);
console.log(`results: ${file}`);
process.exit(0);
