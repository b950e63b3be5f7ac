// Types for esbuild-options.mjs (imported by TypeScript tests and tools).
import type { BuildOptions } from 'esbuild';

export declare const wgslLoader: NonNullable<BuildOptions['loader']>;
export declare function nodeOptions(entry: string, outfile: string): BuildOptions & { entryPoints: string[]; outfile: string };
export declare function browserOptions(entry: string, outfile: string): BuildOptions & { entryPoints: string[]; outfile: string };
