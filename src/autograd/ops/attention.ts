/**
 * Multi-head scaled dot-product attention on a fused qkv tensor (shaders/attention.wgsl).
 * qkv [B·N, 3D] (timm's layout: q, k, v, each split into H heads) → out [B·N, D].
 * The softmax probabilities [B, H, N, N] are returned too: backward needs them, and label
 * propagation reads their head average (under noGrad).
 *
 * Head dims up to ATTENTION_MAX_TILED_HEAD_DIM take the tiled kernels: a workgroup per (b, h,
 * block of ≤ WG rows), the other operand streamed through workgroup memory in tiles of
 * `attentionTileRows(E)` rows, sized to WebGPU's minimum 16 KiB whatever the adapter offers.
 * Larger head dims fall back to the thread-per-row kernels (*_rows).
 */
import { grid1d } from '../../gpu/gpu.ts';
import { gradInto, record } from '../tape.ts';
import { tempTensor, type Tensor } from '../tensor.ts';
import { ROW_WG as WG, rowGrid } from './workgroups.ts';

export interface AttentionResult { out: Tensor; probs: Tensor }

/** The tiled kernels keep E-vectors in registers (4·`MAX_HD4` in the shader). */
export const ATTENTION_MAX_TILED_HEAD_DIM = 64;
/** WebGPU's default (minimum) maxComputeWorkgroupStorageSize. */
const WORKGROUP_BYTES = 16384;

/** Workgroup memory of the tiled kernels with tiles of kt rows: two [kt, E] tiles (E padded to vec4s), P [kt, WG+1], δ [kt]. */
export const attentionWorkgroupBytes = (kt: number, headDim: number) => 4 * kt * (2 * 4 * Math.ceil(headDim / 4) + WG + 2);

/** Rows per streamed tile: the most that fit 16 KiB (a multiple of 4, at most 64). */
export function attentionTileRows(headDim: number): number {
  const kt = Math.min(64, Math.floor(WORKGROUP_BYTES / attentionWorkgroupBytes(1, headDim) / 4) * 4);
  if (kt < 1 || attentionWorkgroupBytes(kt, headDim) > WORKGROUP_BYTES) throw new Error(`attention: head dim ${headDim} leaves no tile in ${WORKGROUP_BYTES} B`);
  return kt;
}

export function attention(qkv: Tensor, batch: number, tokens: number, heads: number): AttentionResult {
  const gpu = qkv.gpu;
  const dim = qkv.size / (batch * tokens * 3);
  if (!Number.isInteger(dim) || dim % heads !== 0) throw new Error(`attention: qkv [${qkv.shape}] does not split into ${batch}×${tokens}×3×${heads} heads`);
  const headDim = dim / heads;
  const tiled = headDim <= ATTENTION_MAX_TILED_HEAD_DIM;
  // Row blocks of the tiled kernels: as few as WG threads allow, of equal size.
  const blocks = Math.ceil(tokens / WG);
  const blockRows = Math.ceil(tokens / blocks);
  const p = { batch, tokens, heads, head_dim: headDim, scale: 1 / Math.sqrt(headDim), accumulate: 0, blocks, block_rows: blockRows };
  const out = tempTensor(gpu, [batch * tokens, dim], 'attention');
  const probs = tempTensor(gpu, [batch, heads, tokens, tokens], 'attention.probs');
  const rows = batch * heads * tokens;
  const grid = tiled ? grid1d(batch * heads * blocks, 1) : rowGrid(rows);
  const constants: Record<string, number> = tiled ? { WG, HD: headDim, KT: attentionTileRows(headDim) } : { WG };
  const suffix = tiled ? '' : '_rows';
  gpu.run('attention', `attention_forward${suffix}`, p, { qkv: qkv.storage, out: out.storage, probs: probs.storage }, grid, constants);
  record('attention', [qkv], out, (dOut) =>
    gradInto(qkv, (dqkv, accumulate) => {
      const q = { ...p, accumulate };
      if (tiled) {
        const delta = gpu.temp(rows);
        const bindings = { qkv: qkv.storage, dout: dOut.storage, saved_probs: probs.storage, delta, dqkv: dqkv.storage };
        gpu.run('attention', 'attention_backward_query', q, { ...bindings, saved_out: out.storage }, grid, constants);
        gpu.run('attention', 'attention_backward_key', q, bindings, grid, constants);
      } else {
        const dscores = gpu.temp(probs.size);
        const bindings = { qkv: qkv.storage, dout: dOut.storage, saved_probs: probs.storage, dscores, dqkv: dqkv.storage };
        gpu.run('attention', 'attention_backward_query_rows', q, bindings, grid, constants);
        gpu.run('attention', 'attention_backward_key_rows', q, bindings, grid, constants);
      }
    }));
  return { out, probs };
}
