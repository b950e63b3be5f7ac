/**
 * Render the benchmark tables of docs/benchmarks.md from bench/results/*.json (the newest file per adapter),
 * between the `<!-- bench:start -->` and `<!-- bench:end -->` markers, so the page shows what
 * was measured and nothing else.   node scripts/run.mjs bench/render.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { RESULTS_DIR, describeMatmulConfig, table } from './common.ts';
import type { MatmulConfig } from '../src/index.node.ts';
import { loadResults, torchFor, verdictTable, verdicts, type CaseResult, type EighResults, type EmRow } from './targets.ts';
import type { Peaks } from './roofline.ts';

const { docs, torch } = loadResults(RESULTS_DIR);

const ms = (v: number): string => (v < 10 ? v.toFixed(2) : v.toFixed(1));
const engineOf = (c: CaseResult): string => String(c.meta?.engine ?? 'hemgpu');
const peerList = (r: unknown): string => {
  const peers = (r as { peers?: { name: string; version: string }[] }).peers;
  return peers?.length ? ` Peers: ${peers.map((p) => `${p.name} ${p.version}`).join(', ')}.` : '';
};
/** A table of one subject's cases with each case's time relative to a baseline case of the same shape. */
function relativeTable(cases: CaseResult[], shapeKey: (c: CaseResult) => string, baseline: string, col: string): string {
  return table(
    ['case', 'median ms', '± MAD', col],
    cases.map((c) => {
      const base = cases.find((b) => engineOf(b) === baseline && shapeKey(b) === shapeKey(c));
      return [c.name, ms(c.medianMs), ms(c.madMs), base && base !== c ? `${(c.medianMs / base.medianMs).toFixed(2)}×` : ''];
    }),
  );
}

