/** Axis arithmetic: "nice" tick values (1, 2 or 5 × 10^k apart), log ticks, scales and tick labels. */

export interface NiceRange {
  lo: number;
  hi: number;
  step: number;
  ticks: number[];
}

/**
 * The spacing, 1, 2 or 5 × 10^k, that puts about `count` ticks over `span`: the rough spacing
 * rounded to the nearest of them on a log scale (thresholds √2, √10, √50, as d3's ticks).
 */
export function niceStep(span: number, count: number): number {
  const rough = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(rough));
  const mantissa = rough / power;
  const nice = mantissa >= Math.sqrt(50) ? 10 : mantissa >= Math.sqrt(10) ? 5 : mantissa >= Math.SQRT2 ? 2 : 1;
  return nice * power;
}

const decimalsOf = (step: number) => Math.max(0, -Math.floor(Math.log10(step) + 1e-9));

/**
 * The range [lo, hi] widened outwards to multiples of a nice step, with its ticks (both ends included).
 * A zero-width range is widened to ±1 around its value (±|value|/2 for values far from 0).
 */
export function niceRange(lo: number, hi: number, count = 5): NiceRange {
  if (!(hi > lo)) {
    const half = lo === 0 ? 1 : Math.abs(lo) / 2;
    [lo, hi] = [lo - half, hi + half];
  }
  const step = niceStep(hi - lo, count);
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const decimals = decimalsOf(step);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toFixed(decimals)));
  return { lo: ticks[0], hi: ticks[ticks.length - 1], step, ticks };
}

/** Ticks inside [lo, hi] for a log axis (lo > 0): powers of ten, plus 2× and 5× when the span is under three decades. */
export function logTicks(lo: number, hi: number): number[] {
  const from = Math.floor(Math.log10(lo));
  const to = Math.ceil(Math.log10(hi));
  const multiples = Math.log10(hi / lo) < 3 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let p = from; p <= to; p++) {
    for (const m of multiples) {
      const t = Number((m * 10 ** p).toPrecision(3));
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push(t);
    }
  }
  return ticks;
}

/** Maps [d0, d1] onto [r0, r1] linearly, or logarithmically when `log` (domain > 0). */
export function scale(d0: number, d1: number, r0: number, r1: number, log = false): (x: number) => number {
  const f = log ? Math.log10 : (x: number) => x;
  const a = f(d0);
  const span = f(d1) - a || 1;
  return (x) => r0 + ((f(x) - a) / span) * (r1 - r0);
}

/** A tick label: as many decimals as the step needs; 12k for ten thousand and above; 5e-4 when the step is under 0.001. */
export function formatTick(value: number, step: number): string {
  if (Math.abs(value) >= 1e4) return `${Number((value / 1000).toFixed(decimalsOf(step / 1000)))}k`;
  if (step < 1e-3 && value !== 0) return Number(value.toPrecision(3)).toExponential();
  return String(Number(value.toFixed(decimalsOf(step))));
}
