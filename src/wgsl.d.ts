// A `.wgsl` import is the file's WGSL text and its interface reflected at build time (the esbuild
// plugin of scripts/esbuild-options.mjs in the bundles, the vitest plugin under test; both call
// src/gpu/reflect.ts): pass it to defineKernel. The same import works in Node and browsers.
declare module '*.wgsl' {
  const module: import('./gpu/wgsl-module.ts').WgslModule;
  export default module;
}

// wgsl_reflect's `main` is CommonJS inside a "type": "module" package, so Node ESM must import
// its ES module file directly (see docs/ARCHITECTURE.md); give that path the package's types.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
