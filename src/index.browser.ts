/// <reference types="@webgpu/types" preserve="true" />
/** hemgpu for browsers: WebGPU through navigator.gpu. No Node API is reachable from here. */
import { browserProvider } from './device/browser.ts';
import { setGpuProvider } from './device/provider.ts';
import { TuningIndexedDb } from './io/tuning-indexeddb.ts';
import { setTuningStore } from './ops/tuning-store.ts';

setGpuProvider(browserProvider);
// init({ tune: true }) keeps the winners in IndexedDB, per origin.
setTuningStore(new TuningIndexedDb());

export * from './api.ts';
