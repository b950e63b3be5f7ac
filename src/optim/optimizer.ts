/**
 * The optimizer base: parameter groups, the packed layout, one fused update dispatch per group
 * per step (kernels/optim.wgsl), zeroGrad, per-group learning rates, and state()/loadState().
 *
 * Packing: gather by copy, not parameters as views. One dispatch can bind only a few buffers
 * (8 storage buffers per stage by default), so a dispatch that updates a whole group needs the
 * group's parameters, gradients and state each in ONE buffer. Two ways were open:
 *  (a) make every parameter a view into a flat buffer. Tensors bind from offset 0 today, so this
 *      needs offsets in Tensor.bind (256-byte aligned), re-pointing live parameters' storage
 *      (aliases and views made earlier would be left on the old buffer), and the gradients would
 *      still arrive from autograd in buffers of their own, so they need gathering anyway;
 *  (b) leave parameters where they are; before the dispatch, copy each gradient and parameter
 *      into per-group flat scratch buffers with copyBufferToBuffer (a DMA / memcpy, no shader),
 *      update the flat buffers in one dispatch, and copy the parameters back.
 * We take (b): no tensor internals change, parameter handles stay valid, a parameter the caller
 * writes (weights loaded from a checkpoint) is picked up by the next step, and the cost is three
 * copies of the parameter bytes per step (12 MB for a million parameters: small next to a
 * training step's convolutions, and two queue submissions per step whatever the group count).
 * Optimizer state (momentum buffers, Adam moments) lives permanently in the flat layout.
 *
 * The offsets table: parameter i starts at a multiple of 256 elements, so every 256-element
 * chunk (one workgroup) belongs to one parameter; the table maps chunk → parameter and holds per
 * parameter its end, whether it got a gradient this step (PyTorch skips parameters whose grad is
 * None: no decay, no momentum update) and AdamW's bias corrections. The padding costs at most
 * 255 elements per parameter. Learning rate and hyper-parameters are uniforms.
 */
import { engine } from '../device/engine.ts';
import { zeros } from '../ops/create.ts';
import { keep } from '../tensor/scope.ts';
import { fmt, sameShape } from '../tensor/shape.ts';
import { Tensor } from '../tensor/tensor.ts';
import { copyBuffers, type Copy } from './buffer-copy.ts';
import type { Group, OptimizerState, OptimizerStateInput, ParamGroup } from './optimizer-types.ts';
import { isTensor, planStateLoad } from './state-plan.ts';
import { checkOptions } from '../tensor/options.ts';

/** Elements per workgroup of the update kernels (kernels/optim.wgsl CHUNK). */
const CHUNK = 256;

export abstract class Optimizer<H extends object> {
  /** @internal */
  protected readonly groups: Group<H>[] = [];
  private readonly keys: readonly string[];
  private disposed = false;

