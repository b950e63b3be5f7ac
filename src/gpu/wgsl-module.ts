/**
 * The reflected interface of a WGSL file, as a `.wgsl` import yields it: produced at build time by
 * src/gpu/reflect.ts (through the esbuild plugin of scripts/esbuild-options.mjs and the vitest
 * plugin of vitest.config.ts), or at run time by `wgslModule(code)` from `hemgpu/reflect`. Plain
 * data (JSON), so the library bundles ship the interfaces and no WGSL parser. Types only.
 */

export type Access = 'read' | 'read_write' | 'uniform';
export type ElementType = 'f32' | 'i32' | 'u32';

export interface UniformMember {
  name: string;
  offset: number;
  /** Scalar type of every component. */
  scalar: ElementType;
  /** Total scalar components (vec4 → 4, array<vec4<u32>, 2> → 8). */
  components: number;
  /** Byte distance between consecutive components as laid out (4, or an array stride). */
  layout: { count: number; stride: number; width: number };
}

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

/**
 * One `@compute` entry point: its bindings (sorted by binding number) and the `override` names it
 * uses, or `error`, why it cannot be a hemgpu kernel (raised, with the kernel's name, when a
 * kernel is defined on it).
 */
export type EntryInterface = { bindings: BindingInfo[]; overrides: string[]; error?: undefined } | { error: string; bindings?: undefined; overrides?: undefined };

export interface WgslInterface {
  /** Set when wgsl_reflect could not parse the file; `entries` is then empty. */
  error?: string;
  /** Every `override` of the module, name → type (f32, u32, i32, bool). */
  overrides: Record<string, string>;
  /** The `@compute` entry points by name, in source order. */
  entries: Record<string, EntryInterface>;
  /**
   * The module's `enable` directives (e.g. 'subgroups', 'f16'): WGSL extensions it compiles only
   * with, on a device that has the matching feature. Absent in modules reflected before this
   * field existed (read as none).
   */
  enables?: string[];
}

/** What a `.wgsl` import yields (see src/wgsl.d.ts) and what `defineKernel` takes. */
export interface WgslModule {
  /** Where the WGSL came from (a path relative to the package root, or the name given to wgslModule). */
  file: string;
  /** The WGSL text, compiled as is. */
  code: string;
  reflection: WgslInterface;
}
