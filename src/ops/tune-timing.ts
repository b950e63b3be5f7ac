/**
 * The timing the kernel tuners share (src/ops/matmul-tune.ts, src/ops/hem-tune.ts): the median
 * wall time of `reps` calls, each awaited to GPU completion.
 */
import { sync } from '../device/engine.ts';

export async function medianMs(reps: number, call: () => void): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    call();
    await sync();
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  return times[times.length >> 1]!;
}
