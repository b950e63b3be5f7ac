/**
 * `npm run bench [-- <subject>... ] [flags]`: run the benchmark subjects one after another, each in
 * its own process (its own device, nothing left over from the previous subject), then print the
 * targets table from the results they recorded. Subjects: matmul, softmax, reduce, estep, nstep, hem,
 * profile, train, ops, step, eigh (default: all). Flags go to every subject: --quick, --full, --no-peers,
 * --peers=jax-js,jax-js-eager,tfjs-webgpu. Exits non-zero if any subject failed (a case that does
 * not verify fails its subject: it is never timed).
 *
 * `npm run bench:gpu` (--gpu): the GPU preset of bench/plan.ts (the HEM grid, the paper's shape,
 * matmul up to 4096³, the profile at the paper's shape, PyTorch's figures where python3 has torch
 * with CUDA, the tables of docs/benchmarks.md). It refuses a software adapter unless --allow-software.
 * --dry-run prints the steps' commands and runs nothing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adapterInfo, init, shutdown } from '../src/index.node.ts';
import { loadResults, torchFor, verdictTable, verdicts, type Doc } from './targets.ts';
import { adapterLine, RESULTS_DIR, today } from './common.ts';
import { benchCommand, gpuPlan, stepCommand, subjectPlan, SUBJECTS, type Step } from './plan.ts';

const argv = process.argv.slice(2);
const OWN_FLAGS = ['--gpu', '--allow-software', '--dry-run'];
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(
    'usage: npm run bench [-- <subject>...] [--quick] [--full] [--no-peers | --peers=jax-js,jax-js-eager,tfjs-webgpu] [--dry-run]\n' +
      '       npm run bench:gpu [-- --allow-software] [--no-peers] [--dry-run]\n\nsubjects:',
  );
  for (const [k, v] of Object.entries(SUBJECTS)) console.log(`  ${k.padEnd(8)} ${v.what}`);
  process.exit(0);
}
const gpu = argv.includes('--gpu');
const dryRun = argv.includes('--dry-run');
const named = argv.filter((a) => !a.startsWith('--'));
const flags = argv.filter((a) => a.startsWith('--') && !OWN_FLAGS.includes(a));
if (gpu && named.length) {
  console.error(`npm run bench:gpu runs a fixed list of steps; it takes no subjects (got ${named.join(', ')}). Use npm run bench -- ${named.join(' ')} for those.`);
  process.exit(2);
}
let steps: Step[];
try {
  steps = gpu ? gpuPlan(flags) : subjectPlan(named, flags);
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
// Bundles made by scripts/device-prepare.sh, for a machine with node but no esbuild.
const prebuilt = process.env.HEMGPU_BENCH_PREBUILT || undefined;
if (dryRun) {
  for (const step of steps) console.log(stepCommand(step, process.execPath, prebuilt));
  process.exit(0);
}

if (gpu) {
  // A software adapter would take hours over this list: check the one the subjects will get.
  try {
    await init();
  } catch (err) {
    console.error(`npm run bench:gpu: ${(err as Error).message}`);
    process.exit(2);
  }
  const a = adapterInfo();
  shutdown();
  console.log(`# npm run bench:gpu on ${adapterLine(a)}`);
  if (a.software && !argv.includes('--allow-software')) {
    console.error(
      `npm run bench:gpu: the default adapter is a CPU driver (${a.description || a.device}); this list of benchmarks takes hours there. ` +
        'Run it where a GPU and its Vulkan driver are installed (HEMGPU_ADAPTER=gpu says why none is found), ' +
        'or pass --allow-software to run it anyway (npm run bench -- <subject> runs single subjects with CPU-driver sizes).',
    );
    process.exit(2);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'hemgpu-bench-'));
const log = join(dir, 'results.log');
const failed: string[] = [];
const skipped: string[] = [];
const t0 = performance.now();
const node = (args: string[]): number | null => spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, HEMGPU_BENCH_LOG: log } }).status;

/** PyTorch's figures (bench/peers/torch_hem.py) into bench/results/<date>-<device>-pytorch.json. */
function torch(): void {
  const probe = spawnSync('python3', ['-c', 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)'], { stdio: 'ignore' });
  if (probe.status !== 0) {
    skipped.push(`torch (${probe.error ? 'no python3' : probe.status === 3 ? 'torch sees no CUDA device' : 'python3 has no torch'})`);
    console.log(`skipped: ${skipped.at(-1)}`);
    return;
  }
  const r = spawnSync('python3', [join('bench', 'peers', 'torch_hem.py')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    failed.push(`torch (exit ${r.status ?? r.signal})`);
    return;
  }
  const doc = JSON.parse(r.stdout) as { device: string };
  const slug = doc.device
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
  const file = join(RESULTS_DIR, `${today()}-${slug}-pytorch.json`);
  writeFileSync(file, r.stdout.endsWith('\n') ? r.stdout : `${r.stdout}\n`);
  console.log(`results: ${file}`);
}

for (const step of steps) {
  const started = performance.now();
  const title = step.kind === 'subject' ? `${step.subject}${step.args.length ? ` ${step.args.join(' ')}` : ''}` : step.kind;
  console.log(`\n## ${title}: ${step.what}\n`);
  if (step.kind === 'subject') {
    const status = node(benchCommand(SUBJECTS[step.subject]!.file, step.args, prebuilt));
    if (status !== 0) failed.push(`${title} (exit ${status})`);
  } else if (step.kind === 'torch') {
    torch();
  } else if (node(benchCommand('render.ts', [], prebuilt)) !== 0) {
    failed.push('render');
  }
  console.log(`(${title}: ${((performance.now() - started) / 1000).toFixed(0)} s)`);
}

const written = existsSync(log) ? [...new Set(readFileSync(log, 'utf8').split('\n').filter(Boolean))] : [];
rmSync(dir, { recursive: true, force: true });
const torchDocs = loadResults(RESULTS_DIR).torch.map((t) => t.doc);
for (const file of written) {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as Doc;
  const v = verdicts(doc, torchFor(doc, torchDocs));
  console.log(`\n## Targets on ${doc.adapter.description || doc.adapter.device} (${file})\n`);
  console.log(v.length ? verdictTable(v) : '(no target applies to the subjects run)');
}
const notes = [failed.length ? `FAILED: ${failed.join(', ')}` : '', skipped.length ? `skipped: ${skipped.join(', ')}` : ''].filter(Boolean).join('; ');
console.log(
  `\n${steps.length} step(s) in ${((performance.now() - t0) / 1000).toFixed(0)} s${notes ? `; ${notes}` : ''}.` +
    (gpu ? '' : ' docs/benchmarks.md tables: node scripts/run.mjs bench/render.ts'),
);
process.exit(failed.length ? 1 : 0);
