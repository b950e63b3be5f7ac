/**
 * f32 tensors on the GPU. A tensor is a shape plus a reference-counted storage (a pooled
 * GPUBuffer); reshape, detach and alias share storage. Every tensor is tracked by the innermost
 * `tidy` scope and freed by `dispose()`; using a disposed tensor is an error naming the op.
 */
import { engine, type Engine } from '../device/engine.ts';
import type { StorageArg } from '../gpu/registry.ts';
import type { GradNode } from '../autograd/tape.ts';
import { checkNesting, hostValues, type HostInput } from './host-data.ts';
import { checkShape, fmt, sizeOf, type Shape } from './shape.ts';
import { keep, track } from './scope.ts';

/**
 * The backward walk, installed by src/autograd/tape.ts when it loads. This module never imports
 * the tape at run time: the tape imports the kernel launchers, which import this module, so a
 * runtime import here would close a cycle. Every op loads the tape (it records through it).
 */
type BackwardWalk = (root: Tensor, seed: Tensor | undefined, options: BackwardOptions) => void;

export interface BackwardOptions {
  /**
   * Keep the graph for another backward() through it (default false: a second backward() through
   * the same ops is refused, as in PyTorch). Gradients of the two passes accumulate.
   */
  retainGraph?: boolean;
}
let runBackward: BackwardWalk | null = null;

/** Called once by src/autograd/tape.ts: the function behind Tensor.backward(). */
export function installBackward(walk: BackwardWalk): void {
  runBackward = walk;
}

let liveTensors = 0;
let liveBytes = 0;
let nextId = 1;

/** One GPU allocation shared by every tensor that views it. */
class Storage {
  refs = 1;
  constructor(
    readonly engine: Engine,
    readonly buffer: GPUBuffer,
    readonly bytes: number,
  ) {
    liveBytes += bytes;
  }
  release(): void {
    if (--this.refs === 0) {
      liveBytes -= this.bytes;
      if (!this.engine.isDestroyed) this.engine.pool.release(this.buffer);
    }
  }
}

export interface TensorOptions {
  requiresGrad?: boolean;
}

