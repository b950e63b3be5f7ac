// Types for esbuild-options.mjs (imported by TypeScript tests, tools and vitest.config.ts).
import type { BuildOptions, Plugin } from 'esbuild';

/** The JS module a .wgsl file becomes: `export default { file, code, reflection }`. */
export declare function wgslModuleSource(path: string): Promise<string>;
export declare function wgslPlugin(): Plugin;
export declare function nodeOptions(entry: string, outfile: string): BuildOptions & { entryPoints: string[]; outfile: string };
export declare function browserOptions(entry: string, outfile: string): BuildOptions & { entryPoints: string[]; outfile: string };
