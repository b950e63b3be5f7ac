/**
 * The one check every public options object goes through: an unknown key (a typo such as
 * `{ etta: 0.3 }`) is refused naming the op, the key and the known keys, instead of running with
 * the default.
 */

/** Edit distance, for the "did you mean" hint (keys are short). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      const cost = a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1;
      row[j] = Math.min(up + 1, row[j - 1]! + 1, diag + cost);
      diag = up;
    }
  }
  return row[b.length]!;
}

/**
 * Throw unless `options` is undefined or a plain object whose keys are all in `known`. `what`
 * names the object in messages ('option', 'config field', ...).
 */
export function checkOptions(op: string, options: unknown, known: readonly string[], what = 'option'): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    const got = options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options;
    throw new Error(`${op}: ${what}s must be an object { ${known.join(', ')} }, got ${got}.`);
  }
  for (const k of Object.keys(options)) {
    if (known.includes(k)) continue;
    const norm = (s: string): string => s.toLowerCase().replace(/_/g, '');
    const score = (c: string): number => (norm(c) === norm(k) ? 0 : distance(k, c));
    const close = known.filter((c) => score(c) <= Math.max(1, Math.floor(c.length / 4))).sort((a, b) => score(a) - score(b));
    const hint = close.length ? ` Did you mean '${close[0]}'?` : '';
    throw new Error(`${op}: unknown ${what} '${k}' (${what}s: ${known.join(', ')}).${hint}`);
  }
}

/**
 * The keys of an options type, written once as `{ key: true, ... }`: a key added to the type and
 * not here (or here and not in the type) fails the type check, so the list cannot drift.
 */
export function optionKeys<T extends object>(keys: { [K in keyof Required<T>]: true }): readonly string[] {
  return Object.freeze(Object.keys(keys));
}
