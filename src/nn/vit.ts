/**
 * DeiT-style pre-norm Vision Transformer for small images, on the autograd ops.
 * Legend: B batch, C channels, S image side, P patch, T = (S/P)² patches, N = T + 1 tokens,
 * D dim, H heads, F MLP hidden dim, K classes.
 *
 *   patches = patchify(images) · W_peᵀ + b_pe               [B·T, D]   (timm patch_embed.proj)
 *   x = [cls; patches] + pos_embed                            [B, N, D]
 *   per block:  x += proj(attention(qkv(LN1(x))));  x += fc2(GELU(fc1(LN2(x))))
 *   logits = head(LN(x)[:, 0])                                [B, K]
 *
 * Fused kernels: each residual add runs in the epilogue of the matmul before it (proj, fc2:
 * `residual`), so their products alone are never stored, and fc1's bias and GELU run in its
 * matmul epilogue (activation: 'gelu').
 *
 * Precision 'f16' (needs shader-f16): every linear layer's product reads the f16 copy of its
 * weight (written by AdamW's mixed step) in the forward and in its input gradient; the
 * activations read only by a product are stored in f16 by the kernel that makes them (LN1 → qkv,
 * LN2 → fc1, fc1's GELU epilogue → fc2). Products accumulate in f32; everything else (residual
 * stream, qkv, attention, the final LayerNorm, logits, loss, every gradient) stays f32.
 *
 * Parameter names and shapes are timm's (VisionTransformer), so weights load into timm.
 */
import { attention, embedTokens, gatherToken, layerNorm, LAYERNORM_EPS, matmul, patchify, swapTokens, type Tensor } from '../autograd/index.ts';
import { type Gpu, type Storage } from '../gpu/gpu.ts';
import { type ParamSpec, Parameters } from './parameters.ts';
import { tokensOf, type VitConfig } from './presets.ts';
import { Rng } from './random.ts';

/** timm/DeiT initialisation: trunc_normal_(std=.02) for Linear weights, position and CLS embeddings. */
export const INIT_STD = 0.02;

export interface VitOutput {
  logits: Tensor;
  /** Softmax attention of every block, [B, H, N, N] each (what label propagation reads). */
  attention: Tensor[];
  /** With ForwardOptions.labels: L⁰ and the labels after every block (depth + 1 tensors [B, N, C], no gradient). */
  labels?: Tensor[];
  /** Final normalised tokens [B, N, D]. */
  tokens: Tensor;
  /** The residual stream [B·N, D] after the embedding and after every block (depth + 1 tensors; the backward keeps them anyway). */
  hidden: Tensor[];
  /** The patch embeddings [B, T, D] (after the stem and MixToken's swap, before CLS and position). */
  patches: Tensor;
}

export interface ForwardOptions {
  /** MixToken: u32 [T]; patch embeddings of the tokens set here are swapped with the partner's (B − 1 − b). */
  swapPatches?: Storage;
  /** L⁰ [B, N, C]: labels carried through every block's attention, L ← ½(Ā·L + L) (TL-Align), fused into its kernels. */
  labels?: Tensor;
}

/** A Linear(D, K)-style head trained beside the ViT (Token Labeling's aux_head, DiversePatch's mix_head), timm init. */
export function headSpecs(name: string, out: number, inp: number, seed: number): ParamSpec[] {
  const rng = new Rng(seed);
  return [
    { name: `${name}.weight`, shape: [out, inp], decay: true, init: () => rng.fill(out * inp, () => rng.truncatedNormal(INIT_STD)) },
    { name: `${name}.bias`, shape: [out], decay: false, init: () => new Float32Array(out) },
  ];
}

export function vitParamSpecs(c: VitConfig, seed: number): ParamSpec[] {
  const rng = new Rng(seed);
  const specs: ParamSpec[] = [];
  const n = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const normal = (shape: number[]) => () => rng.fill(n(shape), () => rng.truncatedNormal(INIT_STD));
  const constant = (shape: number[], v: number) => () => new Float32Array(n(shape)).fill(v);
  // timm leaves the patch conv at PyTorch's default: U(±1/√fan_in) for weight and bias.
  const fanIn = c.channels * c.patch * c.patch;
  const convDefault = (shape: number[]) => () => rng.fill(n(shape), () => rng.uniform(-1, 1) / Math.sqrt(fanIn));
  const linear = (name: string, out: number, inp: number) => {
    specs.push({ name: `${name}.weight`, shape: [out, inp], decay: true, init: normal([out, inp]) });
    specs.push({ name: `${name}.bias`, shape: [out], decay: false, init: constant([out], 0) });
  };
  const norm = (name: string) => {
    specs.push({ name: `${name}.weight`, shape: [c.dim], decay: false, init: constant([c.dim], 1) });
    specs.push({ name: `${name}.bias`, shape: [c.dim], decay: false, init: constant([c.dim], 0) });
  };

  const pe = [c.dim, c.channels, c.patch, c.patch];
  specs.push({ name: 'patch_embed.proj.weight', shape: pe, decay: true, init: convDefault(pe) });
  specs.push({ name: 'patch_embed.proj.bias', shape: [c.dim], decay: false, init: convDefault([c.dim]) });
  specs.push({ name: 'cls_token', shape: [1, 1, c.dim], decay: false, init: normal([1, 1, c.dim]) });
  specs.push({ name: 'pos_embed', shape: [1, tokensOf(c), c.dim], decay: false, init: normal([1, tokensOf(c), c.dim]) });
  for (let i = 0; i < c.depth; i++) {
    norm(`blocks.${i}.norm1`);
    linear(`blocks.${i}.attn.qkv`, 3 * c.dim, c.dim);
    linear(`blocks.${i}.attn.proj`, c.dim, c.dim);
    norm(`blocks.${i}.norm2`);
    linear(`blocks.${i}.mlp.fc1`, c.mlpDim, c.dim);
    linear(`blocks.${i}.mlp.fc2`, c.dim, c.mlpDim);
  }
  norm('norm');
  linear('head', c.classes, c.dim);
  return specs;
}

