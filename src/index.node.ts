/** hemgpu for Node: WebGPU through Dawn (the `webgpu` package). */
import { nodeProvider } from './device/node.ts';
import { setGpuProvider } from './device/provider.ts';

setGpuProvider(nodeProvider);

export * from './api.ts';
export * from './node-extras.ts';
