/**
 * The E-step γ = softmax(X μᵀ / √C), N = 4096 positions, K = 64 bases, C ∈ {64, 256}:
 * hemgpu's fused E-step kernel (hemEStep: logits and an online softmax in one pass, the logits
 * never stored), hemgpu composed from its matmul and fused softmax (two dispatches), and the
 * peers on the same adapter. Every case is checked against a float64 host E-step before timing.
 *   node scripts/run.mjs bench/estep.bench.ts [--peers=jax-js,tfjs-webgpu | --no-peers]
 */
import { hemEStep, matmul, softmax, tensor, tidy, type Tensor } from '../src/index.node.ts';
import { adapterLine, checkClose, peerCase, tensorCase, peerNames, randomArray, startBench, timeAndReport, type Case } from './common.ts';
import { loadPeers } from './peers/engines.ts';

const adapter = await startBench();
console.log(`# E-step on ${adapterLine(adapter)}`);
const peers = await loadPeers(adapter, peerNames());
const N = 4096;
const K = 64;

function reference(x: Float32Array, mu: Float32Array, C: number): Float64Array {
  const out = new Float64Array(N * K);
  const s = new Float64Array(K);
  for (let n = 0; n < N; n++) {
    let max = -Infinity;
    for (let k = 0; k < K; k++) {
      let d = 0;
      for (let c = 0; c < C; c++) d += x[n * C + c]! * mu[k * C + c]!;
      s[k] = d / Math.sqrt(C);
      max = Math.max(max, s[k]!);
    }
    let z = 0;
    for (let k = 0; k < K; k++) z += s[k] = Math.exp(s[k]! - max);
    for (let k = 0; k < K; k++) out[n * K + k] = s[k]! / z;
  }
  return out;
}

const cases: Case[] = [];
for (const C of [64, 256]) {
  const x = randomArray(N * C, 10 + C, 1.7); // unit-variance features
  const mu = randomArray(K * C, 20 + C, 1.7);
  const ref = reference(x, mu, C);
  // γ ∈ [0, 1] from logits of magnitude ~√C·1 with length-C dot products: ~1e-6 relative.
  const check = (got: Float32Array, name: string): void => checkClose(got, ref, 1e-7, 2e-5, name);
  const xt = tensor(x, [1, N, C]).keep();
  const mt = tensor(mu, [K, C]).keep();
  const shape = `N=${N} K=${K} C=${C}`;
  const ours = (name: string, f: () => Tensor): Case => tensorCase(`${name} ${shape}`, f, check, { N, K, C, engine: name });
  cases.push(ours('hemgpu fused', () => hemEStep(xt, mt)));
  cases.push(ours('hemgpu matmul+softmax', () => tidy(() => softmax(matmul(xt, mt, { transB: true }), { scale: 1 / Math.sqrt(C) }))));
  for (const p of peers) {
    const name = `${p.name} ${shape}`;
    cases.push(peerCase(name, p.estep(x, mu, N, C, K), (v) => check(v[0]!, name), { meta: { N, K, C, engine: p.name } }));
  }
}
await timeAndReport('estep', adapter, cases, peers, 'hemgpu fused', (a, b) => a.meta?.C === b.meta?.C);
process.exit(0);