  /**
   * @param name the class name, for messages ('SGD', 'AdamW')
   * @param params a list of parameters (one group) or a list of groups
   * @param base the optimizer's defaults for every hyper-parameter
   * @param given the caller's defaults (groups override these); unknown keys are refused
   */
  protected constructor(
    readonly name: string,
    params: readonly Tensor[] | readonly ParamGroup<H>[],
    base: Readonly<H>,
    given: Partial<H> = {},
  ) {
    const defaults = { ...base } as H;
    checkOptions(name, given, Object.keys(base));
    for (const [k, v] of Object.entries(given)) if (v !== undefined) (defaults as Record<string, unknown>)[k] = v;
    this.keys = Object.keys(defaults);
    if (!Array.isArray(params) || params.length === 0) {
      throw new Error(
        `${name}: needs a non-empty list of parameters or of parameter groups ({ params, ...options }), got ${Array.isArray(params) ? 'an empty list' : String(params)}.`,
      );
    }
    const specs: ParamGroup<H>[] = params.every(isTensor) ? [{ params } as unknown as ParamGroup<H>] : (params as ParamGroup<H>[]);
    const seen = new Map<Tensor, string>();
    const buffers = new Map<GPUBuffer, string>();
    const built: Array<{ params: Tensor[]; hyper: H }> = [];
    specs.forEach((spec, gi) => {
      const where = `${name}: group ${gi}`;
      if (spec === null || typeof spec !== 'object' || isTensor(spec) || !Array.isArray(spec.params)) {
        throw new Error(`${where} must be { params: Tensor[], ...options } (a list mixing tensors and groups is not allowed).`);
      }
      const hyper = { ...defaults } as Record<string, unknown>;
      for (const [k, v] of Object.entries(spec)) {
        if (k === 'params') continue;
        if (!this.keys.includes(k)) {
          throw new Error(`${where} has an unknown option '${k}' (options: ${this.keys.join(', ')}).`);
        }
        if (v !== undefined) hyper[k] = v;
      }
      this.validateHyper(hyper as H, where);
      spec.params.forEach((p, i) => {
        const what = `${where} parameter ${i}`;
        if (!isTensor(p)) throw new Error(`${what} is not a Tensor (got ${String(p)}).`);
        if (p.isDisposed) throw new Error(`${what} ${fmt(p.shape)} was disposed.`);
        if (p.dtype !== 'f32') throw new Error(`${what} is an ${p.dtype} tensor; parameters must be f32.`);
        const dup = seen.get(p);
        if (dup) throw new Error(`${what} is the same tensor as ${dup}; a parameter may appear only once.`);
        seen.set(p, `group ${gi} parameter ${i}`);
        const buf = p.bind(name).buffer;
        const shared = buffers.get(buf);
        if (shared) throw new Error(`${what} shares its storage with ${shared} (a view or alias); it would be updated twice.`);
        if (!p.requiresGrad)
          throw new Error(
            `${what} ${fmt(p.shape)} does not require a gradient (requiresGrad false), so it would never be updated; set requiresGrad = true, or leave it out of the optimizer.`,
          );
        buffers.set(buf, `group ${gi} parameter ${i}`);
      });
      built.push({ params: [...spec.params], hyper: hyper as H });
    });
    for (const b of built) this.groups.push(this.makeGroup(b.params, b.hyper));
  }

  /** Check hyper-parameters; throw naming `where` and the option. */
  protected abstract validateHyper(h: H, where: string): void;
  /** Names of the flat state buffers a group with these hyper-parameters needs. */
  protected abstract stateNames(h: H): string[];
  /** Fill a parameter's bias-correction words of the table (AdamW); step is already counted. */
  protected tableRow(_h: H, _step: number, _out: Float32Array, _at: number): void {}
  /** Record the group's one update dispatch. */
  protected abstract dispatch(g: Group<H>): void;

  private makeGroup(params: Tensor[], hyper: H): Group<H> {
    const starts: number[] = [];
    let off = 0;
    for (const p of params) {
      starts.push(off);
      off += Math.ceil(p.size / CHUNK) * CHUNK;
    }
    const nChunks = off / CHUNK;
    const tableHost = new Int32Array(nChunks + 4 * params.length);
    const tableF32 = new Float32Array(tableHost.buffer);
    params.forEach((p, i) => {
      const first = starts[i]! / CHUNK;
      tableHost.fill(i, first, first + Math.ceil(p.size / CHUNK));
      tableHost[nChunks + 4 * i] = starts[i]! + p.size;
    });
    const g: Group<H> = {
      params,
      hyper,
      starts,
      nChunks,
      steps: params.map(() => 0),
      theta: null,
      grad: null,
      table: null,
      tableHost,
      tableF32,
      state: new Map(),
    };
    if (params.length > 0) {
      const label = `${this.name} group`;
      g.theta = keep(Tensor.empty([off], label));
      g.grad = keep(Tensor.empty([off], label));
      g.table = keep(Tensor.empty([tableHost.length], label, 'i32'));
      this.ensureState(g);
    }
    return g;
  }

  /** Allocate (zeroed) any state buffer the group's hyper-parameters need and it lacks. */
  private ensureState(g: Group<H>): void {
    if (!g.theta) return;
    for (const s of this.stateNames(g.hyper)) {
      if (!g.state.has(s)) g.state.set(s, keep(zeros([g.theta.size])));
    }
  }

  private assertLive(what: string): void {
    if (this.disposed) throw new Error(`${this.name}.${what}: the optimizer was disposed.`);
  }

  /** Number of parameter groups. */
  get groupCount(): number {
    return this.groups.length;
  }

