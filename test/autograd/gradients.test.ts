/**
 * The all-ops gradient walk: every exported function of the package is either a differentiable
 * op with a case below, or named in NOT_DIFFERENTIABLE; a new export in neither list fails the
 * first test, so a new op cannot miss its gradient check. Each case runs the op on a small random
 * input with requiresGrad, seeds backward() with a random cotangent r (L = Σ r ⊙ y), and compares
 * the gradient of every input against central finite differences of L evaluated on the GPU, at a
 * few random coordinates per input.
 *
 * Tolerance (derived, per coordinate). L is accumulated in float64 from the f32 output, so its
 * error is the op's: each output element errs by at most E·max|y| with E = 2^-19 (8 f32 ULPs of
 * the output's scale, which covers the few roundings of each op here, cancellations included),
 * so |ΔL| ≤ E·max|y|·Σ|r| = R, and a central difference over the step 2h errs by at most R/h.
 * The truncation error of the difference D(h) is O(h²); Richardson's estimate of it is
 * |D(h) − D(h/2)|·4/3, bounded here by 2·|D(h) − D(h/2)| (which also absorbs D(h/2)'s rounding).
 * The analytic gradient itself is computed in f32: 1e-4 relative. Inputs of the ops with kinks
 * (relu, abs, max pooling) stay more than h away from them, so both differences see one branch.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { Rng } from '../helpers.ts';

beforeAll(async () => {
  await hg.init();
});

/** Exported functions that are not differentiable ops (creators, utilities, modules, I/O, ...). */
const NOT_DIFFERENTIABLE = new Set([
  // engine and memory
  'init',
  'createEngine',
  'adapterInfo',
  'sync',
  'shutdown',
  'withEngine',
  'Tensor',
  'memoryStats',
  'tidy',
  'keep',
  'noGrad',
  'isGradEnabled',
  'defineKernel',
  'registeredKernels',
  'pipelineStats',
  'warmup',
  'setMatmulConfig',
  'getMatmulConfig',
  'resetMatmulConfig',
  'tuneMatmul',
  'setHemKernelConfig',
  'getHemKernelConfig',
  'tuneHem',
  'tune',
  'applyTuning',
  'appliedTuning',
  'tuningKey',
  // creators (leaves: no input to differentiate)
  'tensor',
  'zeros',
  'ones',
  'full',
  'rand',
  'randn',
  'batchNormState',
  // HEM helpers: forward-only building blocks that refuse inputs requiring grad (checked below),
  // the ELBO diagnostic, options and trace
  'hemEStep',
  'hemNStep',
  'elbo',
  'resolveHemOptions',
  'HemTrace',
  // modules, the model and optimizers (built from the ops checked here)
  'HEM',
  'EMAU',
  'Module',
  'Conv2d',
  'Linear',
  'heNormal',
  'BatchNorm',
  'ConvBnRelu',
  'EmBlock',
  'SegNet',
  'Optimizer',
  'SGD',
  'AdamW',
  'polyLr',
  'LrSchedule',
  // training: batches, setup, the step, evaluation and metrics, checkpoint contents
  'batchIndices',
  'gatherBatch',
  'sampleBackground',
  'buildModel',
  'makeOptimizer',
  'learningRate',
  'digitSceneData',
  'trainStep',
  'scheduledStep',
  'NonFiniteLossError',
  'StepStopped',
  'evaluate',
  'ConfusionMatrix',
  'argmaxLastAxis',
  'writeTrainingCheckpoint',
  'verifyCheckpoint',
  'restoreModel',
  'restoreOptimizer',
  'train',
  'loadData',
  'saveTrainingCheckpoint',
  'readToHost',
  'segmentProjector',
  // checkpoints as bytes, the shared training run, the demo recipe, figure data (issue 12)
  'saveWeights',
  'readWeights',
  'loadWeights',
  'TrainingRun',
  'demoConfig',
  'trainDefaults',
  'takesEta',
  'attentionMaps',
  'gradientFlow',
  'predictScenes',
  // the EM unit's diagnostics on validation scenes (issue 22)
  'emDiagnostics',
  'formatEmDiagnostics',
  // data, images, checkpoints
  'digitScenes',
  'renderScene',
  'resizeDigit',
  'digitSampleRange',
  'batches',
  'batchCount',
  'DataRng',
  'mixSeed',
  'permutation',
  'mnistDigits',
  'vocDataset',
  'VocDataset',
  'decodeJpeg',
  'decodeLabelPng',
  'drawAugment',
  'augmentSample',
  'vocColormap',
  'decodeDigits',
  'saveCheckpoint',
  'loadCheckpoint',
  'encodeSafetensors',
  'decodeSafetensors',
  // figures: Vega-Lite specs, rasters and their rendering
  'lineChartSpec',
  'lossChartSpec',
  'miouChartSpec',
  'gradientFlowChartSpec',
  'movingAverage',
  'heatmapSpec',
  'heatmapRasters',
  'segmentationSpec',
  'segmentationPanels',
  'gridSpec',
  'colormap',
  'pngDataUrl',
  'writeChart',
  'chartSvg',
  'svgToPng',
  'writeLineChart',
  'writeHeatmaps',
  'writeSegmentation',
  'writePng',
  'encodePng',
]);

