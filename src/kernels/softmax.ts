/**
 * Launchers for kernels/softmax.wgsl: y = softmax(scale · x) along the last axis, and its
 * backward dx = scale · y ⊙ (dy − rowsum(dy ⊙ y)). Forward only (no autograd): src/ops/softmax.ts
 * records the gradient.
 */
import softmaxWgsl from '../../kernels/softmax.wgsl';
import { adapterInfo } from '../device/engine.ts';
import { Tensor } from '../tensor/tensor.ts';
import { groupsFor, overrideSets, uniform } from './dispatch.ts';
import { defineKernel } from '../gpu/registry.ts';

const K = {
  softmax: /* @__PURE__ */ defineKernel('softmax', softmaxWgsl, 'forward', { variants: () => overrideSets({ WG }, { ROW_PER_THREAD: [false, true] }) }),
  softmaxBackward: /* @__PURE__ */ defineKernel('softmax_backward', softmaxWgsl, 'backward', { variants: () => overrideSets({ WG }, { ROW_PER_THREAD: [false, true] }) }),
};

const WG = 64;
/** Rows up to this length are handled by one invocation each; longer rows by a workgroup. */
const ROW_PER_THREAD_MAX = 256;
/**
 * On a CPU driver (SwiftShader) a workgroup's barriers cost more than a long row read by one
 * invocation, so with enough rows to occupy the cores every row gets one invocation: 1024 rows of
 * 1024 went from 117 ms to 15 ms there. GPUs keep a workgroup per long row.
 */
const CPU_ROWS_PER_THREAD_MIN = 128;

function variant(shape: readonly number[]): { rows: number; cols: number; rowPerThread: boolean; workgroups: [number, number, number] } {
  const cols = shape[shape.length - 1]!;
  const rows = shape.reduce((a, d) => a * d, 1) / cols;
  const rowPerThread = cols <= ROW_PER_THREAD_MAX || (adapterInfo().software && rows >= CPU_ROWS_PER_THREAD_MIN);
  return { rows, cols, rowPerThread, workgroups: rowPerThread ? groupsFor(rows, WG) : groupsFor(rows, 1) };
}

/** y = softmax(scale · x) along the last axis. */
export function softmaxForward(op: string, x: Tensor, scale: number): Tensor {
  const v = variant(x.shape);
  const y = Tensor.empty(x.shape, op);
  K.softmax.dispatch({
    bindings: { x: x.bind(op), y: y.bind(op, 'read_write'), p: uniform({ rows: v.rows, cols: v.cols, scale }) },
    overrides: { WG, ROW_PER_THREAD: v.rowPerThread },
    workgroups: v.workgroups,
  });
  return y;
}

/** dx = scale · y ⊙ (dy − rowsum(dy ⊙ y)) for y = softmax(scale · x). */
export function softmaxBackward(op: string, y: Tensor, dy: Tensor, scale: number): Tensor {
  const v = variant(y.shape);
  const dx = Tensor.empty(y.shape, op);
  K.softmaxBackward.dispatch({
    bindings: { by: y.bind(op), bdy: dy.bind(op), bdx: dx.bind(op, 'read_write'), bp: uniform({ rows: v.rows, cols: v.cols, scale }) },
    overrides: { WG, ROW_PER_THREAD: v.rowPerThread },
    workgroups: v.workgroups,
  });
  return dx;
}
