/**
 * TL-Align (methods.md, "TL-Align"): token-aligned CutMix; the label matrix L⁰ (own or partner
 * label per patch token, the area mix for CLS) follows every block's head-averaged attention,
 * L ← ½(Ā·L + L), without gradient; the target is the final CLS row. Inference is unchanged.
 *
 * Every row of L⁰ is w·ỹ(own) + (1 − w)·ỹ(partner), and the propagation is linear with rows of Ā
 * summing to 1, so every L^l keeps that form: training carries the one column w (the own shares,
 * initOwnShares) through the attention instead of K, and forms the K-column target from the final
 * CLS share (shareTargets). tests/unit/tl-align.test.ts checks both forms against float64 and
 * against each other.
 */
import { type Tensor } from '../autograd/tensor.ts';
import { type BatchInputs, type Method, type TargetInputs } from './method.ts';
import { withMixupSwitch } from './cutmix.ts';
import { clsTargets, initLabels, initOwnShares, propagateThroughBlocks, shareTargets } from './labels.ts';
import { drawTokenCutmix } from './mixing.ts';

/** L⁰ [B, N, K]: own or partner label per patch token, the area mix for CLS (the K-column form). */
export function initialAlignedLabels(t: BatchInputs): Tensor {
  return initLabels(t.gpu, {
    labels: t.labels, batch: t.batch, tokens: t.tokens, classes: t.classes, smoothing: t.smoothing,
    clsOwnShare: t.mix.ownShare, partnerShare: t.partnerShare, perSample: false,
  });
}

/** The K-column form's target: the CLS row of L^depth (a reference for the scalar form). */
export function alignedLabelTargets(t: TargetInputs): Tensor {
  const layers = propagateThroughBlocks(initialAlignedLabels(t), t.attention);
  return clsTargets(layers[layers.length - 1]);
}

/** v⁰ [B, N, 1]: each token's own-image share, λ for CLS. */
function initialShares(t: BatchInputs): Tensor {
  return initOwnShares(t.gpu, { batch: t.batch, tokens: t.tokens, clsOwnShare: t.mix.ownShare, partnerShare: t.partnerShare, perSample: false });
}

export const tlAlign: Method = {
  name: 'tl-align',
  summary: 'token-aligned CutMix; targets = CLS row of labels propagated through attention, L ← ½(ĀL + L)',
  drawMix: (rng, g, o) => withMixupSwitch(rng, g, o, o.mixupSwitchProb, () => drawTokenCutmix(rng, g, o.cutmixAlpha)),
  initialLabels: initialShares,
  labelsAreOwnShares: true,
  targets: (t) => {
    // [v⁰, …, v^depth] as the forward carried them when it did (fused), else propagated here from the attention
    const shares = t.propagated ?? propagateThroughBlocks(initialShares(t), t.attention);
    return shareTargets(t.gpu, shares[shares.length - 1], { labels: t.labels, classes: t.classes, smoothing: t.smoothing });
  },
};
