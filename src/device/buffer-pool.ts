/**
 * GPU buffer pool. Buffers are bucketed by size class (at most 25% over the request) and reused,
 * so a training loop that makes the same shapes every step allocates nothing after the first.
 * Reuse is safe without waiting for the GPU: every use of a buffer is recorded in queue order,
 * so a later writer of a recycled buffer runs after every earlier reader.
 */

function storageUsage(): number {
  return GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
}

/** Round a byte size up to its size class: multiples of 256 B, then quarter powers of two. */
function sizeClass(bytes: number): number {
  if (bytes <= 1024) return Math.max(256, Math.ceil(bytes / 256) * 256);
  const p = 2 ** Math.floor(Math.log2(bytes));
  const step = p / 4;
  return Math.ceil(bytes / step) * step;
}

export interface PoolStats {
  /** Bytes held by buffers currently lent out. */
  inUseBytes: number;
  /** Bytes held by free buffers waiting for reuse. */
  pooledBytes: number;
  /** Number of GPU buffers created so far (grows only when the pool misses). */
  created: number;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private inUse = 0;
  private pooled = 0;
  private created = 0;

  constructor(private readonly device: GPUDevice) {}

  acquire(bytes: number, label: string): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    let buffer = list?.pop();
    if (buffer) {
      this.pooled -= size;
    } else {
      buffer = this.device.createBuffer({ size, usage: storageUsage(), label });
      this.created++;
    }
    this.inUse += size;
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    this.inUse -= size;
    this.pooled += size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buffer);
  }

  /** Destroy every free buffer (returns the bytes freed). */
  trim(): number {
    const freed = this.pooled;
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.pooled = 0;
    return freed;
  }

  stats(): PoolStats {
    return { inUseBytes: this.inUse, pooledBytes: this.pooled, created: this.created };
  }
}
