/**
 * Training throughput: images/s of one training step (forward, backward, optimizer update) of
 * SegNet for hemnet, emanet and plain (same backbone), with the demo's recipe (src/cli/demo.ts:
 * model, batch, optimizer, scenes); and conv2d GFLOPS for 3×3 layers (forward; forward+backward).
 * Checks before timing: each conv2d case against a float64 host convolution on sampled outputs
 * (forward) and on sampled weight gradients (backward); each model's loss finite and falling over
 * the first steps.   node scripts/run.mjs bench/train.bench.ts
 */
import { conv2d, crossEntropy, mul, randn, sum, sync, tensor, tidy } from '../src/index.node.ts';
import { parseTrainFlags } from '../src/cli/args.ts';
import { recipeFlags } from '../src/cli/demo.ts';
import { loadData } from '../src/train/trainer.ts';
import { IGNORE_LABEL as IGNORE } from '../src/ops/cross-entropy.ts';
import { gatherBatch, sampleBackground, batchIndices } from '../src/train/batch.ts';
import { buildModel, learningRate, makeOptimizer } from '../src/train/setup.ts';
import { adapterLine, recordResults, startBench, table, timeCases, type Case } from './common.ts';

const adapter = await startBench();
console.log(`# training throughput on ${adapterLine(adapter)}`);
const B = 8; // conv2d cases only

// conv2d cases: [name, B, H, W, Cin, Cout, k, stride]
const convShapes: [string, number, number, number, number, number, number, number][] = [
  ['3×3 32→64 stride 2 on 32×32', B, 32, 32, 32, 64, 3, 2],
  ['3×3 64→64 on 16×16', B, 16, 16, 64, 64, 3, 1],
];
const cases: Case[] = [];
for (const [name, b, H, W, ci, co, k, s] of convShapes) {
  const x = randn([b, H, W, ci], { seed: 1 }).keep();
  const w = randn([k, k, ci, co], { seed: 2, std: 0.1, requiresGrad: true }).keep();
  const pad = (k - 1) >> 1;
  const Ho = Math.floor((H + 2 * pad - k) / s) + 1;
  const Wo = Math.floor((W + 2 * pad - k) / s) + 1;
  const flops = 2 * b * Ho * Wo * k * k * ci * co;
  const g = randn([b, Ho, Wo, co], { seed: 3 }).keep();
  cases.push({
    name: `conv2d ${name} fwd`,
    flops,
    async verify() {
      const y = await tidy(() => conv2d(x, w, { stride: s, padding: pad })).read();
      const hx = await x.read();
      const hw = await w.read();
      for (let t = 0; t < 200; t++) {
        const n = t % b,
          i = (t * 7) % Ho,
          j = (t * 13) % Wo,
          o = (t * 29) % co;
        let ref = 0;
        for (let a = 0; a < k; a++)
          for (let c = 0; c < k; c++) {
            const yi = i * s + a - pad,
              xj = j * s + c - pad;
            if (yi < 0 || yi >= H || xj < 0 || xj >= W) continue;
            for (let q = 0; q < ci; q++) ref += hx[((n * H + yi) * W + xj) * ci + q]! * hw[((a * k + c) * ci + q) * co + o]!;
          }
        const got = y[((n * Ho + i) * Wo + j) * co + o]!;
        if (!(Math.abs(got - ref) <= 1e-4 * (1 + Math.abs(ref)))) throw new Error(`${name}: output (${n},${i},${j},${o}) = ${got}, reference ${ref}`);
      }
    },
    async run() {
      tidy(() => {
        conv2d(x, w, { stride: s, padding: pad });
      });
      await sync();
    },
  });
  cases.push({
    name: `conv2d ${name} fwd+bwd`,
    flops: 3 * flops,
    // dW[a, c, q, o] = Σ_{n, i, j} x[n, i·s + a − pad, j·s + c − pad, q] · G[n, i, j, o], sampled.
    async verify() {
      w.zeroGrad();
      tidy(() => sum(mul(conv2d(x, w, { stride: s, padding: pad }), g)).backward());
      const dw = await w.grad!.read();
      const hx = await x.read();
      const hg = await g.read();
      for (let t = 0; t < 50; t++) {
        const a = t % k,
          c = (t * 5) % k,
          q = (t * 11) % ci,
          o = (t * 17) % co;
        let ref = 0;
        let mag = 0;
        for (let n = 0; n < b; n++)
          for (let i = 0; i < Ho; i++)
            for (let j = 0; j < Wo; j++) {
              const yi = i * s + a - pad,
                xj = j * s + c - pad;
              if (yi < 0 || yi >= H || xj < 0 || xj >= W) continue;
              const v = hx[((n * H + yi) * W + xj) * ci + q]! * hg[((n * Ho + i) * Wo + j) * co + o]!;
              ref += v;
              mag += Math.abs(v);
            }
        const got = dw[((a * k + c) * ci + q) * co + o]!;
        if (!(Math.abs(got - ref) <= 1e-5 * mag + 1e-6)) throw new Error(`${name}: dW(${a},${c},${q},${o}) = ${got}, reference ${ref}`);
      }
    },
    async run() {
      w.zeroGrad();
      tidy(() => sum(mul(conv2d(x, w, { stride: s, padding: pad }), g)).backward());
      await sync();
    },
  });
}

