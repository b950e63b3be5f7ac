// Shared esbuild settings: WGSL sources load as text, exactly as vitest.config.ts does under test.
export const wgslLoader = { '.wgsl': 'text' };

export function nodeOptions(entry, outfile) {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    loader: wgslLoader,
    sourcemap: true,
    logLevel: 'warning',
  };
}

export function browserOptions(entry, outfile) {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    loader: wgslLoader,
    sourcemap: true,
    logLevel: 'warning',
  };
}