export type Precision = 'f32' | 'f16';

export class VisionTransformer {
  readonly params: Parameters;
  readonly precision: Precision;

  /** `extra`: parameters a training method adds (heads); the ViT's own initialisation does not depend on them. */
  constructor(readonly gpu: Gpu, readonly config: VitConfig, seed = 0, extra: ParamSpec[] = [], o: { precision?: Precision } = {}) {
    if (config.imageSize % config.patch !== 0) throw new Error(`image side ${config.imageSize} is not a multiple of patch ${config.patch}`);
    if (config.dim % config.heads !== 0) throw new Error(`dim ${config.dim} does not split into ${config.heads} heads`);
    this.precision = o.precision ?? 'f32';
    if (this.precision === 'f16' && !gpu.device.features.has('shader-f16')) {
      throw new Error('precision f16 needs the WebGPU feature \'shader-f16\', which this adapter does not offer; use precision f32');
    }
    this.params = new Parameters(gpu, [...vitParamSpecs(config, seed), ...extra], { half: this.precision === 'f16' });
  }

  has(name: string): boolean {
    return this.params.byName.has(name);
  }

  get parameterCount(): number {
    return this.params.count;
  }

  /** images [B, C, S, S] (normalised) → logits [B, K], recorded on the tape. */
  forward(images: Tensor, o: ForwardOptions = {}): VitOutput {
    const c = this.config;
    const w = (name: string) => this.params.get(name);
    const B = images.shape[0];
    const N = tokensOf(c);
    const half = this.precision === 'f16';
    /** The f16 copy of a weight on the f16 path. */
    const halfOf = (name: string, shape?: number[]) => (half ? (shape ? this.params.half(name).reshape(shape) : this.params.half(name)) : undefined);
    /** x·Wᵀ + b (+ residual). */
    const linear = (x: Tensor, name: string, residual?: Tensor) =>
      matmul(x, w(`${name}.weight`), { transB: true, bias: w(`${name}.bias`), residual, halfB: halfOf(`${name}.weight`) });

    const patchWeight = [c.dim, c.channels * c.patch * c.patch];
    const patches = matmul(patchify(images, c.patch), w('patch_embed.proj.weight').reshape(patchWeight),
      { transB: true, bias: w('patch_embed.proj.bias'), halfB: halfOf('patch_embed.proj.weight', patchWeight) });
    let patchEmbeddings = patches.reshape([B, N - 1, c.dim]);
    if (o.swapPatches) patchEmbeddings = swapTokens(patchEmbeddings, o.swapPatches);
    let x = embedTokens(patchEmbeddings, w('cls_token'), w('pos_embed')).reshape([B * N, c.dim]);

    const attn: Tensor[] = [];
    const labels = o.labels && [o.labels];
    const hidden = [x];
    /** gamma, beta of block i's norm1/norm2; past the last block, of the final norm. */
    const norm = (i: number, which: 'norm1' | 'norm2'): [Tensor, Tensor] =>
      (i < c.depth ? [w(`blocks.${i}.${which}.weight`), w(`blocks.${i}.${which}.bias`)] : [w('norm.weight'), w('norm.bias')]);
    // h: LN1 of the block about to run (after the last block: the final LN)
    // LN1 and LN2 outputs only feed qkv / fc1; the final LayerNorm's (tokens, head) stays f32
    const normed = (i: number, which: 'norm1' | 'norm2', input: Tensor) =>
      layerNorm(input, ...norm(i, which), LAYERNORM_EPS, { halfOutput: half && i < c.depth });
    let h = normed(0, 'norm1', x);
    for (let i = 0; i < c.depth; i++) {
      const blk = `blocks.${i}`;
      const a = attention(linear(h, `${blk}.attn.qkv`), B, N, c.heads, { labels: labels?.[i] });
      attn.push(a.probs);
      if (labels) labels.push(a.labels!);
      const mid = linear(a.out, `${blk}.attn.proj`, x);
      const u = matmul(normed(i, 'norm2', mid), w(`${blk}.mlp.fc1.weight`),
        { transB: true, bias: w(`${blk}.mlp.fc1.bias`), activation: 'gelu', halfB: halfOf(`${blk}.mlp.fc1.weight`), halfOutput: half });
      x = linear(u, `${blk}.mlp.fc2`, mid);
      h = normed(i + 1, 'norm1', x);
      hidden.push(x);
    }
    const tokens = h.reshape([B, N, c.dim]);
    const logits = linear(gatherToken(tokens, 0), 'head');
    return { logits, attention: attn, labels, tokens, hidden, patches: patchEmbeddings };
  }
}
