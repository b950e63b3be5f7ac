/**
 * Browser provider: `navigator.gpu`. Only the browser entry point imports this file; it touches
 * no Node API.
 */
import type { AdapterRequest, GpuProvider, InitOptions } from './provider.ts';
import { checkPolling, checkSubgroups, isSoftwareAdapter } from './provider.ts';

export const browserProvider: GpuProvider = {
  platform: 'browser',

  resolveOptions(options: InitOptions): Required<InitOptions> {
    const adapter = options.adapter ?? 'auto';
    if (!['auto', 'gpu', 'swiftshader'].includes(adapter)) {
      throw new Error(`hemgpu init: unknown adapter '${adapter}'; use 'auto', 'gpu' or 'swiftshader'.`);
    }
    if (options.robustness === false) {
      throw new Error('hemgpu init: robustness cannot be turned off in a browser; omit the option.');
    }
    if (checkPolling(options.polling) !== 'auto') {
      throw new Error(`hemgpu init: polling '${options.polling}' is for Node, where Dawn polls from the event loop; a browser waits for the GPU in its own way. Omit the option.`);
    }
    return { adapter, robustness: true, powerPreference: options.powerPreference ?? 'high-performance', subgroups: checkSubgroups(options.subgroups), polling: 'auto' };
  },

  async requestAdapter(opts: Required<InitOptions>): Promise<AdapterRequest> {
    const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
    if (!gpu) {
      throw new Error(
        'hemgpu init: this browser has no WebGPU (navigator.gpu is undefined). Use a browser with ' +
          'WebGPU enabled (Chrome/Edge 113+, or Chromium with --enable-unsafe-webgpu), served over ' +
          'https or localhost.',
      );
    }
    const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
    if (!adapter) {
      throw new Error(
        'hemgpu init: navigator.gpu.requestAdapter() returned null. Tried: the browser default adapter. ' +
          'Check chrome://gpu; on a machine without a GPU start Chromium with --enable-unsafe-webgpu ' +
          '--enable-features=Vulkan --use-vulkan=swiftshader --use-webgpu-adapter=swiftshader.',
      );
    }
    const soft = isSoftwareAdapter(adapter.info);
    if (opts.adapter === 'gpu' && soft) {
      throw new Error(`hemgpu init: adapter 'gpu' requested but the browser offered ${adapter.info.description || 'a software adapter'}.`);
    }
    if (opts.adapter === 'swiftshader' && !soft) {
      throw new Error("hemgpu init: adapter 'swiftshader' requested but the browser offered a hardware adapter; start the browser with --use-webgpu-adapter=swiftshader.");
    }
    return { adapter, tried: [], via: 'navigator.gpu', robustness: true };
  },

  waiter() {
    return { mode: null, wait: (p) => p };
  },
};
