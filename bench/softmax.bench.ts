/**
 * The fused scaled softmax, softmax(s·Z) over the last axis, against the peers on the same
 * adapter: Z [4096, 64] (the E-step's logits: N = 4096 positions, K = 64 bases, s = 1/√C with
 * C = 64) and Z [1024, 1024] (long rows: one workgroup per row). Every case is checked against a
 * float64 host softmax before it is timed.
 *   node scripts/run.mjs bench/softmax.bench.ts [--peers=jax-js,tfjs-webgpu | --no-peers]
 */
import { softmax, sync, tensor, tidy } from '../src/index.node.ts';
import { adapterLine, checkClose, peerCase, peerNames, randomArray, recordResults, startBench, table, timeCases, type Case } from './common.ts';
import { loadPeers } from './peers/engines.ts';

const adapter = await startBench();
console.log(`# fused scaled softmax on ${adapterLine(adapter)}`);
const peers = await loadPeers(adapter, peerNames());

function reference(z: Float32Array, rows: number, cols: number, s: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let c = 0; c < cols; c++) max = Math.max(max, s * z[r * cols + c]!);
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += out[r * cols + c] = Math.exp(s * z[r * cols + c]! - max);
    for (let c = 0; c < cols; c++) out[r * cols + c]! /= sum;
  }
  return out;
}

const shapes: [number, number, number][] = [
  [4096, 64, 1 / 8],
  [1024, 1024, 1],
];
const cases: Case[] = [];
for (const [rows, cols, s] of shapes) {
  const z = randomArray(rows * cols, rows + cols, 4);
  const ref = reference(z, rows, cols, s);
  const shape = `[${rows}×${cols}] s=${s}`;
  // Each output is a ratio of exp(·) of logits up to |s·z| ≤ 4: a few ulp of relative error.
  const check = (got: Float32Array, name: string): void => checkClose(got, ref, 1e-7, 3e-6, name);
  const zt = tensor(z, [rows, cols]).keep();
  cases.push({
    name: `hemgpu ${shape}`,
    meta: { rows, cols, engine: 'hemgpu' },
    async verify() {
      const y = softmax(zt, { scale: s });
      check(await y.read(), `hemgpu ${shape}`);
      y.dispose();
    },
    async run() {
      tidy(() => {
        softmax(zt, { scale: s });
      });
      await sync();
    },
  });
  for (const p of peers) {
    const name = `${p.name} ${shape}`;
    cases.push(peerCase(name, p.softmax(z, rows, cols, s), (v) => check(v[0]!, name), { meta: { rows, cols, engine: p.name } }));
  }
}
const results = await timeCases(cases, adapter.software ? { rounds: 3, timePerRound: 300, iterations: 3 } : { rounds: 5, timePerRound: 300, iterations: 10 });
const ours = (rows: unknown, cols: unknown): number => results.find((r) => r.meta?.engine === 'hemgpu' && r.meta.rows === rows && r.meta.cols === cols)!.medianMs;
console.log(
  table(
    ['case', 'median ms', '± (MAD)', 'hemgpu ×'],
    results.map((r) => [r.name, r.medianMs.toFixed(2), r.madMs.toFixed(2), r.meta?.engine !== 'hemgpu' ? `${(r.medianMs / ours(r.meta?.rows, r.meta?.cols)).toFixed(2)}×` : '']),
  ),
);
const file = recordResults('softmax', adapter, { peers: peers.map((p) => ({ name: p.name, version: p.version })), cases: results });
console.log(`results: ${file}`);
process.exit(0);
