/**
 * Kernel registry. Each WGSL entry point is registered once with its module (a `.wgsl` import:
 * the code and its reflection, made at build time by src/gpu/reflect.ts), and the reflection
 * is the single truth for its bind group layout, its uniform struct layout and its override
 * constants: nothing here parses WGSL. A call site binds buffers by name with an access mode and
 * element type; any difference from the WGSL is an error that names the kernel and the binding,
 * raised before any GPU work. Pipelines are compiled once per (engine, kernel, override values)
 * into one cache, synchronously on first use or asynchronously ahead of it by `warmup()`, from
 * the override sets (variants) each definition declares.
 */
import { engine, type Engine } from '../device/engine.ts';
import type { BindingInfo, WgslModule } from './wgsl-module.ts';
import { cachedBindGroup } from './bind-group-cache.ts';

type ElementType = 'f32' | 'i32' | 'u32';
type Overrides = Record<string, number | boolean>;

/**
 * The override sets a kernel's launchers dispatch it with: a list, or a function of the current
 * engine's configuration (e.g. matmul's tile shape). `warmup()` compiles each of them.
 */
export type KernelVariants = readonly Overrides[] | (() => readonly Overrides[]);

export interface KernelOptions {
  /** The override sets the launchers use (default: one pipeline with the WGSL's defaults). */
  variants?: KernelVariants;
}

/** Pipelines compiled on an engine: `sync` on first use by a dispatch, `async` by warmup(). */
export interface PipelineStats {
  sync: number;
  async: number;
  /** The labels (kernel [overrides]) of the pipelines compiled synchronously, in order. */
  syncLabels: string[];
}

interface EngineState {
  stats: PipelineStats;
  /** Async compiles in flight, by pipeline cache key. */
  pending: Map<string, Promise<GPUComputePipeline>>;
}
const states = new WeakMap<Engine, EngineState>();

function stateOf(e: Engine): EngineState {
  let s = states.get(e);
  if (!s) {
    s = { stats: { sync: 0, async: 0, syncLabels: [] }, pending: new Map() };
    states.set(e, s);
  }
  return s;
}

/** Pipelines compiled so far on the current engine, synchronously (first use) and by warmup(). */
export function pipelineStats(): PipelineStats {
  const s = stateOf(engine()).stats;
  return { ...s, syncLabels: [...s.syncLabels] };
}

/** A storage buffer binding supplied by a call site. */
export interface StorageArg {
  kind: 'read' | 'read_write';
  buffer: GPUBuffer;
  /** Bytes to bind (the tensor's size, not the pooled buffer's). */
  bytes: number;
  element: ElementType;
}
/** Uniform values by struct member name; arrays fill vector/array members component-wise. */
export interface UniformArg {
  kind: 'uniform';
  values: Record<string, number | boolean | readonly number[]>;
}
type BindArg = StorageArg | UniformArg;

export interface DispatchArgs {
  bindings: Record<string, BindArg>;
  /** Values for the kernel's `override` constants (pipeline is cached per distinct set). */
  overrides?: Record<string, number | boolean>;
  workgroups: [number, number?, number?];
}

export class Kernel {
  readonly bindings: BindingInfo[];
  readonly overrides: Map<string, string>;
  /** The WGSL text (entry points of one file share it, and one shader module per engine). */
  readonly source: string;
  /** Where the WGSL came from (a path relative to the package root, or wgslModule's name). */
  readonly file: string;
  /** The module's WGSL `enable` directives (extensions that need device features). */
  readonly enables: readonly string[];
  private readonly variantList: KernelVariants;
  /** The bind group layout's key in the engine's cache (and the bind group cache's prefix). */
  private readonly layoutKey: string;