  /** The parameters of group `i` (the same tensor handles that were passed in). */
  params(i = 0): readonly Tensor[] {
    return this.group(i, 'params()').params;
  }

  /** A copy of group `i`'s hyper-parameters. */
  hyperParams(i = 0): H {
    return { ...this.group(i, 'hyperParams()').hyper };
  }

  private group(i: number, what: string): Group<H> {
    const g = this.groups[i];
    if (!Number.isInteger(i) || !g) {
      throw new Error(`${this.name}.${what}: group index ${i} is out of range; this optimizer has ${this.groups.length} group(s).`);
    }
    return g;
  }

  /** The learning rate of group `i` (default 0). */
  getLr(groupIndex = 0): number {
    return (this.group(groupIndex, 'getLr()').hyper as { lr: number }).lr;
  }

  /** Set the learning rate of every group (`setLr(lr)`) or of one group (`setLr(i, lr)`). */
  setLr(lr: number): void;
  setLr(groupIndex: number, lr: number): void;
  setLr(a: number, b?: number): void {
    const lr = b === undefined ? a : b;
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) {
      throw new Error(`${this.name}.setLr(): the learning rate must be a finite number ≥ 0, got ${String(lr)}.`);
    }
    const targets = b === undefined ? this.groups : [this.group(a, 'setLr()')];
    for (const g of targets) (g.hyper as { lr: number }).lr = lr;
  }

  /** Drop every parameter's gradient (the next backward() makes fresh ones). */
  zeroGrad(): void {
    for (const g of this.groups) for (const p of g.params) p.zeroGrad();
  }

  /**
   * One update of every parameter that has a gradient (`.grad`), in place on the GPU, one
   * dispatch per group; parameters without a gradient are left untouched (state included).
   * Nothing is read back. Every gradient is checked before any GPU work or state change.
   */
  step(): void {
    this.assertLive('step()');
    const op = `${this.name}.step()`;
    const live: boolean[][] = this.groups.map((g, gi) =>
      g.params.map((p, i) => {
        const where = `${op}: group ${gi} parameter ${i} ${fmt(p.shape)}`;
        if (p.isDisposed) throw new Error(`${where} was disposed.`);
        const gr = p.grad;
        if (!gr) return false;
        if (gr.isDisposed) throw new Error(`${where}: its gradient was disposed (use zeroGrad() to drop gradients).`);
        if (gr.dtype !== 'f32' || !sameShape(gr.shape, p.shape)) {
          throw new Error(`${where} has a gradient of shape ${fmt(gr.shape)} (${gr.dtype}); it must be f32 of the parameter's shape.`);
        }
        return true;
      }),
    );
    const e = engine();
    e.assertUsable(op);
    const copyIn: Copy[] = [];
    const copyOut: Copy[] = [];
    const todo: Group<H>[] = [];
    this.groups.forEach((g, gi) => {
      const on = live[gi]!;
      if (!on.includes(true) || !g.theta) return;
      const theta = g.theta.bind(op, 'read_write').buffer;
      const grad = g.grad!.bind(op, 'read_write').buffer;
      g.params.forEach((p, i) => {
        const row = g.nChunks + 4 * i;
        g.tableHost[row + 1] = on[i] ? 1 : 0;
        if (!on[i]) return;
        g.steps[i]!++;
        this.tableRow(g.hyper, g.steps[i]!, g.tableF32, row + 2);
        const bytes = p.size * 4;
        const at = g.starts[i]! * 4;
        const pb = p.bind(op).buffer;
        copyIn.push({ src: p.grad!.bind(op).buffer, srcOffset: 0, dst: grad, dstOffset: at, bytes });
        copyIn.push({ src: pb, srcOffset: 0, dst: theta, dstOffset: at, bytes });
        copyOut.push({ src: theta, srcOffset: at, dst: pb, dstOffset: 0, bytes });
      });
      g.table!.write(g.tableHost);
      todo.push(g);
    });
    copyBuffers(e, copyIn, `${op} gather`);
    for (const g of todo) this.dispatch(g);
    copyBuffers(e, copyOut, `${op} scatter`);
  }

  /**
   * The optimizer's state for a checkpoint: GPU copies of every state buffer (one tensor per
   * parameter and buffer, keyed with `prefix`) and a JSON string with hyper-parameters, shapes
   * and step counts. No readback here; saveCheckpoint() reads the tensors.
   */
  state(prefix = 'optim.'): OptimizerState {
    this.assertLive('state()');
    const op = `${this.name}.state()`;
    const e = engine();
    const tensors: Record<string, Tensor> = {};
    const copies: Copy[] = [];
    this.groups.forEach((g, gi) => {
      for (const [name, flat] of g.state) {
        if (!this.stateNames(g.hyper).includes(name)) continue;
        const src = flat.bind(op).buffer;
        g.params.forEach((p, i) => {
          const t = Tensor.empty(p.shape, op);
          copies.push({ src, srcOffset: g.starts[i]! * 4, dst: t.bind(op, 'read_write').buffer, dstOffset: 0, bytes: p.size * 4 });
          tensors[`${prefix}${gi}.${i}.${name}`] = t;
        });
      }
    });
    copyBuffers(e, copies, op);
    const meta = {
      optimizer: this.name,
      version: 1,
      groups: this.groups.map((g) => ({
        hyper: g.hyper,
        params: g.params.map((p, i) => ({ shape: [...p.shape], step: g.steps[i] })),
      })),
    };
    return { tensors, meta: JSON.stringify(meta) };
  }

  /**
   * Restore state() output (or the same tensors and meta string from loadCheckpoint()): every
   * group's hyper-parameters, step counts and state buffers. The optimizer must have been built
   * over parameters of the same shapes in the same groups. Everything is checked before anything
   * changes; a refused state leaves the optimizer as it was.
   */
  loadState(input: OptimizerStateInput, prefix = 'optim.'): void {
    this.assertLive('loadState()');
    const op = `${this.name}.loadState()`;
    if (!input || typeof input !== 'object' || typeof input.meta !== 'string' || !input.tensors || typeof input.tensors !== 'object') {
      throw new Error(`${op}: expected { tensors, meta } as state() returns them, got ${String(input)}.`);
    }
    const plans = planStateLoad(op, input, prefix, {
      name: this.name,
      keys: this.keys,
      groups: this.groups,
      stateNames: (h) => this.stateNames(h),
      validateHyper: (h, where) => this.validateHyper(h, where),
    });
    // Everything checked: apply.
    const e = engine();
    const copies: Copy[] = [];
    const writes: Array<{ dst: GPUBuffer; offset: number; data: Float32Array }> = [];
    for (const { g, hyper, steps, sources } of plans) {
      g.hyper = hyper;
      g.steps = steps;
      this.ensureState(g);
      for (const { name, i, src } of sources) {
        const dst = g.state.get(name)!.bind(op, 'read_write').buffer;
        const offset = g.starts[i]! * 4;
        if (isTensor(src)) {
          copies.push({ src: src.bind(op).buffer, srcOffset: 0, dst, dstOffset: offset, bytes: src.size * 4 });
        } else {
          writes.push({ dst, offset, data: src.data as Float32Array });
        }
      }
    }
    if (writes.length) {
      e.assertUsable(op);
      e.flush(); // after every dispatch recorded so far
      for (const w of writes) e.device.queue.writeBuffer(w.dst, w.offset, w.data.buffer, w.data.byteOffset, w.data.byteLength);
    }
    copyBuffers(e, copies, op);
  }

  /** Free the optimizer's GPU buffers (not the parameters). Later calls throw. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const g of this.groups) {
      g.theta?.dispose();
      g.grad?.dispose();
      g.table?.dispose();
      for (const t of g.state.values()) t.dispose();
      g.state.clear();
    }
    this.disposeExtra();
  }

  /** Subclasses free their own buffers here. */
  protected disposeExtra(): void {}
}

/** Throw unless `v` is a finite number in [lo, hi) (or [lo, ∞)). */
export function checkNumber(where: string, name: string, v: unknown, lo: number, hi = Infinity, hiOpen = true): void {
  const ok = typeof v === 'number' && Number.isFinite(v) && v >= lo && (hiOpen ? v < hi : v <= hi);
  if (!ok) {
    const range = hi === Infinity ? `≥ ${lo}` : `in [${lo}, ${hi}${hiOpen ? ')' : ']'}`;
    throw new Error(`${where}: ${name} must be a finite number ${range}, got ${String(v)}.`);
  }
}
