/**
 * Which engine new tensors and ops use inside withEngine(): the scope that carries it across
 * awaits where the platform has one (Node: AsyncLocalStorage), else a variable set for the
 * synchronous call.
 */
import type { Engine } from './engine.ts';

let current: Engine | null = null;
let scope: EngineScope | null = null;

/** The engine withEngine() set for the code running now, if any. */
export function scopedEngine(): Engine | undefined {
  return (scope ? scope.get() : current) ?? undefined;
}

/**
 * Keeps the engine that withEngine() chose across `await`s. Node registers one built on
 * AsyncLocalStorage; a browser has none (no AsyncContext yet), so there withEngine() is for
 * synchronous functions only.
 */
export interface EngineScope {
  run<T>(e: Engine, fn: () => T): T;
  get(): Engine | undefined;
}

/** Install the platform's scope (null: none); returns the one it replaces. */
export function setEngineScope(s: EngineScope | null): EngineScope | null {
  const prev = scope;
  scope = s;
  return prev;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Run `fn` with `e` as the engine for new tensors and ops (tests use a second engine this way).
 * In Node `fn` may be async: the engine stays `e` across its awaits, and code running beside it
 * keeps its own engine. In a browser `fn` must be synchronous (JavaScript has no way yet to carry
 * a context across an await there): an async `fn` is refused before it runs, and one that returns
 * a promise is an error, since its work after the first await would run on the default engine.
 */
export function withEngine<T>(e: Engine, fn: () => T): T {
  if (scope) return scope.run(e, fn);
  if (fn.constructor?.name === 'AsyncFunction') {
    throw new TypeError(
      'withEngine: fn is an async function, but on this platform the engine cannot follow it across an await, so its later ops would run on the default engine. ' +
        'Make fn synchronous and await outside it, e.g. `const t = withEngine(e, () => op(x)); await t.read()`.',
    );
  }
  const prev = current;
  current = e;
  let out: T;
  try {
    out = fn();
  } finally {
    current = prev;
  }
  if (isThenable(out)) {
    // Its synchronous part ran on `e`; what follows its first await would not. Keep its own
    // failure from surfacing as an unhandled rejection: the caller gets this error instead.
    (out as PromiseLike<unknown>).then(undefined, () => undefined);
    throw new TypeError(
      'withEngine: fn returned a promise, but on this platform the engine cannot follow it across an await, so the ops after its first await run on the default engine. ' +
        'Make fn synchronous and await outside it.',
    );
  }
  return out;
}
