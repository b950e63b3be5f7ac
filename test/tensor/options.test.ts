/**
 * No silent defaults (issue 11, point 5): every public options object refuses an unknown key (a
 * typo such as `{ etta: 0.3 }`) with an error naming the op, the key and the known keys, before
 * any GPU work. The table below calls every exported function or constructor that takes an
 * options object with a mistyped key; a scan of the package's exports (the TypeScript checker over
 * src/index.node.ts) checks the table covers every one of them.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { wgslModule } from '../../src/reflect.ts';

beforeAll(async () => {
  await hg.init();
});

type Call = () => unknown;

/** [export name, op named in the error, the mistyped key, one known key the error lists, the call]. */
type Case = [string, string, string, string, Call];

// Inputs made once, so a call's own GPU allocations are only the op's (none, before the check).
let T: Record<'x4' | 'x3' | 'mu' | 'gam' | 'w' | 'c' | 'one' | 'param', hg.Tensor>;
beforeAll(() => {
  T = {
    x4: hg.zeros([1, 4, 4, 2]),
    x3: hg.zeros([1, 4, 2]),
    mu: hg.zeros([2, 2]),
    gam: hg.zeros([1, 4, 2]),
    w: hg.zeros([3, 3, 2, 2]),
    c: hg.zeros([2]),
    one: hg.ones([2]),
    param: hg.zeros([1], { requiresGrad: true }),
  };
});
const x4 = (): hg.Tensor => T.x4;
const x3 = (): hg.Tensor => T.x3;
const mu = (): hg.Tensor => T.mu;
const gam = (): hg.Tensor => T.gam;
const any = null as never;
const dir = tmpdir();
const NOOP = wgslModule('@compute @workgroup_size(1) fn main() {}');

