/**
 * One interface for every training method (../shared/docs/methods.md): what it does to the batch
 * (a per-batch mix drawn on the CPU, applied to the pixels on the GPU) and which soft targets the
 * CLS logits are trained against (built on the GPU, no gradient, after the forward pass so that
 * TL-Align can read the attention). The trainer, the CLI and the page pick methods by name.
 */
import { type Tensor } from '../autograd/index.ts';
import { type Gpu, type Storage } from '../gpu/gpu.ts';
import { type Rng } from '../nn/random.ts';
import { clsTargets, initLabels } from './labels.ts';
import { type BatchMix, type MixGeometry } from './mixing.ts';

export interface MethodOptions {
  /** Label smoothing s: ỹ(c) has 1 − s + s/K at c and s/K elsewhere. */
  smoothing: number;
  /** α of Mixup's Beta(α, α). */
  mixupAlpha: number;
  /** α of CutMix's Beta(α, α). */
  cutmixAlpha: number;
  /** Probability that a batch of a CutMix-style method is mixed with Mixup instead (DeiT's switch). */
  mixupSwitchProb: number;
}

export const DEFAULT_METHOD_OPTIONS: MethodOptions = { smoothing: 0.1, mixupAlpha: 0.8, cutmixAlpha: 1.0, mixupSwitchProb: 0 };

/** What a method's targets may read, all on the GPU. */
export interface TargetInputs {
  gpu: Gpu;
  mix: BatchMix;
  /** u32 [B]: each sample's own label; the partner of sample b is B − 1 − b. */
  labels: Storage;
  /** f32 [T]: mix.partnerShare, uploaded. */
  partnerShare: Storage;
  /** Softmax attention of every block, [B, H, N, N] (read without gradient). */
  attention: readonly Tensor[];
  batch: number;
  tokens: number;
  classes: number;
  smoothing: number;
}

export interface Method {
  readonly name: string;
  readonly summary: string;
  /** Draws this batch's mix (a few numbers per batch, never per image). */
  drawMix(rng: Rng, g: MixGeometry, o: MethodOptions): BatchMix;
  /** Soft targets [B, K] for the CLS logits; called under noGrad after the forward pass. */
  targets(t: TargetInputs): Tensor;
}

/** λ·ỹ(own) + (1 − λ)·ỹ(partner): the area-ratio target of Mixup and CutMix (and one-hot when λ = 1). */
export function areaTargets(t: TargetInputs): Tensor {
  return clsTargets(initLabels(t.gpu, {
    labels: t.labels, batch: t.batch, tokens: 1, classes: t.classes, smoothing: t.smoothing,
    clsOwnShare: t.mix.ownShare, partnerShare: t.partnerShare, perSample: false,
  }));
}
