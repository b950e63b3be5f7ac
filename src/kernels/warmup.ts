/**
 * warmup(): compile, ahead of first use and asynchronously, the pipelines the launchers declare
 * (each kernel definition's `variants`), into the cache the dispatches use.
 */
import type { Engine } from '../device/engine.ts';
import { registeredKernels } from './registry.ts';

export interface WarmupReport {
  /** The registered kernels that matched. */
  kernels: string[];
  /** Pipelines compiled by this call (createComputePipelineAsync). */
  compiled: number;
  /** Variants that were already compiled, or being compiled by an earlier call. */
  cached: number;
  ms: number;
}

/**
 * Compile every declared variant of the registered kernels whose names start with one of
 * `prefixes` (all kernels when omitted), in parallel with createComputePipelineAsync, into the
 * pipeline cache the dispatches use. An unknown prefix is an error naming the known kernels.
 */
export async function warmupKernels(e: Engine, prefixes?: readonly string[]): Promise<WarmupReport> {
  const t0 = performance.now();
  if (prefixes !== undefined && (!Array.isArray(prefixes) || prefixes.some((p) => typeof p !== 'string'))) {
    throw new Error(`warmup: prefixes must be an array of kernel-name prefixes such as ['hem', 'matmul'], got ${JSON.stringify(prefixes)}.`);
  }
  const all = registeredKernels();
  for (const p of prefixes ?? []) {
    if (!all.some((k) => k.name.startsWith(p))) {
      throw new Error(`warmup: no registered kernel name starts with '${p}'. Registered: ${all.map((k) => k.name).join(', ') || 'none'}.`);
    }
  }
  const chosen = prefixes ? all.filter((k) => prefixes.some((p) => k.name.startsWith(p))) : all;
  const jobs = chosen.flatMap((k) => k.variants().map((v) => k.pipelineAsync(e, v)));
  const started = await Promise.all(jobs);
  const compiled = started.filter(Boolean).length;
  return { kernels: chosen.map((k) => k.name), compiled, cached: started.length - compiled, ms: performance.now() - t0 };
}

