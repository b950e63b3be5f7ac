/**
 * The public API, shared by the Node and browser entry points (each registers its WebGPU
 * provider first and then re-exports this module).
 */
import { createEngine as createEngineRaw, engine, init as initEngine, type Engine } from './device/engine.ts';
import type { InitOptions as DeviceOptions } from './device/provider.ts';
import { checkKernels } from './gpu/warmup.ts';
import { warmupKernels, type WarmupReport } from './gpu/warmup.ts';
import { checkOptions, optionKeys } from './tensor/options.ts';
import { storedTuning } from './ops/tuning-store.ts';

/** init()'s options: the device's, plus `warmup`. */
export interface InitOptions extends DeviceOptions {
  /**
   * Compile pipelines before init() resolves, as `warmup()` does: `true` for every registered
   * kernel, or kernel-name prefixes such as ['hem', 'matmul']. Default: none (each pipeline is
   * compiled on first use).
   */
  warmup?: boolean | string[];
  /**
   * Install the matmul tile shape and HEM kernel path that `tune()` (or `hemgpu tune`) measured
   * fastest on this adapter and stored (Node: ~/.cache/hemgpu/tuning.json; browser: IndexedDB);
   * where none are stored for this adapter and hemgpu version, the defaults stay. Nothing is
   * timed here. Default false: the built-in defaults.
   */
  tune?: boolean;
}

const DEVICE_KEYS = optionKeys<DeviceOptions>({ adapter: true, robustness: true, powerPreference: true, subgroups: true, polling: true });
const INIT_KEYS = optionKeys<InitOptions>({ adapter: true, robustness: true, powerPreference: true, subgroups: true, polling: true, warmup: true, tune: true });

const checked = new WeakSet<Engine>();

async function ready(e: Engine): Promise<Engine> {
  if (!checked.has(e)) {
    await checkKernels(e);
    checked.add(e);
  }
  return e;
}

/**
 * Get the engine's WebGPU device (created once per process; later calls return it). Compiles
 * every kernel once so a WGSL error surfaces here with the kernel's name.
 */
export async function init(options: InitOptions = {}): Promise<Engine> {
  checkOptions('hemgpu init', options, INIT_KEYS);
  const { warmup: want, tune: wantTune, ...device } = options;
  if (want !== undefined && typeof want !== 'boolean' && !Array.isArray(want)) {
    throw new Error(`hemgpu init: warmup must be true, false or a list of kernel-name prefixes such as ['hem'], got ${JSON.stringify(want)}.`);
  }
  if (wantTune !== undefined && typeof wantTune !== 'boolean') throw new Error(`hemgpu init: tune must be true or false, got ${JSON.stringify(wantTune)}.`);
  const e = await ready(await initEngine(device));
  // init's engine is the default one, which engine() returns here.
  if (wantTune) await storedTuning();
  if (want) await warmupKernels(e, want === true ? undefined : want);
  return e;
}

/**
 * Compile, in parallel and without blocking (createComputePipelineAsync), every pipeline variant
 * the launchers declare for the registered kernels whose names start with one of `prefixes`
 * (every kernel when omitted), e.g. warmup(['hem', 'matmul']). The dispatches then find them
 * cached. Needs init() first.
 */
export async function warmup(prefixes?: string[]): Promise<WarmupReport> {
  return warmupKernels(engine(), prefixes);
}

/** A second, independent engine (its own device), e.g. to compare robustness settings. */
export async function createEngine(options: DeviceOptions = {}): Promise<Engine> {
  checkOptions('createEngine', options, DEVICE_KEYS);
  return ready(await createEngineRaw(options));
}

