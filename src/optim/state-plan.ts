/**
 * Checking an optimizer state before loading it (Optimizer.loadState): the meta string's optimizer,
 * version, groups, hyper-parameters, shapes and step counts, and every state tensor's key, dtype and
 * shape. Nothing is applied here: loadState() applies the plan only once all of it is valid, so a
 * refused state leaves the optimizer as it was.
 */
import { fmt, sameShape } from '../tensor/shape.ts';
import { Tensor } from '../tensor/tensor.ts';
import type { Group, HostTensor, OptimizerStateInput } from './optimizer-types.ts';

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}

/** What loadState() needs to know of the optimizer it loads into. */
export interface StateTarget<H> {
  name: string;
  keys: readonly string[];
  groups: readonly Group<H>[];
  stateNames(h: H): string[];
  validateHyper(h: H, where: string): void;
}

/** One group's validated state: hyper-parameters, step counts and the tensor for each state buffer. */
export interface GroupPlan<H> {
  g: Group<H>;
  hyper: H;
  steps: number[];
  sources: { name: string; i: number; src: Tensor | HostTensor }[];
}

/** Validate `input` against the optimizer; throws naming what is wrong, changes nothing. */
export function planStateLoad<H>(op: string, input: OptimizerStateInput, prefix: string, ctx: StateTarget<H>): GroupPlan<H>[] {
  let meta: { optimizer?: unknown; version?: unknown; groups?: unknown };
  try {
    meta = JSON.parse(input.meta) as typeof meta;
  } catch (err) {
    throw new Error(`${op}: the meta string is not JSON (${(err as Error).message}).`);
  }
  if (!meta || typeof meta !== 'object') throw new Error(`${op}: the meta string is not a JSON object.`);
  if (meta.optimizer !== ctx.name) {
    throw new Error(`${op}: the state is from optimizer '${String(meta.optimizer)}', not ${ctx.name}.`);
  }
  if (meta.version !== 1) throw new Error(`${op}: unknown state version ${String(meta.version)} (this build reads version 1).`);
  const groups = meta.groups;
  if (!Array.isArray(groups) || groups.length !== ctx.groups.length) {
    throw new Error(`${op}: the state has ${Array.isArray(groups) ? groups.length : 'no'} group(s); this optimizer has ${ctx.groups.length}.`);
  }
  const plans = ctx.groups.map((g, gi) => {
    const where = `${op}: group ${gi}`;
    const sg = groups[gi] as { hyper?: unknown; params?: unknown };
    if (!sg || typeof sg !== 'object' || !sg.hyper || typeof sg.hyper !== 'object' || !Array.isArray(sg.params)) {
      throw new Error(`${where} is malformed in the meta string (needs hyper and params).`);
    }
    const hyper = { ...g.hyper } as Record<string, unknown>;
    for (const [k, v] of Object.entries(sg.hyper as Record<string, unknown>)) {
      if (!ctx.keys.includes(k)) throw new Error(`${where}: unknown hyper-parameter '${k}' in the state.`);
      hyper[k] = v;
    }
    ctx.validateHyper(hyper as H, where);
    const params = sg.params as Array<{ shape?: unknown; step?: unknown }>;
    if (params.length !== g.params.length) {
      throw new Error(`${where} has ${params.length} parameter(s) in the state but ${g.params.length} here.`);
    }
    const steps = params.map((sp, i) => {
      const shape = sp?.shape;
      const p = g.params[i]!;
      if (!Array.isArray(shape) || !sameShape(shape as number[], p.shape)) {
        throw new Error(`${where} parameter ${i} has shape ${Array.isArray(shape) ? fmt(shape as number[]) : String(shape)} in the state but ${fmt(p.shape)} here.`);
      }
      const step = sp.step;
      if (typeof step !== 'number' || !Number.isInteger(step) || step < 0) {
        throw new Error(`${where} parameter ${i}: step count ${String(step)} is not an integer ≥ 0.`);
      }
      return step;
    });
    const sources = ctx.stateNames(hyper as H).map((name) =>
      g.params.map((p, i) => {
        const key = `${prefix}${gi}.${i}.${name}`;
        const src = input.tensors[key];
        if (!src) throw new Error(`${op}: the state has no tensor '${key}' (${name} of group ${gi} parameter ${i}).`);
        const shape = isTensor(src) ? src.shape : src.shape;
        const f32 = isTensor(src) ? src.dtype === 'f32' : src.data instanceof Float32Array;
        if (isTensor(src) && src.isDisposed) throw new Error(`${op}: tensor '${key}' was disposed.`);
        if (!f32 || !Array.isArray(shape) || !sameShape(shape, p.shape) || (!isTensor(src) && src.data.length !== p.size)) {
          throw new Error(
            `${op}: tensor '${key}' must be f32 of shape ${fmt(p.shape)} (its parameter's), got ${isTensor(src) ? src.dtype : src.data?.constructor?.name} of shape ${Array.isArray(shape) ? fmt(shape) : String(shape)}.`,
          );
        }
        return { name, i, src };
      }),
    );
    return { g, hyper: hyper as H, steps, sources: sources.flat() };
  });
  const expected = new Set(plans.flatMap((pl, gi) => pl.sources.map((s) => `${prefix}${gi}.${s.i}.${s.name}`)));
  for (const k of Object.keys(input.tensors)) {
    if (k.startsWith(prefix) && !expected.has(k)) {
      throw new Error(`${op}: unexpected tensor '${k}' in the state (this optimizer's state has ${expected.size} tensors under '${prefix}').`);
    }
  }
  return plans;
}
