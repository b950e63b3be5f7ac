/**
 * What an operation costs on the adapter (issue 24): nanoseconds per invocation-operation of an
 * f32 multiply-add, a u32 division by a run-time divisor, a u32 multiply-add, f32 storage loads
 * in four address patterns (consecutive, the same address, 16 floats apart, vec4), a workgroup
 * memory load, and what a dispatch costs beside its work (an empty kernel: GPU time per dispatch,
 * and host time per dispatch recorded and submitted). Probes: bench/op-costs.wgsl; each probe's
 * output is recomputed on the host (every invocation) before it is timed; timing is by GPU
 * timestamps, the best of 5 rounds.   npm run bench -- ops
 */
import { defineKernel, init, sync, tensor, Tensor, type Engine } from '../src/index.node.ts';
import { adapterLine, recordResults, table } from './common.ts';
import opsWgsl from './op-costs.wgsl';

const WG = 64;
const probe = (entry: string) => /* @__PURE__ */ defineKernel(`bench_op_${entry}`, opsWgsl, entry);
const K = {
  fma_f32: probe('fma_f32'),
  div_u32: probe('div_u32'),
  mul_u32: probe('mul_u32'),
  load_seq: probe('load_seq'),
  load_same: probe('load_same'),
  load_stride: probe('load_stride'),
  load_vec4: probe('load_vec4'),
  load_wg: probe('load_wg'),
  empty: probe('empty'),
};

const engine: Engine = await init();
const soft = engine.adapterInfo.software;
const invocations = soft ? 1 << 14 : 1 << 20;
const iterations = soft ? 128 : 1024;
const SRC_FLOATS = 1 << 20;
const mask = SRC_FLOATS - 1;
const host = Float32Array.from({ length: SRC_FLOATS }, (_, i) => (i * 7) % 5);
const src = tensor(host, [SRC_FLOATS]).keep();
const out = Tensor.empty([invocations], 'bench', 'i32').keep();
const groups: [number, number, number] = [Math.min(invocations / WG, 4096), Math.ceil(invocations / WG / 4096), 1];
const params = { kind: 'uniform' as const, values: { iterations, m: 1, c: 2 ** -10, d: 3, k: 5, mask } };

const f32 = Math.fround;
/** The host's value of invocation i for each probe (bit patterns as u32). */
const expected: Record<keyof typeof K, (i: number) => number> = {
  fma_f32: (i) => {
    const x = Array.from({ length: 8 }, (_, j) => f32((i % 64) + j));
    for (let t = 0; t < iterations; t++) for (let j = 0; j < 8; j++) x[j] = f32(f32(x[j]! * 1) + 2 ** -10);
    const v = f32(f32(f32(x[0]! + x[1]!) + f32(x[2]! + x[3]!)) + f32(f32(x[4]! + x[5]!) + f32(x[6]! + x[7]!)));
    return new Uint32Array(Float32Array.of(v).buffer)[0]!;
  },
  div_u32: (i) => {
    const x = Array.from({ length: 8 }, (_, j) => (i + j) >>> 0);
    for (let t = 0; t < iterations; t++) for (let j = 0; j < 8; j++) x[j] = (Math.floor(x[j]! / 3) + 5) >>> 0;
    return x.reduce((a, b) => a + b, 0) >>> 0;
  },
  mul_u32: (i) => {
    const x = Array.from({ length: 8 }, (_, j) => (i + j) >>> 0);
    for (let t = 0; t < iterations; t++) for (let j = 0; j < 8; j++) x[j] = (Math.imul(x[j]!, 3) + 5) >>> 0;
    return (x[0]! + x[1]! + (x[2]! + x[3]!) + (x[4]! + x[5]! + (x[6]! + x[7]!))) >>> 0;
  },
  load_seq: (i) => loadSum(i),
  load_same: (i) => loadSum(Math.floor(i / WG) * 8),
  load_stride: (i) => loadSum(i * 16),
  load_vec4: (i) => {
    let s = 0;
    for (let t = 0; t < iterations; t++) for (let c = 0; c < 8; c++) for (let q = 0; q < 4; q++) s += host[(((i + t * 512 + c * 64) & (mask >> 2)) << 2) + q]!;
    return s;
  },
  load_wg: (i) => {
    const lid = i % WG;
    let s = 0;
    for (let t = 0; t < iterations; t++) for (let c = 0; c < 8; c++) s += host[(lid + t * 8 + c * 64) & 511]!;
    return s;
  },
  empty: (i) => (i + 5) >>> 0,
};

