/**
 * Token bookkeeping (shaders/tokens.wgsl): CLS token + learned position embedding, picking one
 * token, averaging patch tokens, dropping CLS, and the mask-driven token ops of MixToken and
 * DiversePatch (swap with the partner B − 1 − b, pool each mix region, max over tokens).
 * Legend: B batch, T patches, N = T + 1 tokens, D dim; mask: u32 [T], nonzero = partner's token.
 */
import { type Storage } from '../../gpu/gpu.ts';
import { gradInto, record, zeroedGrad } from '../tape.ts';
import { tempTensor, type Tensor } from '../tensor.ts';
import { ELEMENTWISE_WG as WG, elementwiseGrid } from './workgroups.ts';

/** patches [B, T, D], cls [D], pos [N, D] → x [B, N, D] with x[:,0] = cls + pos[0]. */
export function embedTokens(patches: Tensor, cls: Tensor, pos: Tensor): Tensor {
  const gpu = patches.gpu;
  const [batch, patchCount, dim] = patches.shape;
  const tokens = patchCount + 1;
  if (cls.size !== dim || pos.size !== tokens * dim) throw new Error(`embedTokens: cls ${cls.size} / pos ${pos.size} do not fit [${patches.shape}]`);
  const x = tempTensor(gpu, [batch, tokens, dim], 'tokens');
  const p = { batch, tokens, dim, index: 0, accumulate: 0 };
  gpu.run('tokens', 'embed_tokens', p, { src: patches.storage, cls: cls.storage, pos: pos.storage, dst: x.storage }, elementwiseGrid(x.size), { WG });
  return record('embed_tokens', [patches, cls, pos], x, (dx) => {
    gradInto(patches, (dp, accumulate) =>
      gpu.run('tokens', 'drop_cls', { ...p, accumulate }, { src: dx.storage, dst: dp.storage }, elementwiseGrid(patches.size), { WG }));
    if (cls.requiresGrad || pos.requiresGrad) {
      gpu.run('tokens', 'embed_params_backward', p,
        { src: dx.storage, dcls: zeroedGrad(cls).storage, dpos: zeroedGrad(pos).storage }, elementwiseGrid(tokens * dim), { WG });
    }
  });
}

/** x [B, N, D] → x[:, index] as [B, D]. */
export function gatherToken(x: Tensor, index: number): Tensor {
  const gpu = x.gpu;
  const [batch, tokens, dim] = x.shape;
  if (index < 0 || index >= tokens) throw new Error(`gatherToken: index ${index} outside ${tokens} tokens`);
  const y = tempTensor(gpu, [batch, dim], 'token');
  const p = { batch, tokens, dim, index, accumulate: 0 };
  gpu.run('tokens', 'gather_token', p, { src: x.storage, dst: y.storage }, elementwiseGrid(y.size), { WG });
  return record('gather_token', [x], y, (dy) =>
    gradInto(x, (dx, accumulate) =>
      gpu.run('tokens', 'gather_token_backward', { ...p, accumulate }, { src: dy.storage, dst: dx.storage }, elementwiseGrid(x.size), { WG })));
}

/** x [B, N, D] → mean over tokens first..N−1, as [B, D] (first = 1 averages the patch tokens). */
export function meanTokens(x: Tensor, first = 1): Tensor {
  const gpu = x.gpu;
  const [batch, tokens, dim] = x.shape;
  if (first < 0 || first >= tokens) throw new Error(`meanTokens: first token ${first} outside ${tokens} tokens`);
  const y = tempTensor(gpu, [batch, dim], 'token_mean');
  const p = { batch, tokens, dim, index: first, accumulate: 0 };
  gpu.run('tokens', 'mean_tokens', p, { src: x.storage, dst: y.storage }, elementwiseGrid(y.size), { WG });
  return record('mean_tokens', [x], y, (dy) =>
    gradInto(x, (dx, accumulate) =>
      gpu.run('tokens', 'mean_tokens_backward', { ...p, accumulate }, { src: dy.storage, dst: dx.storage }, elementwiseGrid(x.size), { WG })));
}

