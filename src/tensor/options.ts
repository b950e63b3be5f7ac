/**
 * The one check every public options object goes through: an unknown key (a typo such as
 * `{ etta: 0.3 }`) is refused naming the op, the key and the known keys, instead of running with
 * the default.
 */

/**
 * Edit distance for the "did you mean" hints (names are short): insertions, deletions,
 * substitutions and swaps of neighbours (optimal string alignment), case-insensitive.
 */
function distance(a: string, b: string): number {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()];
  const d = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[x.length]![y.length]!;
}

/**
 * The name in `known` nearest to `name`, a likely typo of it (case and '_' ignored; within a
 * quarter of its length, at least 1), or null. For option keys and command-line flags alike.
 */
export function nearestName(name: string, known: readonly string[]): string | null {
  const norm = (s: string): string => s.toLowerCase().replace(/_/g, '');
  const score = (c: string): number => (norm(c) === norm(name) ? 0 : distance(name, c));
  return known.filter((c) => score(c) <= Math.max(1, Math.floor(c.length / 4))).sort((p, q) => score(p) - score(q))[0] ?? null;
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
    const near = nearestName(k, known);
    const hint = near ? ` Did you mean '${near}'?` : '';
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
