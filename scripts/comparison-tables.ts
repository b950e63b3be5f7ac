/**
 * The tables of a model comparison (scripts/comparison64.sh) from the `hemgpu eval` outputs it
 * keeps (eval-<model>.txt: one line per checkpoint with mIoU and the region accuracies, and for a
 * model with an EM unit one line of its diagnostics): per model the mean ± half-width of the 95 %
 * interval of the mean over the seeds (Student's t; min–max), the EM diagnostics per seed, and the
 * paired differences by seed. Prints Markdown; the numbers are read, never typed in.
 *   node scripts/run.mjs scripts/comparison-tables.ts docs/results/2026-12-06-swiftshader/groups64
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatSpread, halfWidth95, meanOf } from '../src/train/stats.ts';

const MODELS = ['plain', 'pooling', 'emanet', 'hemnet'] as const;
const LABEL: Record<(typeof MODELS)[number], string> = { plain: 'plain', pooling: 'pooling', emanet: 'EMANet', hemnet: 'HEMNet' };

interface Seed {
  miou: number;
  fragments: number;
  whole: number;
  maxGamma?: number;
  residual?: number;
  rho?: number;
}

/** Per seed, from one eval-<model>.txt. */
export function parseEval(text: string): Map<number, Seed> {
  const out = new Map<number, Seed>();
  const seedOf = (line: string): number => {
    const m = /seed(\d+)\/checkpoint\.safetensors:/.exec(line);
    if (!m) throw new Error(`comparison-tables: no seed in '${line.slice(0, 80)}'`);
    return Number(m[1]);
  };
  const diag = new Map<number, Pick<Seed, 'maxGamma' | 'residual' | 'rho'>>();
  for (const line of text.split('\n')) {
    const em = /mean max_k γ ([\d.]+).*ρ = λmax\(Σ\)\/τ ([\d.]+).*centred residual ([\d.]+)/.exec(line);
    if (em) diag.set(seedOf(line), { maxGamma: Number(em[1]), rho: Number(em[2]), residual: Number(em[3]) });
    const r = /: T_eval \d+: mIoU ([\d.]+) .*on fragments ([\d.]+), whole ([\d.]+)/.exec(line);
    if (r) out.set(seedOf(line), { miou: 100 * Number(r[1]), fragments: 100 * Number(r[2]), whole: 100 * Number(r[3]) });
  }
  for (const [s, d] of diag) if (out.has(s)) Object.assign(out.get(s)!, d);
  return out;
}

/** Prints the Markdown tables of the comparison whose eval-<model>.txt files are in `dir`. */
function printTables(dir: string): void {
  const runs = new Map<string, Map<number, Seed>>();
  for (const m of MODELS) {
    const f = join(dir, `eval-${m}.txt`);
    if (existsSync(f)) runs.set(m, parseEval(readFileSync(f, 'utf8')));
  }
  if (runs.size === 0) throw new Error(`comparison-tables: no eval-<model>.txt in ${dir}`);
  const perSeed = (v: (number | undefined)[], d: number): string => v.map((x) => (x === undefined ? '–' : x.toFixed(d))).join(', ');
  const rows = [...runs].map(([m, seeds]) => {
    const s = [...seeds.keys()].sort((a, b) => a - b).map((k) => seeds.get(k)!);
    const hasUnit = s.some((x) => x.maxGamma !== undefined);
    return `| ${LABEL[m as (typeof MODELS)[number]]} | ${formatSpread(s.map((x) => x.miou))} | ${formatSpread(s.map((x) => x.fragments))} | ${formatSpread(s.map((x) => x.whole))} | ${
      hasUnit
        ? perSeed(
            s.map((x) => x.maxGamma),
            3,
          )
        : '–'
    } | ${
      hasUnit
        ? perSeed(
            s.map((x) => x.residual),
            3,
          )
        : '–'
    } | ${
      hasUnit
        ? perSeed(
            s.map((x) => x.rho),
            1,
          )
        : '–'
    } |`;
  });
  console.log('| model | validation mIoU (%) | fragments (%) | whole digits (%) | mean max_k γ per seed | centred residual per seed | ρ per seed |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
  console.log('\nPaired by seed (points):\n');
  console.log('| difference | mIoU, mean ± 95 % half-width | per seed | fragments, mean ± half-width |');
  console.log('| --- | --- | --- | --- |');
  const pairs: [string, string][] = [
    ['hemnet', 'plain'],
    ['emanet', 'plain'],
    ['pooling', 'plain'],
    ['hemnet', 'emanet'],
    ['hemnet', 'pooling'],
    ['emanet', 'pooling'],
  ];
  for (const [a, b] of pairs) {
    const ra = runs.get(a);
    const rb = runs.get(b);
    if (!ra || !rb) continue;
    const seeds = [...ra.keys()].filter((s) => rb.has(s)).sort((x, y) => x - y);
    if (seeds.length === 0) continue;
    const d = seeds.map((s) => ra.get(s)!.miou - rb.get(s)!.miou);
    const df = seeds.map((s) => ra.get(s)!.fragments - rb.get(s)!.fragments);
    const pm = (v: number[]): string => `${meanOf(v) >= 0 ? '+' : '−'}${Math.abs(meanOf(v)).toFixed(1)}${v.length > 1 ? ` ± ${halfWidth95(v).toFixed(1)}` : ''}`;
    const signed = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(1)}`;
    console.log(`| ${LABEL[a as (typeof MODELS)[number]]} − ${LABEL[b as (typeof MODELS)[number]]} | ${pm(d)} | ${d.map(signed).join(', ')} | ${pm(df)} |`);
  }
}

// Run as a script (scripts/run.mjs bundles it to comparison-tables.mjs); imported by its test.
if (process.argv[1]?.endsWith('comparison-tables.mjs')) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node scripts/run.mjs scripts/comparison-tables.ts RESULTS_DIR (holding eval-<model>.txt)');
    process.exit(2);
  }
  try {
    printTables(dir);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
}
