/** Nearest-rank percentile of an ascending list (q in [0, 1]); null for an empty list. */
export function percentile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * q) - 1))];
}

export const round = (x: number | null, digits = 2): number | null =>
  x === null ? null : Math.round(x * 10 ** digits) / 10 ** digits;
