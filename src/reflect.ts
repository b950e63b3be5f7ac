/**
 * `hemgpu/reflect`: WGSL reflection at run time, for a user's own kernel written as a string.
 * This entry carries wgsl_reflect (the WGSL parser); the library entries do not (their `.wgsl`
 * files are reflected at build time). Pass the result to `defineKernel` (name, module, entry).
 */
export { wgslModule, reflectWgsl } from './gpu/reflect.ts';
export type { WgslModule, WgslInterface, EntryInterface, BindingInfo, UniformMember } from './gpu/wgsl-module.ts';