const out: string[] = [];
for (const doc of docs.values()) {
  const a = doc.adapter;
  const dates = [...new Set(Object.values(doc.sources ?? {}).map((f) => f.slice(0, 10)))].sort();
  out.push(`### ${a.software ? 'SwiftShader (CPU driver, 2 cores)' : a.device || a.description} — ${dates.length ? dates.join(', ') : doc.date}`);
  out.push('');
  const files = new Map<string, string[]>();
  for (const [subject, file] of Object.entries(doc.sources ?? {})) files.set(file, [...(files.get(file) ?? []), subject]);
  const from = [...files].map(([f, subjects]) => `\`bench/results/${f}\`${files.size > 1 ? ` (${subjects.join(', ')})` : ''}`).join(', ');
  out.push(
    `Adapter: ${a.description || a.device} (${a.vendor}${a.software ? ', CPU driver' : ''}), Dawn robustness ${a.robustness ? 'on' : 'off'}; from ${from || `\`bench/results/${doc.date}-${a.name}.json\``}.`,
  );
  out.push('');
  const th = torchFor(
    doc,
    torch.map((t) => t.doc),
  );
  const v = verdicts(doc, th);
  if (v.length) {
    out.push('**Against the targets** (ratios from one run, cases alternating):');
    out.push('');
    out.push(verdictTable(v));
    out.push('');
  }
  type PathRow = { n: number; register: number; shared: number; sharedOverRegister: number };
  const mm = doc.subjects.matmul?.results as
    | {
        config: MatmulConfig;
        wide?: MatmulConfig | null;
        narrow?: MatmulConfig | null;
        /** Narrow products are those with N below this (runs before 2026-12-07 recorded none: N ≤ 64). */
        narrowBelowN?: number;
        smallBlocked?: MatmulConfig | null;
        paths?: { register: MatmulConfig; shared: MatmulConfig; rows: PathRow[] };
        cases: CaseResult[];
      }
    | undefined;
  if (mm) {
    const wide =
      (mm.wide ? `; products with N ≥ 256: ${describeMatmulConfig(mm.wide)} (the CPU-driver default)` : '') +
      (mm.narrow ? `; with N ${mm.narrowBelowN ? `< ${mm.narrowBelowN}` : '≤ 64'}: ${describeMatmulConfig(mm.narrow)} (likewise)` : '') +
      (mm.smallBlocked ? `; at most 64² outputs in 8 or more 16 × 16 blocks: ${describeMatmulConfig(mm.smallBlocked)} (likewise)` : '');
    out.push(`**matmul** (${describeMatmulConfig(mm.config)}${wide}; "hemgpu ×": hemgpu's GFLOPS over the case's).${peerList(mm)}`);
    out.push('');
    const ours = (n: unknown): number | undefined => mm.cases.find((r) => engineOf(r) === 'hemgpu' && r.meta?.M === n && r.meta?.N === n && r.meta?.K === n)?.gflops;
    out.push(
      table(
        ['product', 'median ms', '± MAD', 'GFLOPS', 'hemgpu ×'],
        mm.cases.map((r) => [
          r.name,
          ms(r.medianMs),
          ms(r.madMs),
          r.gflops!.toFixed(1),
          engineOf(r) !== 'hemgpu' && ours(r.meta?.M) ? `${(ours(r.meta?.M)! / r.gflops!).toFixed(2)}×` : '',
        ]),
      ),
    );
    out.push('');
    if (mm.paths) {
      out.push(`Kernel paths, same run: register = ${describeMatmulConfig(mm.paths.register)}${wide}; shared = ${describeMatmulConfig(mm.paths.shared)}.`);
      out.push('');
      out.push(
        table(
          ['product', 'register GFLOPS', 'shared GFLOPS', 'shared ÷ register'],
          mm.paths.rows.map((r) => [`${r.n}³`, r.register.toFixed(2), r.shared.toFixed(2), `${r.sharedOverRegister.toFixed(2)}×`]),
        ),
      );
      out.push('');
    }
  }
  const steps: [string, string, string, (c: CaseResult) => string][] = [
    ['softmax', "**Fused scaled softmax** softmax(s·Z), each case's time relative to hemgpu's.", 'hemgpu', (c) => `${c.meta?.rows}×${c.meta?.cols}`],
    [
      'reduce',
      "**Sums over axes** (`sum`), each case's time relative to the sum's; the other case is the same sum as a product with ones.",
      'hemgpu sum',
      (c) => String(c.meta?.shape),
    ],
    ['estep', "**E-step** γ = softmax(XMᵀ/√C), each case's time relative to hemgpu's fused E-step.", 'hemgpu fused', (c) => String(c.meta?.C)],
    ['nstep', "**N-step** μ' = (1 − η)μ + η γᵀX/N, each case's time relative to hemgpu's fused N-step.", 'hemgpu fused', (c) => String(c.meta?.C)],
  ];
  for (const [key, title, baseline, shapeKey] of steps) {
    const r = doc.subjects[key]?.results as { cases: CaseResult[] } | undefined;
    if (!r) continue;
    out.push(`${title}${peerList(r)}`);
    out.push('');
    out.push(relativeTable(r.cases, shapeKey, baseline, `× ${baseline}`));
    out.push('');
  }
  for (const key of ['em', 'em-paper-shape']) {
    const em = doc.subjects[key]?.results as EmRow[] | undefined;
    if (!em) continue;
    const what = key === 'em' ? 'HEM layer' : "HEM layer at the paper's shape";
    const peers = Object.keys(em[0]!.peers ?? {});
    out.push(
      `**${what}** (K = ${em[0]!.K}, T = ${em[0]!.T}; η = 0.5 unless noted; fwd+bwd = gradients of sum(X̃ ⊙ G) w.r.t. X and μ⁽⁰⁾${peers.length ? "; peers: their time and hemgpu's speedup over them" : ''}):`,
    );
    out.push('');
    out.push(
      table(
        [
          'B, N, C',
          'fused fwd ms',
          'unfused fwd ms',
          'fwd speedup',
          'fused fwd+bwd ms',
          'unfused fwd+bwd ms',
          'fwd+bwd speedup',
          'EM (η = 1) fwd+bwd ms',
          'HEM / EM',
          ...peers.flatMap((p) => [`${p} fwd`, `${p} fwd+bwd`]),
        ],
        em.map((r) => [
          `${r.B}, ${r.N}, ${r.C}`,
          ms(r.cases[0]!.medianMs),
          ms(r.cases[1]!.medianMs),
          `${r.speedupForward.toFixed(2)}×`,
          ms(r.cases[2]!.medianMs),
          ms(r.cases[3]!.medianMs),
          `${r.speedupForwardBackward.toFixed(2)}×`,
          ms(r.cases[4]!.medianMs),
          r.hemOverEm.toFixed(3),
          ...peers.flatMap((p) => {
            const q = r.peers![p]!;
            return [`${ms(q.forwardMs)} (${q.speedupForward.toFixed(1)}×)`, `${ms(q.forwardBackwardMs)} (${q.speedupForwardBackward.toFixed(1)}×)`];
          }),
        ]),
      ),
    );
    out.push('');
    const withPaths = em.filter((r) => r.kernelPaths);
    if (withPaths.length) {
      const d = withPaths[0]!.kernelPaths!.default;
      const names = Object.keys(withPaths[0]!.kernelPaths!).filter((k) => k !== 'default');
      out.push(
        `Fused layer by HEM kernel path, alternating in the same run (\`register\`: kernels/hem.wgsl; \`tiled\`: kernels/hem-tiled.wgsl; \`+subgroups\`: ` +
          `the E-step kernels of kernels/hem-subgroups.wgsl, in the lane mapping named; the default here is \`${d.path}${d.subgroups ? `+subgroups${typeof d.subgroups === 'string' ? `(${d.subgroups})` : ''}` : ''}\`): fwd / fwd+bwd ms, and the speedup over \`register\`:`,
      );
      out.push('');
      out.push(
        table(
          ['B, N, C', ...names],
          withPaths.map((r) => {
            const p = r.kernelPaths! as unknown as Record<string, { forwardMs: number; forwardBackwardMs: number }>;
            const reg = p.register!;
            return [
              `${r.B}, ${r.N}, ${r.C}`,
              ...names.map(
                (n) =>
                  `${ms(p[n]!.forwardMs)} / ${ms(p[n]!.forwardBackwardMs)} (${(reg.forwardMs / p[n]!.forwardMs).toFixed(2)}× / ${(reg.forwardBackwardMs / p[n]!.forwardBackwardMs).toFixed(2)}×)`,
              ),
            ];
          }),
        ),
      );
      out.push('');
    }
  }
  const eigh = doc.subjects.eigh?.results as EighResults | undefined;
  if (eigh) {
    const pt = eigh.pytorch;
    out.push(
      `**eigh** (batch ${eigh.batch} random symmetric matrices, values and vectors; fwd+bwd: the gradient w.r.t. A of Σ w_i λ_i + Σ c_i u_iᵀ G u_i; ` +
        `"× hemgpu": the case's time over hemgpu's for the same d and pass; calls: timed calls per median. ` +
        `jax-js's eigh has no derivative rule (forward only); tfjs has no eigh` +
        `${pt ? `; pytorch-cpu: PyTorch ${pt.torch} float32 on the host CPU, ${pt.cpu}, ${pt.threads} thread(s)` : ''}).${peerList(eigh)}`,
    );
    out.push('');
    const key = (c: CaseResult): string => `${c.meta?.d} ${c.meta?.pass}`;
    out.push(
      table(
        ['case', 'median ms', '± MAD', 'calls', '× hemgpu'],
        eigh.cases.map((c) => {
          const base = eigh.cases.find((b) => engineOf(b) === 'hemgpu' && key(b) === key(c));
          const r = base && base !== c ? c.medianMs / base.medianMs : undefined;
          // PyTorch CPU's ratios are ~0.01×: 3 significant digits below 0.1.
          return [c.name, ms(c.medianMs), ms(c.madMs), String(c.samples ?? ''), r === undefined ? '' : `${r < 0.1 ? r.toPrecision(3) : r.toFixed(2)}×`];
        }),
      ),
    );
    out.push('');
  }
  const tr = doc.subjects.train?.results as (CaseResult & { meta?: { images?: number } })[] | undefined;
  if (tr) {
    out.push(
      "**Training**: one SegNet step (forward, backward, optimizer update) with the demo's recipe of the day the figures were taken (each case names its scene size, batch and C); 3×3 conv2d layers (im2col + the tiled matmul):",
    );
    out.push('');
    out.push(
      table(
        ['case', 'median ms', 'GFLOPS', 'images/s'],
        tr.map((r) => [r.name, ms(r.medianMs), r.gflops ? r.gflops.toFixed(1) : '', r.meta?.images ? ((1000 * r.meta.images) / r.medianMs).toFixed(1) : '']),
      ),
    );
    out.push('');
  }
  for (const [key, v] of Object.entries(doc.subjects)) {
    if (!key.startsWith('hem-profile-')) continue;
    type Path = { dispatches: number; totalMs: number; kernels: Record<string, { ms: number; count: number; gflops?: number; gbs?: number }> };
    const { peaks, kernelConfig: _config, ...prof } = v.results as { peaks?: Peaks; kernelConfig?: unknown } & Record<string, Path>;
    // The roofline (bench/hem-profile.ts): a kernel's share of the measured peaks, where its FLOPs are known.
    const roof = (t: Path['kernels'][string]): string =>
      peaks && t.gflops !== undefined && t.gbs !== undefined
        ? ` (${((100 * t.gflops) / peaks.gflops).toFixed(0)}% of peak FLOPS, ${((100 * t.gbs) / peaks.gbs).toFixed(0)}% of peak GB/s)`
        : '';
    out.push(
      `**Where the time goes** (${key.replace('hem-profile-', '').replace(/-/g, ' ')}, one forward+backward, GPU timestamps per dispatch${peaks ? `; measured peaks ${peaks.gflops.toFixed(0)} GFLOPS f32, ${peaks.gbs.toFixed(0)} GB/s` : ''}):`,
    );
    out.push('');
    for (const [path, p] of Object.entries(prof)) {
      const top = Object.entries(p.kernels)
        .sort((x, y) => y[1].ms - x[1].ms)
        .slice(0, 4)
        .map(([k, t]) => `${k} ${((100 * t.ms) / p.totalMs).toFixed(0)}%${roof(t)}`)
        .join(', ');
      out.push(`- ${path}: ${p.dispatches} dispatches, ${ms(p.totalMs)} ms of kernel time; ${top}`);
    }
    out.push('');
  }
}
for (const { file, doc } of torch) {
  const mm = doc.matmul_4096;
  const hemT = doc['hem_eta0.5'];
  out.push(`**PyTorch ${doc.torch} eager on ${doc.device}** (float32, TF32 off; \`bench/results/${file}\`, from \`bench/peers/torch_hem.py\`):`);
  if (mm) out.push(`matmul 4096³ ${(mm.gflops / 1000).toFixed(1)} TFLOPS;`);
  if (hemT)
    out.push(`HEM layer B, N, C = ${hemT.shape[0]}, ${hemT.shape[1]}, ${hemT.shape[2]}: forward ${ms(hemT.forward_ms)} ms, forward+backward ${ms(hemT.forward_backward_ms)} ms.`);
  out.push('');
}

const TARGET = 'docs/benchmarks.md';
const readme = readFileSync(TARGET, 'utf8');
const start = '<!-- bench:start -->';
const end = '<!-- bench:end -->';
const i = readme.indexOf(start);
const j = readme.indexOf(end);
if (i < 0 || j < i) throw new Error(`${TARGET} has no <!-- bench:start --> … <!-- bench:end --> section`);
writeFileSync(TARGET, `${readme.slice(0, i + start.length)}\n${out.join('\n')}\n${readme.slice(j)}`);
console.log(`${TARGET}: rendered ${docs.size} adapter(s) and ${torch.length} PyTorch file(s)`);
process.exit(0);
