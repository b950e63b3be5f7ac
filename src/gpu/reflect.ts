/**
 * WGSL reflection: wgsl_reflect reads a WGSL file and this module turns what it finds into the
 * plain-data `WgslInterface` the registry builds kernels from (bind group layout, uniform struct
 * layout, override constants). It runs at BUILD time for the package's own kernels (the esbuild
 * plugin of scripts/esbuild-options.mjs and the vitest plugin bundle this file once and call
 * `reflectWgsl`), so importing hemgpu parses nothing; at run time only through the explicit
 * `hemgpu/reflect` entry (src/reflect.ts) for a user's WGSL text. Nothing in the library's
 * entries imports this file.
 */
import { Enable, WgslParser, WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { MemberInfo, TypeInfo, VariableInfo } from 'wgsl_reflect/types/reflect/info.d.ts';
import type { Access, BindingInfo, ElementType, EntryInterface, UniformMember, WgslInterface, WgslModule } from './wgsl-module.ts';

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

/** One binding as the registry sees it; throws (without a kernel name) what makes it unusable. */
function describe(v: VariableInfo): BindingInfo {
  if (v.group !== 0) throw new Error(`binding '${v.name}' is in @group(${v.group}); kernels use group 0 only`);
  if (v.resourceType === 0) {
    const members = (v.members ?? []).map(memberLayout);
    return { name: v.name, binding: v.binding, access: 'uniform', element: null, members, size: v.size };
  }
  if (v.resourceType !== 1) throw new Error(`binding '${v.name}' is not a buffer; kernels bind buffers only`);
  const access: Access = v.access === 'read_write' || v.access === 'write' ? 'read_write' : 'read';
  return { name: v.name, binding: v.binding, access, element: scalarOf(v.type), members: null, size: 0 };
}

/** Reflect WGSL text. Never throws: a parse error or an unusable entry point is kept as `error`. */
export function reflectWgsl(code: string): WgslInterface {
  let reflect: WgslReflect;
  try {
    reflect = new WgslReflect(code);
  } catch (err) {
    return { error: `wgsl_reflect could not parse the WGSL: ${(err as Error).message}`, overrides: {}, entries: {} };
  }
  const entries: Record<string, EntryInterface> = {};
  for (const fn of reflect.entry.compute) {
    try {
      const bindings = fn.resources.map(describe).sort((a, b) => a.binding - b.binding);
      entries[fn.name] = { bindings, overrides: fn.overrides.map((o) => o.name) };
    } catch (err) {
      entries[fn.name] = { error: (err as Error).message };
    }
  }
  const overrides: Record<string, string> = {};
  for (const o of reflect.overrides) overrides[o.name] = o.type?.name ?? 'unknown';
  const enables = new WgslParser()
    .parse(code)
    .filter((n): n is Enable => n instanceof Enable)
    .map((n) => n.name);
  return { overrides, entries, enables };
}

/**
 * A `WgslModule` from WGSL text at run time, for `defineKernel` (what a `.wgsl` import gives at
 * build time). `file` names the source in error messages.
 */
export function wgslModule(code: string, file = '(inline WGSL)'): WgslModule {
  if (typeof code !== 'string') throw new Error(`wgslModule: code must be WGSL text (a string), got ${typeof code}.`);
  return { file, code, reflection: reflectWgsl(code) };
}
