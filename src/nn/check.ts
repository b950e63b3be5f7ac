/** Option checks shared by the layers: errors name the layer and the option. */

/** `v` if it is an integer ≥ 1; otherwise an error naming `layer` and `name`. */
export function positiveInt(layer: string, name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${layer}: ${name} must be a positive integer, got ${String(v)}.`);
  return v;
}
