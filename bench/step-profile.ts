/**
 * Where a training step's time goes (issue 24): for hemnet, emanet, pooling and plain at the
 * demo's recipe (src/train/recipes.ts, as `npm run demo` trains them), one step
 *   - timed whole, as the trainer runs it (median of several steps, no barrier inside);
 *   - split into phases with a GPU barrier after each: host batch (gather + upload), forward
 *     (graph recorded, kernels run), backward, the loss read, the optimizer update (backward is
 *     forward + backward less a forward-only pass run just before, since a tidy scope cannot
 *     span the barrier between them; those steps update batch norm's statistics twice);
 *   - counted: dispatches, submits, host reads and writes per step (Engine.counts);
 *   - profiled per kernel with GPU timestamps (Engine.profileKernels: one pass per dispatch, so
 *     kernel totals include a little per-pass overhead), grouped by kernel.
 * "Host and waits" is the whole step less its kernel time: recording ops, binding, submitting,
 * and the GPU idling while the host works (and, on a CPU driver, the host and the driver's
 * threads sharing the cores).
 * Before timing, each model's loss must be finite and fall over the first steps.
 *   npm run bench -- step [--recipe demo|gpu] [--steps N]
 *   (--recipe gpu: the demo's flags with the GPU step count's batch and scene size; same model)
 */
import { crossEntropy, init, sync, tensor, tidy, type Tensor } from '../src/index.node.ts';
import { parseTrainFlags, type TrainFlags } from '../src/cli/args.ts';
import { recipeFlags } from '../src/cli/demo.ts';
import { loadData } from '../src/train/trainer.ts';
import { IGNORE_LABEL as IGNORE } from '../src/ops/cross-entropy.ts';
import { gatherBatch, sampleBackground, batchIndices } from '../src/train/batch.ts';
import { buildModel, learningRate, makeOptimizer } from '../src/train/setup.ts';
import type { SegModelName } from '../src/model/seg-models.ts';
import { adapterLine, recordResults, table } from './common.ts';

const argv = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
};
const recipe = arg('recipe', 'demo');
if (recipe !== 'demo' && recipe !== 'gpu') throw new Error(`step-profile: --recipe demo or gpu, got '${recipe}'`);
const quick = argv.includes('--quick');
const timedSteps = Number(arg('steps', quick ? '2' : '6'));
if (!Number.isInteger(timedSteps) || timedSteps < 1) throw new Error(`step-profile: --steps must be a positive integer, got '${arg('steps', '')}'`);

const engine = await init();
// The demo's recipe with few scenes (the data is not what is timed); 'gpu' scales it to 64 px, batch 16.
const extra = recipe === 'gpu' ? ['--size', '64', '--batch', '16', '--min-scale', '14', '--max-scale', '18'] : [];
const flags = parseTrainFlags([...recipeFlags(extra), ...extra, '--train-scenes', '64', '--val-scenes', '4', '--steps', '1000'], 'bench')!;
const { train: data } = loadData(flags);
const imageShape = [data.height, data.width, data.channels];
console.log(
  `# One training step, ${recipe} recipe (${data.height}×${data.width}, batch ${flags.batch}, C = ${flags.channels}, K = ${flags.bases}, T = ${flags.iterations}, width ${flags.width}, ${flags.optimizer}) on ${adapterLine(engine.adapterInfo)}\n`,
);

/** A kernel's family for the summary: matmul, the conv input gradient's direct product, conv (im2col, col2im, epilogue), batchnorm, EM (hem, softmax), upsample, optimizer, other. */
function familyOf(kernel: string): string {
  const prefixes: [string, string][] = [
    ['matmul', 'matmul'],
    ['conv2d_dx_direct', 'conv input gradient (dx_direct)'],
    ['conv2d', 'conv im2col/col2im'],
    ['batchnorm', 'batchnorm'],
    ['hem', 'EM unit'],
    ['softmax', 'EM unit'],
    ['upsample', 'upsample'],
    ['optim', 'optimizer'],
  ];
  return prefixes.find(([p]) => kernel.startsWith(p))?.[1] ?? 'other (elementwise, reductions, loss)';
}

