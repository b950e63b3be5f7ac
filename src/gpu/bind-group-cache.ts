/**
 * Bind groups reused across dispatches (the registry's `dispatch`). A bind group is a set of
 * buffer ranges, valid as long as its buffers are; tensors' buffers come from the engine's pool,
 * which destroys nothing before the engine goes. A training step binds the same pooled buffers at
 * the same uniform-arena offsets every step, so after the first steps its dispatches find their
 * bind groups here instead of creating them: recording an elementwise op took 17 µs of host time
 * with a new bind group and 7 µs with a cached one (Dawn, SwiftShader; docs/measurements.md,
 * 2026-12-07).
 *
 * The key is the layout's and every entry's buffer (by identity), offset and size. Buffers are
 * never compared by contents, so a reused bind group sees whatever its buffers hold when it runs.
 * A buffer bound by the caller and destroyed later leaves entries that can never be looked up
 * again (a dispatch with a destroyed buffer is an error anyway); the cache keeps the
 * BIND_GROUP_CACHE_LIMIT most recently used entries, which bounds what such entries hold on to.
 */
import type { Engine } from '../device/engine.ts';

export const BIND_GROUP_CACHE_LIMIT = 4096;

const bufferIds = new WeakMap<GPUBuffer, number>();
let nextBufferId = 1;

interface Cache {
  groups: Map<string, GPUBindGroup>;
  created: number;
  reused: number;
}
const caches = new WeakMap<Engine, Cache>();

function idOf(buffer: GPUBuffer): number {
  let id = bufferIds.get(buffer);
  if (id === undefined) bufferIds.set(buffer, (id = nextBufferId++));
  return id;
}

function cacheOf(e: Engine): Cache {
  let c = caches.get(e);
  if (!c) caches.set(e, (c = { groups: new Map(), created: 0, reused: 0 }));
  return c;
}

/** The bind group of `layout` (named `layoutKey`) over these buffer entries: a cached one, or a new one cached. */
export function cachedBindGroup(e: Engine, layout: GPUBindGroupLayout, layoutKey: string, entries: { binding: number; resource: GPUBufferBinding }[], label: string): GPUBindGroup {
  let key = layoutKey;
  for (const { binding, resource: r } of entries) key += `|${binding}:${idOf(r.buffer)}:${r.offset ?? 0}:${r.size ?? -1}`;
  const c = cacheOf(e);
  let group = c.groups.get(key);
  if (group) {
    // Least recently used first: a hit moves to the back of the map's insertion order.
    c.groups.delete(key);
    c.groups.set(key, group);
    c.reused++;
    return group;
  }
  if (c.groups.size >= BIND_GROUP_CACHE_LIMIT) c.groups.delete(c.groups.keys().next().value!);
  group = e.device.createBindGroup({ layout, entries, label });
  c.groups.set(key, group);
  c.created++;
  return group;
}

/** Bind groups created and reused on this engine so far, and how many the cache holds. */
export function bindGroupStats(e: Engine): { created: number; reused: number; cached: number } {
  const c = cacheOf(e);
  return { created: c.created, reused: c.reused, cached: c.groups.size };
}
