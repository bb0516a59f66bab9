/** DiversePatch's token terms (shaders/diversity.wgsl). B batch, T patch tokens on a G×G grid, D dim. */
import { type In, type Vec, zeros } from './types.ts';

/** Norms below this are clamped to it in the cosine (torch's eps of cosine similarity). */
export const COSINE_EPS = 1e-8;

const norm = (x: In, row: number, dim: number) => {
  let s = 0;
  for (let d = 0; d < dim; d++) s += x[row * dim + d] ** 2;
  return Math.sqrt(s);
};

/** mean over b of 1/(T(T−1)) Σ_{i≠j} ⟨x_bi, x_bj⟩ / (max(‖x_bi‖, ε) max(‖x_bj‖, ε)), pair by pair. x [B,T,D]. */
export function meanPairwiseCosine(x: In, batch: number, tokens: number, dim: number): number {
  let total = 0;
  for (let b = 0; b < batch; b++) for (let i = 0; i < tokens; i++) for (let j = 0; j < tokens; j++) {
    if (i === j) continue;
    const ri = b * tokens + i, rj = b * tokens + j;
    let dot = 0;
    for (let d = 0; d < dim; d++) dot += x[ri * dim + d] * x[rj * dim + d];
    total += dot / (Math.max(norm(x, ri, dim), COSINE_EPS) * Math.max(norm(x, rj, dim), COSINE_EPS));
  }
  return total / (batch * tokens * (tokens - 1));
}

/**
 * dx_bi = dloss · 2/(B·T(T−1)) Σ_{j≠i} ∂cos(x_bi, x_bj)/∂x_bi (each unordered pair counted twice), with
 * ∂cos/∂x_i = (u_j − u_i ⟨u_i, u_j⟩)/‖x_i‖ when ‖x_i‖ > ε, else u_j/ε; u = x / max(‖x‖, ε).
 */
export function meanPairwiseCosineBackward(x: In, batch: number, tokens: number, dim: number, dloss: number): Vec {
  const dx = zeros(batch * tokens * dim);
  const w = (2 * dloss) / (batch * tokens * (tokens - 1));
  const u = Float64Array.from(x, (v, k) => v / Math.max(norm(x, Math.floor(k / dim), dim), COSINE_EPS));
  for (let b = 0; b < batch; b++) for (let i = 0; i < tokens; i++) {
    const ri = b * tokens + i, n = norm(x, ri, dim), clamped = n <= COSINE_EPS;
    for (let j = 0; j < tokens; j++) {
      if (i === j) continue;
      const rj = b * tokens + j;
      let cos = 0;
      for (let d = 0; d < dim; d++) cos += u[ri * dim + d] * u[rj * dim + d];
      for (let d = 0; d < dim; d++) {
        const g = clamped ? u[rj * dim + d] : u[rj * dim + d] - u[ri * dim + d] * cos;
        dx[ri * dim + d] += (w * g) / Math.max(n, COSINE_EPS);
      }
    }
  }
  return dx;
}

export interface ContextDims { batch: number; grid: number; window: number; dim: number }

/** The tokens j ≠ i of the W×W window centred on token i of the G×G grid, clipped at the edges. */
export function windowTokens(i: number, grid: number, window: number): number[] {
  const r = (window - 1) / 2, y = Math.floor(i / grid), x = i % grid, out: number[] = [];
  for (let yy = Math.max(0, y - r); yy <= Math.min(grid - 1, y + r); yy++) {
    for (let xx = Math.max(0, x - r); xx <= Math.min(grid - 1, x + r); xx++) if (yy * grid + xx !== i) out.push(yy * grid + xx);
  }
  return out;
}

/** y[b,i] = (⟨c_i, h_i⟩, ⟨c_i, mean_{j≠i} h_j⟩, ⟨c_i, mean_{j∈window(i)} h_j⟩ or 0): c, h [B,T,D] → y [B,T,3]. */
export function contextScores(c: In, h: In, o: ContextDims): Vec {
  const { batch, grid, window, dim } = o, T = grid * grid, y = zeros(batch * T * 3);
  for (let b = 0; b < batch; b++) for (let i = 0; i < T; i++) {
    const groups = [[i], Array.from({ length: T }, (_, j) => j).filter((j) => j !== i), windowTokens(i, grid, window)];
    groups.forEach((js, k) => {
      if (!js.length) return;
      for (let d = 0; d < dim; d++) {
        let mean = 0;
        for (const j of js) mean += h[(b * T + j) * dim + d] / js.length;
        y[(b * T + i) * 3 + k] += c[(b * T + i) * dim + d] * mean;
      }
    });
  }
  return y;
}

/** dc_i = Σ_k g_ik · mean of h over group k of i;  dh_j += g_ik c_i / |group k of i| for every j in it. */
export function contextScoresBackward(c: In, h: In, dy: In, o: ContextDims): { dc: Vec; dh: Vec } {
  const { batch, grid, window, dim } = o, T = grid * grid, dc = zeros(c.length), dh = zeros(h.length);
  for (let b = 0; b < batch; b++) for (let i = 0; i < T; i++) {
    const groups = [[i], Array.from({ length: T }, (_, j) => j).filter((j) => j !== i), windowTokens(i, grid, window)];
    groups.forEach((js, k) => {
      const g = dy[(b * T + i) * 3 + k] / js.length;
      for (const j of js) for (let d = 0; d < dim; d++) {
        dc[(b * T + i) * dim + d] += g * h[(b * T + j) * dim + d];
        dh[(b * T + j) * dim + d] += g * c[(b * T + i) * dim + d];
      }
    });
  }
  return { dc, dh };
}
