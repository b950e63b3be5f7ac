/**
 * Modules: named parameters (tensors with requiresGrad, kept out of tidy scopes), named buffers
 * (running statistics, HEM bases: no gradient), child modules, and a train/eval switch.
 * Names are dotted paths ("backbone.0.weight"), the keys of checkpoints.
 */
import { keep } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';

export abstract class Module {
  training = true;
  private readonly params_ = new Map<string, Tensor>();
  private readonly buffers_ = new Map<string, Tensor>();
  private readonly children_ = new Map<string, Module>();

  /** Register a parameter: it requires grad and lives until the module is disposed. */
  protected param(name: string, t: Tensor): Tensor {
    t.requiresGrad = true;
    this.params_.set(name, keep(t));
    return t;
  }

  /** Register (or replace) a buffer: no gradient, saved in checkpoints. */
  protected buffer(name: string, t: Tensor): Tensor {
    const old = this.buffers_.get(name);
    if (old && old !== t) old.dispose();
    this.buffers_.set(name, keep(t));
    return t;
  }

  protected child<M extends Module>(name: string, m: M): M {
    this.children_.set(name, m);
    return m;
  }

  /** Every parameter, by dotted name. */
  parameters(prefix = ''): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [k, v] of this.params_) out.set(prefix + k, v);
    for (const [k, c] of this.children_) for (const [kk, v] of c.parameters(`${prefix}${k}.`)) out.set(kk, v);
    return out;
  }

  /** Every buffer, by dotted name. */
  buffers(prefix = ''): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [k, v] of this.buffers_) out.set(prefix + k, v);
    for (const [k, c] of this.children_) for (const [kk, v] of c.buffers(`${prefix}${k}.`)) out.set(kk, v);
    return out;
  }

  /** Replace a buffer's tensor by dotted name (checkpoint loading). */
  setBuffer(name: string, t: Tensor): void {
    const dot = name.indexOf('.');
    if (dot >= 0) {
      const c = this.children_.get(name.slice(0, dot));
      if (!c) throw new Error(`Module: no child '${name.slice(0, dot)}' for buffer '${name}'.`);
      c.setBuffer(name.slice(dot + 1), t);
      return;
    }
    if (!this.buffers_.has(name)) throw new Error(`Module: no buffer '${name}'.`);
    this.buffer(name, t);
  }

  train(on = true): this {
    this.training = on;
    for (const c of this.children_.values()) c.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters().values()) p.zeroGrad();
  }

  dispose(): void {
    for (const p of this.params_.values()) {
      p.zeroGrad();
      p.dispose();
    }
    for (const b of this.buffers_.values()) b.dispose();
    for (const c of this.children_.values()) c.dispose();
  }
}
