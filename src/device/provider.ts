/**
 * How a platform hands the engine a WebGPU adapter. Node (Dawn) and the browser each register
 * one provider from their own entry point, so no Node-only import reaches the browser bundle.
 */

export type AdapterPreference = 'auto' | 'gpu' | 'swiftshader';

export interface InitOptions {
  /**
   * Which adapter to use. 'auto' (default): the platform's default adapter, then a software
   * driver if none is found. 'gpu': a hardware adapter only. 'swiftshader': the CPU Vulkan driver.
   * In Node the environment variable HEMGPU_ADAPTER overrides the default.
   */
  adapter?: AdapterPreference;
  /**
   * Dawn's bounds clamping on every buffer access (Node only; browsers always keep it).
   * Every hemgpu kernel keeps its own accesses in bounds, so results are identical either way
   * (test/gpu/robustness.test.ts checks it bit for bit); without it SwiftShader runs about 2× faster.
   * 'auto' (default): off on the SwiftShader CPU driver, on for GPU drivers. true / false force
   * it; HEMGPU_ROBUSTNESS=on|off sets the default from the environment.
   */
  robustness?: boolean | 'auto';
  /** Ask for the high-performance adapter where there is a choice. Default true. */
  powerPreference?: GPUPowerPreference;
  /**
   * Request the `subgroups` feature where the adapter offers it (default true): it lets the HEM
   * layer use its subgroup kernels (`setHemKernelConfig({ subgroups: true })`). false gives a
   * device without it, on which only the portable kernels run.
   */
  subgroups?: boolean;
  /**
   * How the host waits for the GPU (Node only). 'spin': as Dawn does, polling on every turn of
   * the event loop, which keeps a core busy for the whole wait. 'sleep': after the first 0.5 ms,
   * one poll per millisecond, the thread asleep in between (src/device/dawn-polling.ts). 'auto'
   * (default): 'sleep' on a CPU driver, where the spinning thread takes a core from the driver's
   * own threads (the demo's step ran 1.5–1.65× faster without it on 2 cores); 'spin' on a GPU,
   * where that trade is unmeasured. HEMGPU_POLLING=auto|spin|sleep sets the default from the
   * environment. A browser waits in its own way: only 'auto' is accepted there.
   */
  polling?: PollingPreference;
}

export type PollingPreference = 'auto' | 'spin' | 'sleep';

/** Waits for a WebGPU promise in the chosen polling mode. */
export type GpuWaiter = <T>(p: Promise<T>) => Promise<T>;

export interface AdapterRequest {
  adapter: GPUAdapter;
  /** Whether the adapter was created with Dawn's robustness on. */
  robustness: boolean;
  /** Human-readable list of what was tried, in order, for diagnostics. */
  tried: string[];
  /** The platform's name for the path that worked, e.g. 'dawn/vulkan (swiftshader ICD)'. */
  via: string;
}

export interface GpuProvider {
  readonly platform: 'node' | 'browser';
  /** Resolve the preference (environment variables included) the platform would use. */
  resolveOptions(options: InitOptions): Required<InitOptions>;
  /** Find an adapter or throw an Error that lists what was tried and how to fix it. */
  requestAdapter(options: Required<InitOptions>): Promise<AdapterRequest>;
  /**
   * How the engine waits for the GPU given the resolved `polling` preference and whether the
   * adapter is a CPU driver: the mode in use (null where the platform has no choice, a browser)
   * and the waiter.
   */
  waiter(polling: PollingPreference, software: boolean): { mode: 'spin' | 'sleep' | null; wait: GpuWaiter };
}

/** The `polling` init option: 'auto' (the default), 'spin' or 'sleep'. */
export function checkPolling(v: unknown): PollingPreference {
  if (v === undefined) return 'auto';
  if (v !== 'auto' && v !== 'spin' && v !== 'sleep') throw new Error(`hemgpu init: polling must be 'auto', 'spin' or 'sleep', got ${JSON.stringify(v)}.`);
  return v;
}

let provider: GpuProvider | null = null;

export function setGpuProvider(p: GpuProvider): void {
  provider = p;
}

export function getGpuProvider(): GpuProvider {
  if (!provider) {
    throw new Error('hemgpu: no WebGPU provider registered. Import hemgpu through its package entry ' + "('hemgpu'), which selects the Node (Dawn) or browser provider.");
  }
  return provider;
}

/** True for adapters that are CPU implementations (SwiftShader, lavapipe, llvmpipe, WARP). */
export function isSoftwareAdapter(info: GPUAdapterInfo): boolean {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return /swiftshader|llvmpipe|lavapipe|warp|software|cpu/.test(text);
}

/** The `subgroups` init option: true (the default) or false. */
export function checkSubgroups(v: unknown): boolean {
  if (v === undefined) return true;
  if (typeof v !== 'boolean') throw new Error(`hemgpu init: subgroups must be true or false, got ${JSON.stringify(v)}.`);
  return v;
}
