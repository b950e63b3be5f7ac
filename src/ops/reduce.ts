/**
 * Reductions: sum and mean over any axes (keepdim or not), and sumToShape, the one place
 * where broadcast gradients are summed back to an input's shape. One dispatch of
 * kernels/reduce.wgsl each.
 */
import { record } from '../autograd/tape.ts';
import { K } from '../kernels/kernels.ts';
import { fmt, normAxes, sameShape, type Shape } from '../tensor/shape.ts';
import { Tensor } from '../tensor/tensor.ts';
import { checkTensor } from './elementwise.ts';
import { gather } from './layout.ts';
import { broadcastStrides } from '../tensor/shape.ts';
import { coalesce, groupsFor, pad8, stridesOf, uniform } from './util.ts';

const WG = 64;
/** Elements per workgroup in the first pass of a long reduction. */
const SLICE = 4096;

/** scale · Σ over `axes` of x; the output keeps size-1 dims where `keepdim` (forward only). */
function reduceForward(op: string, x: Tensor, axes: number[], keepdim: boolean, scale: number): Tensor {
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
  const perThread = nRed <= 32 || nOut >= 2048;
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
    const total = reduceForward(op, target, [1], false, scale);
    target.dispose();
    y.dispose();
    const out = total.view(outShape, op);
    total.dispose();
    return out;
  }
  return y;
}

export interface ReduceOptions {
  keepdim?: boolean;
}

function reduce(op: string, x: Tensor, axes: number | readonly number[] | undefined, options: ReduceOptions, mean: boolean): Tensor {
  checkTensor(op, x, 'the input');
  const ax = normAxes(op, axes, x.rank);
  const keepdim = options.keepdim ?? false;
  const count = ax.reduce((a, i) => a * x.shape[i]!, 1);
  const scale = mean ? 1 / count : 1;
  const y = reduceForward(op, x, ax, keepdim, scale);
  const keptShape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  // Σ is linear; its adjoint broadcasts the gradient back over the summed axes (times 1/count for mean).
  return record(op, y, [x], (g) => {
    const gk = g.view(keptShape, `${op} backward`);
    const e = gather(`${op} backward`, gk, x.shape, broadcastStrides(keptShape, x.shape));
    gk.dispose();
    if (!mean) return [e];
    const out = reduceScaleCopy(e, scale);
    e.dispose();
    return [out];
  });
}

/** Σ over axis 1 of a rank-4 tensor (matmul's split-K partials), forward only. */
export function sumAxis1(x: Tensor): Tensor {
  return reduceForward('matmul split-K', x, [1], false, 1);
}

/** scale · Σ of every element, as a scalar tensor (forward only). */
export function sumAll(op: string, x: Tensor, scale: number): Tensor {
  return reduceForward(op, x, x.shape.map((_, i) => i), false, scale);
}

function reduceScaleCopy(x: Tensor, scale: number): Tensor {
  // A reduction over no axes is a scaled copy.
  return reduceForward('mean backward', x, [], true, scale);
}

/** Σ of x over `axes` (all axes if omitted). */
export function sum(x: Tensor, axes?: number | readonly number[], options: ReduceOptions = {}): Tensor {
  return reduce('sum', x, axes, options, false);
}

/** Mean of x over `axes` (all axes if omitted). */
export function mean(x: Tensor, axes?: number | readonly number[], options: ReduceOptions = {}): Tensor {
  return reduce('mean', x, axes, options, true);
}

/**
 * Sum a gradient that was broadcast from `shape` back down to `shape` (leading axes and axes
 * where `shape` has 1). Forward-only: the tape calls it with gradients turned off.
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
  const r = reduceForward('sumToShape', g, axes, true, 1);
  const out = r.view(shape, 'sumToShape');
  r.dispose();
  return out;
}