const CASES: Case[] = [
  ['init', 'hemgpu init', 'adaptor', 'adapter', () => hg.init({ adaptor: 'gpu' } as never)],
  ['createEngine', 'createEngine', 'robust', 'robustness', () => hg.createEngine({ robust: true } as never)],
  ['tensor', 'tensor()', 'requiresgrad', 'requiresGrad', () => hg.tensor([1], [1], { requiresgrad: true } as never)],
  ['zeros', 'zeros()', 'requires_grad', 'requiresGrad', () => hg.zeros([1], { requires_grad: true } as never)],
  ['ones', 'ones()', 'grad', 'requiresGrad', () => hg.ones([1], { grad: true } as never)],
  ['full', 'full()', 'requireGrad', 'requiresGrad', () => hg.full([1], 2, { requireGrad: true } as never)],
  ['rand', 'rand()', 'sead', 'seed', () => hg.rand([1], { sead: 1 } as never)],
  ['randn', 'randn()', 'stdev', 'std', () => hg.randn([1], { stdev: 1 } as never)],
  ['sum', 'sum', 'keepDim', 'keepdim', () => hg.sum(x3(), 0, { keepDim: true } as never)],
  ['mean', 'mean', 'keepdims', 'keepdim', () => hg.mean(x3(), 0, { keepdims: true } as never)],
  ['matmul', 'matmul', 'transb', 'transB', () => hg.matmul(mu(), mu(), { transb: true } as never)],
  ['tuneMatmul', 'tuneMatmul', 'repeats', 'reps', () => hg.tuneMatmul({ repeats: 1 } as never)],
  ['setMatmulConfig', 'matmul config', 'WG_Z', 'WG_X', () => hg.setMatmulConfig({ BM: 4, BN: 2, WG_X: 8, WG_Y: 8, WG_Z: 1 } as never)],
  ['tuneHem', 'tuneHem', 'repeats', 'reps', () => hg.tuneHem({ repeats: 1 } as never)],
  ['tune', 'tune', 'qiuck', 'quick', () => hg.tune({ qiuck: true } as never)],
  ['setHemKernelConfig', 'hem kernel config', 'TZ', 'TX', () => hg.setHemKernelConfig({ path: 'tiled', TX: 8, TY: 8, RT: 16, TZ: 1 } as never)],
  ['softmax', 'softmax', 'scal', 'scale', () => hg.softmax(mu(), { scal: 2 } as never)],
  ['eigh', 'eigh', 'gap', 'gapTolerance', () => hg.eigh(mu(), { gap: 1e-5 } as never)],
  ['spectralFunction', 'spectralFunction', 'gapTol', 'gapTolerance', () => hg.spectralFunction(mu(), hg.exp, hg.exp, { gapTol: 1e-3 } as never)],
  ['logm', 'logm', 'epsilon', 'eps', () => hg.logm(mu(), { epsilon: 1e-3 } as never)],
  ['sqrtm', 'sqrtm', 'esp', 'eps', () => hg.sqrtm(mu(), { esp: 0 } as never)],
  ['powm', 'powm', 'gaptolerance', 'gapTolerance', () => hg.powm(mu(), 2, { gaptolerance: 0 } as never)],
  ['eigenProjector', 'eigenProjector', 'gap', 'gapTolerance', () => hg.eigenProjector(mu(), 1, { gap: 1e-3 } as never)],
  ['o2p', 'o2p', 'epsilon', 'eps', () => hg.o2p(x3(), { epsilon: 1e-3 } as never)],
  ['gaussianAffinity', 'gaussianAffinity', 'sig', 'sigma', () => hg.gaussianAffinity(x3(), { sig: 1 } as never)],
  ['normalizedCuts', 'normalizedCuts', 'bandwidth', 'sigma', () => hg.normalizedCuts(x3(), 1, { bandwidth: 1 } as never)],
  ['crossEntropy', 'crossEntropy', 'ignore_index', 'ignoreIndex', () => hg.crossEntropy(mu(), [0, 1], { ignore_index: 1 } as never)],
  ['hem', 'hem', 'etta', 'eta', () => hg.hem(x3(), mu(), { etta: 0.3 } as never)],
  ['hemEStep', 'hemEStep', 'tau', 'temperature', () => hg.hemEStep(x3(), mu(), { tau: 1 } as never)],
  ['hemNStep', 'hemNStep', 'step', 'eta', () => hg.hemNStep(x3(), gam(), mu(), { eta: 0.5, step: 1 } as never)],
  ['elbo', 'elbo', 'temp', 'temperature', () => hg.elbo(x3(), mu(), gam(), { temp: 1 } as never)],
  ['resolveHemOptions', 'hem', 'iters', 'iterations', () => hg.resolveHemOptions(2, { iters: 3 } as never)],
  ['HEM', 'HEM', 'etta', 'eta', () => new hg.HEM({ channels: 2, bases: 2, etta: 0.3 } as never)],
  ['EMAU', 'EMAU', 'iteration', 'iterations', () => new hg.EMAU({ channels: 2, bases: 2, iteration: 1 } as never)],
  ['SGD', 'SGD', 'weight_decay', 'weightDecay', () => new hg.SGD([T.param], { weight_decay: 0.1 } as never)],
  ['AdamW', 'AdamW', 'beta1', 'betas', () => new hg.AdamW([T.param], { beta1: 0.9 } as never)],
  ['LrSchedule', 'LrSchedule', 'total', 'totalSteps', () => new hg.LrSchedule({ groupCount: 1, getLr: () => 0.1, setLr: () => {} }, { total: 10 } as never)],
  ['digitScenes', 'digitScenes', 'cout', 'count', () => hg.digitScenes({ cout: 5 } as never)],
  ['renderScene', 'renderScene', 'treshold', 'threshold', () => hg.renderScene(() => [], [], { size: 4, treshold: 0.5 } as never)],
  ['batches', 'batches', 'shufle', 'shuffle', () => hg.batches({ count: 1 } as never, 1, { shufle: true } as never).next()],
  ['conv2d', 'conv2d', 'pad', 'padding', () => hg.conv2d(x4(), T.w, { pad: 1 } as never)],
  ['upsampleBilinear', 'upsampleBilinear', 'mode', 'size', () => hg.upsampleBilinear(x4(), { size: [8, 8], mode: 'nearest' } as never)],
  ['batchNorm', 'batchNorm', 'momentm', 'momentum', () => hg.batchNorm(x4(), T.one, T.c, { runningMean: T.c, runningVar: T.one }, { training: true, momentm: 0.1 } as never)],
  ['maxPool2d', 'maxPool2d', 'strides', 'stride', () => hg.maxPool2d(x4(), { kernel: 2, strides: 2 } as never)],
  ['avgPool2d', 'avgPool2d', 'countIncludePadding', 'countIncludePad', () => hg.avgPool2d(x4(), { kernel: 2, countIncludePadding: false } as never)],
  ['dropout', 'dropout', 'prob', 'p', () => hg.dropout(x4(), { prob: 0.5 } as never)],
  ['lineChartSpec', 'lineChartSpec', 'titel', 'title', () => hg.lineChartSpec({ series: [], titel: 'x' } as never)],
  ['lossChartSpec', '', '', '', () => 0], // takes runs, no options object (listed so the scan below sees it reviewed)
  ['heatmapSpec', 'writeHeatmaps', 'colourmap', 'colormap', () => hg.heatmapSpec([], { rows: 1, cols: 1, width: 1, height: 1, colourmap: 'x' } as never, String)],
  ['heatmapRasters', 'writeHeatmaps', 'colourmap', 'colormap', () => hg.heatmapRasters([], { rows: 1, cols: 1, width: 1, height: 1, colourmap: 'x' } as never)],
  ['segmentationSpec', 'writeSegmentation', 'pallete', 'palette', () => hg.segmentationSpec([], [], null, 1, { pallete: [] } as never, String)],
  ['segmentationPanels', 'writeSegmentation', 'names', 'classNames', () => hg.segmentationPanels([], [], null, 1, { names: [] } as never)],
  ['saveCheckpoint', 'saveCheckpoint', 'verfy', 'verify', () => hg.saveCheckpoint(join(dir, 'never.safetensors'), { tensors: {} }, { verfy: () => {} } as never)],
  ['writeChart', 'writeChart', 'svgs', 'svg', () => hg.writeChart(join(dir, 'never.png'), {} as never, { svgs: false } as never)],
  ['drawAugment', 'drawAugment', 'flipp', 'flip', () => hg.drawAugment(new hg.DataRng(1), 8, 8, { cropSize: 4, augment: false, flipp: true } as never)],
  ['gridSpec', 'gridSpec', 'columns', 'cols', () => hg.gridSpec([], { cols: 1, columns: 2 } as never)],
  ['writeLineChart', 'lineChartSpec', 'titel', 'title', () => hg.writeLineChart(join(dir, 'never.png'), { series: [], titel: 'x' } as never)],
  [
    'writeHeatmaps',
    'writeHeatmaps',
    'colourmap',
    'colormap',
    () => hg.writeHeatmaps(join(dir, 'never.png'), [], { rows: 1, cols: 1, width: 1, height: 1, colourmap: 'x' } as never),
  ],
  ['writeSegmentation', 'writeSegmentation', 'pallete', 'palette', () => hg.writeSegmentation(join(dir, 'never.png'), [], [], null, 1, { pallete: [] } as never)],
  ['vocDataset', 'voc', 'splt', 'split', () => hg.vocDataset({ root: '/nonexistent', splt: 'val' } as never)],
  ['VocDataset', 'voc', 'crop', 'cropSize', () => new hg.VocDataset({ root: '/nonexistent', crop: 64 } as never)],
  ['Conv2d', 'Conv2d', 'stide', 'stride', () => new hg.Conv2d({ inChannels: 1, outChannels: 1, kernelSize: 1, stide: 2 } as never)],
  ['Linear', 'Linear', 'outChannels', 'outFeatures', () => new hg.Linear({ inFeatures: 1, outChannels: 1 } as never)],
  ['BatchNorm', 'BatchNorm', 'gama', 'gamma', () => new hg.BatchNorm({ channels: 1, gama: 0 } as never)],
  ['ConvBnRelu', 'ConvBnRelu', 'bias', 'kernelSize', () => new hg.ConvBnRelu({ inChannels: 1, outChannels: 1, kernelSize: 1, bias: true } as never)],
  ['EmBlock', 'EmBlock', 'eeta', 'eta', () => new hg.EmBlock({ unit: 'hem', channels: 2, bases: 2, iterations: 1, seed: 1, eeta: 0.5 } as never)],
  ['SegNet', 'SegNet', 'iteration', 'iterations', () => new hg.SegNet({ model: 'hem', iteration: 3 } as never)],
  ['trainStep', 'trainStep', 'dropoutseed', 'dropoutSeed', () => hg.trainStep(any, any, any, { dropoutseed: 1 } as never)],
  ['defineKernel', 'defineKernel', 'variant', 'variants', () => hg.defineKernel('test_options_kernel', NOOP, 'main', { variant: [] } as never)],
  ['Kernel', 'defineKernel', 'varients', 'variants', () => hg.defineKernel('test_options_kernel2', NOOP, 'main', { varients: [] } as never)], // the class behind defineKernel,
  ['evaluate', 'evaluate', 'batchSize', 'batch', () => hg.evaluate(any, any, { batchSize: 2 } as never)],
  ['TrainingRun', 'TrainingRun', 'test', 'val', () => new hg.TrainingRun(hg.demoConfig(), { train: {}, val: {}, test: {} } as never)],
  ['demoConfig', 'demoConfig', 'modle', 'model', () => hg.demoConfig({ modle: 'emanet' } as never)],
  ['saveWeights', 'saveWeights', 'stepp', 'step', () => hg.saveWeights({ stepp: 1 } as never)],
  ['attentionMaps', 'attentionMaps', 'iters', 'iterations', () => hg.attentionMaps(any, any, { iters: 3, eta: 0.5 } as never)],
  ['emDiagnostics', 'emDiagnostics', 'scene', 'scenes', () => hg.emDiagnostics(any, any, { scene: 3 } as never)],
  ['gradientFlow', 'gradientFlow', 'eta', 'etas', () => hg.gradientFlow(any, any, { eta: 0.5, iterations: 3 } as never)],
];

