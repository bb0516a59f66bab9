/** Softmax over the last dimension n (shaders/softmax.wgsl). */
import { type In, type Vec, zeros } from './types.ts';

/** y = exp(x − max)/Σ exp(x − max), per row of n. */
export function softmax(x: In, n: number): Vec {
  const y = zeros(x.length);
  for (let r = 0; r < x.length / n; r++) {
    let m = -Infinity, s = 0;
    for (let j = 0; j < n; j++) m = Math.max(m, x[r * n + j]);
    for (let j = 0; j < n; j++) s += Math.exp(x[r * n + j] - m);
    for (let j = 0; j < n; j++) y[r * n + j] = Math.exp(x[r * n + j] - m) / s;
  }
  return y;
}

/** dx = y · (dy − Σ dy·y), per row. */
export function softmaxBackward(y: In, dy: In, n: number): Vec {
  const dx = zeros(y.length);
  for (let r = 0; r < y.length / n; r++) {
    let dot = 0;
    for (let j = 0; j < n; j++) dot += dy[r * n + j] * y[r * n + j];
    for (let j = 0; j < n; j++) dx[r * n + j] = y[r * n + j] * (dy[r * n + j] - dot);
  }
  return dx;
}
