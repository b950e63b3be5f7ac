/**
 * Training checkpoints' contents, independent of where the bytes go (a file under Node,
 * anything in a browser): weights, buffers such as BN statistics and the EM bases, optimizer
 * state, step, config and history as a safetensors CheckpointInput; and the checks and loading
 * of a decoded checkpoint into a model and an optimizer. Keys: 'param.<name>', 'buffer.<name>',
 * 'optim.<…>'; metadata kind 'hemgpu-segnet', version 1.
 */
import { tensor } from '../ops/create.ts';
import { fmt } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { SegNet } from '../model/segnet.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import type { Checkpoint, CheckpointInput } from '../io/safetensors.ts';
import type { TrainConfig } from './config.ts';

const CHECKPOINT_KIND = 'hemgpu-segnet';
const CHECKPOINT_VERSION = '1';

/** Losses and learning rates per step, validation mIoU at some steps. */
export interface History {
  loss: number[];
  lr: number[];
  val: { step: number; miou: number }[];
}

/** What a checkpoint must agree on with the config to be resumed or evaluated. */
const SHAPE_KEYS = ['model', 'channels', 'bases', 'size', 'data', 'width', 'dilation'] as const;

function describeModel(model: SegNet): string {
  return [...model.parameters()].map(([k, v]) => `${k}${fmt(v.shape)}`).join(';');
}

/**
 * Build the checkpoint of a run at `step` and hand it to `save` (e.g. saveCheckpoint to a path,
 * or encodeSafetensors after readToHost); the optimizer-state tensors are disposed afterwards.
 * The config is stored as JSON, as given.
 */
export async function writeTrainingCheckpoint(
  model: SegNet,
  opt: Optimizer<object>,
  step: number,
  config: TrainConfig,
  history: History,
  save: (input: CheckpointInput) => Promise<void>,
): Promise<void> {
  const tensors: Record<string, Tensor> = {};
  for (const [k, v] of model.parameters()) tensors[`param.${k}`] = v;
  for (const [k, v] of model.buffers()) tensors[`buffer.${k}`] = v;
  const state = opt.state('optim.');
  try {
    Object.assign(tensors, state.tensors);
    await save({
      tensors,
      metadata: {
        kind: CHECKPOINT_KIND,
        version: CHECKPOINT_VERSION,
        step: String(step),
        flags: JSON.stringify(config),
        history: JSON.stringify(history),
        optimizer: state.meta,
        model: describeModel(model),
      },
    });
  } finally {
    for (const t of Object.values(state.tensors)) t.dispose();
  }
}

/**
 * Check a decoded checkpoint (`path` names it in errors) against a model and a config; load its
 * weights and buffers into the model. Everything is validated before anything is written.
 */
export function restoreModel(ck: Checkpoint, path: string, model: SegNet, config: Partial<TrainConfig>): { step: number; flags: TrainConfig; history: History } {
  const meta = ck.metadata;
  if (meta.kind !== CHECKPOINT_KIND) {
    throw new Error(`${path}: not a hemgpu training checkpoint (metadata kind '${meta.kind ?? 'missing'}'); nothing was loaded.`);
  }
  const saved = JSON.parse(meta.flags ?? '{}') as TrainConfig;
  for (const k of SHAPE_KEYS) {
    if (config[k] !== undefined && saved[k] !== config[k]) {
      throw new Error(`${path}: the checkpoint was trained with --${k} ${String(saved[k])}, not ${String(config[k])}; pass the same flag or another checkpoint. Nothing was loaded.`);
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
  return { step: Number(meta.step ?? 0), flags: saved, history: JSON.parse(meta.history ?? '{"loss":[],"lr":[],"val":[]}') as History };
}

/** Load the optimizer state ('optim.' keys) of a decoded checkpoint. */
export function restoreOptimizer(ck: Checkpoint, opt: Optimizer<object>): void {
  const tensors: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (const [k, t] of Object.entries(ck.tensors)) {
    if (k.startsWith('optim.')) tensors[k] = { data: t.data as Float32Array, shape: [...t.shape] };
  }
  opt.loadState({ tensors, meta: ck.metadata.optimizer ?? '' }, 'optim.');
}
