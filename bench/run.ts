/**
 * `npm run bench [-- <subject>... ] [flags]`: run the benchmark subjects one after another, each in
 * its own process (its own device, nothing left over from the previous subject), then print the
 * targets table from the results they recorded. Subjects: matmul, softmax, estep, nstep, hem,
 * profile, train, eigh (default: all). Flags go to every subject: --quick, --full, --no-peers,
 * --peers=jax-js,jax-js-eager,tfjs-webgpu. Exits non-zero if any subject failed (a case that does
 * not verify fails its subject: it is never timed).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadResults, torchFor, verdictTable, verdicts, type Doc } from './targets.ts';
import { RESULTS_DIR } from './common.ts';

const SUBJECTS: Record<string, { file: string; what: string }> = {
  matmul: { file: 'matmul.bench.ts', what: 'matmul n³ and the HEM products, vs the peers' },
  softmax: { file: 'softmax.bench.ts', what: 'fused scaled softmax, vs the peers' },
  estep: { file: 'estep.bench.ts', what: 'E-step: fused kernel, matmul+softmax, the peers' },
  nstep: { file: 'nstep.bench.ts', what: 'N-step: fused kernels, composed ops, the peers' },
  hem: { file: 'hem.bench.ts', what: 'HEM layer: fused vs unfused, HEM vs EM, the peers' },
  profile: { file: 'hem-profile.ts', what: 'HEM layer: GPU time per kernel' },
  train: { file: 'train.bench.ts', what: 'training step images/s, conv2d GFLOPS' },
  eigh: { file: 'eigh.bench.ts', what: 'eigh batch 64 forward, forward+backward, vs jax-js and PyTorch CPU' },
};

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  console.log('usage: npm run bench [-- <subject>...] [--quick] [--full] [--no-peers | --peers=jax-js,jax-js-eager,tfjs-webgpu]\n\nsubjects:');
  for (const [k, v] of Object.entries(SUBJECTS)) console.log(`  ${k.padEnd(8)} ${v.what}`);
  process.exit(0);
}
const named = argv.filter((a) => !a.startsWith('--'));
const flags = argv.filter((a) => a.startsWith('--'));
for (const n of named) {
  if (!SUBJECTS[n]) {
    console.error(`npm run bench: unknown subject '${n}'; use one of ${Object.keys(SUBJECTS).join(', ')} (or none for all).`);
    process.exit(2);
  }
}
const chosen = named.length ? named : Object.keys(SUBJECTS);
const dir = mkdtempSync(join(tmpdir(), 'hemgpu-bench-'));
const log = join(dir, 'results.log');
const failed: string[] = [];
const t0 = performance.now();
for (const subject of chosen) {
  const started = performance.now();
  console.log(`\n## ${subject}: ${SUBJECTS[subject]!.what}\n`);
  const r = spawnSync(process.execPath, [join('scripts', 'run.mjs'), join('bench', SUBJECTS[subject]!.file), ...flags], {
    stdio: 'inherit',
    env: { ...process.env, HEMGPU_BENCH_LOG: log },
  });
  if (r.status !== 0) failed.push(`${subject} (exit ${r.status ?? r.signal})`);
  console.log(`(${subject}: ${((performance.now() - started) / 1000).toFixed(0)} s)`);
}

const written = existsSync(log) ? [...new Set(readFileSync(log, 'utf8').split('\n').filter(Boolean))] : [];
rmSync(dir, { recursive: true, force: true });
const torch = loadResults(RESULTS_DIR).torch.map((t) => t.doc);
for (const file of written) {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as Doc;
  const v = verdicts(doc, torchFor(doc, torch));
  console.log(`\n## Targets on ${doc.adapter.description || doc.adapter.device} (${file})\n`);
  console.log(v.length ? verdictTable(v) : '(no target applies to the subjects run)');
}
console.log(`\n${chosen.length} subject(s) in ${((performance.now() - t0) / 1000).toFixed(0)} s${failed.length ? `; FAILED: ${failed.join(', ')}` : ''}. README tables: node scripts/run.mjs bench/render.ts`);
process.exit(failed.length ? 1 : 0);