export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly size: number;
  /** Element type: 'f32' for data; 'i32' only for internal index tensors (labels). */
  readonly dtype: 'f32' | 'i32';
  /** True if gradients flow to this tensor (leaves: set by the user; others: by the tape). */
  requiresGrad = false;
  /** After `backward()`, the gradient of the root w.r.t. this leaf tensor. */
  grad: Tensor | null = null;
  /** The op that made this tensor, for autograd (null for leaves). */
  gradNode: GradNode | null = null;
  private storage_: Storage | null;
  /** Tensors whose lifetime ends with this one (hidden inputs saved for backward). */
  private owned: Tensor[] | null = null;

  private constructor(shape: readonly number[], storage: Storage, dtype: 'f32' | 'i32' = 'f32') {
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.size = sizeOf(shape);
    this.storage_ = storage;
    liveTensors++;
    track(this);
  }

  /** Allocate an uninitialised tensor (ops write it). Throws before any GPU work if too big. */
  static empty(shape: Shape, op = 'tensor', dtype: 'f32' | 'i32' = 'f32'): Tensor {
    Tensor.assertFits(shape, op);
    const e = engine();
    const bytes = sizeOf(shape) * 4;
    const buffer = e.pool.acquire(bytes, op);
    return new Tensor(shape, new Storage(e, buffer, bytes), dtype);
  }

  /** Throw (naming the op) unless a tensor of `shape` is valid and fits one buffer binding. */
  static assertFits(shape: Shape, op = 'tensor'): void {
    checkShape(op, shape);
    const e = engine();
    e.assertUsable(op);
    const bytes = sizeOf(shape) * 4;
    const max = Math.min(e.limits.maxStorageBufferBindingSize, e.limits.maxBufferSize);
    if (bytes > max) {
      throw new Error(
        `${op}: a tensor of shape ${fmt(shape)} needs ${bytes} bytes, more than this device allows in one ` +
          `buffer binding (maxStorageBufferBindingSize = ${max} bytes). Split the work into smaller tensors.`,
      );
    }
  }

  private storage(op: string): Storage {
    if (!this.storage_) {
      throw new Error(
        `${op}: tensor #${this.id} ${fmt(this.shape)} was disposed and cannot be used. ` + 'Keep it out of tidy() (return it, or keep() it) or do not dispose it before this use.',
      );
    }
    return this.storage_;
  }

  get isDisposed(): boolean {
    return this.storage_ === null;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** The engine this tensor lives on. */
  get engine(): Engine {
    return this.storage('engine').engine;
  }

  /** Bind this tensor's data to a kernel, read-only or read-write. */
  bind(op: string, kind: 'read' | 'read_write' = 'read'): StorageArg {
    const s = this.storage(op);
    if (s.engine !== engine()) {
      throw new Error(`${op}: tensor #${this.id} ${fmt(this.shape)} lives on another engine (device); tensors cannot cross devices.`);
    }
    return { kind, buffer: s.buffer, bytes: this.size * 4, element: this.dtype };
  }

  /** Copy the data back to the host once all GPU work writing it has run. */
  async read(): Promise<Float32Array> {
    const s = this.storage('read()');
    s.refs++; // keep the buffer out of the pool while the copy is in flight
    try {
      const data = await s.engine.read(s.buffer, this.size * 4, `read() of tensor ${fmt(this.shape)}`);
      return new Float32Array(data);
    } finally {
      s.release();
    }
  }

  /** Read a one-element tensor as a number. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item(): tensor has shape ${fmt(this.shape)}; item() needs exactly one element.`);
    return (await this.read())[0]!;
  }

  /**
   * Upload host data into this tensor: what tensor() takes (a Float32Array, a Float64Array or
   * number arrays, converted to f32; nested arrays of this shape), or for an i32 tensor an
   * Int32Array or integer arrays. The element count must match; anything else is refused before
   * any GPU work.
   */
  write(data: HostInput): this {
    const s = this.storage('write()');
    const typed = ArrayBuffer.isView(data) ? data.constructor.name : null;
    if (this.dtype === 'f32' ? data instanceof Int32Array : typed !== null && !(data instanceof Int32Array)) {
      throw new Error(
        `write(): ${typed} data for a ${this.dtype} tensor; ${this.dtype === 'f32' ? 'pass f32 data (Float32Array, Float64Array or numbers)' : 'pass an Int32Array or integer arrays'}.`,
      );
    }
    const host = hostValues('write()', data, this.dtype);
    if (host.values.length !== this.size) {
      throw new Error(`write(): ${host.values.length} values for a tensor of shape ${fmt(this.shape)} (${this.size} elements).`);
    }
    checkNesting('write()', host, this.shape);
    s.engine.write(s.buffer, host.values, 'write()');
    return this;
  }

  /** A new tensor handle on the same storage with another shape (no copy). */
  view(shape: Shape, op = 'reshape'): Tensor {
    const s = this.storage(op);
    s.refs++;
    return new Tensor(shape, s, this.dtype);
  }

  /** A second handle on the same storage and shape, with no autograd history. */
  alias(): Tensor {
    return this.view(this.shape, 'alias');
  }

  /** A tensor sharing this one's data, cut from the autograd graph. */
  detach(): Tensor {
    return this.view(this.shape, 'detach()');
  }

  /**
   * Compute gradients of this tensor w.r.t. every leaf with requiresGrad (see autograd/tape),
   * accumulating into their `.grad`. `seed` is the gradient of this tensor (required unless it
   * holds one element). The graph is used up: a second backward() through the same ops throws
   * unless the first passed `{ retainGraph: true }` (`t.backward(seed, { retainGraph: true })`, or
   * `t.backward({ retainGraph: true })` for a scalar).
   */
  backward(seed?: Tensor | BackwardOptions, options: BackwardOptions = {}): void {
    this.storage('backward()');
    if (!runBackward) throw new Error('backward(): autograd is not loaded (import hemgpu through its entry point).');
    if (seed !== undefined && !(seed instanceof Tensor)) {
      if (seed === null || typeof seed !== 'object') throw new Error(`backward(): the seed must be a Tensor (or pass options { retainGraph }), got ${String(seed)}.`);
      runBackward(this, undefined, seed);
      return;
    }
    runBackward(this, seed, options);
  }

  /** Free this handle (the storage returns to the pool when no handle uses it). Idempotent. */
  dispose(): void {
    if (!this.storage_) return;
    this.storage_.release();
    this.storage_ = null;
    this.gradNode = null;
    liveTensors--;
    if (this.owned) for (const t of this.owned) t.dispose();
    this.owned = null;
  }

  /** Tie `t`'s lifetime to this tensor's: it leaves every tidy scope and is disposed with this. */
  own(t: Tensor): this {
    keep(t);
    (this.owned ??= []).push(t);
    return this;
  }

  /** Exempt this tensor from tidy(); returns it. */
  keep(): this {
    return keep(this);
  }

  /** Drop the gradient (optimisers call this between steps). */
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  toString(): string {
    return `Tensor#${this.id}${fmt(this.shape)}${this.requiresGrad ? ' requiresGrad' : ''}${this.isDisposed ? ' (disposed)' : ''}`;
  }
}

export interface MemoryStats {
  /** Tensor handles not yet disposed. */
  liveTensors: number;
  /** Bytes of tensor data held by live tensors (shared storage counted once). */
  liveBytes: number;
  /** Bytes of GPU buffers lent out by the pool (live data rounded up to size classes). */
  inUseBytes: number;
  /** Bytes of free GPU buffers the pool keeps for reuse. */
  pooledBytes: number;
  /** GPU buffers created so far; flat across training steps when the pool works. */
  buffersCreated: number;
}

export function memoryStats(): MemoryStats {
  const pool = engine().pool.stats();
  return {
    liveTensors,
    liveBytes,
    inUseBytes: pool.inUseBytes,
    pooledBytes: pool.pooledBytes,
    buffersCreated: pool.created,
  };
}