// The demo's recipe, with 64 training scenes (the data is not what is timed).
const flags = parseTrainFlags([...recipeFlags([]), '--train-scenes', '64', '--val-scenes', '4', '--steps', '1000'], 'bench')!;
const { train: data } = loadData(flags);
const imageShape = [data.height, data.width, data.channels];
for (const model of ['hemnet', 'emanet', 'pooling', 'plain'] as const) {
  const f = { ...flags, model };
  const net = buildModel(f, data);
  const opt = makeOptimizer(net, f);
  let step = 0;
  // The trainer's step (src/train/trainer.ts), minus checkpoints and logging.
  const trainStep = async (): Promise<number> => {
    opt.setLr(learningRate(f, step));
    const idx = batchIndices(data.count, f.batch, step, f.seed);
    const { x, labels } = gatherBatch(data, idx, step, f.seed);
    sampleBackground(labels, f.bgKeep, f.seed, step);
    const l = tidy(() => {
      const loss = crossEntropy(net.forward(tensor(x, [idx.length, ...imageShape]), { dropoutSeed: step }), labels, { ignoreIndex: IGNORE });
      loss.backward();
      return loss;
    });
    opt.step();
    net.zeroGrad();
    step++;
    const v = await l.item();
    l.dispose();
    return v;
  };
  cases.push({
    name: `train step ${model} (batch ${f.batch}, ${data.height}×${data.width}, C = ${f.channels})`,
    meta: { images: f.batch },
    async verify() {
      const first = await trainStep();
      let last = first;
      for (let i = 0; i < 9; i++) last = await trainStep();
      if (!Number.isFinite(first) || !Number.isFinite(last) || !(last < first)) throw new Error(`${model}: loss ${first} → ${last} over 10 steps (expected finite and falling)`);
    },
    run: async () => void (await trainStep()),
  });
}

// On a CPU driver a step takes ~0.1 s and a few take twice that (garbage collection, the driver's
// threads): 3 rounds of 7 calls give each median 21 samples (2 × 3 let two slow calls set it).
const results = await timeCases(cases, adapter.software ? { rounds: 3, timePerRound: 0, iterations: 7 } : { rounds: 3, timePerRound: 300, iterations: 10 });
console.log(
  table(
    ['case', 'median ms', '± MAD', 'GFLOPS', 'images/s'],
    results.map((r) => [
      r.name,
      r.medianMs.toFixed(1),
      r.madMs.toFixed(1),
      r.gflops ? r.gflops.toFixed(2) : '',
      r.meta?.images ? ((1000 * Number(r.meta.images)) / r.medianMs).toFixed(1) : '',
    ]),
  ),
);
console.log(`results: ${recordResults('train', adapter, results)}`);
process.exit(0);
