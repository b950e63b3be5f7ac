/**
 * The benchmark targets (issue 5), evaluated on a results file: each target with what was
 * measured, the ratio, and whether it is met. Used by bench/run.ts (printed after a run) and
 * bench/render.ts (the README), so the verdicts come from the same numbers as the tables.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { table } from './common.ts';

export interface CaseResult {
  name: string;
  medianMs: number;
  madMs: number;
  minMs?: number;
  gflops?: number;
  meta?: Record<string, string | number>;
}
export interface PeerRatio {
  forwardMs: number;
  forwardBackwardMs: number;
  speedupForward: number;
  speedupForwardBackward: number;
}
export interface EmRow {
  B: number;
  C: number;
  N: number;
  K: number;
  T: number;
  cases: CaseResult[];
  speedupForward: number;
  speedupForwardBackward: number;
  hemOverEm: number;
  peers?: Record<string, PeerRatio>;
  /**
   * The fused layer on each HEM kernel path (bench/hem.bench.ts, same run): by path name
   * ('register', 'tiled', '…+subgroups'), and `default`, the adapter's configuration.
   */
  kernelPaths?: { default: { path: string; subgroups?: boolean } } & Record<string, { forwardMs: number; forwardBackwardMs: number } | { path: string; subgroups?: boolean }>;
}
/** The `eigh` subject's results (bench/eigh.bench.ts): cases with meta { d, engine, pass }. */
export interface EighResults {
  batch: number;
  sizes: number[];
  peers: { name: string; version: string }[];
  pytorch: { torch: string; threads: number; cpu: string; cores: number } | null;
  cases: (CaseResult & { samples?: number })[];
}
export interface Doc {
  date: string;
  adapter: { name: string; description: string; vendor: string; device: string; software: boolean; robustness: boolean; architecture?: string };
  subjects: Record<string, { measuredAt: string; results: unknown }>;
  /** loadResults: the file each subject was read from. */
  sources?: Record<string, string>;
}
export interface TorchDoc {
  device: string;
  torch: string;
  matmul_4096?: { gflops: number };
  'hem_eta0.5'?: { forward_ms: number; forward_backward_ms: number; shape: number[] };
}

export interface Verdict {
  target: string;
  measured: string;
  met: boolean;
}

const x = (v: number): string => `${v.toFixed(2)}×`;

/** The PyTorch file measured on the same device as `doc` (its device name slugged like hemgpu's adapter names). */
export function torchFor(doc: Doc, torch: TorchDoc[]): TorchDoc | undefined {
  const slug = (s: string): string =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '');
  return torch.find((t) => slug(t.device) === doc.adapter.name);
}

