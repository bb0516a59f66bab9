/** Token bookkeeping (shaders/tokens.wgsl). B batch, T patches, N = T + 1 tokens (CLS first), D dim. */
import { type In, type Vec, zeros } from './types.ts';

/** x[b,0] = cls + pos[0]; x[b,1+t] = patches[b,t] + pos[1+t]. patches [B,T,D], cls [D], pos [N,D] → x [B,N,D]. */
export function embedTokens(patches: In, cls: In, pos: In, batch: number, dim: number): Vec {
  const N = pos.length / dim, x = zeros(batch * N * dim);
  for (let b = 0; b < batch; b++) for (let n = 0; n < N; n++) for (let d = 0; d < dim; d++) {
    const src = n === 0 ? cls[d] : patches[(b * (N - 1) + n - 1) * dim + d];
    x[(b * N + n) * dim + d] = src + pos[n * dim + d];
  }
  return x;
}

/** dpatches[b,t] = dx[b,1+t]; dcls = Σ_b dx[b,0]; dpos[n] = Σ_b dx[b,n]. */
export function embedTokensBackward(dx: In, batch: number, tokens: number, dim: number): { dpatches: Vec; dcls: Vec; dpos: Vec } {
  const dpatches = zeros(batch * (tokens - 1) * dim), dcls = zeros(dim), dpos = zeros(tokens * dim);
  for (let b = 0; b < batch; b++) for (let n = 0; n < tokens; n++) for (let d = 0; d < dim; d++) {
    const g = dx[(b * tokens + n) * dim + d];
    dpos[n * dim + d] += g;
    if (n === 0) dcls[d] += g;
    else dpatches[(b * (tokens - 1) + n - 1) * dim + d] = g;
  }
  return { dpatches, dcls, dpos };
}

/** y[b] = x[b, index]: x [B,N,D] → y [B,D]. */
export function gatherToken(x: In, batch: number, tokens: number, dim: number, index: number): Vec {
  const y = zeros(batch * dim);
  for (let b = 0; b < batch; b++) for (let d = 0; d < dim; d++) y[b * dim + d] = x[(b * tokens + index) * dim + d];
  return y;
}

/** dx[b, index] = dy[b], zeros elsewhere. */
export function gatherTokenBackward(dy: In, batch: number, tokens: number, dim: number, index: number): Vec {
  const dx = zeros(batch * tokens * dim);
  for (let b = 0; b < batch; b++) for (let d = 0; d < dim; d++) dx[(b * tokens + index) * dim + d] = dy[b * dim + d];
  return dx;
}

/** y[b] = mean_{n ≥ first} x[b,n]. */
export function meanTokens(x: In, batch: number, tokens: number, dim: number, first: number): Vec {
  const y = zeros(batch * dim);
  for (let b = 0; b < batch; b++) for (let n = first; n < tokens; n++) for (let d = 0; d < dim; d++) {
    y[b * dim + d] += x[(b * tokens + n) * dim + d] / (tokens - first);
  }
  return y;
}

/** dx[b,n] = dy[b]/(N − first) for n ≥ first, 0 before. */
export function meanTokensBackward(dy: In, batch: number, tokens: number, dim: number, first: number): Vec {
  const dx = zeros(batch * tokens * dim);
  for (let b = 0; b < batch; b++) for (let n = first; n < tokens; n++) for (let d = 0; d < dim; d++) {
    dx[(b * tokens + n) * dim + d] = dy[b * dim + d] / (tokens - first);
  }
  return dx;
}
