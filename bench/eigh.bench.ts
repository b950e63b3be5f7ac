/**
 * eigh: the batched symmetric eigendecomposition (values and vectors), forward and
 * forward+backward, batch 64 of random symmetric matrices at d ∈ {16, 32, 64, 128}, against
 * jax-js's numpy.linalg.eigh on the same adapter (forward only: jax-js's eigh has no derivative
 * rule; tfjs has no eigh) and PyTorch CPU float32 (torch.linalg.eigh, bench/peers/torch_eigh.py,
 * on the same matrices, when python3 has torch).
 * forward+backward: the gradient w.r.t. A of L = Σ_b [Σ_i w_i λ_bi + Σ_i c_i u_biᵀ G u_bi]
 * (fixed random w, c and symmetric G; invariant to each vector's sign).
 * Every engine's result is checked against float64 references before it is timed
 * (bench/eigh-check.ts): eigenvalues, orthogonality, residual, and the gradient.
 *   node scripts/run.mjs bench/eigh.bench.ts [--quick | --sizes=16,32,...] [--no-peers | --peers=jax-js,jax-js-eager] [--no-torch]
 * --quick: d ∈ {16, 32}. Timing on a CPU driver: three alternating rounds per engine, each case called
 * until the round has spent 1.5 s on it (at least once), so every median is from ≥ 3 calls. A
 * case whose verification call takes over 60 s (jax-js at d = 128: minutes on SwiftShader) is
 * not called again: that one verified call's time is its result, reported as a single call (it
 * includes compilation and the readback, seconds at most against minutes). jax-js-eager runs at
 * d ≤ 64 only unless --full: jax-js cannot compile its eigh routine (jacobi_eigh), so jit and
 * eager run the same kernels for it, and one more call of minutes would say nothing new.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { add, eigh, matmul, mul, sum, sync, tensor, tidy, type EighMethod, type Tensor } from '../src/index.node.ts';
import { defaultEighMethod } from '../src/kernels/eigh.ts';
import { adapterLine, peerCase, peerNames, recordResults, startBench, table, timeCases, type Case, type CaseResult } from './common.ts';
import { eighErrors, eighInputs, gradientErrors, referenceGradient, references, type EighErrors, type EighInputs } from './eigh-check.ts';
import { loadPeers } from './peers/engines.ts';

const BATCH = 64;
/** A case whose verification call takes longer than this is reported by that call alone. */
const SINGLE_CALL_MS = 60_000;
/** jax-js-eager above this d only with --full (file comment). */
const EAGER_MAX_D = 64;
/**
 * f32 bounds on the checks (bench/eigh-check.ts; ε = 2⁻²³ ≈ 1.2e-7), as multiples of ε and d
 * (Jacobi's errors grow with d). Measured on these inputs (hemgpu and jax-js, d ≤ 128):
 * eigenvalue errors ≤ 1.8·d·ε of max|λ|, ‖UᵀU − I‖_F ≤ 1.5·d^1.5·ε, residuals ≤ 1.5·d·ε
 * (d = 128: 2.7e-5, 2.5e-4, 2.3e-5). Bounds of 8× those scales leave ≥ 4× margin; a wrong
 * eigenpair is off by O(1).
 */
const EPS = 2 ** -23;
const bound = (d: number): EighErrors => ({ values: 8 * d * EPS, orthogonality: 8 * d ** 1.5 * EPS, residual: 8 * d * EPS });
/**
 * The gradient, per matrix: ‖ĝ − g‖_F / ‖g‖_F ≤ GRAD_BOUND · ε · max|λ|/(smallest gap) (its vector
 * terms carry 1/(λ_i − λ_j)). Measured: hemgpu ≤ 22 (d = 64; relative 3.5e-3), PyTorch ≤ 4.3
 * (2.0e-4): hemgpu's f32 Jacobi vectors are less orthogonal than LAPACK's at d ≥ 64. Bound 100:
 * 4.5× margin; a wrong rule is off by O(1) relative.
 */
const GRAD_BOUND = 100;

const argv = process.argv.slice(2);
const sizesFlag = argv.find((a) => a.startsWith('--sizes='));
const sizes = sizesFlag ? sizesFlag.slice('--sizes='.length).split(',').map(Number) : argv.includes('--quick') ? [16, 32] : [16, 32, 64, 128];
if (!sizes.every((d) => Number.isInteger(d) && d >= 2 && d <= 128)) throw new Error(`--sizes: integers in [2, 128], got ${sizesFlag}`);

