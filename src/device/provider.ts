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
}

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