type Gen = (rng: Rng) => number;
/** Uniform in ±[0.2, 1]: more than a step h away from 0 (the kink of relu and abs). */
const awayFromZero: Gen = (rng) => (rng.next() < 0.5 ? -1 : 1) * (0.2 + 0.8 * rng.next());
const positive: Gen = (rng) => 0.5 + rng.next();
const signed: Gen = (rng) => rng.uniform(-1, 1);

interface Input {
  shape: number[];
  gen?: Gen;
  /** Host values instead of a generator. */
  values?: (rng: Rng, n: number) => Float32Array;
}

interface Case {
  inputs: Input[];
  /** The op applied to the inputs; returns its output (disposed by the caller). */
  run: (xs: hg.Tensor[]) => hg.Tensor;
}

/** Distinct values 0.25 apart in random order: window maxima stay the maxima under ±h. */
function spaced(rng: Rng, n: number): Float32Array {
  const v = Float32Array.from({ length: n }, (_, i) => 0.25 * (i - n / 2));
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [v[i], v[j]] = [v[j]!, v[i]!];
  }
  return v;
}

const x1 = (shape: number[], gen: Gen = signed): Input => ({ shape, gen });

/**
 * 3 × 3 matrices diag(1, 2.5, 4) plus entries uniform in ±0.3 (not symmetric: eigh symmetrises):
 * eigenvalues positive and about 1 apart, so eigenvectors and spectral functions move smoothly
 * and each eigenvector's largest entry (the sign convention) stays the same under ±h.
 */
function separated(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, e) => (e % 9 === 0 ? 1 : e % 9 === 4 ? 2.5 : e % 9 === 8 ? 4 : 0) + rng.uniform(-0.3, 0.3));
}
const spd3 = (batch: number): Input => ({ shape: [batch, 3, 3], values: separated });

