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

/** y[b,t] = x[b,1+t]: x [B,N,D] → y [B,T,D]. */
export function patchTokens(x: In, batch: number, tokens: number, dim: number): Vec {
  const y = zeros(batch * (tokens - 1) * dim);
  for (let b = 0; b < batch; b++) for (let t = 0; t + 1 < tokens; t++) for (let d = 0; d < dim; d++) {
    y[(b * (tokens - 1) + t) * dim + d] = x[(b * tokens + 1 + t) * dim + d];
  }
  return y;
}

/** dx[b,0] = 0; dx[b,1+t] = dy[b,t]. */
export function patchTokensBackward(dy: In, batch: number, tokens: number, dim: number): Vec {
  const dx = zeros(batch * tokens * dim);
  for (let b = 0; b < batch; b++) for (let t = 0; t + 1 < tokens; t++) for (let d = 0; d < dim; d++) {
    dx[(b * tokens + 1 + t) * dim + d] = dy[(b * (tokens - 1) + t) * dim + d];
  }
  return dx;
}

/** y[b,t] = mask[t] ≠ 0 ? x[B−1−b,t] : x[b,t], x [B,T,C]. Its own inverse, hence also its own backward (applied to dy). */
export function swapTokens(x: In, mask: In, batch: number, dim: number): Vec {
  const tokens = mask.length, y = zeros(batch * tokens * dim);
  for (let b = 0; b < batch; b++) for (let t = 0; t < tokens; t++) for (let d = 0; d < dim; d++) {
    const from = mask[t] !== 0 ? batch - 1 - b : b;
    y[(b * tokens + t) * dim + d] = x[(from * tokens + t) * dim + d];
  }
  return y;
}

/** y[b,0] = mean of x[b,t] over mask[t] = 0, y[b,1] = over mask[t] ≠ 0; an empty region gives 0. x [B,T,D] → y [B,2,D]. */
export function poolRegions(x: In, mask: In, batch: number, dim: number): Vec {
  const tokens = mask.length, y = zeros(batch * 2 * dim);
  const size = [0, 0];
  for (let t = 0; t < tokens; t++) size[mask[t] !== 0 ? 1 : 0]++;
  for (let b = 0; b < batch; b++) for (let t = 0; t < tokens; t++) for (let d = 0; d < dim; d++) {
    const r = mask[t] !== 0 ? 1 : 0;
    y[(b * 2 + r) * dim + d] += x[(b * tokens + t) * dim + d] / size[r];
  }
  return y;
}

/** dx[b,t] = dy[b,r(t)] / |region r(t)|. */
export function poolRegionsBackward(dy: In, mask: In, batch: number, dim: number): Vec {
  const tokens = mask.length, dx = zeros(batch * tokens * dim);
  const size = [0, 0];
  for (let t = 0; t < tokens; t++) size[mask[t] !== 0 ? 1 : 0]++;
  for (let b = 0; b < batch; b++) for (let t = 0; t < tokens; t++) for (let d = 0; d < dim; d++) {
    const r = mask[t] !== 0 ? 1 : 0;
    dx[(b * tokens + t) * dim + d] = dy[(b * 2 + r) * dim + d] / size[r];
  }
  return dx;
}

/** y[b,k] = max_t x[b,t,k]: x [B,T,K] → y [B,K]. Forward only. */
export function maxTokens(x: In, batch: number, tokens: number, dim: number): Vec {
  const y = zeros(batch * dim).fill(-Infinity);
  for (let b = 0; b < batch; b++) for (let t = 0; t < tokens; t++) for (let d = 0; d < dim; d++) {
    y[b * dim + d] = Math.max(y[b * dim + d], x[(b * tokens + t) * dim + d]);
  }
  return y;
}