interface Phases {
  batch: number;
  forward: number;
  backward: number;
  lossRead: number;
  optimizer: number;
  /** forward's running total when backward last took it off (bookkeeping, not a phase). */
  forwardSum?: number;
}

const report: Record<string, unknown> = {
  recipe,
  flags: { size: flags.size, batch: flags.batch, channels: flags.channels, bases: flags.bases, iterations: flags.iterations, width: flags.width },
};
const summary: (string | number)[][] = [];
const models: SegModelName[] = quick ? ['hemnet', 'plain'] : ['hemnet', 'emanet', 'pooling', 'plain'];
for (const model of models) {
  const f: TrainFlags = { ...flags, model };
  const net = buildModel(f, data);
  const opt = makeOptimizer(net, f);
  let step = 0;
  /** The trainer's step (src/train/step.ts), with a barrier and a clock after each phase when `phases` is given. */
  const trainStep = async (phases?: Phases): Promise<number> => {
    const mark = async (k: keyof Phases, t0: number): Promise<number> => {
      if (!phases) return t0;
      await sync();
      const t = performance.now();
      phases[k] += t - t0;
      return t;
    };
    let t = performance.now();
    opt.setLr(learningRate(f, step));
    const idx = batchIndices(data.count, f.batch, step, f.seed);
    const { x, labels } = gatherBatch(data, idx, step, f.seed);
    sampleBackground(labels, f.bgKeep, f.seed, step);
    const xt = tensor(x, [idx.length, ...imageShape]);
    t = await mark('batch', t);
    const forward = (): Tensor => crossEntropy(net.forward(xt, { dropoutSeed: step }), labels, { ignoreIndex: IGNORE });
    if (phases) {
      // Forward alone first (its graph dropped), so that backward = (forward + backward) − forward.
      tidy(() => void forward());
      t = await mark('forward', t);
      phases.backward -= phases.forward - (phases.forwardSum ?? 0);
      phases.forwardSum = phases.forward;
    }
    const loss = tidy(() => {
      const l = forward();
      l.backward();
      return l;
    });
    xt.dispose();
    t = await mark('backward', t);
    const v = await loss.item();
    loss.dispose();
    t = await mark('lossRead', t);
    opt.step();
    net.zeroGrad();
    await mark('optimizer', t);
    step++;
    return v;
  };
  // Warm-up and check: pipelines compiled, pool filled, the loss finite and falling.
  const first = await trainStep();
  let last = first;
  for (let i = 0; i < (quick ? 3 : 7); i++) last = await trainStep();
  if (!Number.isFinite(first) || !Number.isFinite(last) || !(last < first))
    throw new Error(`${model}: loss ${first} → ${last} over the warm-up steps (expected finite and falling)`);

  // The whole step, as the trainer runs it.
  const wall: number[] = [];
  const c0 = { ...engine.counts };
  for (let i = 0; i < timedSteps; i++) {
    const t0 = performance.now();
    await trainStep();
    wall.push(performance.now() - t0);
  }
  const per = (k: keyof typeof c0): number => (engine.counts[k] - c0[k]) / timedSteps;
  const counts = { dispatches: per('dispatches'), submits: per('submits'), reads: per('reads'), writes: per('writes') };
  const stepMs = [...wall].sort((a, b) => a - b)[wall.length >> 1]!;

  // Phases, with barriers.
  const phases: Phases = { batch: 0, forward: 0, backward: 0, lossRead: 0, optimizer: 0 };
  for (let i = 0; i < timedSteps; i++) await trainStep(phases);
  delete phases.forwardSum;
  for (const k of Object.keys(phases) as (keyof Phases)[]) phases[k]! /= timedSteps;

  // Kernels, with timestamps.
  const prof = await engine.profileKernels(async () => {
    for (let i = 0; i < timedSteps; i++) await trainStep();
    await sync();
  });
  const rows = [...prof.entries()].map(([k, v]) => [k, { ms: v.ms / timedSteps, count: v.count / timedSteps }] as const).sort((a, b) => b[1].ms - a[1].ms);
  const kernelMs = rows.reduce((s, [, v]) => s + v.ms, 0);

  console.log(
    `## ${model}: ${stepMs.toFixed(1)} ms per step (${((1000 * f.batch) / stepMs).toFixed(1)} images/s); ${counts.dispatches.toFixed(0)} dispatches, ${counts.submits.toFixed(0)} submits, ${counts.reads.toFixed(0)} reads, ${counts.writes.toFixed(0)} writes per step`,
  );
  const phaseTotal = Object.values(phases).reduce((s, v) => s + v, 0);
  console.log(
    table(
      ['phase (barrier after each)', 'ms', 'share'],
      (Object.entries(phases) as [string, number][]).map(([k, v]) => [k, v.toFixed(1), `${((100 * v) / phaseTotal).toFixed(0)}%`]).concat([['sum', phaseTotal.toFixed(1), '100%']]),
    ),
  );
  console.log('');
  const top = rows.slice(0, 14);
  const rest = rows.slice(14).reduce((s, [, v]) => ({ ms: s.ms + v.ms, count: s.count + v.count }), { ms: 0, count: 0 });
  console.log(
    table(
      ['kernel', 'dispatches per step', 'ms per step', 'share of kernel time', 'ms per dispatch'],
      [
        ...top.map(([k, v]) => [k, v.count.toFixed(0), v.ms.toFixed(2), `${((100 * v.ms) / kernelMs).toFixed(1)}%`, (v.ms / v.count).toFixed(3)]),
        ...(rows.length > 14 ? [[`${rows.length - 14} others`, rest.count.toFixed(0), rest.ms.toFixed(2), `${((100 * rest.ms) / kernelMs).toFixed(1)}%`, '']] : []),
        ['all kernels', counts.dispatches.toFixed(0), kernelMs.toFixed(2), '100%', ''],
      ],
    ),
  );
  // By family: what a fusion or a faster kernel of one kind could save at most.
  const families: Record<string, number> = {};
  for (const [k, v] of rows) families[familyOf(k)] = (families[familyOf(k)] ?? 0) + v.ms;
  console.log(
    `\nby family: ${Object.entries(families)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${((100 * v) / kernelMs).toFixed(0)}%`)
      .join(', ')}`,
  );
  const host = stepMs - kernelMs;
  console.log(
    `\nkernel time ${kernelMs.toFixed(1)} ms = ${((100 * kernelMs) / stepMs).toFixed(0)}% of the step; host and waits ${host.toFixed(1)} ms = ${((100 * host) / stepMs).toFixed(0)}%\n`,
  );
  summary.push([
    model,
    stepMs.toFixed(1),
    ((1000 * f.batch) / stepMs).toFixed(1),
    counts.dispatches.toFixed(0),
    counts.submits.toFixed(0),
    counts.reads.toFixed(0),
    kernelMs.toFixed(1),
    `${((100 * kernelMs) / stepMs).toFixed(0)}%`,
  ]);
  report[model] = { stepMs, imagesPerSecond: (1000 * f.batch) / stepMs, counts, phases, kernelMs, families, kernels: Object.fromEntries(rows) };
  net.dispose();
  opt.dispose();
}
console.log(table(['model', 'ms per step', 'images/s', 'dispatches', 'submits', 'reads', 'kernel ms', 'kernel share'], summary));
const file = recordResults(`step-profile-${recipe}`, engine.adapterInfo, report);
console.log(`\nrecorded in ${file}`);
