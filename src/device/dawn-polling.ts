/**
 * How a Node process waits for Dawn (Node only; the Node provider imports this file).
 *
 * dawn.node resolves a WebGPU promise (mapAsync, onSubmittedWorkDone, createComputePipelineAsync)
 * by polling its instance from `setImmediate`, re-armed on every turn of the event loop while any
 * promise is pending: the main thread spins at 100 % of a core for the whole wait. On a hardware
 * GPU that costs a core nobody else needs. On a CPU driver (SwiftShader), the kernels run on
 * worker threads that share the machine's cores with that spin: on a 2-core machine the demo's
 * training step ran 1.5–1.65× slower for it (docs/measurements.md, 2026-12-07).
 *
 * `sleepWhileWaiting(p)` waits for `p` the polite way: for the first SPIN_MS the polls run as
 * Dawn asks (short waits keep their latency), after that Dawn's polls are deferred to a 1 ms
 * timer, so the thread sleeps between polls and the driver's threads get the core. Dawn looks up
 * the global `setImmediate` each time it re-arms, so while any such wait is in progress the global
 * is a wrapper that defers Dawn's native poll callbacks and passes every other call through
 * unchanged; the last wait to finish puts the original back. Should a later dawn.node poll some
 * other way, the wrapper finds nothing to defer and changes nothing; test/gpu/polling.test.ts then
 * fails on a CPU driver (no poll deferred during a long read), so the change is noticed.
 */

/** How long a wait polls at Dawn's own pace before it sleeps between polls, in ms. */
export const SPIN_MS = 0.5;
/** The interval of the polls after that, in ms (Node's timer granularity). */
const SLEEP_POLL_MS = 1;

type SetImmediate = (callback: (...args: unknown[]) => void, ...args: unknown[]) => unknown;

let waiters = 0;
let original: SetImmediate | null = null;
let since = 0;
/** Polls deferred to a timer since the process started (tests read it). */
let deferred = 0;

/**
 * Dawn's poll callback: a native function with no name (napi_create_function). JavaScript
 * callbacks, bound functions ('bound f') and Node's own internals are never deferred.
 */
function isDawnPoll(callback: unknown): boolean {
  return typeof callback === 'function' && callback.name === '' && Function.prototype.toString.call(callback).includes('[native code]');
}

/** The global at load time: where the wrapper passes calls if it outlives every wait (see end()). */
const loadTimeSetImmediate = globalThis.setImmediate as unknown as SetImmediate;

const politeSetImmediate: SetImmediate = (callback, ...args) => {
  if (waiters > 0 && isDawnPoll(callback) && performance.now() - since >= SPIN_MS) {
    deferred++;
    return setTimeout(callback, SLEEP_POLL_MS, ...args);
  }
  return (original ?? loadTimeSetImmediate)(callback, ...args);
};

function begin(): void {
  if (waiters++ > 0) return;
  original = globalThis.setImmediate as unknown as SetImmediate;
  since = performance.now();
  (globalThis as { setImmediate: unknown }).setImmediate = politeSetImmediate;
}

function end(): void {
  if (--waiters > 0) return;
  // Someone else may have replaced the global meanwhile (a test's fake timers): leave theirs. If
  // they later put this wrapper back, it passes every call through (waiters is 0).
  if ((globalThis as { setImmediate: unknown }).setImmediate === politeSetImmediate) {
    (globalThis as { setImmediate: unknown }).setImmediate = original;
  }
  original = null;
}

/** Wait for a Dawn promise, sleeping between Dawn's polls once the wait is longer than SPIN_MS. */
export async function sleepWhileWaiting<T>(p: Promise<T>): Promise<T> {
  begin();
  try {
    return await p;
  } finally {
    end();
  }
}

/** Dawn polls deferred to the timer so far, and whether a polite wait is in progress (for tests). */
export function pollingState(): { deferred: number; waiting: boolean } {
  return { deferred, waiting: waiters > 0 };
}
