/** LayerNorm over the last dimension D of R rows (shaders/layernorm.wgsl), biased variance. */
import { type In, type Vec, zeros } from './types.ts';

/** x̂ = (x − mean)/√(var + eps), y = x̂·gamma + beta; also returns x̂ and rstd per row. */
export function layerNorm(x: In, gamma: In, beta: In, dim: number, eps: number): { y: Vec; xhat: Vec; rstd: Vec } {
  const rows = x.length / dim;
  const y = zeros(x.length), xhat = zeros(x.length), rstd = zeros(rows);
  for (let r = 0; r < rows; r++) {
    let mean = 0, v = 0;
    for (let d = 0; d < dim; d++) mean += x[r * dim + d] / dim;
    for (let d = 0; d < dim; d++) v += (x[r * dim + d] - mean) ** 2 / dim;
    rstd[r] = 1 / Math.sqrt(v + eps);
    for (let d = 0; d < dim; d++) {
      const i = r * dim + d;
      xhat[i] = (x[i] - mean) * rstd[r];
      y[i] = xhat[i] * gamma[d] + beta[d];
    }
  }
  return { y, xhat, rstd };
}

/** g = dy·gamma: dx = rstd·(g − mean(g) − x̂·mean(g·x̂)); dgamma = Σ_rows dy·x̂; dbeta = Σ_rows dy. */
export function layerNormBackward(x: In, gamma: In, dy: In, dim: number, eps: number): { dx: Vec; dgamma: Vec; dbeta: Vec } {
  const { xhat, rstd } = layerNorm(x, gamma, zeros(dim), dim, eps);
  const dx = zeros(x.length), dgamma = zeros(dim), dbeta = zeros(dim);
  for (let r = 0; r < x.length / dim; r++) {
    let mg = 0, mgx = 0;
    for (let d = 0; d < dim; d++) {
      const i = r * dim + d;
      mg += (dy[i] * gamma[d]) / dim;
      mgx += (dy[i] * gamma[d] * xhat[i]) / dim;
      dgamma[d] += dy[i] * xhat[i];
      dbeta[d] += dy[i];
    }
    for (let d = 0; d < dim; d++) {
      const i = r * dim + d;
      dx[i] = rstd[r] * (dy[i] * gamma[d] - mg - xhat[i] * mgx);
    }
  }
  return { dx, dgamma, dbeta };
}

/** The fused residual add: sum = x + r, y = LayerNorm(sum) (shaders/layernorm.wgsl: add_layernorm_forward). */
export function addLayerNorm(x: In, r: In, gamma: In, beta: In, dim: number, eps: number): { sum: Vec; y: Vec } {
  const sum = Float64Array.from(x, (v, i) => v + r[i]);
  return { sum, y: layerNorm(sum, gamma, beta, dim, eps).y };
}

/**
 * Given d(sum) from the sum's other consumers (dsum) and dy for the normalised output:
 * ds = dsum + LN-backward(dy) at sum = x + r; dx = dr = ds; dgamma, dbeta as layerNormBackward.
 */
export function addLayerNormBackward(x: In, r: In, gamma: In, dsum: In, dy: In, dim: number, eps: number): { dx: Vec; dr: Vec; dgamma: Vec; dbeta: Vec } {
  const sum = Float64Array.from(x, (v, i) => v + r[i]);
  const g = layerNormBackward(sum, gamma, dy, dim, eps);
  const ds = Float64Array.from(g.dx, (v, i) => v + dsum[i]);
  return { dx: ds, dr: Float64Array.from(ds), dgamma: g.dgamma, dbeta: g.dbeta };
}
