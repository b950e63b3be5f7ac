/**
 * The fused scaled softmax, softmax(s·Z) over the last axis, against the peers on the same
 * adapter: Z [4096, 64] (the E-step's logits: N = 4096 positions, K = 64 bases, s = 1/√C with
 * C = 64) and Z [1024, 1024] (long rows: one workgroup per row). Every case is checked against a
 * float64 host softmax before it is timed.
 *   node scripts/run.mjs bench/softmax.bench.ts [--peers=jax-js,tfjs-webgpu | --no-peers]
 */
import { softmax, tensor } from '../src/index.node.ts';
import { adapterLine, checkClose, peerCase, peerNames, randomArray, startBench, tensorCase, timeAndReport, type Case } from './common.ts';
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
  cases.push(tensorCase(`hemgpu ${shape}`, () => softmax(zt, { scale: s }), check, { rows, cols, engine: 'hemgpu' }));
  for (const p of peers) {
    const name = `${p.name} ${shape}`;
    cases.push(peerCase(name, p.softmax(z, rows, cols, s), (v) => check(v[0]!, name), { meta: { rows, cols, engine: p.name } }));
  }
}
await timeAndReport('softmax', adapter, cases, peers, 'hemgpu', (a, b) => a.meta?.rows === b.meta?.rows && a.meta?.cols === b.meta?.cols);
process.exit(0);
