// The digit asset, dist/digits.bin: the `mnist` package's digits (~1,000 real MNIST samples per
// class, 28×28) in a compact form a browser page loads and src/data/digits-asset.ts decodes
// (decodeDigits) into the identical DigitSource. Built from the installed package, never fetched.
// The package's intensities are 3-decimal numbers derived from 8-bit MNIST (256 distinct values),
// so a codebook of the distinct values (f64, sorted) and one byte per pixel is exact; the whole is
// gzip-compressed. Layout before compression (little-endian):
//   'HGDIGIT1' | u32 side (28) | u32 classes (10) | u32 codebook size n | u32 reserved (0)
//   | u32 samples per class × classes | f64 codebook × n | u8 codebook index per pixel,
//   class by class, sample by sample, row-major.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const SIDE = 28;

/** The asset's bytes (gzip-compressed) from the installed mnist package. */
export function digitsAssetBytes() {
  const mnist = createRequire(import.meta.url)('mnist');
  const classes = 10;
  const values = new Set();
  const counts = [];
  for (let d = 0; d < classes; d++) {
    counts.push(mnist[d].length);
    for (let i = 0; i < mnist[d].length; i++) for (const v of mnist[d].get(i)) values.add(v);
  }
  if (values.size > 256) throw new Error(`digits asset: the mnist package has ${values.size} distinct intensities; one byte per pixel holds 256.`);
  const codebook = [...values].sort((a, b) => a - b);
  const index = new Map(codebook.map((v, i) => [v, i]));
  const pixels = counts.reduce((a, b) => a + b, 0) * SIDE * SIDE;
  const head = 8 + 16 + 4 * classes + 8 * codebook.length;
  const out = new Uint8Array(head + pixels);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode('HGDIGIT1'), 0);
  [SIDE, classes, codebook.length, 0, ...counts].forEach((v, i) => view.setUint32(8 + 4 * i, v, true));
  codebook.forEach((v, i) => view.setFloat64(8 + 16 + 4 * classes + 8 * i, v, true));
  let at = head;
  for (let d = 0; d < classes; d++) {
    for (let i = 0; i < counts[d]; i++) for (const v of mnist[d].get(i)) out[at++] = index.get(v);
  }
  return gzipSync(out, { level: 9 });
}

/** Write the asset to `path`; returns its size in bytes. */
export function writeDigitsAsset(path) {
  const bytes = digitsAssetBytes();
  writeFileSync(path, bytes);
  return bytes.byteLength;
}
