/** hemgpu for browsers: WebGPU through navigator.gpu. No Node API is reachable from here. */
import { browserProvider } from './device/browser.ts';
import { setGpuProvider } from './device/provider.ts';

setGpuProvider(browserProvider);

export * from './api.ts';
