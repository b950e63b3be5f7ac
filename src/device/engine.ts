/**
 * The engine: one GPUDevice, its command batching, the uniform arena, the buffer pool, and the
 * translation of WebGPU errors and device loss into JavaScript errors that name the kernel.
 *
 * Dispatches are recorded into one compute pass and submitted together when results are needed
 * (read, upload, sync) or the batch is full, which keeps per-op overhead to recording a command.
 */
import { BufferPool } from './buffer-pool.ts';
import { getGpuProvider, isSoftwareAdapter, type GpuWaiter, type InitOptions } from './provider.ts';
import { scopedEngine } from './engine-scope.ts';

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for CPU drivers (SwiftShader and the like). */
  software: boolean;
  /** 'node' or 'browser'. */
  platform: string;
  /** How the adapter was reached, e.g. 'dawn/vulkan (SwiftShader ICD ...)'. */
  via: string;
  /** Whether Dawn's bounds-clamping robustness is on. */
  robustness: boolean;
  /** How the host waits for the GPU (InitOptions.polling); null in a browser, which waits its own way. */
  polling: 'spin' | 'sleep' | null;
  /** A short name for tables and file names, e.g. 'swiftshader' or 'nvidia-h100'. */
  name: string;
  /**
   * The subgroup size when the device has the `subgroups` feature and the adapter's subgroup size
   * is fixed (subgroupMinSize = subgroupMaxSize: 32 on NVIDIA, 4 on SwiftShader), else null. The
   * subgroup kernels (kernels/hem-subgroups.wgsl) run only then.
   */
  subgroupSize: number | null;
}

const MAX_DISPATCHES_PER_BATCH = 256;
const UNIFORM_ARENA_BYTES = 64 * 1024;

export class Engine {
  readonly pool: BufferPool;
  readonly limits: GPUSupportedLimits;
  /** Pipelines, bind group layouts and shader modules, keyed by the registry. */
  readonly cache = new Map<string, unknown>();

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatches = 0;
  private readonly labels: string[] = [];
  /** Since the engine was made: dispatches recorded, submits, host reads and writes (the step profile reads them). */
  readonly counts = { dispatches: 0, submits: 0, reads: 0, writes: 0 };

  private readonly uniformAlign: number;
  private readonly arenaCpu = new Uint8Array(UNIFORM_ARENA_BYTES);
  private arenaGpu: GPUBuffer;
  private arenaUsed = 0;

  private profiler: {
    querySet: GPUQuerySet;
    resolve: GPUBuffer;
    labels: string[];
    used: number;
    results: Map<string, { ms: number; count: number }>;
    pending: Promise<void>[];
  } | null = null;

  private pendingError: Error | null = null;
  private lostInfo: GPUDeviceLostInfo | null = null;
  private destroyed = false;
  private readonly staging: GPUBuffer[] = [];

