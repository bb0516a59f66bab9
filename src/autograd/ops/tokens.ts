/**
 * Token bookkeeping (shaders/tokens.wgsl): CLS token + learned position embedding, picking one
 * token, averaging patch tokens. Legend: B batch, T patches, N = T + 1 tokens, D dim.
 */
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
      gpu.run('tokens', 'embed_tokens_backward', { ...p, accumulate }, { src: dx.storage, dst: dp.storage }, elementwiseGrid(patches.size), { WG }));
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
