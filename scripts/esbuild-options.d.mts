// Types for esbuild-options.mjs (imported by TypeScript tests, tools and vitest.config.ts).
import type { BuildOptions, Plugin } from 'esbuild';

/** A kernel file's WGSL with its `// #include "name.wgsl"` lines resolved (kernels/include/), and the files included. */
export declare function wgslSource(path: string): { code: string; files: string[] };
/** The JS module a .wgsl file becomes: `export default { file, code, reflection }`. */
export declare function wgslModuleSource(path: string): Promise<string>;
export declare function wgslPlugin(): Plugin;
export declare function nodeOptions(entry: string, outfile: string): BuildOptions & { entryPoints: string[]; outfile: string };
export declare function browserOptions(entry: string, outfile: string): BuildOptions & { entryPoints: string[]; outfile: string };
