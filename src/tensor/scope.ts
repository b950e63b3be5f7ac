/**
 * Explicit lifetimes. Every tensor an op makes is tracked by the innermost `tidy` scope; when the
 * scope's function returns, every tracked tensor it does not return is disposed. `keep(t)` moves a
 * tensor out of scope management (parameters, gradients, running statistics).
 */

export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const scopes: Set<Disposable>[] = [];

/** Called by the tensor constructor. */
export function track(t: Disposable): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Take a tensor out of every scope so no `tidy` disposes it; returns it. */
export function keep<T extends Disposable>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

function collect(value: unknown, out: Set<Disposable>, seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (typeof (value as Disposable).dispose === 'function' && 'isDisposed' in (value as object)) {
    out.add(value as Disposable);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out, seen);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, out, seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value as Record<string, unknown>)) collect(v, out, seen);
  }
}

/** Close a scope (already off the stack): `result`'s tensors move to the enclosing scope, the rest are disposed. */
function release<T>(scope: Set<Disposable>, result: T): T {
  const kept = new Set<Disposable>();
  collect(result, kept, new Set());
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (kept.has(t)) parent?.add(t);
    else if (!t.isDisposed) t.dispose();
  }
  return result;
}

/**
 * Run `fn` and dispose every tensor it created, except the tensors it returns (directly, or
 * inside arrays, Maps and plain objects), which move to the enclosing scope.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw err;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new Error(
      'tidy(fn): fn returned a Promise. tidy takes a synchronous function (ops are recorded ' +
        'synchronously); await reads outside it, e.g. `const t = tidy(() => ...); await t.read()`.',
    );
  }
  return release(scope, result);
}

let asyncScopeOpen = false;

/**
 * tidy() for an async `fn`: the scope stays open across its awaits, so a graph recorded before an
 * await can be walked by backward() after it (the trainer's interruptible first step). Every
 * tensor created while it is open lands in its scope, including by other code that runs during
 * the awaits: nothing else may record ops meanwhile, and only one may be open at a time.
 */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  if (asyncScopeOpen) throw new Error('tidyAsync: another tidyAsync is open; they cannot interleave (await the first).');
  asyncScopeOpen = true;
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = await fn();
  } catch (err) {
    scopes.splice(scopes.lastIndexOf(scope), 1);
    for (const t of scope) t.dispose();
    throw err;
  } finally {
    asyncScopeOpen = false;
  }
  scopes.splice(scopes.lastIndexOf(scope), 1);
  return release(scope, result);
}
