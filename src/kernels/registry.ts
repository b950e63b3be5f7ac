/**
 * Kernel registry. Each WGSL entry point is registered once with its source; the source is
 * reflected with wgsl_reflect, and the reflection is the single truth for its bind group layout,
 * its uniform struct layout and its override constants. A call site binds buffers by name with
 * an access mode and element type; any difference from the WGSL is an error that names the
 * kernel and the binding, raised before any GPU work. Pipelines are compiled once per
 * (engine, kernel, override values) and cached.
 */
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { MemberInfo, TypeInfo, VariableInfo } from 'wgsl_reflect/types/reflect/info.d.ts';
import { engine, type Engine } from '../device/engine.ts';

type Access = 'read' | 'read_write' | 'uniform';
type ElementType = 'f32' | 'i32' | 'u32';

export interface BindingInfo {
  name: string;
  binding: number;
  access: Access;
  /** Scalar element type of a storage array (array<f32>, array<vec4<f32>> → 'f32'). */
  element: ElementType | null;
  /** For uniforms: the struct's members with byte offsets. */
  members: UniformMember[] | null;
  /** For uniforms: the struct's size in bytes. */
  size: number;
}

interface UniformMember {
  name: string;
  offset: number;
  /** Scalar type of every component. */
  scalar: ElementType;
  /** Total scalar components (vec4 → 4, array<vec4<u32>, 2> → 8). */
  components: number;
  /** Byte distance between consecutive components as laid out (4, or an array stride). */
  layout: { count: number; stride: number; width: number };
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

function scalarOf(t: TypeInfo | null): ElementType | null {
  if (!t) return null;
  const name = t.name;
  if (name === 'f32' || name === 'i32' || name === 'u32') return name;
  if (name === 'bool') return 'u32';
  const inner = (t as TypeInfo & { format?: TypeInfo | null }).format ?? null;
  return inner ? scalarOf(inner) : null;
}

function vectorWidth(t: TypeInfo): number {
  const m = /^vec([234])/.exec(t.name);
  return m ? Number(m[1]) : 1;
}

function memberLayout(m: MemberInfo): UniformMember {
  const scalar = scalarOf(m.type);
  if (!scalar) throw new Error(`uniform member '${m.name}' has unsupported type ${m.type.getTypeName()}`);
  if (m.isArray) {
    const format = m.format as TypeInfo;
    const width = vectorWidth(format);
    return {
      name: m.name,
      offset: m.offset,
      scalar,
      components: m.count * width,
      layout: { count: m.count, stride: m.stride, width },
    };
  }
  const width = vectorWidth(m.type);
  return { name: m.name, offset: m.offset, scalar, components: width, layout: { count: 1, stride: 16, width } };
}

export class Kernel {
  readonly bindings: BindingInfo[];
  readonly overrides: Map<string, string>;

  constructor(
    readonly name: string,
    readonly source: string,
    readonly entry: string,
  ) {
    let reflect: WgslReflect;
    try {
      reflect = new WgslReflect(source);
    } catch (err) {
      throw new Error(`hemgpu kernel '${name}': wgsl_reflect could not parse the WGSL: ${(err as Error).message}`);
    }
    const fn = reflect.entry.compute.find((f) => f.name === entry);
    if (!fn) {
      const names = reflect.entry.compute.map((f) => f.name).join(', ') || 'none';
      throw new Error(`hemgpu kernel '${name}': no @compute entry point '${entry}' (found: ${names})`);
    }
    this.bindings = fn.resources.map((v) => this.describe(v)).sort((a, b) => a.binding - b.binding);
    this.overrides = new Map(reflect.overrides.map((o) => [o.name, o.type?.name ?? 'unknown']));
  }

  private describe(v: VariableInfo): BindingInfo {
    if (v.group !== 0) {
      throw new Error(`hemgpu kernel '${this.name}': binding '${v.name}' is in @group(${v.group}); kernels use group 0 only`);
    }
    if (v.resourceType === 0) {
      const members = (v.members ?? []).map(memberLayout);
      return { name: v.name, binding: v.binding, access: 'uniform', element: null, members, size: v.size };
    }
    if (v.resourceType !== 1) {
      throw new Error(`hemgpu kernel '${this.name}': binding '${v.name}' is not a buffer; kernels bind buffers only`);
    }
    const access: Access = v.access === 'read_write' || v.access === 'write' ? 'read_write' : 'read';
    return { name: v.name, binding: v.binding, access, element: scalarOf(v.type), members: null, size: 0 };
  }