/** x [B, N, D] → the patch tokens x[:, 1:] as [B, T, D]; backward scatters (CLS gets 0). */
export function patchTokens(x: Tensor): Tensor {
  const gpu = x.gpu;
  const [batch, tokens, dim] = x.shape;
  if (x.shape.length !== 3 || tokens < 2) throw new Error(`patchTokens: x [${x.shape}] must be [B, N, D] with N ≥ 2`);
  const y = tempTensor(gpu, [batch, tokens - 1, dim], 'patch_tokens');
  const p = { batch, tokens, dim, index: 0, accumulate: 0 };
  gpu.run('tokens', 'drop_cls', p, { src: x.storage, dst: y.storage }, elementwiseGrid(y.size), { WG });
  return record('patch_tokens', [x], y, (dy) =>
    gradInto(x, (dx, accumulate) =>
      gpu.run('tokens', 'drop_cls_backward', { ...p, accumulate }, { src: dy.storage, dst: dx.storage }, elementwiseGrid(x.size), { WG })));
}

function maskParams(op: string, x: Tensor, mask: Storage) {
  const [batch, tokens, dim] = x.shape;
  if (x.shape.length !== 3) throw new Error(`${op}: x [${x.shape}] must be [B, T, C]`);
  if (mask.elements !== tokens) throw new Error(`${op}: mask of ${mask.elements} values for ${tokens} tokens`);
  return { batch, tokens, dim, index: 0, accumulate: 0 };
}

/** y[b,t] = mask[t] ≠ 0 ? x[B−1−b, t] : x[b, t], x [B, T, C]. Its own inverse; backward swaps dy the same way. */
export function swapTokens(x: Tensor, mask: Storage): Tensor {
  const gpu = x.gpu;
  const p = maskParams('swapTokens', x, mask);
  const y = tempTensor(gpu, x.shape, 'swap_tokens');
  gpu.run('tokens', 'swap_tokens', p, { src: x.storage, mask, dst: y.storage }, elementwiseGrid(y.size), { WG });
  return record('swap_tokens', [x], y, (dy) =>
    gradInto(x, (dx, accumulate) =>
      gpu.run('tokens', 'swap_tokens', { ...p, accumulate }, { src: dy.storage, mask, dst: dx.storage }, elementwiseGrid(x.size), { WG })));
}

/** x [B, T, D] → [B, 2, D]: y[b,0] = mean of the tokens with mask 0, y[b,1] = mean of the others; an empty region gives 0. */
export function poolRegions(x: Tensor, mask: Storage): Tensor {
  const gpu = x.gpu;
  const p = maskParams('poolRegions', x, mask);
  const y = tempTensor(gpu, [p.batch, 2, p.dim], 'pool_regions');
  gpu.run('tokens', 'pool_regions', p, { src: x.storage, mask, dst: y.storage }, elementwiseGrid(y.size), { WG });
  return record('pool_regions', [x], y, (dy) =>
    gradInto(x, (dx, accumulate) =>
      gpu.run('tokens', 'pool_regions_backward', { ...p, accumulate }, { src: dy.storage, mask, dst: dx.storage }, elementwiseGrid(x.size), { WG })));
}

/** x [B, T, K] → max over tokens [B, K]. Forward only (evaluation): not recorded, no gradient. */
export function maxTokens(x: Tensor): Tensor {
  const gpu = x.gpu;
  const [batch, tokens, dim] = x.shape;
  if (x.shape.length !== 3 || tokens < 1) throw new Error(`maxTokens: x [${x.shape}] must be [B, T, K] with T ≥ 1`);
  const y = tempTensor(gpu, [batch, dim], 'max_tokens');
  gpu.run('tokens', 'max_tokens', { batch, tokens, dim, index: 0, accumulate: 0 }, { src: x.storage, dst: y.storage }, elementwiseGrid(y.size), { WG });
  return y;
}
