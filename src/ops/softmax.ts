/**
 * Fused scaled softmax along the last axis: y = softmax(scale · x). One kernel forward, one
 * backward (kernels/softmax.wgsl). Stable for logits of any finite magnitude.
 */
import { record } from '../autograd/tape.ts';
import { K } from '../kernels/kernels.ts';
import { fmt } from '../tensor/shape.ts';
import { Tensor } from '../tensor/tensor.ts';
import { adapterInfo } from '../device/engine.ts';
import { checkTensor } from './elementwise.ts';
import { groupsFor, uniform } from './util.ts';

export interface SoftmaxOptions {
  /** Multiply the logits by this before the softmax (e.g. 1/τ). Default 1. */
  scale?: number;
}

const WG = 64;
/** Rows up to this length are handled by one invocation each; longer rows by a workgroup. */
const ROW_PER_THREAD_MAX = 256;
/**
 * On a CPU driver (SwiftShader) a workgroup's barriers cost more than a long row read by one
 * invocation, so with enough rows to occupy the cores every row gets one invocation: 1024 rows of
 * 1024 went from 117 ms to 15 ms there. GPUs keep a workgroup per long row.
 */
const CPU_ROWS_PER_THREAD_MIN = 128;

function variant(rows: number, cols: number): { rowPerThread: boolean; workgroups: [number, number, number] } {
  const rowPerThread = cols <= ROW_PER_THREAD_MAX || (adapterInfo().software && rows >= CPU_ROWS_PER_THREAD_MIN);
  return { rowPerThread, workgroups: rowPerThread ? groupsFor(rows, WG) : groupsFor(rows, 1) };
}

export function softmax(x: Tensor, options: SoftmaxOptions = {}): Tensor {
  checkTensor('softmax', x, 'the input');
  const scale = options.scale ?? 1;
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale === 0) {
    throw new Error(`softmax: scale must be a finite non-zero number, got ${String(scale)}.`);
  }
  if (x.rank < 1) throw new Error(`softmax: needs rank ≥ 1 (normalises the last axis), got ${fmt(x.shape)}.`);
  const cols = x.shape[x.rank - 1]!;
  const rows = x.size / cols;
  const v = variant(rows, cols);
  const y = Tensor.empty(x.shape, 'softmax');
  K.softmax.dispatch({
    bindings: { x: x.bind('softmax'), y: y.bind('softmax', 'read_write'), p: uniform({ rows, cols, scale }) },
    overrides: { WG, ROW_PER_THREAD: v.rowPerThread },
    workgroups: v.workgroups,
  });
  // dY = diag-block Jacobian: adjoint dS = scale · Y ⊙ (dY − rowsum(dY ⊙ Y)), one kernel.
  return record('softmax', y, [x], (g) => {
    const dx = Tensor.empty(x.shape, 'softmax backward');
    K.softmaxBackward.dispatch({
      bindings: {
        by: y.bind('softmax backward'),
        bdy: g.bind('softmax backward'),
        bdx: dx.bind('softmax backward', 'read_write'),
        bp: uniform({ rows, cols, scale }),
      },
      overrides: { WG, ROW_PER_THREAD: v.rowPerThread },
      workgroups: v.workgroups,
    });
    return [dx];
  });
}
