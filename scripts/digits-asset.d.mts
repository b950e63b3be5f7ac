// Types of scripts/digits-asset.mjs (imported by test/data/digits-asset.test.ts).
/** The digit asset's bytes (gzip-compressed) from the installed mnist package. */
export function digitsAssetBytes(): Uint8Array;
/** Write the digit asset to `path`; returns its size in bytes. */
export function writeDigitsAsset(path: string): number;
