/// <reference types="@webgpu/types" preserve="true" />
/** hemgpu for Node: WebGPU through Dawn (the `webgpu` package). */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Engine } from './device/engine.ts';
import { setEngineScope } from './device/engine-scope.ts';
import { nodeProvider } from './device/node.ts';
import { setGpuProvider } from './device/provider.ts';
import { TuningFile } from './io/tuning-file.ts';
import { setTuningStore } from './ops/tuning-store.ts';

setGpuProvider(nodeProvider);
// init({ tune: true }) and `hemgpu tune` keep the winners in ~/.cache/hemgpu/tuning.json.
setTuningStore(new TuningFile());

// withEngine(e, async () => …) keeps `e` across the function's awaits.
const engineStore = new AsyncLocalStorage<Engine>();
setEngineScope({ run: (e, fn) => engineStore.run(e, fn), get: () => engineStore.getStore() });

export * from './api.ts';
export * from './node-extras.ts';
