/**
 * Training checkpoints as bytes, shared by Node and browsers: `saveWeights` is the one path from a
 * run's state to the .safetensors bytes (the Node trainer writes exactly these bytes to
 * checkpoint.safetensors: src/train/trainer.ts), `readWeights` decodes and verifies bytes
 * (checksums, typed metadata, finite tensors) and `loadWeights` restores a model and optimizer.
 */
import { fmt } from '../tensor/shape.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';
import type { SegNet } from '../model/segnet.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { decodeSafetensors, encodeSafetensors, joinParts, type Checkpoint, type HostArray } from '../io/safetensors.ts';
import type { TrainConfig } from './config.ts';
import { restoreModel, restoreOptimizer, writeTrainingCheckpoint } from './checkpoint.ts';
import { verifyCheckpoint, type ConfigChange, type History } from './checkpoint-verify.ts';

/** The state of a run that a checkpoint holds (a TrainingRun has it: `run.state()`). */
export interface RunState {
  model: SegNet;
  optimizer: Optimizer<object>;
  /** Steps done. */
  step: number;
  config: TrainConfig;
  history: History;
  /** Config fields changed on resume so far (default none). */
  changes?: ConfigChange[];
}

const RUN_STATE_KEYS = optionKeys<RunState>({ model: true, optimizer: true, step: true, config: true, history: true, changes: true });

/** A checkpoint decoded and verified by readWeights: the tensors and the typed metadata. */
export interface LoadedWeights {
  /** What the bytes are called in errors (a file name). */
  name: string;
  checkpoint: Checkpoint;
  step: number;
  config: TrainConfig;
  history: History;
  changes: ConfigChange[];
  /** False for a format-version-1 checkpoint (no checksums). */
  checksummed: boolean;
}

/**
 * The .safetensors bytes of a run's state, exactly what the CLI writes as checkpoint.safetensors:
 * every tensor read back and refused if not finite (naming it), the metadata sealed with
 * checksums, and the bytes decoded and verified again before they are returned.
 */
export async function saveWeights(run: RunState): Promise<Uint8Array> {
  checkOptions('saveWeights', run, RUN_STATE_KEYS);
  let bytes: Uint8Array | null = null;
  await writeTrainingCheckpoint(
    run.model,
    run.optimizer,
    run.step,
    run.config,
    run.history,
    async (input) => {
      const parts = encodeSafetensors(input.tensors as Record<string, HostArray>, input.metadata ?? {}, 'saveWeights');
      const out = joinParts(parts);
      verifyCheckpoint(decodeSafetensors(out, 'saveWeights'), 'saveWeights');
      bytes = out;
    },
    run.changes ?? [],
  );
  return bytes!;
}

/** Verify a decoded checkpoint (`name` in errors) and give its typed contents. */
export function verifiedWeights(checkpoint: Checkpoint, name: string): LoadedWeights {
  const info = verifyCheckpoint(checkpoint, name);
  return { name, checkpoint, ...info };
}

/**
 * Decode and verify checkpoint bytes (e.g. a .safetensors file the user picked): a short,
 * truncated or corrupt payload, a wrong checksum, a missing or mistyped metadata field or a
 * non-finite tensor is refused with an error that begins with `name`.
 */
export function readWeights(bytes: Uint8Array, name = 'readWeights'): LoadedWeights {
  if (!(bytes instanceof Uint8Array)) {
    throw new Error(
      `${name}: readWeights expects the checkpoint's bytes as a Uint8Array, got ${Object.prototype.toString.call(bytes)} (e.g. new Uint8Array(await file.arrayBuffer())).`,
    );
  }
  return verifiedWeights(decodeSafetensors(bytes, name), name);
}

/** The model's parameters as `name[shape]`, as a checkpoint's 'model' metadata lists them. */
function modelSummary(model: SegNet): string {
  return [...model.parameters()].map(([k, v]) => `${k}${fmt(v.shape)}`).join(';');
}

/**
 * Load verified weights into `model` (parameters and buffers) and, when given, `optimizer` (its
 * state). A checkpoint of another model shape is refused before anything is written, naming the
 * checkpoint's model and this one's. Returns the checkpoint's step, config, history and changes.
 */
export function loadWeights(loaded: LoadedWeights, model: SegNet, optimizer?: Optimizer<object>): LoadedWeights {
  if (!loaded || typeof loaded !== 'object' || !loaded.checkpoint) {
    throw new Error('loadWeights: expected what readWeights(bytes, name) returns.');
  }
  const saved = loaded.config;
  const mine = modelSummary(model);
  if (loaded.checkpoint.metadata.model !== mine) {
    const m = model.config;
    const theirs = loaded.checkpoint.metadata.model ?? '';
    const a = theirs.split(';');
    const b = mine.split(';');
    const i = a.findIndex((x, j) => x !== b[j]);
    const first = i < 0 ? `this model has ${b.length - a.length} more parameters` : `'${a[i]}' in the checkpoint, '${b[i] ?? 'nothing'}' in the model`;
    throw new Error(
      `${loaded.name}: the checkpoint holds a ${saved.model} (channels ${saved.channels}, bases ${saved.bases}, width ${saved.width}, dilation ${saved.dilation}), ` +
        `this model is a ${m.model} (channels ${m.channels}, bases ${m.bases}, width ${m.width ?? 'default'}, dilation ${m.dilation ?? 'default'}); ` +
        `their parameters differ (first: ${first}). Build the model from the checkpoint's config (loaded.config). Nothing was loaded.`,
    );
  }
  restoreModel(loaded.checkpoint, loaded.name, model, {});
  if (optimizer) restoreOptimizer(loaded.checkpoint, optimizer);
  return loaded;
}
