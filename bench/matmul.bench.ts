/**
 * Matmul GFLOPS: square n³ for n ∈ {256, 512, 1024} (and 2048, 4096 on a GPU) and the HEM
 * layer's two products (E-step logits X·Mᵀ: [4096×64]·[64×64]ᵀ; N-step γᵀX:
 * [4096×64]ᵀ·[4096×256]); the squares also on the other kernel path (register tiling vs
 * workgroup-memory tiling: the installed config's case is `hemgpu`, the other kind's
 * `hemgpu-register` / `hemgpu-shared`, its config the tuner's fastest of that kind with --tune
 * and the first candidate of that kind otherwise) and on the peers (jax-js, tfjs-webgpu) on the
 * same adapter, all alternating. Every case, the peers' included, is checked against a
 * float64 host reference before it is timed.
 * Flags: --tune (time the tile-shape candidates first and use the fastest), --quick (skip 1024),
 * --full (2048³ and 4096³ on a CPU driver too), --peers=jax-js,tfjs-webgpu | --no-peers.
 *   node scripts/run.mjs bench/matmul.bench.ts [--tune] [--quick | --full] [--no-peers]
 */
import { NARROW_BELOW_N, NARROW_MATMUL_CONFIG, SMALL_BLOCKED_MATMUL_CONFIG, usesWideDefault, usesNarrowDefault, WIDE_MATMUL_CONFIG } from '../src/kernels/matmul-config.ts';
import {
  getMatmulConfig,
  matmul,
  MATMUL_CANDIDATES,
  resetMatmulConfig,
  setMatmulConfig,
  sync,
  tensor,
  tidy,
  tuneMatmul,
  type MatmulConfig,
  type Tensor,
  type TuneResult,
} from '../src/index.node.ts';
import { adapterLine, checkClose, describeMatmulConfig, peerCase, peerNames, randomArray, recordResults, startBench, table, timeCases, type Case } from './common.ts';
import { loadPeers } from './peers/engines.ts';

const args = new Set(process.argv.slice(2));
const adapter = await startBench();
console.log(`# matmul on ${adapterLine(adapter)}`);

let tuning: TuneResult[] | null = null;
if (args.has('--tune')) {
  const res = await tuneMatmul({ n: adapter.software ? 512 : 2048, reps: adapter.software ? 3 : 10 });
  console.log(
    table(
      ['config', adapter.software ? 'ms (512³)' : 'ms (2048³)', 'GFLOPS'],
      res.map((r) => [describeMatmulConfig(r.config), r.ms.toFixed(1), r.gflops.toFixed(2)]),
    ),
  );
  tuning = res;
} else if (process.env.HEMGPU_MATMUL_CONFIG) {
  setMatmulConfig(JSON.parse(process.env.HEMGPU_MATMUL_CONFIG));
}
const cfg = getMatmulConfig();
// Neither tuned nor given: the cases of the installed config run the library's defaults as a user
// gets them (on a CPU driver, wide, narrow and small products take WIDE_, NARROW_ and SMALL_BLOCKED_MATMUL_CONFIG), not cfg set explicitly.
const defaults = !tuning && !process.env.HEMGPU_MATMUL_CONFIG;
const install = (c: MatmulConfig): void => (defaults && c === cfg ? resetMatmulConfig() : setMatmulConfig(c));
const kindOf = (c: MatmulConfig): 'register' | 'shared' => (c.kind === 'shared' ? 'shared' : 'register');
/** Each kernel path's config: the installed one for its kind, else the tuner's fastest of the other kind, else the first candidate. */
const paths = Object.fromEntries(
  (['register', 'shared'] as const).map((kind) => [
    kind,
    kindOf(cfg) === kind ? cfg : (tuning?.find((r) => kindOf(r.config) === kind)?.config ?? MATMUL_CANDIDATES.find((c) => kindOf(c) === kind)!),
  ]),
) as Record<'register' | 'shared', MatmulConfig>;
console.log(
  `installed config: ${describeMatmulConfig(cfg)}${
    defaults && adapter.software
      ? `; products with N ≥ ${NARROW_BELOW_N}: ${describeMatmulConfig(WIDE_MATMUL_CONFIG)}, with N < ${NARROW_BELOW_N}: ${describeMatmulConfig(NARROW_MATMUL_CONFIG)}, ` +
        `small ones of 8 or more 16 × 16 blocks: ${describeMatmulConfig(SMALL_BLOCKED_MATMUL_CONFIG)} (the CPU-driver defaults)`
      : ''
  }`,
);
console.log(`other path: ${describeMatmulConfig(paths[kindOf(cfg) === 'shared' ? 'register' : 'shared'])}`);