/** One case per differentiable export (its name in the package). */
const CASES: Record<string, Case> = {
  add: { inputs: [x1([3, 4]), x1([4])], run: ([a, b]) => hg.add(a!, b!) },
  sub: { inputs: [x1([2, 3]), x1([2, 1])], run: ([a, b]) => hg.sub(a!, b!) },
  mul: { inputs: [x1([3, 4]), x1([1, 4])], run: ([a, b]) => hg.mul(a!, b!) },
  div: { inputs: [x1([3, 4]), x1([4], positive)], run: ([a, b]) => hg.div(a!, b!) },
  neg: { inputs: [x1([5])], run: ([a]) => hg.neg(a!) },
  exp: { inputs: [x1([2, 3])], run: ([a]) => hg.exp(a!) },
  log: { inputs: [x1([2, 3], positive)], run: ([a]) => hg.log(a!) },
  sqrt: { inputs: [x1([2, 3], positive)], run: ([a]) => hg.sqrt(a!) },
  relu: { inputs: [x1([3, 4], awayFromZero)], run: ([a]) => hg.relu(a!) },
  pow: { inputs: [x1([2, 3], positive)], run: ([a]) => hg.pow(a!, 2.5) },
  abs: { inputs: [x1([3, 4], awayFromZero)], run: ([a]) => hg.abs(a!) },
  sum: { inputs: [x1([2, 3, 4])], run: ([a]) => hg.sum(a!, [0, 2]) },
  mean: { inputs: [x1([2, 3, 4])], run: ([a]) => hg.mean(a!, 1, { keepdim: true }) },
  reshape: { inputs: [x1([2, 6])], run: ([a]) => hg.reshape(a!, [3, -1]) },
  transpose: { inputs: [x1([2, 3, 4])], run: ([a]) => hg.transpose(a!) },
  permute: { inputs: [x1([2, 3, 4])], run: ([a]) => hg.permute(a!, [2, 0, 1]) },
  expand: { inputs: [x1([3, 1])], run: ([a]) => hg.expand(a!, [2, 3, 4]) },
  padTo: { inputs: [x1([2, 3])], run: ([a]) => hg.padTo(a!, [3, 5]) },
  sliceTo: { inputs: [x1([3, 5])], run: ([a]) => hg.sliceTo(a!, [2, 3]) },
  hook: { inputs: [x1([4])], run: ([a]) => hg.hook(a!, () => {}) },
  matmul: { inputs: [x1([2, 3, 5]), x1([4, 5])], run: ([a, b]) => hg.matmul(a!, b!, { transB: true }) },
  softmax: { inputs: [x1([3, 6])], run: ([a]) => hg.softmax(a!, { scale: 0.7 }) },
  eigh: {
    inputs: [spd3(2)],
    run: ([a]) => {
      const { values, vectors } = hg.eigh(a!);
      return hg.add(vectors, hg.reshape(values, [2, 1, 3]));
    },
  },
  spectralFunction: { inputs: [spd3(2)], run: ([a]) => hg.spectralFunction(a!, hg.exp, hg.exp) },
  logm: { inputs: [spd3(2)], run: ([a]) => hg.logm(a!, { eps: 1e-3 }) },
  sqrtm: { inputs: [spd3(1)], run: ([a]) => hg.sqrtm(a!) },
  powm: { inputs: [spd3(1)], run: ([a]) => hg.powm(a!, -0.5) },
  // k = 1 and 2 of the spectrum ≈ (1, 2.5, 4): a gap of ≈ 1.5 across each boundary.
  eigenProjector: { inputs: [spd3(2)], run: ([a]) => hg.eigenProjector(a!, [1, 2]) },
  o2p: { inputs: [x1([2, 6, 3])], run: ([x]) => hg.o2p(x!, { eps: 0.1 }) },
  gaussianAffinity: { inputs: [x1([2, 4, 3])], run: ([f]) => hg.gaussianAffinity(f!, { sigma: 1.5 }) },
  // k = 1: the leading eigenvector of D^{-1/2} W D^{-1/2} is D^{1/2}1 (eigenvalue 1), well apart from the rest.
  normalizedCuts: { inputs: [x1([2, 5, 2])], run: ([f]) => hg.normalizedCuts(f!, 1, { sigma: 1.5 }).projector },
  projectorLoss: { inputs: [x1([2, 3, 3])], run: ([p]) => hg.projectorLoss(p!, hg.segmentProjector([0, 0, 1, 2, 2, 2], 2, 3).projector) },
  crossEntropy: { inputs: [x1([5, 4])], run: ([a]) => hg.crossEntropy(a!, [0, 3, -100, 1, 2]) },
  sigmoidCrossEntropy: { inputs: [x1([2, 3], awayFromZero)], run: ([a]) => hg.sigmoidCrossEntropy(a!, [1, 0, 0.5, 0, 1, 1]) },
  hem: {
    inputs: [x1([1, 6, 4]), x1([3, 4])],
    run: ([x, mu]) => {
      const r = hg.hem(x!, mu!, { iterations: 2 });
      r.mu.dispose();
      r.gamma.dispose();
      return r.out;
    },
  },
  conv2d: {
    inputs: [x1([1, 5, 5, 3]), x1([3, 3, 3, 2]), x1([2])],
    run: ([x, w, b]) => hg.conv2d(x!, w!, { padding: 1, bias: b! }),
  },
  upsampleBilinear: { inputs: [x1([1, 3, 3, 2])], run: ([a]) => hg.upsampleBilinear(a!, { size: [5, 4] }) },
  batchNorm: {
    inputs: [x1([2, 3, 3, 2]), x1([2], positive), x1([2])],
    run: ([x, g, b]) => {
      const state = hg.batchNormState(2);
      const y = hg.batchNorm(x!, g!, b!, state, { training: true });
      state.runningMean.dispose();
      state.runningVar.dispose();
      return y;
    },
  },
  maxPool2d: { inputs: [{ shape: [1, 4, 4, 2], values: spaced }], run: ([a]) => hg.maxPool2d(a!, { kernel: 2 }) },
  avgPool2d: { inputs: [x1([1, 5, 5, 2])], run: ([a]) => hg.avgPool2d(a!, { kernel: 3, stride: 2, padding: 1 }) },
  dropout: { inputs: [x1([4, 5])], run: ([a]) => hg.dropout(a!, { p: 0.3, seed: 7 }) },
};

const E = 2 ** -19;
const H = 1e-2;
const COORDS = 3;

/** L = Σ r ⊙ op(xs) in float64, without gradients. */
async function loss(c: Case, xs: Float32Array[], r: Float32Array): Promise<{ L: number; R: number }> {
  const ts = xs.map((v, i) => hg.tensor(v, c.inputs[i]!.shape));
  const y = hg.noGrad(() => c.run(ts));
  const yv = await y.read();
  y.dispose();
  for (const t of ts) t.dispose();
  let L = 0;
  let maxY = 0;
  let sumR = 0;
  for (let k = 0; k < yv.length; k++) {
    L += r[k]! * yv[k]!;
    maxY = Math.max(maxY, Math.abs(yv[k]!));
    sumR += Math.abs(r[k]!);
  }
  return { L, R: E * maxY * sumR };
}

