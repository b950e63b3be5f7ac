// WGSL sources are imported as text: esbuild's `text` loader in the build, a small plugin in
// vitest.config.ts under test. The same import works in Node and in the browser bundle.
declare module '*.wgsl' {
  const source: string;
  export default source;
}

// wgsl_reflect's `main` is CommonJS inside a "type": "module" package, so Node ESM must import
// its ES module file directly (see docs/ARCHITECTURE.md); give that path the package's types.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
