/**
 * The adapter's peak f32 FMA throughput and memory bandwidth, measured (WebGPU reports neither)
 * with the bench-only probes of bench/roofline.wgsl, for the roofline columns of
 * bench/hem-profile.ts. Each probe's output is checked against a host computation before it is
 * timed; timing is by GPU timestamps (Engine.profileKernels), the best of a few rounds.
 */
import { defineKernel, sync, tensor, Tensor, type Engine } from '../src/index.node.ts';
import rooflineWgsl from './roofline.wgsl';

const WG = 64;
const fmaPeak = /* @__PURE__ */ defineKernel('bench_fma_peak', rooflineWgsl, 'fma_peak');
const readSum = /* @__PURE__ */ defineKernel('bench_read_sum', rooflineWgsl, 'read_sum');
const copy = /* @__PURE__ */ defineKernel('bench_copy', rooflineWgsl, 'copy');

/** What the probes measured. */
export interface Peaks {
  /** f32 GFLOPS of fma_peak (an FMA counts 2). */
  gflops: number;
  /** GB/s (10⁹ bytes) of read_sum: bytes read. */
  readGBs: number;
  /** GB/s of copy: bytes read + bytes written. */
  copyGBs: number;
  /** The roofline's bandwidth: the larger of the two. */
  gbs: number;
  /** The probes' sizes, for the record. */
  sizes: { fmaInvocations: number; fmaIterations: number; streamBytes: number; streamInvocations: number };
}

/** Workgroups for `n` invocations (n a multiple of WG), spread over x and y. */
function groups(n: number, maxPerDim: number): [number, number, number] {
  const g = n / WG;
  const y = Math.ceil(g / maxPerDim);
  if (g % y) throw new Error(`roofline: ${n} invocations do not split into ${y} rows of workgroups`);
  return [g / y, y, 1];
}

/** Time `run` (one dispatch) `reps` times per round with timestamps; the best round's mean ms. */
async function bestMs(engine: Engine, name: string, run: () => void, reps: number, rounds = 5): Promise<number> {
  run();
  await sync(); // pipeline compiled, caches warm
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const prof = await engine.profileKernels(async () => {
      for (let i = 0; i < reps; i++) run();
      await sync();
    });
    const t = prof.get(name);
    if (!t || t.count !== reps) throw new Error(`roofline: expected ${reps} timed dispatches of ${name}, got ${t?.count ?? 0}`);
    best = Math.min(best, t.ms / t.count);
  }
  return best;
}

/**
 * Measure the peaks on the engine's adapter. Sized for the adapter: a GPU gets ~5·10¹¹ FLOPs and a
 * 256 MiB buffer (well past any L2), a CPU driver ~3·10⁸ FLOPs and 16 MiB (read by 2¹⁶ invocations,
 * SwiftShader's fastest of 2¹², 2¹⁶ and 2²⁰).
 */
export async function measurePeaks(engine: Engine): Promise<Peaks> {
  const soft = engine.adapterInfo.software;
  const maxPerDim = engine.limits.maxComputeWorkgroupsPerDimension;

  // Peak FMA: every lane of every chain steps by c = 2⁻¹⁰ (m = 1) 4·iterations times, exactly.
  const fmaInvocations = soft ? 4096 : 1 << 20;
  const iterations = soft ? 256 : 2048;
  const c = 2 ** -10;
  const fout = Tensor.empty([fmaInvocations], 'roofline fma_peak');
  const runFma = (): void =>
    fmaPeak.dispatch({
      bindings: { fout: fout.bind('roofline', 'read_write'), fp: { kind: 'uniform', values: { iterations, m: 1, c } } },
      overrides: { WG },
      workgroups: groups(fmaInvocations, maxPerDim),
    });
  runFma();
  const got = await fout.read();
  for (let i = 0; i < fmaInvocations; i++) {
    // Lanes start at s + j (s = i mod 64, j = 0..31) and end 4·iterations·c higher.
    const want = 32 * (i % 64) + 496 + 128 * iterations * c;
    if (got[i] !== want) throw new Error(`roofline fma_peak: invocation ${i} gave ${got[i]}, the host computes ${want}; not timed`);
  }
  const fmaMs = await bestMs(engine, 'bench_fma_peak', runFma, soft ? 3 : 10);
  fout.dispose();
  const gflops = (fmaInvocations * iterations * 4 * 8 * 4 * 2) / (fmaMs * 1e6);

  // Bandwidth: small integers, so every partial sum is exact in f32.
  const limit = Math.min(engine.limits.maxStorageBufferBindingSize, engine.limits.maxBufferSize);
  const streamBytes = Math.min(soft ? 16 << 20 : 256 << 20, Math.floor(limit / 16) * 16);
  const n = streamBytes / 4;
  const n4 = n / 4;
  const streamInvocations = soft ? 1 << 16 : 1 << 18;
  const host = new Float32Array(n);
  for (let i = 0; i < n; i++) host[i] = (i * 7) % 16;
  const src = tensor(host, [n]);
  const sums = Tensor.empty([streamInvocations], 'roofline read_sum');
  const dst = Tensor.empty([n], 'roofline copy');
  const params = { kind: 'uniform' as const, values: { n4, threads: streamInvocations } };
  const wg = groups(streamInvocations, maxPerDim);
  const runRead = (): void =>
    readSum.dispatch({ bindings: { rin: src.bind('roofline'), rout: sums.bind('roofline', 'read_write'), rp: params }, overrides: { WG }, workgroups: wg });
  const runCopy = (): void => copy.dispatch({ bindings: { cin: src.bind('roofline'), cout: dst.bind('roofline', 'read_write'), cp: params }, overrides: { WG }, workgroups: wg });
  runRead();
  const partial = await sums.read();
  const want = new Float64Array(streamInvocations);
  for (let j = 0; j < n4; j++) {
    const t = j % streamInvocations;
    want[t]! += host[4 * j]! + host[4 * j + 1]! + host[4 * j + 2]! + host[4 * j + 3]!;
  }
  for (let t = 0; t < streamInvocations; t++) {
    if (partial[t] !== want[t]) throw new Error(`roofline read_sum: invocation ${t} gave ${partial[t]}, the host computes ${want[t]}; not timed`);
  }
  runCopy();
  const copied = await dst.read();
  for (let i = 0; i < n; i++) {
    if (copied[i] !== host[i]) throw new Error(`roofline copy: element ${i} is ${copied[i]}, not ${host[i]}; not timed`);
  }
  const readMs = await bestMs(engine, 'bench_read_sum', runRead, soft ? 3 : 10);
  const copyMs = await bestMs(engine, 'bench_copy', runCopy, soft ? 3 : 10);
  for (const t of [src, sums, dst]) t.dispose();
  const readGBs = streamBytes / (readMs * 1e6);
  const copyGBs = (2 * streamBytes) / (copyMs * 1e6);
  return { gflops, readGBs, copyGBs, gbs: Math.max(readGBs, copyGBs), sizes: { fmaInvocations, fmaIterations: iterations, streamBytes, streamInvocations } };
}