const adapter = await startBench();
console.log(`# eigh, batch ${BATCH}, d ∈ {${sizes.join(', ')}}, on ${adapterLine(adapter)}`);
const requested = peerNames();
const peers = await loadPeers(
  adapter,
  requested.filter((n) => n !== 'tfjs-webgpu'),
);
if (requested.includes('tfjs-webgpu')) console.log('tfjs-webgpu: not compared (TensorFlow.js has no eigh).');
if (peers.length) console.log(`${peers.map((p) => p.name).join(', ')}: forward only (jax-js's eigh has no derivative rule, so no forward+backward case).`);

const inputs = new Map<number, EighInputs>(sizes.map((d) => [d, eighInputs(BATCH, d, 1300 + d)]));
let t = performance.now();
const refs = new Map(sizes.map((d) => [d, references(inputs.get(d)!)]));
const grads = new Map(sizes.map((d) => [d, referenceGradient(inputs.get(d)!, refs.get(d)!)]));
console.log(`float64 references: ${((performance.now() - t) / 1000).toFixed(1)} s`);

/** What the last check measured, printed with its case's verification. */
let lastCheck = '';
const fmtErr = (e: EighErrors): string => `values ${e.values.toExponential(1)}, ‖UᵀU − I‖ ${e.orthogonality.toExponential(1)}, residual ${e.residual.toExponential(1)}`;
function checkEigh(what: string, d: number, values: Float32Array, vectors: Float32Array): void {
  const e = eighErrors(inputs.get(d)!, refs.get(d)!, values, vectors);
  const b = bound(d);
  for (const k of Object.keys(b) as (keyof EighErrors)[]) {
    if (!(e[k] <= b[k])) throw new Error(`${what}: ${k} error ${e[k]} > ${b[k].toExponential(2)} (${fmtErr(e)})`);
  }
  lastCheck = fmtErr(e);
}
function checkGrad(what: string, d: number, got: Float32Array, symmetrise = false): void {
  const e = gradientErrors(inputs.get(d)!, refs.get(d)!, got, grads.get(d)!, symmetrise);
  if (!(e.conditioned <= GRAD_BOUND)) throw new Error(`${what}: gradient error ${e.relative} relative, ${e.conditioned} × ε·max|λ|/gap > ${GRAD_BOUND}`);
  lastCheck = `gradient ${e.relative.toExponential(1)} relative, ${e.conditioned.toFixed(1)} × ε·max|λ|/gap`;
}

// ----------------------------------------------------------------------------- PyTorch CPU (first)

interface TorchTiming {
  ms: number;
  mad_ms: number;
  min_ms: number;
  calls: number;
}
interface TorchOut {
  torch: string;
  threads: number;
  cpu: string;
  cores: number;
  sizes: { d: number; forward: TorchTiming; forward_backward: TorchTiming }[];
}

