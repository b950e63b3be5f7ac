/**
 * Summaries of a metric over seeds, for the tables the CLI prints: mean, sample standard
 * deviation, and the half-width of the 95 % confidence interval of the mean (Student's t).
 */

export const meanOf = (v: readonly number[]): number => v.reduce((a, b) => a + b, 0) / v.length;

/** Sample standard deviation (n − 1); 0 for fewer than two values. */
export const sdOf = (v: readonly number[]): number => (v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - meanOf(v)) ** 2, 0) / (v.length - 1)) : 0);

/** t_{0.975, df} for df = 1 … 30; beyond, the normal 1.96 (within 2 % from df 30 on). */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056,
  2.052, 2.048, 2.045, 2.042,
];

/** Half-width of the 95 % confidence interval of the mean of `v` (NaN for fewer than two values). */
export function halfWidth95(v: readonly number[]): number {
  if (v.length < 2) return NaN;
  return (T975[v.length - 2] ?? 1.96) * (sdOf(v) / Math.sqrt(v.length));
}

/**
 * `v` over seeds as the tables print it, with `digits` decimals: the value alone for one seed;
 * the mean and (min–max, n seeds) for two; from three on also ± the half-width of the 95 %
 * interval of the mean: "56.7 ± 1.2 (55.9–57.8, 3 seeds)". NaN values are left out; '-' for none.
 */
export function formatSpread(values: readonly number[], digits = 1): string {
  // NaN (e.g. the accuracy on a region a seed's scenes do not have) is left out.
  const v = values.filter((x) => !Number.isNaN(x));
  if (!v.length) return '-';
  const m = meanOf(v).toFixed(digits);
  if (v.length === 1) return m;
  const range = `${Math.min(...v).toFixed(digits)}–${Math.max(...v).toFixed(digits)}, ${v.length} seeds`;
  return v.length >= 3 ? `${m} ± ${halfWidth95(v).toFixed(digits)} (${range})` : `${m} (${range})`;
}
