/**
 * The ViT of src/nn/vit.ts in float64 on the CPU, composed from the kernel references: the
 * whole-model finite-difference check differentiates this, not the f32 GPU model, so its
 * numerical error (~1e-10) is far below what it checks.
 */
import * as ref from '../autograd/reference/index.ts';
import { LAYERNORM_EPS } from '../autograd/ops/layernorm.ts';
import { tokensOf, type VitConfig } from '../nn/presets.ts';

export type Weights = Map<string, Float64Array>;

export interface ReferenceForward {
  /** Final normalised tokens [B, N, D] (token 0 is CLS). */
  tokens: Float64Array;
  /** head(tokens[:, 0]) [B, K]. */
  logits: Float64Array;
}

/** The model's forward in float64 on images [B, C, S, S] (normalised): final tokens and classifier logits. */
export function referenceForward(c: VitConfig, w: Weights, images: ArrayLike<number>, batch: number): ReferenceForward {
  const get = (name: string) => {
    const v = w.get(name);
    if (!v) throw new Error(`referenceForward: weight "${name}" missing`);
    return v;
  };
  const N = tokensOf(c);
  const D = c.dim;
  const rows = batch * N;
  const linear = (x: ArrayLike<number>, name: string, inDim: number, outDim: number, r = rows) =>
    ref.matmul(x, get(`${name}.weight`), { batch: 1, M: r, N: outDim, K: inDim, transB: true }, get(`${name}.bias`));
  const norm = (x: ArrayLike<number>, name: string) => ref.layerNorm(x, get(`${name}.weight`), get(`${name}.bias`), D, LAYERNORM_EPS).y;

  const patchDim = c.channels * c.patch * c.patch;
  const patches = ref.patchify(images, { batch, channels: c.channels, side: c.imageSize, patch: c.patch });
  const embedded = ref.matmul(patches, get('patch_embed.proj.weight'), { batch: 1, M: batch * (N - 1), N: D, K: patchDim, transB: true }, get('patch_embed.proj.bias'));
  let x = ref.embedTokens(embedded, get('cls_token'), get('pos_embed'), batch, D);
  for (let i = 0; i < c.depth; i++) {
    const blk = `blocks.${i}`;
    const qkv = linear(norm(x, `${blk}.norm1`), `${blk}.attn.qkv`, D, 3 * D);
    const a = ref.attention(qkv, { batch, tokens: N, heads: c.heads, headDim: D / c.heads }).out;
    x = ref.add(x, linear(a, `${blk}.attn.proj`, D, D));
    const h = ref.gelu(linear(norm(x, `${blk}.norm2`), `${blk}.mlp.fc1`, D, c.mlpDim));
    x = ref.add(x, linear(h, `${blk}.mlp.fc2`, c.mlpDim, D));
  }
  const tokens = norm(x, 'norm');
  const cls = ref.gatherToken(tokens, batch, N, D, 0);
  const logits = linear(cls, 'head', D, c.classes, batch);
  return { tokens, logits };
}

/** Mean soft-target cross-entropy of the model on images [B, C, S, S] and targets [B, K]. */
export function referenceLoss(c: VitConfig, w: Weights, images: ArrayLike<number>, targets: ArrayLike<number>, batch: number): number {
  return ref.softCrossEntropy(referenceForward(c, w, images, batch).logits, targets, c.classes).loss;
}
