/**
 * The ViT of src/nn/vit.ts written from TF.js primitives only (no code, layout helper or kernel is
 * shared with src/autograd): the whole-model reference check runs it on TF.js's CPU backend, and
 * `npm run bench:peers` trains it on TF.js's WebGPU backend. No Node imports: the browser's bench
 * page uses it too.
 *
 * Legend: B batch, C channels, S image side, P patch, G = S/P, T = G² patches, N = T + 1 tokens,
 *         D dim, H heads, E = D/H head dim, F MLP hidden dim, K classes.
 *
 *   patch embedding  conv2d(images as NHWC, proj.weight [D,C,P,P] as [P,P,C,D], stride P) + bias
 *   tokens           x = concat(cls, patches [B,T,D]) + pos_embed                      [B, N, D]
 *   LayerNorm        (x − mean) / √(var + 1e-6) · γ + β, tf.moments over D (biased variance)
 *   attention        qkv [B,N,3,H,E] → q, k, v [B,H,N,E]; softmax(q kᵀ / √E) v → [B, N, D]
 *   block            x += proj(attention(qkv(LN1 x)));  x += fc2(GELU(fc1(LN2 x)))
 *   GELU             x · ½ (1 + erf(x / √2))
 *   logits           head(LN(x)[:, 0])                                                  [B, K]
 *   loss             −Σ t ⊙ logSoftmax(logits) / B   (soft targets)
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type { VitConfig } from '../nn/presets.ts';

export type Tf = typeof TfCore;
const LAYERNORM_EPS = 1e-6;

export type ByName = (name: string) => TfCore.Tensor;

export function vitLogits(tf: Tf, c: VitConfig, w: ByName, images: TfCore.Tensor4D): TfCore.Tensor2D {
  const B = images.shape[0];
  let x = embed(tf, c, w, images); // [B, N, D]
  for (let i = 0; i < c.depth; i++) {
    const blk = `blocks.${i}`;
    const h = layerNorm(tf, x, w(`${blk}.norm1.weight`), w(`${blk}.norm1.bias`));
    const a = multiHeadAttention(tf, linear(tf, h, w, `${blk}.attn.qkv`), c.heads);
    x = tf.add(x, linear(tf, a, w, `${blk}.attn.proj`));
    const m = layerNorm(tf, x, w(`${blk}.norm2.weight`), w(`${blk}.norm2.bias`));
    x = tf.add(x, linear(tf, geluErf(tf, linear(tf, m, w, `${blk}.mlp.fc1`)), w, `${blk}.mlp.fc2`));
  }
  const tokens = layerNorm(tf, x, w('norm.weight'), w('norm.bias'));
  const cls = tf.reshape(tf.slice(tokens, [0, 0, 0], [B, 1, c.dim]), [B, c.dim]);
  return linear(tf, cls, w, 'head') as TfCore.Tensor2D;
}

/** Patch embedding as a stride-P convolution, then the CLS token and position embedding. */
function embed(tf: Tf, c: VitConfig, w: ByName, images: TfCore.Tensor4D): TfCore.Tensor {
  const B = images.shape[0];
  const G = c.imageSize / c.patch;
  const nhwc = tf.transpose(images, [0, 2, 3, 1]); // [B, S, S, C]
  const filter = tf.transpose(w('patch_embed.proj.weight'), [2, 3, 1, 0]) as TfCore.Tensor4D; // [P, P, C, D]
  const conv = tf.conv2d(nhwc, filter, c.patch, 'valid'); // [B, G, G, D]
  const patches = tf.add(tf.reshape(conv, [B, G * G, c.dim]), w('patch_embed.proj.bias'));
  const cls = tf.tile(tf.reshape(w('cls_token'), [1, 1, c.dim]), [B, 1, 1]);
  return tf.add(tf.concat([cls, patches], 1), w('pos_embed'));
}

/** timm Linear on the last axis: x · Wᵀ + b, W [out, in]. */
function linear(tf: Tf, x: TfCore.Tensor, w: ByName, name: string): TfCore.Tensor {
  const W = w(`${name}.weight`);
  const [out, inp] = W.shape;
  const rows = tf.reshape(x, [-1, inp]);
  const y = tf.add(tf.matMul(rows, W, false, true), w(`${name}.bias`));
  return tf.reshape(y, [...x.shape.slice(0, -1), out]);
}

function layerNorm(tf: Tf, x: TfCore.Tensor, gamma: TfCore.Tensor, beta: TfCore.Tensor): TfCore.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  const normalised = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, LAYERNORM_EPS)));
  return tf.add(tf.mul(normalised, gamma), beta);
}

function geluErf(tf: Tf, x: TfCore.Tensor): TfCore.Tensor {
  const phi = tf.mul(0.5, tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
  return tf.mul(x, phi);
}

/** qkv [B, N, 3D] in timm's layout [B, N, 3, H, E] → attention output [B, N, D]. */
function multiHeadAttention(tf: Tf, qkv: TfCore.Tensor, heads: number): TfCore.Tensor {
  const [B, N, threeD] = qkv.shape;
  const D = threeD / 3;
  const E = D / heads;
  const split = tf.transpose(tf.reshape(qkv, [B, N, 3, heads, E]), [2, 0, 3, 1, 4]); // [3, B, H, N, E]
  const [q, k, v] = tf.split(split, 3, 0).map((t) => tf.reshape(t, [B, heads, N, E]));
  const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(E)); // [B, H, N, N]
  const out = tf.matMul(tf.softmax(scores, -1), v); // [B, H, N, E]
  return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [B, N, D]);
}

export function softTargetCrossEntropy(tf: Tf, logits: TfCore.Tensor2D, targets: TfCore.Tensor2D): TfCore.Scalar {
  const B = logits.shape[0];
  return tf.div(tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits, -1)))), B) as TfCore.Scalar;
}