/** Host reference of op(A)·op(B) in float64. */
function reference(a: Float32Array, b: Float32Array, M: number, N: number, K: number, transA: boolean, transB: boolean): Float64Array {
  const c = new Float64Array(M * N);
  const bt = new Float64Array(K * N); // B as [K, N]
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) bt[k * N + n] = transB ? b[n * K + k]! : b[k * N + n]!;
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) {
      const av = transA ? a[k * M + m]! : a[m * K + k]!;
      if (av === 0) continue;
      const row = k * N;
      const out = m * N;
      for (let n = 0; n < N; n++) c[out + n] += av * bt[row + n]!;
    }
  }
  return c;
}

/** Float64 values of op(A)·op(B) at `count` sampled (row, col) pairs, for products too big for a full host reference. */
function sampledCheck(got: Float32Array, a: Float32Array, b: Float32Array, M: number, N: number, K: number, transA: boolean, transB: boolean, name: string): void {
  const pick = randomArray(2000, 99);
  for (let s = 0; s < 1000; s++) {
    const m = Math.floor(((pick[2 * s]! + 1) / 2) * M) % M;
    const n = Math.floor(((pick[2 * s + 1]! + 1) / 2) * N) % N;
    let ref = 0;
    for (let k = 0; k < K; k++) ref += (transA ? a[k * M + m]! : a[m * K + k]!) * (transB ? b[n * K + k]! : b[k * N + n]!);
    const err = Math.abs(got[m * N + n]! - ref);
    if (!(err <= 2e-6 * K + 1e-4 * Math.abs(ref))) throw new Error(`${name}: C[${m}, ${n}] = ${got[m * N + n]} but the reference is ${ref}`);
  }
}

/** Checks a product's result: against the float64 reference (sampled for the largest). */
function checkProduct(got: Float32Array, ha: Float32Array, hb: Float32Array, M: number, N: number, K: number, transA: boolean, transB: boolean, name: string): void {
  // f32 dot products of K terms in [-1, 1]: errors grow ~ √K·2⁻²⁴·|terms|; 2e-6·K bounds it with room.
  if (M * N * K > 2 ** 31) sampledCheck(got, ha, hb, M, N, K, transA, transB, name);
  else checkClose(got, reference(ha, hb, M, N, K, transA, transB), 2e-6 * K, 1e-4, name);
}

const inputsFor = (M: number, N: number, K: number): [Float32Array, Float32Array] => [randomArray(M * K, M * 7 + K), randomArray(K * N, N * 13 + K)];

/** hemgpu's product under `config` (set before every call: the cases of both paths alternate). */
function mmCase(name: string, config: MatmulConfig, M: number, N: number, K: number, transA = false, transB = false): Case {
  const engine = config === cfg ? 'hemgpu' : `hemgpu-${kindOf(config)}`;
  const [ha, hb] = inputsFor(M, N, K);
  let a: Tensor | null = null;
  let b: Tensor | null = null;
  const tensors = (): [Tensor, Tensor] => {
    a ??= tensor(ha, transA ? [K, M] : [M, K]).keep();
    b ??= tensor(hb, transB ? [N, K] : [K, N]).keep();
    return [a, b];
  };
  return {
    name,
    flops: 2 * M * N * K,
    meta: { M, N, K, op: `${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'}`, engine, kind: kindOf(config) },
    async verify() {
      const [ta, tb] = tensors();
      install(config);
      const c = matmul(ta, tb, { transA, transB });
      const got = await c.read();
      c.dispose();
      checkProduct(got, ha, hb, M, N, K, transA, transB, name);
    },
    async run() {
      const [ta, tb] = tensors();
      install(config);
      tidy(() => {
        matmul(ta, tb, { transA, transB });
      });
      await sync();
    },
  };
}

