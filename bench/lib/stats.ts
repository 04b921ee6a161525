/** Small, dependency-free statistics for benchmark samples. */

/** The q-quantile (0..1) of `samples` by linear interpolation; NaN for no samples. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  const a = sorted[low]!;
  const b = sorted[high]!;
  return a + (b - a) * (position - low);
}

export function median(samples: readonly number[]): number {
  return quantile(samples, 0.5);
}

/** Median of each key over a list of per-round records. */
export function medianByKey(rounds: readonly Record<string, number>[]): Record<string, number> {
  const keys = new Set(rounds.flatMap((round) => Object.keys(round)));
  const out: Record<string, number> = {};
  for (const key of keys) {
    out[key] = median(
      rounds.map((round) => round[key]).filter((value): value is number => value !== undefined),
    );
  }
  return out;
}

export function formatNumber(value: number | null, unit: string): string {
  if (value === null || Number.isNaN(value)) return '—';
  const abs = Math.abs(value);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 10 ? 2 : abs >= 1 ? 2 : 3;
  const text = value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  return unit === '' ? text : `${text} ${unit}`;
}
