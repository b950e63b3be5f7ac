/**
 * Shared benchmark plumbing: start the engine on the requested adapter, verify every case
 * against its reference before timing it, time cases in alternating rounds with tinybench so
 * that ratios come from one run on a noisy machine, and record results as JSON under
 * bench/results/<date>-<adapter>.json (one key per subject).
 */
import { appendFileSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { adapterInfo, init, sync, tidy, type AdapterSummary, type MatmulConfig, type Tensor } from '../src/index.node.ts';
import type { PeerCall, PeerName } from './peers/engines.ts';

// Benchmarks run from the repository root (npm run bench, node scripts/run.mjs ...).
export const RESULTS_DIR = join(process.cwd(), 'bench', 'results');

export interface Case {
  name: string;
  /** Throws if the case's output disagrees with its reference. Runs before any timing. */
  verify: () => Promise<void>;
  /** One timed call; must await GPU completion. */
  run: () => Promise<void>;
  /** Floating-point operations per call, for GFLOPS (optional). */
  flops?: number;
  /** Extra columns for the table and JSON. */
  meta?: Record<string, string | number>;
}

export interface CaseResult {
  name: string;
  medianMs: number;
  /** Spread: median absolute deviation of the per-round medians, in ms. */
  madMs: number;
  minMs: number;
  samples: number;
  gflops?: number;
  meta?: Record<string, string | number>;
}

export async function startBench(): Promise<AdapterSummary> {
  await init();
  return adapterInfo();
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface TimeOptions {
  /** Alternating rounds; each round times every case with tinybench. */
  rounds?: number;
  /** Milliseconds of sampling per case per round. */
  timePerRound?: number;
  /** Minimum calls per case per round. */
  iterations?: number;
  /** Untimed warm-up calls per case in every round (default: 2 in the first round, 1 in later ones). */
  warmupIterations?: number;
}

/** Verify every case, then time them in alternating rounds (odd rounds in reverse order). */
export async function timeCases(cases: Case[], options: TimeOptions = {}): Promise<CaseResult[]> {
  for (const c of cases) {
    try {
      await c.verify();
    } catch (err) {
      throw new Error(`benchmark case '${c.name}' failed verification, so it is not timed: ${(err as Error).message}`);
    }
  }
  const rounds = options.rounds ?? 3;
  const perRound = new Map<string, number[]>();
  const mins = new Map<string, number>();
  const counts = new Map<string, number>();
  for (let r = 0; r < rounds; r++) {
    const bench = new Bench({
      time: options.timePerRound ?? 300,
      iterations: options.iterations ?? 3,
      warmupIterations: options.warmupIterations ?? (r === 0 ? 2 : 1),
      warmupTime: 0,
    });
    // Every other round in reverse order, so no case always runs first (or right after a
    // particular other case) and an ordering effect cannot pass for a difference between cases.
    for (const c of r % 2 ? [...cases].reverse() : cases) bench.add(c.name, c.run);
    await bench.run();
    for (const t of bench.tasks) {
      const res = t.result as { state: string; latency?: { p50: number; min: number; samplesCount?: number }; error?: Error };
      if (res.state !== 'completed' || !res.latency) {
        throw new Error(`benchmark case '${t.name}' did not complete: ${res.error?.message ?? res.state}`);
      }
      (perRound.get(t.name) ?? perRound.set(t.name, []).get(t.name)!).push(res.latency.p50);
      mins.set(t.name, Math.min(mins.get(t.name) ?? Infinity, res.latency.min));
      counts.set(t.name, (counts.get(t.name) ?? 0) + t.runs);
    }
  }
  return cases.map((c) => {
    const meds = perRound.get(c.name)!;
    const med = median(meds);
    const mad = median(meds.map((m) => Math.abs(m - med)));
    const out: CaseResult = { name: c.name, medianMs: med, madMs: mad, minMs: mins.get(c.name)!, samples: counts.get(c.name)! };
    if (c.flops) out.gflops = c.flops / (med * 1e6);
    if (c.meta) out.meta = c.meta;
    return out;
  });
}

export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/** Merge one subject's results into bench/results/<date>-<adapter>.json; returns the path. */
export function recordResults(subject: string, adapter: AdapterSummary, results: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${today()}-${adapter.name}.json`);
  const doc = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  doc.date = today();
  doc.adapter = adapter;
  doc.node = process.version;
  const subjects = (doc.subjects ?? {}) as Record<string, unknown>;
  subjects[subject] = { measuredAt: new Date().toISOString(), results };
  doc.subjects = subjects;
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  // bench/run.ts collects the files its subjects wrote.
  if (process.env.HEMGPU_BENCH_LOG) appendFileSync(process.env.HEMGPU_BENCH_LOG, `${file}\n`);
  return file;
}

export function adapterLine(a: AdapterSummary): string {
  return `${a.description || a.device} (${a.vendor}${a.architecture ? `, ${a.architecture}` : ''}; ${a.software ? 'CPU driver' : 'GPU'}; robustness ${a.robustness ? 'on' : 'off'}${a.polling ? `; ${a.polling} polling` : ''})`;
}

/** A Markdown table. */
export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Largest |a−b| / (atol + rtol·|b|) over all elements; ≤ 1 passes. */
export function checkClose(actual: Float32Array, expected: Float64Array | Float32Array, atol: number, rtol: number, what: string): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length} vs ${expected.length}`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const r = Math.abs(a - e) / (atol + rtol * Math.abs(e));
    if (!(r <= worst)) {
      worst = Number.isNaN(r) ? Infinity : r;
      at = i;
    }
  }
  if (worst > 1) throw new Error(`${what}: element ${at} is ${actual[at]} but the reference is ${expected[at]} (atol ${atol}, rtol ${rtol})`);
}

/** Seeded host RNG (mulberry32), for inputs the references also see. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

/** ‖actual − expected‖ / ‖expected‖ ≤ tol, or throw naming the case. */
export function checkRelative(actual: Float32Array, expected: ArrayLike<number>, tol: number, what: string): number {
  if (actual.length !== expected.length) throw new Error(`${what}: ${actual.length} values, the reference has ${expected.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < actual.length; i++) {
    num += (actual[i]! - expected[i]!) ** 2;
    den += expected[i]! ** 2;
  }
  const e = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
  if (!(e <= tol)) throw new Error(`${what}: ‖Δ‖ / ‖reference‖ = ${e} > ${tol}`);
  return e;
}

/**
 * The peers a benchmark compares with: --peers=jax-js,jax-js-eager,tfjs-webgpu (the default: all
 * three), --no-peers.
 */
export function peerNames(argv: string[] = process.argv.slice(2)): PeerName[] {
  if (argv.includes('--no-peers')) return [];
  const flag = argv.find((a) => a.startsWith('--peers='));
  if (!flag) return ['jax-js', 'jax-js-eager', 'tfjs-webgpu'];
  const names = flag.slice('--peers='.length).split(',').filter(Boolean);
  for (const n of names) if (!['jax-js', 'jax-js-eager', 'tfjs-webgpu'].includes(n)) throw new Error(`--peers: unknown peer '${n}'; use jax-js, jax-js-eager and/or tfjs-webgpu`);
  return names as PeerName[];
}

/** A timed case for a peer's call: verified by `check` on its outputs before timing. */
export function peerCase(name: string, call: PeerCall, check: (values: Float32Array[]) => void, extra: Partial<Case> = {}): Case {
  return {
    name,
    async verify() {
      check(await call.values());
    },
    run: () => call.run(),
    ...extra,
  };
}

/** A hemgpu case: `f` computes one output tensor; verified by `check` on its values, timed to GPU completion. */
export function tensorCase(name: string, f: () => Tensor, check: (values: Float32Array, name: string) => void, meta: Record<string, string | number> = {}): Case {
  return {
    name,
    meta,
    async verify() {
      const out = f();
      check(await out.read(), name);
      out.dispose();
    },
    async run() {
      tidy(() => {
        f();
      });
      await sync();
    },
  };
}

/**
 * Time a subject's cases (the CPU driver gets fewer calls), print them with each case's time
 * relative to the `baseline` engine's case of the same shape, and record them with the peers' versions.
 */
export async function timeAndReport(
  subject: string,
  adapter: AdapterSummary,
  cases: Case[],
  peers: { name: string; version: string }[],
  baseline: string,
  sameShape: (a: CaseResult, b: CaseResult) => boolean,
): Promise<void> {
  const results = await timeCases(cases, adapter.software ? { rounds: 3, timePerRound: 300, iterations: 3 } : { rounds: 5, timePerRound: 300, iterations: 10 });
  const base = (r: CaseResult): CaseResult | undefined => results.find((b) => b.meta?.engine === baseline && sameShape(b, r));
  console.log(
    table(
      ['case', 'median ms', '± (MAD)', `× ${baseline}`],
      results.map((r) => [r.name, r.medianMs.toFixed(2), r.madMs.toFixed(2), r.meta?.engine !== baseline && base(r) ? `${(r.medianMs / base(r)!.medianMs).toFixed(2)}×` : '']),
    ),
  );
  const file = recordResults(subject, adapter, { peers: peers.map((p) => ({ name: p.name, version: p.version })), cases: results });
  console.log(`results: ${file}`);
}

/** A matmul config in words, for tables (configs recorded before `kind` existed are register ones). */
export function describeMatmulConfig(c: MatmulConfig): string {
  if (c.kind === 'shared') return `shared-memory tile ${c.WG_Y * c.TM}×${c.WG_X * c.TN} (TK ${c.TK}), ${c.TM}×${c.TN} per invocation, workgroup ${c.WG_X}×${c.WG_Y}`;
  return `register tile ${4 * c.BM}×${4 * c.BN} per invocation, workgroup ${c.WG_X}×${c.WG_Y}`;
}