  constructor(
    readonly name: string,
    module: WgslModule,
    readonly entry: string,
    options: KernelOptions = {},
  ) {
    const where = `hemgpu kernel '${name}'`;
    if (typeof module !== 'object' || module === null || typeof module.code !== 'string' || !module.reflection) {
      throw new Error(
        `${where}: defineKernel takes a WgslModule ({ file, code, reflection }), got ${typeof module === 'string' ? 'WGSL text' : String(module)}. ` +
          "Import the .wgsl file (hemgpu's esbuild and vitest plugins reflect it at build time), or reflect WGSL text at run " +
          "time with wgslModule(code) from 'hemgpu/reflect'.",
      );
    }
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new Error(`defineKernel: options must be an object { variants }, got ${Array.isArray(options) ? 'an array' : String(options)}.`);
    }
    for (const k of Object.keys(options)) {
      if (k !== 'variants') throw new Error(`defineKernel: unknown option '${k}' (options: variants) for kernel '${name}'.`);
    }
    this.source = module.code;
    this.file = module.file;
    this.layoutKey = `bgl|${name}|${entry}`;
    const r = module.reflection;
    this.enables = r.enables ?? [];
    if (r.error) throw new Error(`${where}: ${r.error}`);
    const fn = r.entries[entry];
    if (!fn) {
      const names = Object.keys(r.entries).join(', ') || 'none';
      throw new Error(`${where}: no @compute entry point '${entry}' (found: ${names})`);
    }
    if (fn.error !== undefined) throw new Error(`${where}: ${fn.error}`);
    this.bindings = fn.bindings;
    this.overrides = new Map(Object.entries(r.overrides));
    this.variantList = options.variants ?? [{}];
    if (typeof this.variantList !== 'function') this.checkVariants(this.variantList);
  }

  private checkVariants(list: readonly Overrides[]): void {
    for (const v of list) {
      for (const k of Object.keys(v)) {
        if (!this.overrides.has(k)) {
          throw new Error(
            `hemgpu kernel '${this.name}': variant ${JSON.stringify(v)} sets override '${k}', which the WGSL does not declare ` +
              `(declared: ${[...this.overrides.keys()].join(', ') || 'none'}).`,
          );
        }
      }
    }
  }

  /** The override sets its launchers use on the current engine (KernelOptions.variants). */
  variants(): readonly Overrides[] {
    if (typeof this.variantList !== 'function') return this.variantList;
    const list = this.variantList();
    this.checkVariants(list);
    return list;
  }

  /** Human-readable binding list for error messages. */
  signature(): string {
    return this.bindings.map((b) => `${b.name} (${b.access === 'uniform' ? 'uniform' : `${b.access} array<${b.element}>`})`).join(', ');
  }

  /** Check a call site's bindings against the reflection; throws naming kernel and binding. */
  validate(args: DispatchArgs): void {
    const where = `hemgpu kernel '${this.name}'`;
    for (const given of Object.keys(args.bindings)) {
      if (!this.bindings.some((b) => b.name === given)) {
        throw new Error(`${where}: the call site binds '${given}', which the WGSL does not declare. Its bindings: ${this.signature()}.`);
      }
    }
    for (const b of this.bindings) {
      const arg = args.bindings[b.name];
      if (!arg) {
        throw new Error(`${where}: binding '${b.name}' (${b.access}) is not bound at the call site. Its bindings: ${this.signature()}.`);
      }
      if (arg.kind !== b.access) {
        throw new Error(
          `${where}: binding '${b.name}' is declared ${b.access === 'uniform' ? 'var<uniform>' : `var<storage, ${b.access}>`} ` +
            `in the WGSL but the call site binds it as ${arg.kind}.`,
        );
      }
      if (arg.kind !== 'uniform') {
        if (b.element && arg.element !== b.element) {
          throw new Error(`${where}: binding '${b.name}' holds ${b.element} in the WGSL but the call site binds ${arg.element} data.`);
        }
        if (arg.bytes <= 0 || arg.bytes % 4 !== 0) {
          throw new Error(`${where}: binding '${b.name}' gets ${arg.bytes} bytes; storage bindings need a positive multiple of 4.`);
        }
      } else {
        const names = new Set(b.members!.map((m) => m.name));
        for (const k of Object.keys(arg.values)) {
          if (!names.has(k)) {
            throw new Error(`${where}: uniform '${b.name}' has no member '${k}' (members: ${[...names].join(', ')}).`);
          }
        }
        for (const m of b.members!) {
          if (!(m.name in arg.values) && !m.name.startsWith('_')) {
            throw new Error(`${where}: uniform '${b.name}' member '${m.name}' was not given a value.`);
          }
        }
      }
    }
    for (const k of Object.keys(args.overrides ?? {})) {
      if (!this.overrides.has(k)) {
        throw new Error(`${where}: no override constant '${k}' (declared: ${[...this.overrides.keys()].join(', ') || 'none'}).`);
      }
    }
  }

  /** Pack uniform values into the struct's byte layout from the reflection. */
  packUniform(b: BindingInfo, values: UniformArg['values']): ArrayBuffer {
    const buf = new ArrayBuffer(Math.max(16, Math.ceil(b.size / 16) * 16));
    const view = new DataView(buf);
    for (const m of b.members!) {
      const v = values[m.name];
      if (v === undefined) continue;
      const arr = typeof v === 'number' || typeof v === 'boolean' ? [Number(v)] : v;
      if (arr.length > m.components) {
        throw new Error(`hemgpu kernel '${this.name}': uniform member '${m.name}' takes ${m.components} values, got ${arr.length}.`);
      }
      for (let i = 0; i < arr.length; i++) {
        const elem = Math.floor(i / m.layout.width);
        const comp = i % m.layout.width;
        const off = m.offset + elem * m.layout.stride + comp * 4;
        const x = arr[i]!;
        if (m.scalar === 'f32') view.setFloat32(off, x, true);
        else if (m.scalar === 'i32') view.setInt32(off, x, true);
        else {
          if (x < 0 || !Number.isInteger(x)) {
            throw new Error(`hemgpu kernel '${this.name}': uniform member '${m.name}' is u32 but got ${x}.`);
          }
          view.setUint32(off, x, true);
        }
      }
    }
    return buf;
  }

  private layout(e: Engine): GPUBindGroupLayout {
    let bgl = e.cache.get(this.layoutKey) as GPUBindGroupLayout | undefined;
    if (!bgl) {
      bgl = e.device.createBindGroupLayout({
        label: this.name,
        entries: this.bindings.map((b) => ({
          binding: b.binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: b.access === 'uniform' ? 'uniform' : b.access === 'read' ? 'read-only-storage' : 'storage' },
        })),
      });
      e.cache.set(this.layoutKey, bgl);
    }
    return bgl;
  }

  /**
   * The device features this kernel's module needs (its `enable` directives) that engine `e`
   * lacks: the kernel cannot run there.
   */
  missingFeatures(e: Engine): string[] {
    return this.enables.map(featureOf).filter((f) => !e.device.features.has(f));
  }

  /** Refuse, before any GPU work, to compile a kernel whose module needs a feature `e` lacks. */
  private assertSupported(e: Engine): void {
    const missing = this.missingFeatures(e);
    if (missing.length) {
      throw new Error(
        `hemgpu kernel '${this.name}': its WGSL (${this.file}) needs the device feature${missing.length > 1 ? 's' : ''} ${missing.map((f) => `'${f}'`).join(', ')}, ` +
          `which this engine's adapter (${e.adapterInfo.description || e.adapterInfo.name}) does not offer; use a kernel path that does not need ${missing.length > 1 ? 'them' : 'it'}.`,
      );
    }
  }

  module(e: Engine): GPUShaderModule {
    this.assertSupported(e);
    // Keyed by source: entry points of one file share one module.
    const key = `module|${this.source}`;
    let mod = e.cache.get(key) as GPUShaderModule | undefined;
    if (!mod) {
      mod = e.device.createShaderModule({ code: this.source, label: this.name });
      e.cache.set(key, mod);
    }
    return mod;
  }

  private descriptor(e: Engine, overrides: Overrides): { key: string; desc: GPUComputePipelineDescriptor } {
    const keys = Object.keys(overrides).sort();
    const key = Kernel.key(this.name, this.entry, overrides);
    const constants: Record<string, number> = {};
    for (const k of keys) constants[k] = Number(overrides[k]);
    const desc: GPUComputePipelineDescriptor = {
      label: `${this.name}${keys.length ? ` [${keys.map((k) => `${k}=${constants[k]}`).join(' ')}]` : ''}`,
      layout: e.device.createPipelineLayout({ bindGroupLayouts: [this.layout(e)], label: this.name }),
      compute: { module: this.module(e), entryPoint: this.entry, constants },
    };
    return { key, desc };
  }

  private static key(name: string, entry: string, overrides: Overrides): string {
    const keys = Object.keys(overrides).sort();
    return `pipe|${name}|${entry}|${keys.map((k) => `${k}=${Number(overrides[k])}`).join(',')}`;
  }

  /** The cached pipeline for these override values, compiled synchronously if not there yet. */
  pipeline(e: Engine, overrides: Overrides = {}): GPUComputePipeline {
    const cached = e.cache.get(Kernel.key(this.name, this.entry, overrides)) as GPUComputePipeline | undefined;
    if (cached) return cached;
    // A warmup compile of this pipeline may still be in flight; a dispatch cannot wait for it.
    const { key, desc } = this.descriptor(e, overrides);
    const p = e.device.createComputePipeline(desc);
    const stats = stateOf(e).stats;
    stats.sync++;
    stats.syncLabels.push(String(desc.label));
    e.cache.set(key, p);
    return p;
  }

  /**
   * Compile the pipeline for these override values with createComputePipelineAsync into the
   * same cache (nothing when it is cached; the compile in flight when one is). Returns whether
   * this call started a compile.
   */
  async pipelineAsync(e: Engine, overrides: Overrides = {}): Promise<boolean> {
    const k = Kernel.key(this.name, this.entry, overrides);
    if (e.cache.has(k)) return false;
    const st = stateOf(e);
    const inFlight = st.pending.get(k);
    if (inFlight) {
      await inFlight;
      return false;
    }
    const { key, desc } = this.descriptor(e, overrides);
    const compile = e.waitFor(e.device.createComputePipelineAsync(desc));
    st.pending.set(key, compile);
    try {
      const p = await compile;
      st.stats.async++;
      if (!e.cache.has(key)) e.cache.set(key, p);
    } catch (err) {
      throw new Error(`hemgpu kernel '${this.name}': pipeline ${desc.label} failed to compile: ${(err as Error).message}`);
    } finally {
      st.pending.delete(key);
    }
    return true;
  }

  /** Validate, then record one dispatch of this kernel on the current engine. */
  dispatch(args: DispatchArgs): void {
    this.validate(args);
    const e = engine();
    e.assertUsable(this.name);
    const [x, y = 1, z = 1] = args.workgroups;
    const maxWg = e.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg || x < 1 || y < 1 || z < 1) {
      throw new Error(`hemgpu kernel '${this.name}': dispatch of [${x}, ${y}, ${z}] workgroups is outside 1..${maxWg} per dimension.`);
    }
    const entries = this.bindings.map((b) => {
      const arg = args.bindings[b.name]!;
      if (arg.kind === 'uniform') {
        return { binding: b.binding, resource: e.uniform(this.packUniform(b, arg.values), this.name) };
      }
      return { binding: b.binding, resource: { buffer: arg.buffer, offset: 0, size: arg.bytes } };
    });
    const pipeline = this.pipeline(e, args.overrides);
    const bindGroup = cachedBindGroup(e, this.layout(e), this.layoutKey, entries, this.name);
    e.dispatch(pipeline, bindGroup, [x, y, z], this.name);
  }
}

/** The device feature behind a WGSL extension name ('f16' → 'shader-f16', 'subgroups' → 'subgroups'). */
function featureOf(extension: string): GPUFeatureName {
  return (extension === 'f16' ? 'shader-f16' : extension.replace(/_/g, '-')) as GPUFeatureName;
}

const registry = new Map<string, Kernel>();

/**
 * Register a WGSL entry point under a name (once); returns the kernel built from the module's
 * reflection. `module` is a `.wgsl` import or `wgslModule(code)` from `hemgpu/reflect`.
 * Side-effect free for bundlers: the launchers mark their calls pure, so an unused launcher's
 * kernels are dropped from a bundle (and are then not registered).
 */
export function defineKernel(name: string, module: WgslModule, entry = 'main', options: KernelOptions = {}): Kernel {
  const existing = registry.get(name);
  if (existing) {
    if (existing.source !== module?.code || existing.entry !== entry) {
      throw new Error(`hemgpu: kernel '${name}' is already registered with a different source or entry point.`);
    }
    return existing;
  }
  const k = new Kernel(name, module, entry, options);
  registry.set(name, k);
  return k;
}

export function registeredKernels(): Kernel[] {
  return [...registry.values()];
}