const squares = [256, 512, ...(args.has('--quick') ? [] : [1024]), ...(adapter.software && !args.has('--full') ? [] : [2048, 4096])];
const peers = await loadPeers(adapter, peerNames());
const cases: Case[] = [];
for (const n of squares) {
  cases.push(mmCase(`${n}³`, cfg, n, n, n));
  const other = paths[kindOf(cfg) === 'shared' ? 'register' : 'shared'];
  cases.push(mmCase(`${n}³ ${kindOf(other)}`, other, n, n, n));
  const [ha, hb] = inputsFor(n, n, n);
  for (const p of peers) {
    const call = p.matmul(ha, hb, n);
    const name = `${p.name} ${n}³`;
    cases.push(peerCase(name, call, (v) => checkProduct(v[0]!, ha, hb, n, n, n, false, false, name), { flops: 2 * n ** 3, meta: { M: n, N: n, K: n, op: 'A·B', engine: p.name } }));
  }
}
cases.push(mmCase('E-step X·Mᵀ [4096×64]·[64×64]ᵀ', cfg, 4096, 64, 64, false, true), mmCase('N-step γᵀX [4096×64]ᵀ·[4096×256]', cfg, 64, 256, 4096, true, false));
const results = await timeCases(cases, adapter.software ? { rounds: 3, timePerRound: 400, iterations: 3 } : { rounds: 5, timePerRound: 300, iterations: 10 });
const ours = (n: unknown): number | undefined => results.find((r) => r.meta?.engine === 'hemgpu' && r.meta.M === n && r.meta.N === n && r.meta.K === n)?.gflops;
console.log(
  table(
    ['case', 'median ms', '± (MAD)', 'GFLOPS', 'hemgpu ×'],
    results.map((r) => [
      r.name,
      r.medianMs.toFixed(2),
      r.madMs.toFixed(2),
      r.gflops!.toFixed(2),
      r.meta?.engine !== 'hemgpu' ? `${(ours(r.meta?.M)! / r.gflops!).toFixed(2)}×` : '',
    ]),
  ),
);
install(cfg);
const square = (kind: string, n: number): number | undefined =>
  results.find((r) => r.meta?.kind === kind && String(r.meta?.engine).startsWith('hemgpu') && r.meta.M === n && r.meta.N === n && r.meta.K === n)?.gflops;
const pathRows = squares.map((n) => ({ n, register: square('register', n)!, shared: square('shared', n)! }));
console.log(`\nkernel paths: register = ${describeMatmulConfig(paths.register)}; shared = ${describeMatmulConfig(paths.shared)}`);
console.log(
  table(
    ['product', 'register GFLOPS', 'shared GFLOPS', 'shared ÷ register'],
    pathRows.map((r) => [`${r.n}³`, r.register.toFixed(2), r.shared.toFixed(2), `${(r.shared / r.register).toFixed(2)}×`]),
  ),
);
const file = recordResults('matmul', adapter, {
  config: cfg,
  wide: defaults && usesWideDefault() ? WIDE_MATMUL_CONFIG : null,
  narrow: usesNarrowDefault() ? NARROW_MATMUL_CONFIG : null,
  narrowBelowN: NARROW_BELOW_N,
  smallBlocked: usesNarrowDefault() ? SMALL_BLOCKED_MATMUL_CONFIG : null,
  paths: { register: paths.register, shared: paths.shared, rows: pathRows.map((r) => ({ ...r, sharedOverRegister: r.shared / r.register })) },
  tuning,
  peers: peers.map((p) => ({ name: p.name, version: p.version, adapter: p.adapter })),
  cases: results,
});
console.log(`results: ${file}`);
process.exit(0);
