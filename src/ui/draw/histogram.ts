/**
 * Equal-width bins over [lo, hi]: bin i holds lo + i·w ≤ x < lo + (i+1)·w, except the last,
 * which also holds x = hi. Values below lo or above hi are counted in `outside`; NaN is skipped.
 */
export interface Histogram {
  lo: number;
  hi: number;
  counts: number[];
  outside: number;
}

export function histogram(values: ArrayLike<number>, lo: number, hi: number, bins: number): Histogram {
  if (!(hi > lo) || bins < 1) throw new Error(`histogram needs lo < hi and at least one bin (got [${lo}, ${hi}], ${bins} bins)`);
  const counts = new Array<number>(bins).fill(0);
  let outside = 0;
  const width = (hi - lo) / bins;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (Number.isNaN(x)) continue;
    if (x < lo || x > hi) { outside++; continue; }
    counts[Math.min(bins - 1, Math.floor((x - lo) / width))]++;
  }
  return { lo, hi, counts, outside };
}