/** torch_eigh.py on the same matrices, its values and gradient checked here; null if python3 has no torch. */
function runTorch(): { info: Omit<TorchOut, 'sizes'>; cases: CaseResult[] } | null {
  if (argv.includes('--no-torch')) return null;
  const python = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0);
  if (!python) {
    console.log('PyTorch CPU: not measured (no python3 with torch and numpy; Debian/Ubuntu: sudo apt-get install python3-torch).');
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'hemgpu-eigh-'));
  try {
    for (const [d, inp] of inputs) {
      for (const [k, v] of Object.entries({ A: inp.a, w: inp.w, c: inp.c, G: inp.g })) writeFileSync(join(dir, `${k}_${d}.f32`), v);
    }
    const started = performance.now();
    const r = spawnSync(python, [join('bench', 'peers', 'torch_eigh.py'), dir, String(BATCH), sizes.join(',')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`bench/peers/torch_eigh.py failed (exit ${r.status ?? r.signal})`);
    const out = JSON.parse(r.stdout) as TorchOut;
    console.log(`PyTorch ${out.torch} CPU float32 (${out.threads} thread(s), ${out.cpu}): ${((performance.now() - started) / 1000).toFixed(0)} s`);
    const read = (f: string): Float32Array => {
      const b = readFileSync(join(dir, f));
      return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    };
    const cases: CaseResult[] = [];
    for (const s of out.sizes) {
      const d = s.d;
      // PyTorch's vectors stay in Python (torch_eigh.py checks them); its values and gradient here.
      const vals = read(`torch_values_${d}.f32`);
      const ref = refs.get(d)!;
      let dv = 0;
      for (let b = 0; b < BATCH; b++) {
        const scale = Math.max(...ref[b]!.values.map(Math.abs));
        for (let i = 0; i < d; i++) dv = Math.max(dv, Math.abs(vals[b * d + i]! - ref[b]!.values[i]!) / scale);
      }
      if (!(dv <= bound(d).values)) throw new Error(`pytorch-cpu d=${d}: values error ${dv} > ${bound(d).values}`);
      // torch.linalg.eigh reads one triangle; its gradient symmetrised is that of the symmetric map.
      checkGrad(`pytorch-cpu forward+backward d=${d}`, d, read(`torch_grad_${d}.f32`), true);
      console.log(`  verified pytorch-cpu d=${d}: values ${dv.toExponential(1)}, ${lastCheck}`);
      for (const [pass, tm] of [
        ['forward', s.forward],
        ['forward+backward', s.forward_backward],
      ] as const) {
        cases.push({ name: `pytorch-cpu ${pass} d=${d}`, medianMs: tm.ms, madMs: tm.mad_ms, minMs: tm.min_ms, samples: tm.calls, meta: { d, engine: 'pytorch-cpu', pass } });
      }
    }
    return { info: { torch: out.torch, threads: out.threads, cpu: out.cpu, cores: out.cores }, cases };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const torch = runTorch();

// ------------------------------------------------------------------------------- hemgpu and jax-js

/** The eigh kernel the default does not use at d on this adapter. */
const OTHER = (d: number): EighMethod => (defaultEighMethod(d) === 'jacobi' ? 'tridiagonal' : 'jacobi');

function hemgpuCases(d: number): Case[] {
  const inp = inputs.get(d)!;
  const a = tensor(inp.a, [BATCH, d, d]).keep();
  const ag = tensor(inp.a, [BATCH, d, d], { requiresGrad: true }).keep();
  const w = tensor(inp.w, [d]).keep();
  const c = tensor(inp.c, [d]).keep();
  const g = tensor(inp.g, [d, d]).keep();
  /** L (file comment), backward into ag.grad. */
  const lossBackward = (): void => {
    ag.zeroGrad();
    tidy(() => {
      const { values, vectors } = eigh(ag);
      const quad = mul(mul(vectors, matmul(g, vectors)), c); // u_ki (G u_i)_k c_i
      add(sum(mul(values, w)), sum(quad)).backward();
    });
  };
  const meta = (pass: string): Record<string, string | number> => ({ d, engine: 'hemgpu', pass });
  return [
    {
      name: `hemgpu forward d=${d}`,
      meta: meta('forward'),
      async verify() {
        const r = eigh(a);
        const [values, vectors] = [await r.values.read(), await r.vectors.read()];
        for (const x of [r.values, r.vectors] as Tensor[]) x.dispose();
        checkEigh(`hemgpu forward d=${d}`, d, values, vectors);
      },
      async run() {
        tidy(() => {
          eigh(a);
        });
        await sync();
      },
    },
    {
      // The other kernel, for the ratio between them in one run (eigh's default on this adapter: ${'$'}{defaultEighMethod(d)}).
      name: `hemgpu-${OTHER(d)} forward d=${d}`,
      meta: { d, engine: `hemgpu-${OTHER(d)}`, pass: 'forward' },
      async verify() {
        const r = eigh(a, { method: OTHER(d) });
        const [values, vectors] = [await r.values.read(), await r.vectors.read()];
        for (const x of [r.values, r.vectors] as Tensor[]) x.dispose();
        checkEigh(`hemgpu-${OTHER(d)} forward d=${d}`, d, values, vectors);
      },
      async run() {
        tidy(() => {
          eigh(a, { method: OTHER(d) });
        });
        await sync();
      },
    },
    {
      name: `hemgpu forward+backward d=${d}`,
      meta: meta('forward+backward'),
      async verify() {
        lossBackward();
        checkGrad(`hemgpu forward+backward d=${d}`, d, await ag.grad!.read());
      },
      async run() {
        lossBackward();
        await sync();
      },
    },
  ];
}

function peerCases(d: number): Case[] {
  const inp = inputs.get(d)!;
  const skip = peers.filter((p) => p.name === 'jax-js-eager' && d > EAGER_MAX_D && !argv.includes('--full'));
  if (skip.length) console.log(`  jax-js-eager: not run at d = ${d} (the same eigh kernels as jax-js, minutes per call here; --full runs it)`);
  return peers
    .filter((p) => !skip.includes(p))
    .map((p) => {
      const name = `${p.name} forward d=${d}`;
      return peerCase(name, p.eigh!(inp.a, BATCH, d), (v) => checkEigh(name, d, v[0]!, v[1]!), { meta: { d, engine: p.name, pass: 'forward' } });
    });
}

/** Verify (and time the verification call of) every case, then time them: see the file comment. */
async function timeSize(d: number): Promise<CaseResult[]> {
  const cases = [...hemgpuCases(d), ...peerCases(d)];
  const estimate = new Map<Case, number>();
  for (const c of cases) {
    const t0 = performance.now();
    lastCheck = '';
    try {
      await c.verify();
    } catch (err) {
      throw new Error(`benchmark case '${c.name}' failed verification, so it is not timed: ${(err as Error).message}`);
    }
    estimate.set(c, performance.now() - t0);
    console.log(`  verified ${c.name}: ${lastCheck} (${(estimate.get(c)! / 1000).toFixed(1)} s with compilation and readback)`);
  }
  const single = cases.filter((c) => estimate.get(c)! > SINGLE_CALL_MS);
  const rest = cases.filter((c) => !single.includes(c));
  const slowest = Math.max(0, ...rest.map((c) => estimate.get(c)!));
  // Verified above in this process on these inputs: timeCases need not verify again.
  const timed = rest.map((c) => ({ ...c, verify: async () => {} }));
  const options = adapter.software ? { rounds: 3, timePerRound: 1500, iterations: 1, warmupIterations: slowest < 5000 ? 1 : 0 } : { rounds: 5, timePerRound: 300, iterations: 10 };
  // Each engine in its own alternating rounds: on SwiftShader, hemgpu's calls right after a
  // jax-js eigh call ran 4× slower (d = 64: 17.6 s against 3.8 s alone, measured 2026-11-28; the
  // two Dawn instances share the CPU driver), so alternating engines would time that
  // interference, not either engine.
  const results: CaseResult[] = [];
  for (const engine of [...new Set(timed.map((c) => String(c.meta?.engine)))])
    results.push(
      ...(await timeCases(
        timed.filter((c) => String(c.meta?.engine) === engine),
        options,
      )),
    );
  for (const c of single) {
    const ms = estimate.get(c)!;
    results.push({
      name: c.name,
      medianMs: ms,
      madMs: 0,
      minMs: ms,
      samples: 1,
      meta: { ...c.meta, note: `one call: the verification call (over ${SINGLE_CALL_MS / 1000} s), with compilation and readback` },
    });
  }
  return results;
}

/** A ratio with 3 significant digits below 0.1 (PyTorch CPU's are ~0.01×), else 2 decimals. */
const timesOf = (v: number): string => `${v < 0.1 ? v.toPrecision(3) : v.toFixed(2)}×`;
const all: CaseResult[] = [];
const ratio = (r: CaseResult, rows: CaseResult[]): string => {
  const base = rows.find((b) => b.meta?.engine === 'hemgpu' && b.meta?.pass === r.meta?.pass);
  return r.meta?.engine !== 'hemgpu' && base ? timesOf(r.medianMs / base.medianMs) : '';
};
for (const d of sizes) {
  t = performance.now();
  console.log(`\nd = ${d}:`);
  const rows = [...(await timeSize(d)), ...(torch?.cases.filter((c) => c.meta?.d === d) ?? [])];
  all.push(...rows);
  console.log(
    table(
      ['case', 'median ms', '± (MAD)', 'calls', '× hemgpu'],
      rows.map((r) => [r.name, r.medianMs.toFixed(1), r.madMs.toFixed(1), `${r.samples}${r.meta?.note ? ' (the verification call)' : ''}`, ratio(r, rows)]),
    ),
  );
  console.log(`(d = ${d}: ${((performance.now() - t) / 1000).toFixed(0)} s)`);
}
console.log(
  "\ncalls: the number of timed calls each median is from (warm: after the verification call; where that call took over 60 s, it alone). Each engine is timed in its own alternating rounds (see the file comment). × hemgpu: the case's time over hemgpu's for the same d and pass." +
    (peers.length ? ' jax-js: forward only (no derivative rule for eigh).' : '') +
    (torch ? ` pytorch-cpu: PyTorch ${torch.info.torch} on the host CPU, ${torch.info.threads} thread(s).` : ''),
);
const file = recordResults('eigh', adapter, {
  batch: BATCH,
  sizes,
  peers: peers.map((p) => ({ name: p.name, version: p.version })),
  pytorch: torch?.info ?? null,
  cases: all,
});
console.log(`results: ${file}`);
process.exit(0);
