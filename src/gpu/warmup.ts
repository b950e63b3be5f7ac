/**
 * Start-up compiles: checkKernels() compiles every registered module once (init() calls it, so a
 * broken kernel fails at start-up), and warmup() compiles, ahead of first use and asynchronously,
 * the pipelines the launchers declare (each kernel definition's `variants`), into the cache the
 * dispatches use.
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
  // Kernels whose module needs a feature this device lacks have nothing to compile here.
  const jobs = chosen.filter((k) => !k.missingFeatures(e).length).flatMap((k) => k.variants().map((v) => k.pipelineAsync(e, v)));
  const started = await Promise.all(jobs);
  const compiled = started.filter(Boolean).length;
  return { kernels: chosen.map((k) => k.name), compiled, cached: started.length - compiled, ms: performance.now() - t0 };
}

/**
 * Compile every registered kernel's WGSL on the engine and report compilation errors with the
 * kernel's name (init() calls this, so a broken kernel fails at start-up, not mid-training).
 */
export async function checkKernels(e: Engine): Promise<void> {
  const seen = new Set<string>();
  for (const k of registeredKernels()) {
    // A module that needs a feature this device lacks (kernels/hem-subgroups.wgsl without
    // 'subgroups') cannot compile here; its kernels refuse to run with that reason instead.
    if (seen.has(k.source) || k.missingFeatures(e).length) continue;
    seen.add(k.source);
    const info = await k.module(e).getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length) {
      throw new Error(`hemgpu kernel '${k.name}': WGSL compilation failed:\n` + errors.map((m) => `  line ${m.lineNum}:${m.linePos}: ${m.message}`).join('\n'));
    }
  }
}
