/**
 * The page's fused-vs-unfused microbenchmark of hem(): forward and forward+backward at
 * B 1, C 64, K 64, T 3, η 0.5 for each N asked. Each pair is verified before it is timed, as
 * bench/hem.bench.ts does: ‖fused − unfused‖ / scale < 1e-4 for the output and, with the
 * backward, dX and dμ⁰ (dμ⁰ against max(‖ref‖, ‖∂E/∂μ⁽ᵀ⁾‖), see there why).
 */
import { hem, mul, randn, sum, sync, tidy, type HemOptions } from '../../src/index.browser.ts';
import { fusedErrors, hemOutputs, type HemBenchInputs } from '../../bench/hem-check.ts';
import type { BenchRow } from './protocol.ts';

const C = 64;
const K = 64;
const T = 3;
const ETA = 0.5;
const TOLERANCE = 1e-4;

type Inputs = HemBenchInputs;

/** The largest relative difference of fused against unfused over the outputs compared. */
async function verify(inp: Inputs, backward: boolean): Promise<number> {
  const opts: HemOptions = { eta: ETA, iterations: T };
  const f = await hemOutputs(inp, { ...opts, fused: true }, backward);
  const u = await hemOutputs(inp, { ...opts, fused: false }, backward);
  return Math.max(...fusedErrors(f, u));
}

/** Median wall time of `reps` calls (after one untimed call), each waited for with sync(). */
async function time(inp: Inputs, fused: boolean, backward: boolean, reps: number): Promise<number> {
  const call = async (): Promise<void> => {
    inp.x.zeroGrad();
    inp.mu0.zeroGrad();
    tidy(() => {
      const r = hem(inp.x, inp.mu0, { eta: ETA, iterations: T, fused });
      if (backward) sum(mul(r.out, inp.g)).backward();
    });
    await sync();
  };
  await call();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await call();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)]!;
}

/** Runs the table for each N, calling `onRow` as each row is done; a failed check is a row with verified false (not timed). */
export async function hemBenchmark(ns: readonly number[], onRow: (row: BenchRow) => void, reps = 3): Promise<void> {
  for (const N of ns) {
    const inp: Inputs = {
      x: randn([1, N, C], { seed: 100 + N, requiresGrad: true }).keep(),
      mu0: randn([K, C], { seed: 200, std: 1 / Math.sqrt(C), requiresGrad: true }).keep(),
      g: randn([1, N, C], { seed: 300 + N }).keep(),
    };
    try {
      for (const backward of [false, true]) {
        const shape = `B1 N${N} C${C} K${K} T${T}`;
        const pass = backward ? 'forward+backward' : 'forward';
        const maxError = await verify(inp, backward);
        if (!(maxError < TOLERANCE)) {
          onRow({ shape, pass, fusedMs: NaN, unfusedMs: NaN, maxError, verified: false });
          continue;
        }
        const fusedMs = await time(inp, true, backward, reps);
        const unfusedMs = await time(inp, false, backward, reps);
        onRow({ shape, pass, fusedMs, unfusedMs, maxError, verified: true });
      }
    } finally {
      inp.x.dispose();
      inp.mu0.dispose();
      inp.g.dispose();
    }
  }
}