export function verdicts(doc: Doc, torch?: TorchDoc): Verdict[] {
  const out: Verdict[] = [];
  const mm = doc.subjects.matmul?.results as { cases: CaseResult[] } | undefined;
  const em = doc.subjects.em?.results as EmRow[] | undefined;
  const gflops = (engine: string, n: number): number | undefined =>
    mm?.cases.find((c) => (c.meta?.engine ?? 'hemgpu') === engine && c.meta?.M === n && c.meta?.N === n && c.meta?.K === n)?.gflops;
  if (doc.adapter.software) {
    const ours = gflops('hemgpu', 1024);
    for (const peer of ['jax-js', 'jax-js-eager']) {
      const theirs = gflops(peer, 1024);
      if (ours && theirs) {
        out.push({ target: `matmul 1024³ ≥ 4× ${peer}'s GFLOPS`, measured: `${ours.toFixed(2)} vs ${theirs.toFixed(2)} GFLOPS: ${x(ours / theirs)}`, met: ours / theirs >= 4 });
      }
    }
    const row = em?.find((r) => r.B === 1 && r.C === 64);
    for (const [peer, want] of [
      ['jax-js', 7],
      ['jax-js-eager', 7],
      ['tfjs-webgpu', 30],
    ] as const) {
      const p = row?.peers?.[peer];
      if (row && p) {
        out.push({
          target: `HEM fwd+bwd (B = 1, C = 64) ≥ ${want}× faster than ${peer}`,
          measured: `${row.cases[2]!.medianMs.toFixed(0)} vs ${p.forwardBackwardMs.toFixed(0)} ms: ${x(p.speedupForwardBackward)}`,
          met: p.speedupForwardBackward >= want,
        });
      }
    }
  }
  const eigh = doc.subjects.eigh?.results as EighResults | undefined;
  if (doc.adapter.software && eigh) {
    // Issue 13: eigh batch 64 forward at d = 32 and 64 at least 2× faster than jax-js's (same adapter).
    const fwd = (engine: string, d: number): CaseResult | undefined => eigh.cases.find((c) => c.meta?.engine === engine && c.meta?.d === d && c.meta?.pass === 'forward');
    for (const peer of ['jax-js', 'jax-js-eager']) {
      const pairs = [32, 64].map((d) => ({ d, ours: fwd('hemgpu', d), theirs: fwd(peer, d) }));
      if (pairs.some((p) => !p.ours || !p.theirs)) continue;
      const parts = pairs.map((p) => ({ d: p.d, ours: p.ours!.medianMs, theirs: p.theirs!.medianMs, r: p.theirs!.medianMs / p.ours!.medianMs }));
      out.push({
        target: `eigh batch ${eigh.batch} forward ≥ 2× faster than ${peer} at d = 32 and d = 64 (SwiftShader)`,
        measured: parts.map((p) => `d = ${p.d}: ${p.ours.toFixed(0)} vs ${p.theirs.toFixed(0)} ms, ${x(p.r)}`).join('; '),
        met: parts.every((p) => p.r >= 2),
      });
    }
  }
  // These two are targets on the CPU driver (issue 5: "Targets on this machine").
  for (const r of doc.adapter.software ? (em ?? []) : []) {
    out.push({ target: `fused ≥ 2× unfused, HEM fwd+bwd (B = ${r.B}, C = ${r.C})`, measured: x(r.speedupForwardBackward), met: r.speedupForwardBackward >= 2 });
  }
  // Issue 14 on the CPU driver: fusion pays at C = 64.
  const c64 = doc.adapter.software ? em?.find((r) => r.B === 1 && r.C === 64) : undefined;
  if (c64) {
    out.push({ target: 'fused ≥ 1.5× unfused, HEM fwd+bwd (B = 1, C = 64)', measured: x(c64.speedupForwardBackward), met: c64.speedupForwardBackward >= 1.5 });
  }
  // Issue 14 on a GPU: fused no slower than unfused anywhere on the grid, forward and forward+backward.
  if (!doc.adapter.software && em?.length) {
    const all = em.flatMap((r) => [
      { r, what: 'fwd', v: r.speedupForward },
      { r, what: 'fwd+bwd', v: r.speedupForwardBackward },
    ]);
    const worst = all.reduce((a, b) => (b.v < a.v ? b : a));
    out.push({
      target: `fused ≥ unfused, HEM fwd and fwd+bwd at every (B, C) of the grid (${em.length} shapes)`,
      measured: `worst ${x(worst.v)} (${worst.what}, B = ${worst.r.B}, C = ${worst.r.C}); ${all.filter((a) => a.v < 1).length} of ${all.length} below 1×`,
      met: worst.v >= 1,
    });
  }
  if (doc.adapter.software && em?.length) {
    const worst = Math.max(...em.map((r) => r.hemOverEm));
    out.push({
      target: 'HEM (η = 0.5) ≤ 1.05× the cost of EM (η = 1), fwd+bwd',
      measured: `${worst.toFixed(3)} at worst (${em.map((r) => r.hemOverEm.toFixed(3)).join(', ')})`,
      met: worst <= 1.05,
    });
  }
  if (!doc.adapter.software && torch) {
    const ours = gflops('hemgpu', 4096);
    if (ours && torch.matmul_4096) {
      const share = ours / torch.matmul_4096.gflops;
      out.push({
        target: `matmul 4096³ ≥ 70% of PyTorch ${torch.torch} float32 (TF32 off)`,
        measured: `${(ours / 1000).toFixed(1)} vs ${(torch.matmul_4096.gflops / 1000).toFixed(1)} TFLOPS: ${(100 * share).toFixed(0)}%`,
        met: share >= 0.7,
      });
    }
    const paper = (doc.subjects['em-paper-shape']?.results as EmRow[] | undefined)?.[0];
    const th = torch['hem_eta0.5'];
    if (paper && th) {
      const ms = paper.cases[2]!.medianMs;
      out.push({
        target: "fused HEM fwd+bwd at the paper's shape no slower than PyTorch eager",
        measured: `${ms.toFixed(1)} vs ${th.forward_backward_ms.toFixed(1)} ms: ${x(th.forward_backward_ms / ms)} PyTorch's speed`,
        met: ms <= th.forward_backward_ms,
      });
      const fwd = paper.cases[0]!.medianMs;
      out.push({
        target: "fused HEM fwd at the paper's shape ≤ 1.5× PyTorch eager's time",
        measured: `${fwd.toFixed(1)} vs ${th.forward_ms.toFixed(1)} ms: ${x(fwd / th.forward_ms)} PyTorch's time`,
        met: fwd <= 1.5 * th.forward_ms,
      });
    }
  }
  return out;
}

export function verdictTable(v: Verdict[]): string {
  return table(
    ['target', 'measured', 'met'],
    v.map((r) => [r.target, r.measured, r.met ? 'yes' : '**no**']),
  );
}

/**
 * The results under `dir`, per adapter: every subject's newest measurement (files sort by date; a
 * later file's subject replaces an earlier one's, subjects it lacks stay), with `sources` naming
 * the file each subject came from; and the PyTorch files. Other JSON there (bench/browser-start.ts's
 * start-up figures: no adapter) is not theirs.
 */
export function loadResults(dir: string): { docs: Map<string, Doc>; torch: { file: string; doc: TorchDoc }[] } {
  const docs = new Map<string, Doc>();
  const torch: { file: string; doc: TorchDoc }[] = [];
  if (!existsSync(dir)) return { docs, torch };
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort()) {
    const doc = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Partial<Doc> & Partial<TorchDoc>;
    if (typeof doc.torch === 'string') torch.push({ file: f, doc: doc as TorchDoc });
    else if (doc.adapter && doc.subjects) {
      const prev = docs.get(doc.adapter.name);
      const sources = { ...prev?.sources, ...Object.fromEntries(Object.keys(doc.subjects).map((k) => [k, f])) };
      docs.set(doc.adapter.name, { ...(doc as Doc), subjects: { ...prev?.subjects, ...doc.subjects }, sources });
    }
  }
  return { docs, torch };
}
