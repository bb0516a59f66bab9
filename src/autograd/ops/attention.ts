/**
 * Multi-head scaled dot-product attention on a fused qkv tensor (shaders/attention.wgsl).
 * qkv [B·N, 3D] (timm's layout: q, k, v, each split into H heads) → out [B·N, D].
 * The softmax probabilities [B, H, N, N] are returned too: backward needs them, and label
 * propagation reads their head average (under noGrad).
 */
import { gradInto, record } from '../tape.ts';
import { tempTensor, type Tensor } from '../tensor.ts';
import { ROW_WG as WG, rowGrid } from './workgroups.ts';

export interface AttentionResult { out: Tensor; probs: Tensor }

export function attention(qkv: Tensor, batch: number, tokens: number, heads: number): AttentionResult {
  const gpu = qkv.gpu;
  const dim = qkv.size / (batch * tokens * 3);
  if (!Number.isInteger(dim) || dim % heads !== 0) throw new Error(`attention: qkv [${qkv.shape}] does not split into ${batch}×${tokens}×3×${heads} heads`);
  const headDim = dim / heads;
  const p = { batch, tokens, heads, head_dim: headDim, scale: 1 / Math.sqrt(headDim), accumulate: 0 };
  const out = tempTensor(gpu, [batch * tokens, dim], 'attention');
  const probs = tempTensor(gpu, [batch, heads, tokens, tokens], 'attention.probs');
  const rows = batch * heads * tokens;
  gpu.run('attention', 'attention_forward', p, { qkv: qkv.storage, out: out.storage, probs: probs.storage }, rowGrid(rows), { WG });
  record('attention', [qkv], out, (dOut) =>
    gradInto(qkv, (dqkv, accumulate) => {
      const dscores = gpu.temp(probs.size);
      const bindings = { qkv: qkv.storage, dout: dOut.storage, saved_probs: probs.storage, dscores, dqkv: dqkv.storage };
      gpu.run('attention', 'attention_backward_query', { ...p, accumulate }, bindings, rowGrid(rows), { WG });
      gpu.run('attention', 'attention_backward_key', { ...p, accumulate }, bindings, rowGrid(rows), { WG });
    }));
  return { out, probs };
}
