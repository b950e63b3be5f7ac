/**
 * Launchers for kernels/reduce.wgsl: scale · Σ over any set of axes, and the two shapes of it the
 * rest of the engine needs (every element; a broadcast gradient back down to an input's shape).
 * Forward only (no autograd): src/ops/reduce.ts records sum and mean; the tape calls sumToShape.
 */
import reduceWgsl from '../../kernels/reduce.wgsl';
import { adapterInfo } from '../device/engine.ts';
import { fmt, sameShape, type Shape } from '../tensor/shape.ts';
import { Tensor } from '../tensor/tensor.ts';
import { coalesce, groupsFor, overrideSets, pad8, stridesOf, uniform } from './dispatch.ts';
import { defineKernel } from '../gpu/registry.ts';

const K = { reduce: /* @__PURE__ */ defineKernel('reduce', reduceWgsl, 'main', { variants: () => overrideSets({ WG }, { PER_THREAD: [false, true] }) }) };

const WG = 64;
/** Elements per workgroup in the first pass of a long reduction. */
const SLICE = 4096;

/** scale · Σ over `axes` of x; the output keeps size-1 dims where `keepdim`. */
export function reduceSum(op: string, x: Tensor, axes: readonly number[], keepdim: boolean, scale: number): Tensor {
  const xs = stridesOf(x.shape);
  const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const outShape = keepdim ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : kept.map((i) => x.shape[i]!);
  const y = Tensor.empty(outShape, op);
  const k = coalesce(kept.map((i) => x.shape[i]!), [kept.map((i) => xs[i]!)]);
  const r = coalesce(axes.map((i) => x.shape[i]!), [axes.map((i) => xs[i]!)]);
  const nOut = y.size;
  const nRed = x.size / nOut;
  // Many outputs or short reductions: a thread per output; else a workgroup per output, and for
  // long reductions a workgroup per slice of SLICE elements, the slices summed by a second pass
  // (one workgroup summing 17M elements took 70 ms on an H100; sliced, the work spreads).
  // A CPU driver pays far more per workgroup than per element: there a thread per output takes
  // every reduction up to SLICE long with at least 4 outputs (a conv bias gradient, [512, 48]
  // summed over rows: 3.6 → 0.8 ms on SwiftShader; docs/measurements.md).
  const perThread = nRed <= 32 || nOut >= 2048 || (adapterInfo().software && nRed <= SLICE && nOut >= 4);
  const chunks = perThread || nRed <= 2 * SLICE ? 1 : Math.min(1024, Math.ceil(nRed / SLICE));
  const chunkLen = Math.ceil(nRed / chunks);
  const target = chunks > 1 ? Tensor.empty([nOut, chunks], op) : y;
  K.reduce.dispatch({
    bindings: {
      x: x.bind(op),
      y: target.bind(op, 'read_write'),
      p: uniform({
        n_out: nOut,
        n_red: nRed,
        kept_rank: k.shape.length,
        red_rank: r.shape.length,
        scale: chunks > 1 ? 1 : scale,
        chunks,
        chunk_len: chunkLen,
        kept_shape: pad8(k.shape),
        kept_stride: pad8(k.strides[0]!),
        red_shape: pad8(r.shape),
        red_stride: pad8(r.strides[0]!),
      }),
    },
    overrides: { WG, PER_THREAD: perThread },
    workgroups: perThread ? groupsFor(nOut, WG) : groupsFor(nOut * chunks, 1),
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
