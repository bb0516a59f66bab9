/**
 * DiversePatch's token terms (shaders/diversity.wgsl; ../shared/docs/methods.md, "DiversePatch"):
 * the mean pairwise cosine of the patch tokens (over-smoothing metric and cosine penalty) and the
 * released code's contrastive logits. Legend: B batch, T patch tokens on a G×G grid, D dim.
 */
import { gradInto, record } from '../tape.ts';
import { tempTensor, type Tensor } from '../tensor.ts';
import { encodeSum } from './reduce.ts';
import { ELEMENTWISE_WG, ROW_WG, elementwiseGrid, rowGrid } from './workgroups.ts';

/** Uniforms of shaders/diversity.wgsl; every kernel takes the whole struct. */
type DiversityParams = { batch: number; tokens: number; dim: number; grid: number; window: number; accumulate: number };

/**
 * x [B, T, D] → [1]: mean over b of 1/(T(T−1)) Σ_{i≠j} cos(x_bi, x_bj), each norm clamped to ≥ 1e-8.
 * Computed as (‖s‖² − Σ_i ‖u_i‖²)/(T(T−1)) with u_i = x_i/‖x_i‖, s = Σ_i u_i.
 */
export function meanPairwiseCosine(x: Tensor): Tensor {
  const gpu = x.gpu;
  const [batch, tokens, dim] = x.shape;
  if (x.shape.length !== 3 || tokens < 2) throw new Error(`meanPairwiseCosine: x [${x.shape}] must be [B, T, D] with T ≥ 2`);
  const p: DiversityParams = { batch, tokens, dim, grid: 0, window: 0, accumulate: 0 };
  const norms = gpu.temp(batch * tokens), sums = gpu.temp(batch * dim), samples = gpu.temp(batch);
  gpu.run('diversity', 'cosine_norms', p, { src: x.storage, norms }, rowGrid(batch * tokens), { WG: ROW_WG });
  gpu.run('diversity', 'cosine_sums', p, { src: x.storage, norms, sums }, elementwiseGrid(batch * dim), { WG: ELEMENTWISE_WG });
  gpu.run('diversity', 'cosine_samples', p, { norms, sums, samples }, rowGrid(batch), { WG: ROW_WG });
  const loss = tempTensor(gpu, [1], 'mean_cosine');
  encodeSum(gpu, samples, loss.storage, { alpha: 1 / batch });
  return record('mean_pairwise_cosine', [x], loss, (dLoss) =>
    gradInto(x, (dx, accumulate) =>
      gpu.run('diversity', 'cosine_backward', { ...p, accumulate },
        { src: x.storage, norms, sums, dloss: dLoss.storage, dst: dx.storage }, rowGrid(batch * tokens), { WG: ROW_WG })));
}

/**
 * c, h [B, T, D] on a G×G grid → [B, T, 3]: ⟨c_i, h_i⟩, ⟨c_i, mean of the other h_j⟩, ⟨c_i, mean of the
 * other h_j in the W×W window around i, clipped at the grid edges⟩ (0 if none). Gradients for c and h.
 */
export function contextScores(c: Tensor, h: Tensor, grid: number, window: number): Tensor {
  const gpu = c.gpu;
  const [batch, tokens, dim] = c.shape;
  if (c.shape.length !== 3 || h.shape.length !== 3 || h.shape.some((n, i) => n !== c.shape[i])) {
    throw new Error(`contextScores: c [${c.shape}] and h [${h.shape}] must both be [B, T, D]`);
  }
  if (!(grid >= 2) || tokens !== grid * grid) throw new Error(`contextScores: ${tokens} tokens are not a ${grid}×${grid} grid (G ≥ 2)`);
  if (!(window >= 1) || window % 2 !== 1) throw new Error(`contextScores: window ${window} must be odd`);
  const p: DiversityParams = { batch, tokens, dim, grid, window, accumulate: 0 };
  const y = tempTensor(gpu, [batch, tokens, 3], 'context_scores');
  gpu.run('diversity', 'context_scores', p, { c: c.storage, h: h.storage, dst: y.storage }, rowGrid(batch * tokens), { WG: ROW_WG });
  return record('context_scores', [c, h], y, (dy) => {
    gradInto(c, (dc, accumulate) =>
      gpu.run('diversity', 'context_scores_backward_c', { ...p, accumulate },
        { h: h.storage, dy: dy.storage, dst: dc.storage }, elementwiseGrid(c.size), { WG: ELEMENTWISE_WG }));
    gradInto(h, (dh, accumulate) =>
      gpu.run('diversity', 'context_scores_backward_h', { ...p, accumulate },
        { c: c.storage, dy: dy.storage, dst: dh.storage }, elementwiseGrid(h.size), { WG: ELEMENTWISE_WG }));
  });
}
