/**
 * Summaries of a metric over seeds, for the tables the CLI prints: mean, sample standard
 * deviation, and the half-width of the 95 % confidence interval of the mean (Student's t).
 */

export const meanOf = (v: readonly number[]): number => v.reduce((a, b) => a + b, 0) / v.length;

/** Sample standard deviation (n − 1); 0 for fewer than two values. */
export const sdOf = (v: readonly number[]): number => (v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - meanOf(v)) ** 2, 0) / (v.length - 1)) : 0);

/** t_{0.975, df} for df = 1 … 30; beyond, the normal 1.96 (within 2 % from df 30 on). */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** Half-width of the 95 % confidence interval of the mean of `v` (NaN for fewer than two values). */
export function halfWidth95(v: readonly number[]): number {
  if (v.length < 2) return NaN;
  return (T975[v.length - 2] ?? 1.96) * (sdOf(v) / Math.sqrt(v.length));
}
