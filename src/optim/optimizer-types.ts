/** The optimizers' data types: parameter groups, the packed group layout, and saved state. */
import type { Tensor } from '../tensor/tensor.ts';

/** Host data for a tensor, as loadCheckpoint() returns it. Only Float32Array is accepted here. */
export interface HostTensor {
  data: Float32Array | Int32Array | BigInt64Array;
  shape: readonly number[];
}

/** What state() returns; save the tensors and the meta string in a checkpoint. */
export interface OptimizerState {
  /**
   * A GPU copy of every state buffer, keyed `${prefix}${group}.${param}.${name}` (e.g.
   * 'optim.0.3.momentum_buffer'), shaped like its parameter. The caller owns (disposes) them.
   */
  tensors: Record<string, Tensor>;
  /** JSON: optimizer type, each group's hyper-parameters, each parameter's shape and step count. */
  meta: string;
}

/** What loadState() takes: state() or loadCheckpoint() output; keys without the prefix are ignored. */
export interface OptimizerStateInput {
  tensors: Record<string, Tensor | HostTensor>;
  meta: string;
}

/** A parameter group: its parameters and any hyper-parameters that differ from the defaults. */
export type ParamGroup<H> = { params: readonly Tensor[] } & Partial<H>;

/** @internal A group's parameters, hyper-parameters and packed GPU buffers. */
export interface Group<H> {
  params: Tensor[];
  hyper: H;
  /** Element offset of each parameter in the flat layout (multiples of CHUNK). */
  starts: number[];
  nChunks: number;
  /** Per-parameter step counts (PyTorch's state['step']). */
  steps: number[];
  /** Flat scratch for parameters and gradients, and the offsets table; null for an empty group. */
  theta: Tensor | null;
  grad: Tensor | null;
  table: Tensor | null;
  tableHost: Int32Array;
  tableF32: Float32Array;
  /** Flat state buffers by name (zero-initialised). */
  state: Map<string, Tensor>;
}
