/**
 * GELU, exact erf form (shaders/gelu.wgsl), with a float64 erf.
 * Accuracy, measured against Python's math.erf/erfc at ±0.5, 1, 2.5, 2.9, 3, 3.5, 4, 5: erf within
 * 5e-16 absolute; erfc within 5e-16 relative for x ≥ 3, and within 5e-16 absolute for x < 3 (where
 * it is 1 − erf: 2e-12 relative at x = 2.5). Φ and GELU inherit these bounds.
 */
import { type In, type Vec } from './types.ts';

const SQRT_PI = Math.sqrt(Math.PI);

/** erf x = 2/√π · e^{−x²} · Σ_n 2ⁿ x^{2n+1} / (1·3···(2n+1)) (A&S 7.1.6, positive terms) for |x| < 3; 1 − erfc beyond. */
export function erf(x: number): number {
  if (x < 0) return -erf(-x);
  if (x >= 3) return 1 - erfc(x);
  let term = x, sum = x;
  for (let n = 1; term > 1e-17 * sum; n++) {
    term *= (2 * x * x) / (2 * n + 1);
    sum += term;
  }
  return (2 / SQRT_PI) * Math.exp(-x * x) * sum;
}

/** erfc x = e^{−x²}/√π · 1/(x + ½/(x + 1/(x + (3/2)/(x + …)))) (Laplace's continued fraction, 80 terms) for x ≥ 3; 1 − erf below; 2 − erfc(−x) for x < 0. */
export function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 3) return 1 - erf(x);
  let f = x;
  for (let n = 80; n >= 1; n--) f = x + n / 2 / f;
  return Math.exp(-x * x) / SQRT_PI / f;
}

/** Φ(x) = ½ erfc(−x/√2), the standard normal CDF. */
export const normalCdf = (x: number): number => 0.5 * erfc(-x / Math.SQRT2);
/** φ(x) = e^{−x²/2}/√(2π). */
export const normalPdf = (x: number): number => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);

/** y = x · Φ(x). */
export const gelu = (x: In): Vec => Float64Array.from(x, (v) => v * normalCdf(v));
/** dx = dy · (Φ(x) + x · φ(x)). */
export const geluBackward = (x: In, dy: In): Vec => Float64Array.from(x, (v, i) => dy[i] * (normalCdf(v) + v * normalPdf(v)));