/**
 * Exports that take the run's whole TrainConfig (or a Pick of it), not an options object: a
 * TrainConfig carries every field of the run, each checked where the config is made (the CLI and
 * the checkpoint), so these must accept a full config.
 */
const WHOLE_CONFIG = [
  'buildModel',
  'makeOptimizer',
  'digitSceneData',
  'scheduledStep',
  'learningRate',
  'writeTrainingCheckpoint',
  'restoreModel',
  'saveTrainingCheckpoint',
  'train',
  'loadData',
];

async function messageOf(call: Call): Promise<string> {
  try {
    await call();
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

describe('a mistyped option is refused naming the op, the key and the known keys', () => {
  for (const [name, op, bad, known, call] of CASES) {
    if (!op) continue;
    test(name, async () => {
      const before = hg.memoryStats().buffersCreated;
      const msg = await messageOf(call);
      expect(msg, `${name} accepted the unknown option '${bad}'`).not.toBe('');
      expect(msg.startsWith(`${op}: unknown `), msg).toBe(true);
      expect(msg).toContain(`'${bad}'`);
      expect(msg).toMatch(new RegExp(`\\((option|config field|field)s: ([\\w, ]*, )?${known}(, [\\w, ]*)?\\)`));
      expect(hg.memoryStats().buffersCreated, 'no GPU buffer made before the check').toBe(before);
    });
  }

  test('a near miss gets a "did you mean"', async () => {
    expect(await messageOf(() => hg.hem(x3(), mu(), { etta: 0.3 } as never))).toMatch(/Did you mean 'eta'\?/);
    expect(await messageOf(() => hg.crossEntropy(mu(), [0, 1], { ignore_index: 1 } as never))).toMatch(/Did you mean 'ignoreIndex'\?/);
    expect(await messageOf(() => hg.matmul(mu(), mu(), { transb: true } as never))).toMatch(/Did you mean 'transB'\?/);
  });

  test('the known keys still work, and undefined values count as absent', async () => {
    const r = hg.hem(x3(), mu(), { eta: 0.3, iterations: 1, trace: undefined });
    expect(r.out.shape).toEqual([1, 4, 2]);
    const y = hg.matmul(mu(), mu(), { transA: true, transB: false });
    expect(y.shape).toEqual([2, 2]);
  });
});

describe('the table covers every export that takes an options object', () => {
  test('scan of src/index.node.ts', () => {
    const root = join(import.meta.dirname, '../..');
    const cfg = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile);
    const parsed = ts.parseJsonConfigFileContent(cfg.config, ts.sys, root);
    const entry = join(root, 'src/index.node.ts');
    const program = ts.createProgram([entry], { ...parsed.options, noEmit: true });
    const checker = program.getTypeChecker();
    const mod = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
    const takesOptions: string[] = [];
    for (const ex of checker.getExportsOfModule(mod)) {
      const sym = ex.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(ex) : ex;
      if (!(sym.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Class))) continue;
      const type = checker.getTypeOfSymbol(sym);
      const sigs = [...type.getCallSignatures(), ...type.getConstructSignatures()];
      if (sigs.some((s) => s.parameters.some((p) => /^(options|config|opts|extra)$/.test(p.name) || /Options$|Config$/.test(checker.typeToString(checker.getTypeOfSymbol(p)))))) {
        takesOptions.push(ex.name);
      }
    }
    expect(takesOptions.length).toBeGreaterThan(30);
    const listed = new Set([...CASES.map((c) => c[0]), ...WHOLE_CONFIG]);
    expect(
      takesOptions.filter((n) => !listed.has(n)),
      'exports that take an options object but have no case in CASES',
    ).toEqual([]);
  });
});
