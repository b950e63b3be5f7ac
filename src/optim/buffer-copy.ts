/** Buffer-to-buffer copies recorded in queue order after every dispatch so far (the optimizers' packing). */
import type { Engine } from '../device/engine.ts';

export interface Copy {
  src: GPUBuffer;
  srcOffset: number;
  dst: GPUBuffer;
  dstOffset: number;
  bytes: number;
}

/**
 * Record buffer copies after everything recorded so far: the engine's batch is submitted first,
 * then one command buffer with the copies, so queue order sequences them with every dispatch.
 */
export function copyBuffers(e: Engine, copies: Copy[], label: string): void {
  if (copies.length === 0) return;
  e.assertUsable(label);
  e.checkErrors();
  e.flush();
  const enc = e.device.createCommandEncoder({ label });
  for (const c of copies) enc.copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.bytes);
  e.device.queue.submit([enc.finish()]);
}