/** Central difference of L along coordinate j of input i, with the f32-rounded step actually taken. */
async function difference(c: Case, xs: Float32Array[], r: Float32Array, i: number, j: number, h: number): Promise<{ d: number; R: number }> {
  const at = async (delta: number): Promise<{ L: number; R: number; x: number }> => {
    const moved = xs.map((v) => v.slice());
    moved[i]![j] = Math.fround(xs[i]![j]! + delta);
    return { ...(await loss(c, moved, r)), x: moved[i]![j]! };
  };
  const plus = await at(h);
  const minus = await at(-h);
  const step = plus.x - minus.x;
  return { d: (plus.L - minus.L) / step, R: (plus.R + minus.R) / step };
}

describe('every exported differentiable op matches central finite differences', () => {
  test('every exported function is either a checked op or listed as not differentiable', () => {
    const exported = Object.entries(hg)
      .filter(([, v]) => typeof v === 'function')
      .map(([k]) => k);
    const unclassified = exported.filter((k) => !(k in CASES) && !NOT_DIFFERENTIABLE.has(k));
    expect(unclassified, 'new exports: add a gradient case to CASES, or name them in NOT_DIFFERENTIABLE').toEqual([]);
    const both = exported.filter((k) => k in CASES && NOT_DIFFERENTIABLE.has(k));
    expect(both).toEqual([]);
    // No stale names: every case and every listed name is still exported.
    const stale = [...Object.keys(CASES), ...NOT_DIFFERENTIABLE].filter((k) => !exported.includes(k));
    expect(stale).toEqual([]);
  });

  for (const [name, c] of Object.entries(CASES)) {
    test(name, async () => {
      const rng = new Rng([...name].reduce((a, ch) => (a * 31 + ch.charCodeAt(0)) >>> 0, 7));
      const xs = c.inputs.map((inp) => {
        const n = inp.shape.reduce((a, d) => a * d, 1);
        return inp.values ? inp.values(rng, n) : Float32Array.from({ length: n }, () => inp.gen!(rng));
      });
      // Analytic: backward from the seed r.
      const ts = xs.map((v, i) => hg.tensor(v, c.inputs[i]!.shape, { requiresGrad: true }));
      const y = c.run(ts);
      const r = Float32Array.from({ length: y.size }, () => rng.uniform(-1, 1));
      const seed = hg.tensor(r, y.shape);
      y.backward(seed);
      const grads: Float32Array[] = [];
      for (const [i, t] of ts.entries()) {
        expect(t.grad, `${name}: input #${i} got no gradient`).not.toBeNull();
        expect(t.grad!.shape).toEqual(t.shape);
        grads.push(await t.grad!.read());
      }
      y.dispose();
      seed.dispose();
      for (const t of ts) {
        t.zeroGrad();
        t.dispose();
      }
      // Numeric, at a few coordinates of every input.
      for (const [i, x] of xs.entries()) {
        for (let s = 0; s < Math.min(COORDS, x.length); s++) {
          const j = rng.int(0, x.length - 1);
          const full = await difference(c, xs, r, i, j, H);
          const half = await difference(c, xs, r, i, j, H / 2);
          const g = grads[i]![j]!;
          const tol = full.R + half.R + 2 * Math.abs(full.d - half.d) + 1e-4 * Math.abs(g);
          expect(Math.abs(g - full.d), `${name}: d/d(input #${i})[${j}] = ${g}, finite differences ${full.d} (tolerance ${tol})`).toBeLessThanOrEqual(tol);
        }
      }
    });
  }

  test('the forward-only HEM building blocks refuse inputs that require grad', () => {
    const x = hg.rand([1, 4, 4], { requiresGrad: true });
    const mu = hg.rand([2, 4]);
    const gamma = hg.rand([1, 4, 2]);
    expect(() => hg.hemEStep(x, mu)).toThrow(/hemEStep: a forward-only building block/);
    expect(() => hg.hemNStep(x, gamma, mu)).toThrow(/hemNStep: a forward-only building block/);
    expect(() => hg.elbo(x, mu, gamma)).toThrow(/elbo: .*an input requires grad/);
    expect(() => hg.noGrad(() => hg.elbo(x, mu, gamma).dispose())).not.toThrow();
    for (const t of [x, mu, gamma]) t.dispose();
  });
});