function loadSum(lane: number): number {
  let s = 0;
  for (let t = 0; t < iterations; t++) for (let c = 0; c < 8; c++) s += host[(lane + t * 512 + c * 64) & mask]!;
  return s;
}

function run(name: keyof typeof K, workgroups: [number, number, number] = groups): void {
  const k = K[name];
  if (name === 'load_vec4') {
    k.dispatch({ bindings: { src4: src.bind('bench'), out4: out.bind('bench', 'read_write'), p4: params }, overrides: { WG }, workgroups });
  } else if (name.startsWith('load')) {
    k.dispatch({ bindings: { src: src.bind('bench'), out: out.bind('bench', 'read_write'), p: params }, overrides: { WG }, workgroups });
  } else {
    k.dispatch({ bindings: { out: out.bind('bench', 'read_write'), p: params }, overrides: { WG }, workgroups });
  }
}

async function bestMs(name: keyof typeof K, reps: number, workgroups = groups): Promise<number> {
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const prof = await engine.profileKernels(async () => {
      for (let i = 0; i < reps; i++) run(name, workgroups);
      await sync();
    });
    const t = prof.get(`bench_op_${name}`)!;
    best = Math.min(best, t.ms / t.count);
  }
  return best;
}

console.log(`# What one operation costs per invocation on ${adapterLine(engine.adapterInfo)}: ${invocations} invocations × ${iterations} trips × 8 chains\n`);
const rows: (string | number)[][] = [];
const report: Record<string, unknown> = { invocations, iterations };
let fmaNs = 0;
for (const name of Object.keys(K) as (keyof typeof K)[]) {
  if (name === 'empty') continue;
  run(name);
  const got = new Uint32Array((await out.read()).buffer);
  for (let i = 0; i < invocations; i++) {
    const want = expected[name](i);
    if (got[i] !== want) throw new Error(`op-costs ${name}: invocation ${i} gave ${got[i]}, the host computes ${want}; not timed`);
  }
  const ms = await bestMs(name, 3);
  const ns = (ms * 1e6) / (invocations * iterations * 8);
  if (name === 'fma_f32') fmaNs = ns;
  report[name] = { ms, nsPerOp: ns };
  rows.push([name, ms.toFixed(2), ns.toFixed(3), (ns / fmaNs).toFixed(1)]);
}
console.log(table(['probe', 'ms per dispatch', 'ns per invocation-op', '× an f32 FMA'], rows));

// A dispatch beside its work: one workgroup of the empty kernel, GPU time, and host time of 256
// dispatches recorded and submitted (the engine batches them) then synced.
run('empty', [1, 1, 1]);
const gotEmpty = new Uint32Array((await out.read()).buffer);
for (let i = 0; i < WG; i++) if (gotEmpty[i] !== expected.empty(i)) throw new Error(`op-costs empty: invocation ${i} gave ${gotEmpty[i]}; not timed`);
const gpuMs = await bestMs('empty', 64, [1, 1, 1]);
let hostMs = Infinity;
for (let r = 0; r < 5; r++) {
  await sync();
  const t0 = performance.now();
  for (let i = 0; i < 256; i++) run('empty', [1, 1, 1]);
  await sync();
  hostMs = Math.min(hostMs, (performance.now() - t0) / 256);
}
report.dispatch = { gpuMs, wallMs: hostMs };
console.log(
  `\nan empty dispatch (one workgroup of ${WG}): ${(gpuMs * 1000).toFixed(1)} µs of GPU time (its own pass, as profiled); ${(hostMs * 1000).toFixed(1)} µs each in a batch of 256 recorded, submitted and waited for`,
);
const file = recordResults('op-costs', engine.adapterInfo, report);
console.log(`recorded in ${file}`);
