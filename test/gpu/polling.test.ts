/**
 * How the host waits for Dawn (src/device/dawn-polling.ts, InitOptions.polling): the polite wait
 * defers only Dawn's native poll callbacks, only after SPIN_MS, only while a wait is in progress,
 * and always puts the global setImmediate back; the engine picks 'sleep' on a CPU driver by
 * default and honours 'spin'; bad values are refused naming the option or the variable.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { pollingState, sleepWhileWaiting, SPIN_MS } from '../../src/device/dawn-polling.ts';
import { nodeProvider } from '../../src/device/node.ts';
import { browserProvider } from '../../src/device/browser.ts';

/** A native function without a name, as Dawn's poll callback is (napi_create_function). */
const nativePoll = Function.prototype as () => void;

function spinFor(ms: number): void {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    // busy: the polite wait counts from its start
  }
}

/** A promise and its resolve, for a wait the test ends itself. */
function gate(): { p: Promise<void>; open: () => void } {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

describe('sleepWhileWaiting', () => {
  test("defers Dawn's poll to a timer after SPIN_MS, passes every other callback through, and restores setImmediate", async () => {
    const original = globalThis.setImmediate;
    const g = gate();
    const waiting = sleepWhileWaiting(g.p);
    expect(globalThis.setImmediate).not.toBe(original);
    expect(pollingState().waiting).toBe(true);

    const d0 = pollingState().deferred;
    spinFor(SPIN_MS + 1);
    let jsRan = 0;
    setImmediate(() => jsRan++);
    setImmediate(function named() {
      jsRan++;
    });
    setImmediate((() => jsRan++).bind(null));
    expect(pollingState().deferred).toBe(d0); // JavaScript callbacks, named or bound: never deferred
    setImmediate(nativePoll);
    expect(pollingState().deferred).toBe(d0 + 1);

    g.open();
    await waiting;
    expect(globalThis.setImmediate).toBe(original);
    expect(pollingState().waiting).toBe(false);
    await new Promise((r) => setTimeout(r, 5));
    expect(jsRan).toBe(3);
  });

  test("polls at Dawn's pace for the first SPIN_MS (short waits keep their latency)", async () => {
    const g = gate();
    const waiting = sleepWhileWaiting(g.p);
    const d0 = pollingState().deferred;
    setImmediate(nativePoll);
    expect(pollingState().deferred).toBe(d0);
    g.open();
    await waiting;
  });

  test('nested waits: the last to finish restores the global, also when a wait rejects', async () => {
    const original = globalThis.setImmediate;
    const a = gate();
    const b = sleepWhileWaiting(Promise.reject(new Error('device lost')));
    const waitA = sleepWhileWaiting(a.p);
    await expect(b).rejects.toThrow('device lost');
    expect(globalThis.setImmediate).not.toBe(original);
    a.open();
    await waitA;
    expect(globalThis.setImmediate).toBe(original);
  });

  test('a setImmediate installed by someone else during the wait is left in place', async () => {
    const original = globalThis.setImmediate;
    const g = gate();
    const waiting = sleepWhileWaiting(g.p);
    const theirs = ((cb: () => void) => original(cb)) as unknown as typeof setImmediate;
    globalThis.setImmediate = theirs;
    g.open();
    await waiting;
    expect(globalThis.setImmediate).toBe(theirs);
    globalThis.setImmediate = original;
  });

  test('a wrapper put back after every wait has ended passes every call through', async () => {
    const original = globalThis.setImmediate;
    const g = gate();
    const waiting = sleepWhileWaiting(g.p);
    const wrapper = globalThis.setImmediate;
    globalThis.setImmediate = ((cb: () => void) => original(cb)) as unknown as typeof setImmediate;
    g.open();
    await waiting;
    globalThis.setImmediate = wrapper; // as fake timers restore what they replaced
    try {
      spinFor(SPIN_MS + 1);
      const d0 = pollingState().deferred;
      let ran = 0;
      await new Promise<void>((r) => setImmediate(() => r(void ran++)));
      setImmediate(nativePoll);
      expect(ran).toBe(1);
      expect(pollingState().deferred).toBe(d0);
    } finally {
      globalThis.setImmediate = original;
    }
  });
});

describe('the engine waits by its polling mode', () => {
  let spin: hg.Engine;
  let dflt: hg.Engine;
  beforeAll(async () => {
    dflt = await hg.init();
    spin = await hg.createEngine({ polling: 'spin' });
  });
  afterAll(() => spin?.destroy());

  /** Products long enough on any adapter that reading the result waits longer than SPIN_MS: every entry 1/384. */
  function longProduct(): hg.Tensor {
    const n = 384;
    const a = hg.full([n, n], 1 / n);
    let c = a;
    for (let i = 0; i < 6; i++) c = hg.matmul(c, a);
    return c;
  }

  test("default: 'sleep' on a CPU driver, 'spin' on a GPU; Dawn's polls deferred only in 'sleep'", async () => {
    expect(dflt.adapterInfo.polling).toBe(dflt.adapterInfo.software ? 'sleep' : 'spin');
    const d0 = pollingState().deferred;
    const c = hg.tidy(longProduct);
    expect((await c.read())[0]).toBeCloseTo(1 / 384, 6);
    c.dispose();
    if (dflt.adapterInfo.polling === 'sleep') expect(pollingState().deferred).toBeGreaterThan(d0);
    expect(pollingState().waiting).toBe(false);
  });

  test("polling: 'spin' leaves Dawn's polls alone and reads the same values", async () => {
    expect(spin.adapterInfo.polling).toBe('spin');
    const d0 = pollingState().deferred;
    const c = hg.withEngine(spin, () => hg.tidy(longProduct));
    expect((await c.read())[0]).toBeCloseTo(1 / 384, 6);
    expect(pollingState().deferred).toBe(d0);
  });
});

describe('the polling option', () => {
  const saved = process.env.HEMGPU_POLLING;
  afterEach(() => {
    if (saved === undefined) delete process.env.HEMGPU_POLLING;
    else process.env.HEMGPU_POLLING = saved;
  });

  test("init and createEngine refuse anything but 'auto', 'spin' and 'sleep', before any GPU work", async () => {
    await expect(hg.createEngine({ polling: 'fast' as never })).rejects.toThrow(/^hemgpu init: polling must be 'auto', 'spin' or 'sleep', got "fast"\.$/);
  });

  test('HEMGPU_POLLING sets the default and is strict; the option wins over it', () => {
    delete process.env.HEMGPU_POLLING;
    expect(nodeProvider.resolveOptions({}).polling).toBe('auto');
    for (const v of ['auto', 'spin', 'sleep'] as const) {
      process.env.HEMGPU_POLLING = v;
      expect(nodeProvider.resolveOptions({}).polling).toBe(v);
    }
    process.env.HEMGPU_POLLING = 'spin';
    expect(nodeProvider.resolveOptions({ polling: 'sleep' }).polling).toBe('sleep');
    process.env.HEMGPU_POLLING = 'lazy';
    expect(() => nodeProvider.resolveOptions({})).toThrow(/^hemgpu init: HEMGPU_POLLING='lazy' is not a valid value; use auto, spin or sleep, or unset it\.$/);
  });

  test("a browser takes only 'auto' and reports no polling mode", () => {
    expect(browserProvider.resolveOptions({}).polling).toBe('auto');
    expect(() => browserProvider.resolveOptions({ polling: 'sleep' })).toThrow(/polling 'sleep' is for Node, where Dawn polls from the event loop/);
    expect(browserProvider.waiter('auto', true).mode).toBeNull();
  });

  test("'auto' resolves by the adapter: sleep on a CPU driver, spin on a GPU", () => {
    expect(nodeProvider.waiter('auto', true).mode).toBe('sleep');
    expect(nodeProvider.waiter('auto', false).mode).toBe('spin');
    expect(nodeProvider.waiter('sleep', false).mode).toBe('sleep');
    expect(nodeProvider.waiter('spin', true).mode).toBe('spin');
  });
});
