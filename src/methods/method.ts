/**
 * One interface for every training method (../shared/docs/methods.md): what it does to the batch
 * (a per-batch mix drawn on the CPU, applied to the pixels on the GPU) and which soft targets the
 * CLS logits are trained against (built on the GPU, no gradient, after the forward pass so that
 * TL-Align can read the attention). A method that carries labels through the attention (TL-Align)
 * hands the trainer its initial labels before the forward, which propagates them inside the
 * attention kernels. The trainer, the CLI and the page pick methods by name.
 */
import { noGrad, softCrossEntropy, Tensor } from '../autograd/index.ts';
import { type Gpu, type Storage } from '../gpu/gpu.ts';
import { type ParamSpec } from '../nn/parameters.ts';
import { type VitConfig } from '../nn/presets.ts';
import { type Rng } from '../nn/random.ts';
import { type VisionTransformer, type VitOutput } from '../nn/vit.ts';
import { clsTargets, initLabels } from './labels.ts';
import { type BatchMix, type MixGeometry, type TokenMaskKind } from './mixing.ts';

export interface MethodOptions {
  /** Label smoothing s: ỹ(c) has 1 − s + s/K at c and s/K elsewhere. */
  smoothing: number;
  /** α of Mixup's Beta(α, α). */
  mixupAlpha: number;
  /** α of CutMix's Beta(α, α). */
  cutmixAlpha: number;
  /** Probability that a batch of a CutMix-style method is mixed with Mixup instead (DeiT's switch). */
  mixupSwitchProb: number;
  /** TokenMix: 'blocks' (BEiT-style multi-block mask, the code's) or 'random' token positions. */
  tokenmixMask: TokenMaskKind;
  /** TokenMix: the partner's share of the tokens (the code's 0.5 + 1/14). */
  tokenmixShare: number;
  /** TokenMix's loss: 'bce' (the released code's) or 'ce' (targets normalised to sum 1). */
  tokenmixLoss: 'bce' | 'ce';
  /** Token Labeling: weight β of the per-token loss (1.0 in the code, 0.5 in the paper). */
  tokenLabelWeight: number;
  /** Token Labeling: weight γ of the ground truth blended into the teacher's pooled CLS label. */
  tokenLabelGtWeight: number;
  /** DiversePatch weights: patch-wise cosine penalty (paper only), contrastive, mixing. */
  diversityCosine: number;
  diversityContrastive: number;
  diversityMixing: number;
  /** DiversePatch (released code): side of the local window of the contrastive loss; 0 = 7 at 14×14 scaled to the grid. */
  diversityWindow: number;
}

export const DEFAULT_METHOD_OPTIONS: MethodOptions = {
  smoothing: 0.1, mixupAlpha: 0.8, cutmixAlpha: 1.0, mixupSwitchProb: 0,
  tokenmixMask: 'blocks', tokenmixShare: 0.5 + 1 / 14, tokenmixLoss: 'bce',
  tokenLabelWeight: 1, tokenLabelGtWeight: 0,
  diversityCosine: 1, diversityContrastive: 1, diversityMixing: 1, diversityWindow: 0,
};

/** What a method may read before the forward pass, all on the GPU (its initial labels). */
export interface BatchInputs {
  gpu: Gpu;
  mix: BatchMix;
  /** u32 [B]: each sample's own label; the partner of sample b is B − 1 − b. */
  labels: Storage;
  /** f32 [T]: mix.partnerShare, uploaded. */
  partnerShare: Storage;
  batch: number;
  tokens: number;
  classes: number;
  smoothing: number;
  /** [B, T, K]: the teacher's per-token class probabilities of each sample's own image (teacher methods). */
  teacher?: Tensor;
  options: MethodOptions;
}

/** What a method's targets may read, all on the GPU. */
export interface TargetInputs extends BatchInputs {
  /** Softmax attention of every block, [B, H, N, N] (read without gradient). */
  attention: readonly Tensor[];
  /**
   * The method's initialLabels after the input and after every block ([depth + 1] × [B, N, C]),
   * when the forward carried them (fused into the attention kernels); absent otherwise, and the
   * method propagates from `attention` itself.
   */
  propagated?: readonly Tensor[];
}

