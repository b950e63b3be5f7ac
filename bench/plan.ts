/**
 * What `npm run bench` runs: the subjects (one bench file each, each in its own process) and the
 * GPU preset (`npm run bench:gpu`), as lists of steps with their command lines. Kept apart from
 * bench/run.ts, which executes them, so that the plan can be printed (--dry-run) and tested
 * without a device.
 */
import { join } from 'node:path';

export const SUBJECTS: Record<string, { file: string; what: string }> = {
  matmul: { file: 'matmul.bench.ts', what: 'matmul n³ and the HEM products, vs the peers' },
  softmax: { file: 'softmax.bench.ts', what: 'fused scaled softmax, vs the peers' },
  reduce: { file: 'reduce.bench.ts', what: 'sums over axes, vs the same sums as products with ones' },
  estep: { file: 'estep.bench.ts', what: 'E-step: fused kernel, matmul+softmax, the peers' },
  nstep: { file: 'nstep.bench.ts', what: 'N-step: fused kernels, composed ops, the peers' },
  hem: { file: 'hem.bench.ts', what: 'HEM layer: fused vs unfused, HEM vs EM, the peers' },
  profile: { file: 'hem-profile.ts', what: 'HEM layer: GPU time per kernel, against the measured peaks' },
  train: { file: 'train.bench.ts', what: 'training step images/s, conv2d GFLOPS' },
  ops: { file: 'op-costs.ts', what: 'what one operation costs per invocation: FMA, u32 division, loads by address pattern, workgroup memory, a dispatch' },
  step: { file: 'step-profile.ts', what: "a training step's time by phase and by kernel, dispatches and host reads (--recipe demo|gpu)" },
  eigh: { file: 'eigh.bench.ts', what: 'eigh batch 64 forward, forward+backward, vs jax-js and PyTorch CPU' },
};

/** One step of a run: a bench subject with its arguments, PyTorch's figures, or the benchmark tables. */
export type Step = { kind: 'subject'; subject: string; args: string[]; what: string } | { kind: 'torch'; what: string } | { kind: 'render'; what: string };

/** The paper's shape (B, N = 65·65, C, K), as bench/peers/torch_hem.py and hem.bench.ts --paper use it. */
export const PAPER_SHAPE = [8, 65 * 65, 512, 64] as const;

/**
 * `npm run bench:gpu`: the whole HEM grid, the paper's shape, matmul up to 4096³, the per-kernel
 * profile at the paper's shape, PyTorch's figures on the same GPU, then the benchmark tables (docs/benchmarks.md).
 * `flags` (e.g. --no-peers) go to every bench subject.
 */
export function gpuPlan(flags: string[] = []): Step[] {
  const s = (subject: string, args: string[], what: string): Step => ({ kind: 'subject', subject, args: [...args, ...flags], what });
  return [
    s('hem', ['--full'], 'HEM layer, the whole grid (B ∈ {1, 8}, C ∈ {64, 256, 512})'),
    s('hem', ['--paper'], "HEM layer at the paper's shape (B = 8, N = 65·65, C = 512, K = 64)"),
    s('matmul', ['--full', '--tune'], 'matmul n³ up to 4096³ and the HEM products, tile shapes tuned first'),
    s('profile', PAPER_SHAPE.map(String), "GPU time per kernel at the paper's shape, against the measured peaks"),
    s('step', ['--recipe', 'gpu'], "a training step's time by phase and by kernel at the GPU-sized demo recipe"),
    { kind: 'torch', what: "PyTorch eager (float32, TF32 off): matmul 4096³ and HEM at the paper's shape (bench/peers/torch_hem.py)" },
    { kind: 'render', what: 'the benchmark tables of docs/benchmarks.md (bench/render.ts)' },
  ];
}

/** `npm run bench [-- subjects...]`: each chosen subject (all by default) with the same flags. */
export function subjectPlan(named: string[], flags: string[]): Step[] {
  for (const n of named) {
    if (!SUBJECTS[n]) throw new Error(`npm run bench: unknown subject '${n}'; use one of ${Object.keys(SUBJECTS).join(', ')} (or none for all).`);
  }
  return (named.length ? named : Object.keys(SUBJECTS)).map((subject) => ({ kind: 'subject', subject, args: [...flags], what: SUBJECTS[subject]!.what }));
}

/**
 * The node arguments that run a bench file: from source through scripts/run.mjs, or, when
 * `prebuilt` names a folder of bundles (HEMGPU_BENCH_PREBUILT, made by scripts/device-prepare.sh
 * for a machine without esbuild), that folder's <name>.mjs.
 */
export function benchCommand(file: string, args: string[], prebuilt?: string): string[] {
  return prebuilt ? [join(prebuilt, file.replace(/\.ts$/, '.mjs')), ...args] : [join('scripts', 'run.mjs'), join('bench', file), ...args];
}

/** A step's command line, for --dry-run and the log. */
export function stepCommand(step: Step, node: string, prebuilt?: string): string {
  switch (step.kind) {
    case 'subject':
      return [node, ...benchCommand(SUBJECTS[step.subject]!.file, step.args, prebuilt)].join(' ');
    case 'torch':
      return 'python3 bench/peers/torch_hem.py > bench/results/<date>-<device>-pytorch.json';
    case 'render':
      return [node, ...benchCommand('render.ts', [], prebuilt)].join(' ');
  }
}