  constructor(
    readonly device: GPUDevice,
    readonly adapterInfo: AdapterSummary,
    /** Waits for a WebGPU promise of this device in its polling mode (AdapterSummary.polling). */
    readonly waitFor: GpuWaiter = (p) => p,
  ) {
    this.pool = new BufferPool(device);
    this.limits = device.limits;
    this.uniformAlign = Math.max(256, device.limits.minUniformBufferOffsetAlignment);
    this.arenaGpu = this.newArena();
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      if (!this.pendingError) {
        this.pendingError = new Error(`hemgpu: WebGPU ${e.constructor.name}: ${e.message}`);
      }
    });
    void device.lost.then((info) => {
      this.lostInfo = info;
    });
  }

  private newArena(): GPUBuffer {
    return this.device.createBuffer({
      size: UNIFORM_ARENA_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'hemgpu uniforms',
    });
  }

  /** Throw if the device is lost or destroyed; called before any GPU work. */
  assertUsable(what: string): void {
    if (this.destroyed) throw new Error(`hemgpu ${what}: the engine was destroyed; call init() again.`);
    if (this.lostInfo) {
      throw new Error(
        `hemgpu ${what}: the GPU device was lost (${this.lostInfo.reason}: ${this.lostInfo.message}). ` + 'Tensors on it are gone; call init() again to get a new device.',
      );
    }
  }

  /** Throw the first WebGPU error reported since the last check, naming the kernels in flight. */
  checkErrors(): void {
    if (this.pendingError) {
      const e = this.pendingError;
      this.pendingError = null;
      throw e;
    }
  }

  /** Copy uniform data into this batch's arena; returns the binding for it. */
  uniform(data: ArrayBuffer, label: string): GPUBufferBinding {
    const size = Math.ceil(data.byteLength / 16) * 16;
    if (size > UNIFORM_ARENA_BYTES) throw new Error(`hemgpu ${label}: uniform block of ${size} bytes is too large`);
    if (this.arenaUsed + size > UNIFORM_ARENA_BYTES) this.flush();
    const offset = this.arenaUsed;
    this.arenaCpu.set(new Uint8Array(data), offset);
    this.arenaUsed = Math.ceil((offset + size) / this.uniformAlign) * this.uniformAlign;
    return { buffer: this.arenaGpu, offset, size };
  }

  /** Record one compute dispatch into the current batch. */
  dispatch(pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, workgroups: [number, number, number], label: string): void {
    this.assertUsable(label);
    this.checkErrors();
    if (this.profiler) {
      // Profiling: one pass per dispatch, bracketed by timestamps.
      const prof = this.profiler;
      if (prof.used + 2 > prof.querySet.count) this.flush();
      this.endPass();
      this.encoder ??= this.device.createCommandEncoder({ label: 'hemgpu batch' });
      this.pass = this.encoder.beginComputePass({
        label: label,
        timestampWrites: { querySet: prof.querySet, beginningOfPassWriteIndex: prof.used, endOfPassWriteIndex: prof.used + 1 },
      });
      prof.labels.push(label);
      prof.used += 2;
    } else if (!this.pass) {
      this.encoder ??= this.device.createCommandEncoder({ label: 'hemgpu batch' });
      this.pass = this.encoder.beginComputePass({ label: 'hemgpu pass' });
    }
    this.pass!.setPipeline(pipeline);
    this.pass!.setBindGroup(0, bindGroup);
    this.pass!.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
    this.labels.push(label);
    this.counts.dispatches++;
    if (++this.dispatches >= MAX_DISPATCHES_PER_BATCH) this.flush();
  }

  /** Submit everything recorded so far. */
  flush(): void {
    if (this.arenaUsed > 0) {
      // Queue order makes this safe: the previous batch was submitted before this write.
      this.device.queue.writeBuffer(this.arenaGpu, 0, this.arenaCpu, 0, this.arenaUsed);
      this.arenaUsed = 0;
    }
    this.endPass();
    if (this.encoder) {
      if (this.profiler && this.profiler.used > 0) this.collectTimestamps(this.encoder);
      this.device.queue.submit([this.encoder.finish()]);
      this.counts.submits++;
    }
    this.encoder = null;
    this.dispatches = 0;
    this.labels.length = 0;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  private collectTimestamps(enc: GPUCommandEncoder): void {
    const prof = this.profiler!;
    const n = prof.used;
    const labels = prof.labels.splice(0);
    prof.used = 0;
    enc.resolveQuerySet(prof.querySet, 0, n, prof.resolve, 0);
    const staging = this.device.createBuffer({ size: n * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.copyBufferToBuffer(prof.resolve, 0, staging, 0, n * 8);
    const done = (async () => {
      await this.waitFor(this.device.queue.onSubmittedWorkDone());
      await this.waitFor(staging.mapAsync(GPUMapMode.READ));
      const t = new BigUint64Array(staging.getMappedRange().slice(0));
      staging.destroy();
      labels.forEach((label, i) => {
        const ms = Number(t[2 * i + 1]! - t[2 * i]!) / 1e6;
        const r = prof.results.get(label) ?? { ms: 0, count: 0 };
        r.ms += ms;
        r.count++;
        prof.results.set(label, r);
      });
    })();
    prof.pending.push(done);
  }

  /**
   * Time every dispatch made while `fn` runs with GPU timestamps (one compute pass per dispatch,
   * so totals include a little per-pass overhead). Returns milliseconds and counts per kernel.
   * Needs the adapter's 'timestamp-query' feature.
   */
  async profileKernels(fn: () => unknown | Promise<unknown>): Promise<Map<string, { ms: number; count: number }>> {
    if (!this.device.features.has('timestamp-query')) {
      throw new Error("profileKernels: this adapter has no 'timestamp-query' feature.");
    }
    this.flush();
    const querySet = this.device.createQuerySet({ type: 'timestamp', count: 512 });
    const resolve = this.device.createBuffer({ size: 512 * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    this.profiler = { querySet, resolve, labels: [], used: 0, results: new Map(), pending: [] };
    const prof = this.profiler;
    try {
      await fn();
      this.flush();
      await Promise.all(prof.pending);
    } finally {
      this.flush();
      this.profiler = null;
      await Promise.all(prof.pending);
      querySet.destroy();
      resolve.destroy();
    }
    return prof.results;
  }

  /** Write host data into a buffer, after every dispatch recorded so far. */
  write(buffer: GPUBuffer, data: ArrayBufferView, label: string): void {
    this.assertUsable(label);
    this.flush();
    this.counts.writes++;
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Copy `bytes` of `buffer` back to the host once every recorded dispatch has run. */
  async read(buffer: GPUBuffer, bytes: number, label: string): Promise<ArrayBuffer> {
    this.assertUsable(label);
    this.flush();
    this.counts.reads++;
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.takeStaging(size);
    const enc = this.device.createCommandEncoder({ label: `read ${label}` });
    enc.copyBufferToBuffer(buffer, 0, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    try {
      await this.waitFor(staging.mapAsync(GPUMapMode.READ, 0, size));
    } catch (err) {
      this.assertUsable(label);
      this.checkErrors();
      throw new Error(`hemgpu ${label}: reading the result back failed: ${(err as Error).message}`);
    }
    const out = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    this.staging.push(staging);
    this.checkErrors();
    return out;
  }

  private takeStaging(size: number): GPUBuffer {
    const i = this.staging.findIndex((b) => b.size >= size && b.size <= 4 * size + 4096);
    if (i >= 0) return this.staging.splice(i, 1)[0]!;
    return this.device.createBuffer({
      size: Math.max(256, Math.ceil(size / 256) * 256),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: 'hemgpu readback',
    });
  }

  /** Wait until the GPU has finished everything submitted; throw any WebGPU error. */
  async sync(): Promise<void> {
    this.assertUsable('sync');
    this.flush();
    await this.waitFor(this.device.queue.onSubmittedWorkDone());
    this.assertUsable('sync');
    this.checkErrors();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.flush();
    this.destroyed = true;
    this.pool.trim();
    for (const b of this.staging) b.destroy();
    this.arenaGpu.destroy();
    this.device.destroy();
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }
}

/** The subgroup size if `subgroups` is on and the adapter's subgroup size cannot vary. */
function fixedSubgroupSize(device: GPUDevice, info: GPUAdapterInfo): number | null {
  const { subgroupMinSize: min, subgroupMaxSize: max } = info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  return device.features.has('subgroups') && min !== undefined && min > 0 && min === max ? min : null;
}

let defaultEngine: Engine | null = null;
let pending: Promise<Engine> | null = null;

/** Create a new engine (a device of its own). Most code wants `init()` instead. */
export async function createEngine(options: InitOptions = {}): Promise<Engine> {
  const provider = getGpuProvider();
  const opts = provider.resolveOptions(options);
  const { adapter, via, robustness } = await provider.requestAdapter(opts);
  const info = adapter.info;
  const wanted: Record<string, number> = {};
  for (const k of [
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupSizeX',
    'maxComputeWorkgroupSizeY',
    'maxStorageBuffersPerShaderStage',
  ] as const) {
    wanted[k] = adapter.limits[k];
  }
  // Timestamp queries power the per-kernel profiler (profileKernels); subgroups the subgroup
  // kernels. Both optional everywhere.
  const features = (['timestamp-query', 'subgroups'] as GPUFeatureName[]).filter((f) => adapter.features.has(f) && (f !== 'subgroups' || opts.subgroups));
  const device = await adapter.requestDevice({ requiredLimits: wanted, requiredFeatures: features, label: 'hemgpu' });
  const software = isSoftwareAdapter(info);
  const { mode: polling, wait } = provider.waiter(opts.polling, software);
  const slug = (v: string): string => v.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  const model = slug(info.device || info.architecture || '');
  const vendor = slug(info.vendor || '');
  const name = software ? slug(info.architecture || info.vendor || 'software') : model.startsWith(vendor) ? model : `${vendor}-${model}`;
  const summary: AdapterSummary = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    software,
    platform: provider.platform,
    via,
    robustness,
    polling,
    name: name.replace(/^-|-$/g, '') || 'unknown',
    subgroupSize: fixedSubgroupSize(device, info),
  };
  return new Engine(device, summary, wait);
}

/**
 * Get the engine's device, creating it on the first call. Idempotent: later calls return the
 * same engine (options are only read the first time).
 */
export async function init(options: InitOptions = {}): Promise<Engine> {
  if (defaultEngine && !defaultEngine.isDestroyed) return defaultEngine;
  if (!pending) {
    pending = createEngine(options).then(
      (e) => {
        defaultEngine = e;
        pending = null;
        return e;
      },
      (err) => {
        pending = null;
        throw err;
      },
    );
  }
  return pending;
}

/** The engine ops run on: the one set by withEngine(), else the default one from init(). */
export function engine(): Engine {
  const e = scopedEngine() ?? defaultEngine;
  if (!e || e.isDestroyed) {
    throw new Error('hemgpu: no device yet. Call `await init()` once before creating tensors or running ops.');
  }
  return e;
}

/** The adapter in use (vendor, device, software or not, how it was reached). */
export function adapterInfo(): AdapterSummary {
  return engine().adapterInfo;
}

/** Wait for all submitted GPU work (benchmarks time through this). */
export async function sync(): Promise<void> {
  await engine().sync();
}

/** Destroy the default engine's device so the process can exit; init() makes a new one. */
export function shutdown(): void {
  defaultEngine?.destroy();
  defaultEngine = null;
}