export { adapterInfo, sync, shutdown, type Engine, type AdapterSummary } from './device/engine.ts';
export { withEngine } from './device/engine-scope.ts';
export { tune, type TuneOptions } from './ops/tuning.ts';
export { applyTuning, appliedTuning, tuningKey, type TuningRecord } from './ops/tuning-store.ts';
export type { AdapterPreference, PollingPreference } from './device/provider.ts';
export type { WarmupReport } from './gpu/warmup.ts';
export { Tensor, memoryStats, type MemoryStats, type TensorOptions, type BackwardOptions } from './tensor/tensor.ts';
export { tidy, keep } from './tensor/scope.ts';
export { noGrad, isGradEnabled } from './autograd/tape.ts';
export { tensor, zeros, ones, full, rand, randn, type RandomOptions } from './ops/create.ts';
export { add, sub, mul, div, neg, exp, log, sqrt, relu, pow, abs } from './ops/elementwise.ts';
export { sum, mean, type ReduceOptions } from './ops/reduce.ts';
export { reshape, transpose, permute, expand, padTo, sliceTo } from './ops/layout.ts';
export { hook } from './autograd/hook.ts';
export { matmul, type MatmulOptions } from './ops/matmul.ts';
export {
  setMatmulConfig,
  getMatmulConfig,
  resetMatmulConfig,
  type MatmulConfig,
  type RegisterMatmulConfig,
  type SharedMatmulConfig,
  type TunedShapeConfigs,
} from './kernels/matmul-config.ts';
export {
  setHemKernelConfig,
  getHemKernelConfig,
  TILED_HEM_CONFIG,
  REGISTER_HEM_CONFIG,
  REGISTER_ROWS_HEM_CONFIG,
  type HemKernelConfig,
  type HemSubgroupMapping,
} from './kernels/hem-config.ts';
export { tuneMatmul, MATMUL_CANDIDATES, MATMUL_SHAPE_CANDIDATES, type TuneResult, type TuneMatmulOptions, type TuneShape, type TuneClass } from './ops/matmul-tune.ts';
export { tuneHem, HEM_CANDIDATES, type HemTuneResult } from './ops/hem-tune.ts';
export { softmax, type SoftmaxOptions } from './ops/softmax.ts';
export { eigh, type EighOptions, type EighResult } from './ops/eigh.ts';
export type { EighMethod } from './kernels/eigh.ts';
export { spectralFunction, logm, sqrtm, powm, eigenProjector, type SpectralOptions, type SpdFunctionOptions, type EigenProjectorOptions } from './ops/spectral.ts';
export { o2p, type O2pOptions } from './ops/o2p.ts';
export {
  gaussianAffinity,
  normalizedCuts,
  segmentProjector,
  projectorLoss,
  type AffinityOptions,
  type NormalizedCutsOptions,
  type NormalizedCutsResult,
  type SegmentProjector,
} from './ops/ncuts.ts';
export { crossEntropy, sigmoidCrossEntropy, IGNORE_LABEL, type CrossEntropyOptions } from './ops/cross-entropy.ts';
export { defineKernel, registeredKernels, pipelineStats, type Kernel, type KernelOptions, type KernelVariants, type PipelineStats } from './gpu/registry.ts';
export type { WgslModule, WgslInterface } from './gpu/wgsl-module.ts';
export {
  hem,
  hemEStep,
  hemNStep,
  elbo,
  resolveHemOptions,
  HemTrace,
  HEM_EPS,
  type HemOptions,
  type HemResult,
  type HemTraceValues,
  type ResolvedHemOptions,
  type EStepForm,
} from './ops/hem/index.ts';
export { HEM, EMAU, type HemModuleOptions } from './nn/hem-module.ts';
export { BASES_AVERAGES, type BasesAverage } from './nn/bases-average.ts';
export { Optimizer } from './optim/optimizer.ts';
export type { OptimizerState, OptimizerStateInput, ParamGroup, HostTensor } from './optim/optimizer-types.ts';
export { SGD, SGD_DEFAULTS, type SGDOptions } from './optim/sgd.ts';
export { AdamW, ADAMW_DEFAULTS, type AdamWOptions } from './optim/adamw.ts';
export { polyLr, LrSchedule, type LrScheduleOptions, type LrTarget } from './optim/schedule.ts';
export {
  digitScenes,
  digitSampleRange,
  DIGIT_TRAIN_FRACTION,
  DIGIT_SCENE_CLASSES,
  type DigitSource,
  type DigitClassSource,
  type DigitSplit,
  type DigitTask,
  type DigitScenesOptions,
  type DigitSceneDataset,
} from './data/digit-scenes.ts';
export { renderScene, resizeDigit, DIGIT_SIZE, type DigitPlacement, type RenderOptions } from './data/scene-render.ts';
export { batches, batchCount, type Batch, type BatchOptions, type ArrayDataset, type SampleSource } from './data/batches.ts';
export { DataRng, mixSeed, permutation } from './data/rng.ts';
export { conv2d, type Conv2dOptions } from './ops/conv2d.ts';
export type { Pair as Conv2dPair, Pair as PoolSize } from './ops/check.ts';
export { upsampleBilinear, type UpsampleOptions } from './ops/upsample.ts';
export { batchNorm, batchNormState, type BatchNormOptions, type BatchNormState } from './ops/batchnorm.ts';
export { maxPool2d, avgPool2d, type Pool2dOptions, type AvgPool2dOptions } from './ops/pool.ts';
export { dropout, type DropoutOptions } from './ops/dropout.ts';
export { lineChartSpec, type LineSeries, type LineChartOptions } from './viz/charts.ts';
export { lossChartSpec, miouChartSpec, gradientFlowChartSpec, movingAverage, type ChartRun, type GradientFlow } from './viz/training-charts.ts';
export { heatmapSpec, heatmapRasters, type HeatmapOptions } from './viz/heatmaps.ts';
export { segmentationSpec, segmentationPanels, DIGIT_PALETTE, type SegmentationOptions, type SegmentationPanels } from './viz/segmentation.ts';
export { gridSpec, type GridCell, type GridOptions } from './viz/grid.ts';
export { colormap, type Raster, type Rgb, type Colormap } from './viz/raster.ts';
export type { ChartSpec } from './viz/spec.ts';
export {
  encodeSafetensors,
  decodeSafetensors,
  readToHost,
  type Checkpoint,
  type CheckpointInput,
  type LoadedTensor,
  type HostArray,
  type HostData,
  type SafetensorsDtype,
} from './io/safetensors.ts';
export { Module } from './nn/module.ts';
export { Conv2d, heNormal, type Conv2dLayerOptions } from './nn/conv2d.ts';
export { BatchNorm, type BatchNormLayerOptions } from './nn/batchnorm.ts';
export { ConvBnRelu, type ConvBnReluOptions } from './nn/conv-bn-relu.ts';
export { Linear, type LinearOptions } from './nn/linear.ts';
export { EmBlock, type EmBlockOptions } from './nn/em-block.ts';
export { SegNet, type SegNetConfig } from './model/segnet.ts';
export { SEG_MODELS, SEG_MODEL_UNITS, takesEta, type SegModelName, type EmUnitOfModel } from './model/seg-models.ts';
export {
  TRAIN_SETTINGS,
  trainDefaults,
  type TrainConfig,
  type DataName,
  type OptimizerName,
  type Setting,
  type NumberSetting,
  type ChoiceSetting,
  type PathSetting,
  type NumberRange,
} from './train/config.ts';
export { batchIndices, gatherBatch, sampleBackground, type Dataset } from './train/batch.ts';
export { buildModel, makeOptimizer, learningRate, digitSceneData } from './train/setup.ts';
export { trainStep, scheduledStep, NonFiniteLossError, StepStopped, type SegmentationModel, type StepBatch, type StepConfig, type TrainStepOptions } from './train/step.ts';
export { evaluate, type Evaluation } from './train/evaluate.ts';
export { ConfusionMatrix, argmaxLastAxis } from './train/metrics.ts';
export { writeTrainingCheckpoint, restoreModel, restoreOptimizer, type History } from './train/checkpoint.ts';
export { verifyCheckpoint, type CheckpointInfo, type ConfigChange } from './train/checkpoint-verify.ts';
export { saveWeights, readWeights, loadWeights, type RunState, type LoadedWeights } from './train/weights.ts';
export { TrainingRun, type TrainingRunData, type EvaluateRunOptions } from './train/run.ts';
export { demoConfig, DEMO_STEPS, DEMO_FIGURES } from './train/recipes.ts';
export { emDiagnostics, formatEmDiagnostics, type EmDiagnostics, type EmDiagnosticsOptions } from './train/em-diagnostics.ts';
export { attentionMaps, gradientFlow, predictScenes, type AttentionMaps, type AttentionMapOptions, type GradientFlowOptions, type ScenePredictions } from './train/inspect.ts';
export { decodeDigits } from './data/digits-asset.ts';
