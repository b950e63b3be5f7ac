/**
 * Training checkpoints' contents, independent of where the bytes go (a file under Node,
 * anything in a browser): weights, buffers such as BN statistics and the EM bases, optimizer
 * state, step, config and history as a safetensors CheckpointInput; and the checks and loading
 * of a decoded checkpoint into a model and an optimizer. Keys: 'param.<name>', 'buffer.<name>',
 * 'optim.<…>'; metadata kind 'hemgpu-segnet', version 2 (src/train/checkpoint-verify.ts: checksums,
 * typed metadata, finite tensors; version 1 still loads). The metadata: step, flags (the complete
 * resolved TrainConfig), history, changes (config fields changed on resume), optimizer, model,
 * checksums.
 */
import { tensor } from '../ops/create.ts';
import { fmt } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { SegNet } from '../model/segnet.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { readToHost, type Checkpoint, type CheckpointInput } from '../io/safetensors.ts';
import { pickTrainConfig, type TrainConfig } from './config.ts';
import { assertFiniteTensors, CHECKPOINT_KIND, CHECKPOINT_VERSION, sealCheckpoint, verifyCheckpoint, type ConfigChange, type History } from './checkpoint-verify.ts';

export type { History, ConfigChange };

/** What a checkpoint must agree on with the config to be resumed or evaluated. */
const SHAPE_KEYS = ['model', 'channels', 'bases', 'size', 'data', 'width', 'dilation'] as const;

function describeModel(model: SegNet): string {
  return [...model.parameters()].map(([k, v]) => `${k}${fmt(v.shape)}`).join(';');
}

/**
 * Build the checkpoint of a run at `step` and hand it to `save` (e.g. saveCheckpoint to a path,
 * or encodeSafetensors): every tensor is read back to the host first and refused if any value is
 * not finite (naming the tensor; `save` is not called), then the metadata is sealed with
 * checksums. The optimizer-state tensors are disposed afterwards. The complete TrainConfig is
 * stored (its fields only), with `changes`, the config changes made on resume so far.
 */
export async function writeTrainingCheckpoint(
  model: SegNet,
  opt: Optimizer<object>,
  step: number,
  config: TrainConfig,
  history: History,
  save: (input: CheckpointInput) => Promise<void>,
  changes: ConfigChange[] = [],
): Promise<void> {
  const tensors: Record<string, Tensor> = {};
  for (const [k, v] of model.parameters()) tensors[`param.${k}`] = v;
  for (const [k, v] of model.buffers()) tensors[`buffer.${k}`] = v;
  const state = opt.state('optim.');
  try {
    Object.assign(tensors, state.tensors);
    const host = await readToHost({ tensors }, `checkpoint at step ${step}`);
    assertFiniteTensors(host, `step ${step}: the checkpoint was not written`);
    const metadata = sealCheckpoint(host, {
      kind: CHECKPOINT_KIND,
      version: CHECKPOINT_VERSION,
      step: String(step),
      flags: JSON.stringify(pickTrainConfig(config)),
      history: JSON.stringify(history),
      changes: JSON.stringify(changes),
      optimizer: state.meta,
      model: describeModel(model),
    });
    await save({ tensors: host, metadata });
  } finally {
    for (const t of Object.values(state.tensors)) t.dispose();
  }
}

/**
 * Check a decoded checkpoint (`path` names it in errors) against a model and a config; load its
 * weights and buffers into the model. Everything is validated before anything is written:
 * verifyCheckpoint (version, typed metadata, checksums, finite weights, buffers and optimizer
 * state), then the model's shape. `checksummed` is false for a version-1 checkpoint.
 */
export function restoreModel(
  ck: Checkpoint,
  path: string,
  model: SegNet,
  config: Partial<TrainConfig>,
): { step: number; flags: TrainConfig; history: History; changes: ConfigChange[]; checksummed: boolean } {
  const meta = ck.metadata;
  const info = verifyCheckpoint(ck, path);
  const saved = info.config;
  for (const k of SHAPE_KEYS) {
    if (config[k] !== undefined && saved[k] !== config[k]) {
      throw new Error(
        `${path}: the checkpoint was trained with --${k} ${String(saved[k])}, not ${String(config[k])}; pass the same flag or another checkpoint. Nothing was loaded.`,
      );
    }
  }
  if (meta.model !== describeModel(model)) {
    throw new Error(`${path}: the checkpoint's parameters do not match this model's (${meta.model?.slice(0, 120)}…); nothing was loaded.`);
  }
  const writes: [Tensor, Float32Array][] = [];
  for (const [k, p] of model.parameters()) {
    const t = ck.tensors[`param.${k}`];
    if (!t || !(t.data instanceof Float32Array) || t.data.length !== p.size) {
      throw new Error(`${path}: parameter '${k}' ${fmt(p.shape)} is missing or has the wrong size; nothing was loaded.`);
    }
    writes.push([p, t.data]);
  }
  const buffers: [string, Float32Array, readonly number[]][] = [];
  for (const [k, b] of model.buffers()) {
    const t = ck.tensors[`buffer.${k}`];
    if (!t || !(t.data instanceof Float32Array) || t.data.length !== b.size) {
      throw new Error(`${path}: buffer '${k}' ${fmt(b.shape)} is missing or has the wrong size; nothing was loaded.`);
    }
    buffers.push([k, t.data, b.shape]);
  }
  for (const [p, data] of writes) p.write(data);
  for (const [k, data, shape] of buffers) model.setBuffer(k, tensor(data, [...shape]));
  return { step: info.step, flags: saved, history: info.history, changes: info.changes, checksummed: info.checksummed };
}

/** Load the optimizer state ('optim.' keys) of a decoded checkpoint. */
export function restoreOptimizer(ck: Checkpoint, opt: Optimizer<object>): void {
  const tensors: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (const [k, t] of Object.entries(ck.tensors)) {
    if (k.startsWith('optim.')) tensors[k] = { data: t.data as Float32Array, shape: [...t.shape] };
  }
  opt.loadState({ tensors, meta: ck.metadata.optimizer ?? '' }, 'optim.');
}
