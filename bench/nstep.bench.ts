/**
 * The N-step μ' = (1 − η) μ + η F, F = γᵀX / (N + ε), N_k = Σ_n γ_nk, with N = 4096 positions,
 * K = 64 bases, C ∈ {64, 256}, η = 0.5: hemgpu's fused N-step (hemNStep: a chunked reduction
 * over N computing γᵀX and Σγ together, then one finishing kernel), hemgpu composed from its core
 * ops (sum, matmul with transA, div, the highway), and the peers on the same adapter. Every case
 * is checked against a float64 host N-step before timing.
 *   node scripts/run.mjs bench/nstep.bench.ts [--peers=jax-js,tfjs-webgpu | --no-peers]
 */
import { HEM_EPS, add, div, hemNStep, matmul, mul, reshape, sum, tensor, tidy, type Tensor } from '../src/index.node.ts';
import { adapterLine, checkClose, peerCase, tensorCase, peerNames, randomArray, startBench, timeAndReport, type Case } from './common.ts';
import { loadPeers } from './peers/engines.ts';

const adapter = await startBench();
console.log(`# N-step on ${adapterLine(adapter)}`);
const peers = await loadPeers(adapter, peerNames());
const N = 4096;
const K = 64;
const eta = 0.5;

function reference(x: Float32Array, g: Float32Array, mu: Float32Array, C: number): Float64Array {
  const out = new Float64Array(K * C);
  const counts = new Float64Array(K);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) counts[k] += g[n * K + k]!;
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const w = g[n * K + k]!;
      for (let c = 0; c < C; c++) out[k * C + c] += w * x[n * C + c]!;
    }
  }
  for (let k = 0; k < K; k++) for (let c = 0; c < C; c++) out[k * C + c] = (1 - eta) * mu[k * C + c]! + (eta * out[k * C + c]!) / (counts[k]! + HEM_EPS);
  return out;
}

/** Rows of a softmax: responsibilities as the E-step leaves them. */
function responsibilities(seed: number): Float32Array {
  const z = randomArray(N * K, seed, 3);
  const g = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += g[n * K + k] = Math.exp(z[n * K + k]!);
    for (let k = 0; k < K; k++) g[n * K + k]! /= s;
  }
  return g;
}

const cases: Case[] = [];
for (const C of [64, 256]) {
  const x = randomArray(N * C, 30 + C, 1.7);
  const mu = randomArray(K * C, 40 + C, 0.2);
  const g = responsibilities(50 + C);
  const ref = reference(x, g, mu, C);
  // F is a weighted mean of N = 4096 values of magnitude ≤ 1.7: f32 sums of that length stay
  // within ~1e-5 of the mean's scale.
  const check = (got: Float32Array, name: string): void => checkClose(got, ref, 2e-5, 1e-4, name);
  const xt = tensor(x, [1, N, C]).keep();
  const gt = tensor(g, [1, N, K]).keep();
  const mt = tensor(mu, [K, C]).keep();
  const shape = `N=${N} K=${K} C=${C}`;
  const ours = (name: string, f: () => Tensor): Case => tensorCase(`${name} ${shape}`, f, check, { N, K, C, engine: name });
  cases.push(ours('hemgpu fused', () => hemNStep(xt, gt, mt, { eta })));
  cases.push(
    ours('hemgpu composed', () =>
      tidy(() => {
        const counts = reshape(sum(gt, 1), [1, K, 1]);
        const F = div(matmul(gt, xt, { transA: true }), add(counts, HEM_EPS));
        return add(mul(mt, 1 - eta), mul(F, eta));
      }),
    ),
  );
  for (const p of peers) {
    const name = `${p.name} ${shape}`;
    cases.push(peerCase(name, p.nstep(x, g, mu, N, C, K, eta), (v) => check(v[0]!, name), { meta: { N, K, C, engine: p.name } }));
  }
}
await timeAndReport('nstep', adapter, cases, peers, 'hemgpu fused', (a, b) => a.meta?.C === b.meta?.C);
process.exit(0);