/** What a method's loss may read: the targets' inputs plus the forward pass and the model. */
export interface LossInputs extends TargetInputs {
  out: VitOutput;
  model: VisionTransformer;
  /** u32 [T]: 1 where the batch's patch token is the partner's (token-pure mixes). */
  tokenMask: Storage;
}

export interface MethodLoss {
  /** The loss to minimise, recorded on the tape. */
  loss: Tensor;
  /** The CLS targets [B, K] and each row's correctness (argmax) against them, for metrics and views. */
  targets: Tensor;
  correct: Tensor;
}

export interface Method {
  readonly name: string;
  readonly summary: string;
  /** Needs a teacher's dense maps (the CLI's --teacher). */
  readonly teacher?: boolean;
  /** Heads the method trains beside the ViT (timm-style names). */
  extraParams?(vit: VitConfig, seed: number, o: MethodOptions): ParamSpec[];
  /** Draws this batch's mix (a few numbers per batch, never per image). */
  drawMix(rng: Rng, g: MixGeometry, o: MethodOptions): BatchMix;
  /**
   * Labels to carry through the attention: L⁰ [B, N, C], L ← ½(Ā·L + L) in every block (TL-Align).
   * Called under noGrad before the forward, which fuses the propagation into its attention
   * kernels; targets() then finds the layers in `propagated`.
   */
  initialLabels?(t: BatchInputs): Tensor;
  /** initialLabels are the own shares v⁰ [B, N, 1] (TL-Align): the fluctuation view reads the carried layers. */
  readonly labelsAreOwnShares?: boolean;
  /** Soft targets [B, K] for the CLS logits; called under noGrad after the forward pass. */
  targets(t: TargetInputs): Tensor;
  /** The training loss; default: soft-target CE of the CLS logits against targets(). */
  loss?(l: LossInputs): MethodLoss;
  /** The logits used at evaluation [B, K]; default the CLS logits. Runs under noGrad. */
  evalLogits?(out: VitOutput, model: VisionTransformer): Tensor;
}

/** The default loss: soft-target CE of the CLS logits against the method's targets. */
export function clsLoss(method: Method, l: LossInputs): MethodLoss {
  const targets = noGrad(() => method.targets(l));
  const ce = softCrossEntropy(l.out.logits, targets);
  return { loss: ce.loss, targets, correct: ce.correct };
}

/** λ·ỹ(own) + (1 − λ)·ỹ(partner): the area-ratio target of Mixup and CutMix (and one-hot when λ = 1). */
export function areaTargets(t: TargetInputs): Tensor {
  return clsTargets(initLabels(t.gpu, {
    labels: t.labels, batch: t.batch, tokens: 1, classes: t.classes, smoothing: t.smoothing,
    clsOwnShare: t.mix.ownShare, partnerShare: t.partnerShare, perSample: false,
  }));
}

/** Constant tensors a loss needs every step (one-hot rows), made once per device and kept. */
const constants = new WeakMap<Gpu, Map<string, Tensor>>();

/** [rows, classes] one-hot rows, row r hot at hot(r). */
export function oneHotRows(gpu: Gpu, rows: number, classes: number, key: string, hot: (r: number) => number): Tensor {
  let cache = constants.get(gpu);
  if (!cache) constants.set(gpu, (cache = new Map()));
  const id = `${key}:${rows}x${classes}`;
  let t = cache.get(id);
  if (!t) {
    const data = new Float32Array(rows * classes);
    for (let r = 0; r < rows; r++) data[r * classes + hot(r)] = 1;
    t = new Tensor(gpu, [rows, classes], gpu.constant(data, id), false, id);
    cache.set(id, t);
  }
  return t;
}

/** The same values, cut off from the graph (no gradient flows into t through this view). */
export function detach(t: Tensor): Tensor {
  return new Tensor(t.gpu, t.shape, t.storage, false, `${t.name}.detached`);
}
