/**
 * TL-Align (methods.md, "TL-Align"): token-aligned CutMix; the label matrix L⁰ (own or partner
 * label per patch token, the area mix for CLS) follows every block's head-averaged attention,
 * L ← ½(Ā·L + L), without gradient; the target is the final CLS row. Inference is unchanged.
 */
import { type Tensor } from '../autograd/tensor.ts';
import { type BatchInputs, type Method, type TargetInputs } from './method.ts';
import { withMixupSwitch } from './cutmix.ts';
import { clsTargets, initLabels, propagateThroughBlocks } from './labels.ts';
import { drawTokenCutmix } from './mixing.ts';

/** L⁰ [B, N, K]: own or partner label per patch token, the area mix for CLS. */
export function initialAlignedLabels(t: BatchInputs): Tensor {
  return initLabels(t.gpu, {
    labels: t.labels, batch: t.batch, tokens: t.tokens, classes: t.classes, smoothing: t.smoothing,
    clsOwnShare: t.mix.ownShare, partnerShare: t.partnerShare, perSample: false,
  });
}

/** [L⁰, …, L^depth]: as the forward carried them when it did (fused), else propagated here from the attention. */
export function alignedLabels(t: TargetInputs): readonly Tensor[] {
  return t.propagated ?? propagateThroughBlocks(initialAlignedLabels(t), t.attention);
}

export const tlAlign: Method = {
  name: 'tl-align',
  summary: 'token-aligned CutMix; targets = CLS row of labels propagated through attention, L ← ½(ĀL + L)',
  drawMix: (rng, g, o) => withMixupSwitch(rng, g, o, o.mixupSwitchProb, () => drawTokenCutmix(rng, g, o.cutmixAlpha)),
  initialLabels: initialAlignedLabels,
  targets: (t) => {
    const layers = alignedLabels(t);
    return clsTargets(layers[layers.length - 1]);
  },
};
