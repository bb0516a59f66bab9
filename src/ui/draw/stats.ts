/** Small summaries of number arrays; NaN in, NaN out (an empty array has mean NaN). */
export function mean(xs: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < xs.length; i++) sum += xs[i];
  return sum / xs.length;
}

/** Population variance (divides by n). */
export function variance(xs: ArrayLike<number>): number {
  const m = mean(xs);
  let sum = 0;
  for (let i = 0; i < xs.length; i++) sum += (xs[i] - m) ** 2;
  return sum / xs.length;
}

/** [min, max] over the finite values; [0, 0] when there are none. */
export function extent(xs: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isFinite(xs[i])) continue;
    lo = Math.min(lo, xs[i]);
    hi = Math.max(hi, xs[i]);
  }
  return lo <= hi ? [lo, hi] : [0, 0];
}

/** Every `stride`-th value starting at `offset`, `count` of them: one column of a row-major table. */
export function column(xs: ArrayLike<number>, offset: number, stride: number, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = xs[offset + i * stride];
  return out;
}
