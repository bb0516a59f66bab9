/** Reductions (shaders/reduce.wgsl). Not differentiated on the GPU (metrics, norms, bias grads). */
import { type In, type Vec, zeros } from './types.ts';

/** alpha · Σ_i x_i. */
export function sum(x: In, alpha = 1): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return alpha * s;
}

/** alpha · Σ_i x_i². */
export function sumSquares(x: In, alpha = 1): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return alpha * s;
}

/** y[c] = Σ_r x[r, c] over a row-major [rows, cols] matrix. */
export function columnSum(x: In, cols: number): Vec {
  const y = zeros(cols);
  for (let i = 0; i < x.length; i++) y[i % cols] += x[i];
  return y;
}