  /** Human-readable binding list for error messages. */
  signature(): string {
    return this.bindings
      .map((b) => `${b.name} (${b.access === 'uniform' ? 'uniform' : `${b.access} array<${b.element}>`})`)
      .join(', ');
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
    const key = `bgl|${this.name}|${this.entry}`;
    let bgl = e.cache.get(key) as GPUBindGroupLayout | undefined;
    if (!bgl) {
      bgl = e.device.createBindGroupLayout({
        label: this.name,
        entries: this.bindings.map((b) => ({
          binding: b.binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: b.access === 'uniform' ? 'uniform' : b.access === 'read' ? 'read-only-storage' : 'storage' },
        })),
      });
      e.cache.set(key, bgl);
    }
    return bgl;
  }

  module(e: Engine): GPUShaderModule {
    // Keyed by source: entry points of one file share one module.
    const key = `module|${this.source}`;
    let mod = e.cache.get(key) as GPUShaderModule | undefined;
    if (!mod) {
      mod = e.device.createShaderModule({ code: this.source, label: this.name });
      e.cache.set(key, mod);
    }
    return mod;
  }

  pipeline(e: Engine, overrides: Record<string, number | boolean> = {}): GPUComputePipeline {
    const keys = Object.keys(overrides).sort();
    const key = `pipe|${this.name}|${this.entry}|${keys.map((k) => `${k}=${Number(overrides[k])}`).join(',')}`;
    let p = e.cache.get(key) as GPUComputePipeline | undefined;
    if (!p) {
      const constants: Record<string, number> = {};
      for (const k of keys) constants[k] = Number(overrides[k]);
      p = e.device.createComputePipeline({
        label: `${this.name}${keys.length ? ` [${keys.map((k) => `${k}=${constants[k]}`).join(' ')}]` : ''}`,
        layout: e.device.createPipelineLayout({ bindGroupLayouts: [this.layout(e)], label: this.name }),
        compute: { module: this.module(e), entryPoint: this.entry, constants },
      });
      e.cache.set(key, p);
    }
    return p;
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
    const entries: GPUBindGroupEntry[] = this.bindings.map((b) => {
      const arg = args.bindings[b.name]!;
      if (arg.kind === 'uniform') {
        return { binding: b.binding, resource: e.uniform(this.packUniform(b, arg.values), this.name) };
      }
      return { binding: b.binding, resource: { buffer: arg.buffer, offset: 0, size: arg.bytes } };
    });
    const pipeline = this.pipeline(e, args.overrides);
    const bindGroup = e.device.createBindGroup({ layout: this.layout(e), entries, label: this.name });
    e.dispatch(pipeline, bindGroup, [x, y, z], this.name);
  }
}

const registry = new Map<string, Kernel>();

/** Register a WGSL entry point under a name (once); returns the reflected kernel. */
export function defineKernel(name: string, source: string, entry = 'main'): Kernel {
  const existing = registry.get(name);
  if (existing) {
    if (existing.source !== source || existing.entry !== entry) {
      throw new Error(`hemgpu: kernel '${name}' is already registered with a different source or entry point.`);
    }
    return existing;
  }
  const k = new Kernel(name, source, entry);
  registry.set(name, k);
  return k;
}

export function registeredKernels(): Kernel[] {
  return [...registry.values()];
}

/**
 * Compile every registered kernel's WGSL on the engine and report compilation errors with the
 * kernel's name (init() calls this, so a broken kernel fails at start-up, not mid-training).
 */
export async function checkKernels(e: Engine): Promise<void> {
  const seen = new Set<string>();
  for (const k of registry.values()) {
    if (seen.has(k.source)) continue;
    seen.add(k.source);
    const info = await k.module(e).getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length) {
      throw new Error(
        `hemgpu kernel '${k.name}': WGSL compilation failed:\n` +
          errors.map((m) => `  line ${m.lineNum}:${m.linePos}: ${m.message}`).join('\n'),
      );
    }
  }
}
