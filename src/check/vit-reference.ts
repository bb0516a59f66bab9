/**
 * The ViT of src/nn/vit.ts in float64 on the CPU, composed from the kernel references: the
 * whole-model finite-difference check differentiates this, not the f32 GPU model, so its
 * numerical error (~1e-10) is far below what it checks.
 */
import * as ref from '../autograd/reference/index.ts';
import { LAYERNORM_EPS } from '../autograd/ops/layernorm.ts';
import { tokensOf, type VitConfig } from '../nn/presets.ts';

export type Weights = Map<string, Float64Array>;

/** Mean soft-target cross-entropy of the model on images [B, C, S, S] and targets [B, K]. */
export function referenceLoss(c: VitConfig, w: Weights, images: ArrayLike<number>, targets: ArrayLike<number>, batch: number): number {
  const get = (name: string) => {
    const v = w.get(name);
    if (!v) throw new Error(`referenceLoss: weight "${name}" missing`);
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
  const cls = ref.gatherToken(norm(x, 'norm'), batch, N, D, 0);
  const logits = linear(cls, 'head', D, c.classes, batch);
  return ref.softCrossEntropy(logits, targets, c.classes).loss;
}
