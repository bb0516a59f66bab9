/**
 * Multi-head scaled dot-product attention on a fused qkv tensor (shaders/attention.wgsl).
 * qkv [B·N, 3D] (timm's layout: q, k, v, each split into H heads) → out [B·N, D].
 * The softmax probabilities [B, H, N, N] are returned too: backward needs them (and the separate
 * label propagation, propagateLabels, reads their head average).
 *
 * Head dims up to ATTENTION_MAX_TILED_HEAD_DIM take the tiled kernels: a workgroup per (b, h,
 * block of ≤ WG rows), the other operand streamed through workgroup memory in tiles of
 * `attentionTileRows(E)` rows, sized to WebGPU's minimum 16 KiB whatever the adapter offers.
 * Larger head dims fall back to the thread-per-row kernels (*_rows).
 *
 * With `labels` L [B, N, C] (TL-Align's label matrix; data, never on the tape) the forward kernel
 * also multiplies each head's probabilities by L while it holds them (Y_h = P_h L, [B, H, N, C])
 * and a small second kernel takes the head mean: `labels` out is L' = ½(mean_h Y_h + L), what
 * propagateLabels (src/methods/labels.ts) computes from the probabilities afterwards.
 */
import { grid1d, type Storage } from '../../gpu/gpu.ts';
import { gradInto, record } from '../tape.ts';
import { tempTensor, type Tensor } from '../tensor.ts';
import { ROW_WG as WG, rowGrid } from './workgroups.ts';

export interface AttentionOptions {
  /** L [B, N, C]: labels carried through this block, L' = ½(Ā·L + L) with Ā the head-mean of probs. No gradient. */
  labels?: Tensor;
}

export interface AttentionResult {
  out: Tensor;
  probs: Tensor;
  /** L' [B, N, C] when `labels` was given. */
  labels?: Tensor;
}

/** The tiled kernels keep E-vectors in registers (4·`MAX_HD4` in the shader). */
export const ATTENTION_MAX_TILED_HEAD_DIM = 64;
/** The tiled forward keeps a row's label sums in registers (4·`MAX_LC4` in the shader); the row kernels take any C. */
export const ATTENTION_MAX_TILED_LABEL_COLUMNS = 16;
/** WebGPU's default (minimum) maxComputeWorkgroupStorageSize. */
const WORKGROUP_BYTES = 16384;

/**
 * Workgroup memory of the tiled kernels with tiles of kt rows: two [kt, E] tiles (E padded to
 * vec4s), P [kt, WG+1], δ [kt]; with label columns C, the L tile [kt, C] (padded to vec4s) too.
 */
export const attentionWorkgroupBytes = (kt: number, headDim: number, labelColumns = 0) =>
  4 * kt * (2 * 4 * Math.ceil(headDim / 4) + WG + 2 + 4 * Math.ceil(labelColumns / 4));

/**
 * Rows per streamed tile: the most that fit 16 KiB (a multiple of 4, at most 64). The label tile
 * of the fused forward can make it smaller; the results do not depend on it (every sum runs over
 * the keys in order, whatever the tiles).
 */
export function attentionTileRows(headDim: number, labelColumns = 0): number {
  const kt = Math.min(64, Math.floor(WORKGROUP_BYTES / attentionWorkgroupBytes(1, headDim, labelColumns) / 4) * 4);
  if (kt < 1 || attentionWorkgroupBytes(kt, headDim, labelColumns) > WORKGROUP_BYTES) {
    throw new Error(`attention: head dim ${headDim}${labelColumns ? ` with ${labelColumns} label columns` : ''} leaves no tile in ${WORKGROUP_BYTES} B`);
  }
  return kt;
}

/** Whether attention() can carry labels of `columns` columns inside its forward kernel at this head dim. */
export function attentionFusesLabels(headDim: number, columns: number): boolean {
  return headDim > ATTENTION_MAX_TILED_HEAD_DIM || columns <= ATTENTION_MAX_TILED_LABEL_COLUMNS;
}

export function attention(qkv: Tensor, batch: number, tokens: number, heads: number, o: AttentionOptions = {}): AttentionResult {
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
  const forward = { qkv: qkv.storage, out: out.storage, probs: probs.storage };
  let labelsOut: Tensor | undefined;
  if (o.labels) labelsOut = forwardWithLabels(o.labels, p, forward, grid, constants, tiled);
  else gpu.run('attention', `attention_forward${suffix}`, p, forward, grid, constants);
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
  return { out, probs, labels: labelsOut };
}

type AttentionParams = { batch: number; tokens: number; heads: number; head_dim: number; scale: number; accumulate: number; blocks: number; block_rows: number };

/** The forward with L [B, N, C] multiplied in (variant 1 or 2 of the shader), then the head mean: L' [B, N, C]. */
function forwardWithLabels(labels: Tensor, p: AttentionParams, bindings: Record<string, Storage>, grid: [number, number],
  constants: Record<string, number>, tiled: boolean): Tensor {
  const gpu = labels.gpu;
  const { batch, tokens, heads, head_dim: headDim } = p;
  const columns = labels.shape[2];
  if (labels.shape.length !== 3 || labels.shape[0] !== batch || labels.shape[1] !== tokens) {
    throw new Error(`attention: labels [${labels.shape}] must be [${batch}, ${tokens}, C]`);
  }
  if (labels.requiresGrad) throw new Error('attention: labels are data and take no gradient (make them under noGrad)');
  if (!attentionFusesLabels(headDim, columns)) {
    throw new Error(`attention: head dim ${headDim} carries at most ${ATTENTION_MAX_TILED_LABEL_COLUMNS} label columns, got ${columns} (propagate them after the forward: propagateLabels)`);
  }
  const headLabels = gpu.temp(batch * heads * tokens * columns);
  const withLabels = { ...bindings, labels: labels.storage, head_labels: headLabels };
  if (tiled) {
    const kt = attentionTileRows(headDim, columns);
    gpu.run('attention', 'attention_forward_labels', p, withLabels, grid, { ...constants, KT: kt, LC: columns });
  } else {
    gpu.run('attention', 'attention_forward_rows_labels', p, withLabels, grid, { ...constants, LC: columns });
  }
  const out = tempTensor(gpu, labels.shape, 'labels');
  gpu.run('attention', 'attention_combine_labels', p, { labels: labels.storage, head_labels: headLabels, labels_out: out.storage },
    rowGrid(out.size), { WG, LC: columns });
  gpu.release(headLabels);
  return out;
}
