/**
 * Launchers for kernels/reduce.wgsl: scale · Σ over any set of axes, and the two shapes of it the
 * rest of the engine needs (every element; a broadcast gradient back down to an input's shape).
 * Forward only (no autograd): src/ops/reduce.ts records sum and mean; the tape calls sumToShape.
 */
import reduceWgsl from '../../kernels/reduce.wgsl';
import { adapterInfo } from '../device/engine.ts';
import { fmt, sameShape, type Shape } from '../tensor/shape.ts';
import { Tensor } from '../tensor/tensor.ts';
import { coalesce, groupsFor, overrideSets, pad8, RANK_OVERRIDES, rankOverride, stridesOf, uniform } from './dispatch.ts';
import { defineKernel } from '../gpu/registry.ts';

const K = {
  reduce: /* @__PURE__ */ defineKernel('reduce', reduceWgsl, 'main', {
    // A CPU driver runs every reduction a thread per output (reducePlan).
    variants: () => overrideSets({ WG }, { PER_THREAD: adapterInfo().software ? [true] : [false, true], K_RANK: [...RANK_OVERRIDES], R_RANK: [...RANK_OVERRIDES] }),
  }),
};

const WG = 64;
/** Elements per workgroup in the first pass of a long reduction (GPU drivers). */
const SLICE = 4096;
/**
 * CPU drivers: elements per invocation at least (each slice of a reduced range one invocation),
 * and the invocations that keep 2–16 cores busy (a workgroup runs on one core).
 */
const CPU_SLICE = 1024;
const CPU_FILL = 1024;

/** How a reduction runs: a thread (or else a workgroup) per output, and into how many slices each output's range is cut. */
export interface ReducePlan {
  perThread: boolean;
  /** Slices per output, each one thread or workgroup; a second pass sums them when above 1. */
  chunks: number;
}

/**
 * The plan for nOut outputs of nRed elements each. GPU drivers: a thread per output for many
 * outputs or short reductions; else a workgroup per output, and for long reductions a workgroup
 * per slice of SLICE elements, the slices summed by a second pass (one workgroup summing 17M
 * elements took 70 ms on an H100; sliced, the work spreads). A CPU driver pays for every barrier
 * and runs a workgroup on one core: there every reduction runs a thread per (output, slice of at
 * least CPU_SLICE elements), with enough slices to give every core workgroups (a [4096, 64] sum
 * over rows ran as 64 threads in one workgroup before: 9.6 → 1.1 ms; docs/measurements.md).
 */
export function reducePlan(nOut: number, nRed: number, software: boolean): ReducePlan {
  if (software) return { perThread: true, chunks: nRed <= 2 * CPU_SLICE ? 1 : Math.max(1, Math.min(Math.ceil(nRed / CPU_SLICE), Math.ceil(CPU_FILL / nOut))) };
  const perThread = nRed <= 32 || nOut >= 2048;
  return { perThread, chunks: perThread || nRed <= 2 * SLICE ? 1 : Math.min(1024, Math.ceil(nRed / SLICE)) };
}

/**
 * scale · Σ over `axes` of x; the output keeps size-1 dims where `keepdim`. `plan` defaults to
 * reducePlan's for this adapter (tests pass others to run every variant on any adapter).
 */
export function reduceSum(op: string, x: Tensor, axes: readonly number[], keepdim: boolean, scale: number, plan?: ReducePlan): Tensor {
  const xs = stridesOf(x.shape);
  const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const outShape = keepdim ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : kept.map((i) => x.shape[i]!);
  const y = Tensor.empty(outShape, op);
  const k = coalesce(kept.map((i) => x.shape[i]!), [kept.map((i) => xs[i]!)]);
  const r = coalesce(axes.map((i) => x.shape[i]!), [axes.map((i) => xs[i]!)]);
  const nOut = y.size;
  const nRed = x.size / nOut;
  const { perThread, chunks } = plan ?? reducePlan(nOut, nRed, adapterInfo().software);
  const chunkLen = Math.ceil(nRed / chunks);
  const target = chunks > 1 ? Tensor.empty([nOut, chunks], op) : y;
  K.reduce.dispatch({
    bindings: {
      x: x.bind(op),
      y: target.bind(op, 'read_write'),
      p: uniform({
        n_out: nOut,
        n_red: nRed,
        scale: chunks > 1 ? 1 : scale,
        chunks,
        chunk_len: chunkLen,
        kept_shape: pad8(k.shape, 1),
        kept_stride: pad8(k.strides[0]!),
        red_shape: pad8(r.shape, 1),
        red_stride: pad8(r.strides[0]!),
      }),
    },
    overrides: { WG, PER_THREAD: perThread, K_RANK: rankOverride(k.shape.length), R_RANK: rankOverride(r.shape.length) },
    workgroups: perThread ? groupsFor(nOut * chunks, WG) : groupsFor(nOut * chunks, 1),
  });
  if (chunks > 1) {
    const total = reduceSum(op, target, [1], false, scale);
    target.dispose();
    y.dispose();
    const out = total.view(outShape, op);
    total.dispose();
    return out;
  }
  return y;
}

/** scale · Σ of every element, as a scalar tensor. */
export function sumAll(op: string, x: Tensor, scale: number): Tensor {
  return reduceSum(op, x, x.shape.map((_, i) => i), false, scale);
}

/**
 * Sum a gradient that was broadcast from `shape` back down to `shape` (leading axes and axes
 * where `shape` has 1): the one central place for broadcasting in the backward pass.
 */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g.alias();
  const lead = g.rank - shape.length;
  if (lead < 0) throw new Error(`sumToShape: gradient ${fmt(g.shape)} has lower rank than ${fmt(shape)}.`);
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
    else if (shape[i - lead] !== g.shape[i]) {
      throw new Error(`sumToShape: gradient ${fmt(g.shape)} was not broadcast from ${fmt(shape)}.`);
    }
  }
  const r = reduceSum('sumToShape', g, axes, true, 1);
  const out = r.view(shape, 'sumToShape');
  r.dispose();
  return out;
}
