/**
 * DiversePatch (methods.md, "DiversePatch"): losses against over-smoothing of the patch tokens,
 * added to the CLS cross-entropy of a token-aligned CutMix batch. h are the final (normalised)
 * patch tokens [B, T, D].
 *
 * `diversepatch` (the released code):
 *   contrastive = mean over tokens of −log softmax([⟨c_i,h_i⟩, ⟨c_i, mean of the other tokens⟩,
 *                 ⟨c_i, mean of the other tokens in a W×W window⟩])[0], c = patch embedding, detached
 *   mixing      = mean over b of Σ_region area·KL(ỹ(source) ‖ softmax(mix_head(mean of the region's tokens)))
 *                 (computed as the soft CE, which differs from the KL by the constant entropy of ỹ)
 * `diversepatch-paper`:
 *   cosine      = cosSim(h) = 1/(T(T−1)) Σ_{i≠j} cos(h_i, h_j)
 *   contrastive = −(1/T) Σ_i log softmax_j(h¹_iᵀ h_j)[i], h¹ = the first block's output tokens, detached
 *   mixing      = mean over tokens of CE(head(h_i), ỹ(the image token i came from))
 * Every weight is an option (diversityCosine, diversityContrastive, diversityMixing; default 1).
 */
import { add, contextScores, matmul, meanPairwiseCosine, noGrad, patchTokens, poolRegions, scale, softCrossEntropy, type Tensor } from '../autograd/index.ts';
import { headSpecs } from '../nn/vit.ts';
import { areaTargets, detach, type LossInputs, type Method, type MethodLoss, oneHotRows } from './method.ts';
import { withMixupSwitch } from './cutmix.ts';
import { initLabels, regionTargets } from './labels.ts';
import { drawTokenCutmix, gridOf } from './mixing.ts';

export const MIX_HEAD = 'mix_head';
const MIX_SEED = 0x3d1f;

/** The released code's 7×7 window at 14×14 tokens, scaled to the grid: 2·round(3·G/14) + 1. */
export function defaultWindow(grid: number): number {
  return 2 * Math.round((3 * grid) / 14) + 1;
}

/** Weighted sum of the CLS loss and the extra terms whose weight is not 0. */
function total(cls: Tensor, terms: [number, () => Tensor][]): Tensor {
  let loss = cls;
  for (const [weight, term] of terms) if (weight !== 0) loss = add(loss, scale(term(), weight));
  return loss;
}

function patchOutputs(l: LossInputs) {
  const [B, N, D] = l.out.tokens.shape;
  const T = N - 1;
  return { B, T, D, G: gridOf({ imageSize: l.model.config.imageSize, patch: l.model.config.patch }), h: patchTokens(l.out.tokens) };
}

/** The released code's contrastive term: 3-way softmax, the own token at index 0. */
export function contextContrastive(l: LossInputs, h: Tensor, G: number): Tensor {
  const [B, T] = h.shape;
  const W = l.options.diversityWindow || defaultWindow(G);
  const scores = contextScores(detach(l.out.patches), h, G, W).reshape([B * T, 3]);
  return softCrossEntropy(scores, oneHotRows(l.gpu, B * T, 3, 'first', () => 0)).loss;
}

/** The released code's mixing term: each region's mean token through mix_head, against its area-weighted label. */
export function regionMixing(l: LossInputs, h: Tensor): Tensor {
  const [B, , D] = h.shape;
  const w = (n: string) => l.model.params.get(`${MIX_HEAD}.${n}`);
  const logits = matmul(poolRegions(h, l.tokenMask).reshape([B * 2, D]), w('weight'), { transB: true, bias: w('bias') });
  const targets = noGrad(() => regionTargets(l.gpu, { labels: l.labels, batch: B, classes: l.classes, smoothing: l.smoothing, ownShare: l.mix.ownShare }));
  // softCrossEntropy averages over the 2B rows; × 2 makes it the mean over samples of Σ_region area·CE.
  return scale(softCrossEntropy(logits, targets.reshape([B * 2, l.classes])).loss, 2);
}

/** The paper's contrastive term: token i of the first block against every final token j, the right one is j = i. */
export function tokenContrastive(l: LossInputs, h: Tensor): Tensor {
  const [B, T, D] = h.shape;
  const first = patchTokens(detach(l.out.hidden[1]).reshape([B, T + 1, D]));
  const similarities = matmul(first, h, { transB: true }).reshape([B * T, T]);
  return softCrossEntropy(similarities, oneHotRows(l.gpu, B * T, T, 'diagonal', (r) => r % T)).loss;
}

/** The paper's mixing term: every final patch token through the classifier head, against its source image's label. */
export function tokenMixing(l: LossInputs, h: Tensor): Tensor {
  const [B, T, D] = h.shape;
  const w = (n: string) => l.model.params.get(`head.${n}`);
  const logits = matmul(h.reshape([B * T, D]), w('weight'), { transB: true, bias: w('bias') });
  const targets = noGrad(() => patchTokens(initLabels(l.gpu, {
    labels: l.labels, batch: B, tokens: T + 1, classes: l.classes, smoothing: l.smoothing,
    clsOwnShare: l.mix.ownShare, partnerShare: l.partnerShare, perSample: false,
  })));
  return softCrossEntropy(logits, targets.reshape([B * T, l.classes])).loss;
}

function clsPart(l: LossInputs) {
  const targets = noGrad(() => areaTargets(l));
  return { targets, ce: softCrossEntropy(l.out.logits, targets) };
}

export const diversepatch: Method = {
  name: 'diversepatch',
  summary: "DiversePatch as released: token-aligned CutMix, CE + 3-way patch contrastive (own, global, local window) + region mixing loss",
  extraParams: (vit, seed) => headSpecs(MIX_HEAD, vit.classes, vit.dim, seed ^ MIX_SEED),
  drawMix: (rng, g, o) => withMixupSwitch(rng, g, o, o.mixupSwitchProb, () => drawTokenCutmix(rng, g, o.cutmixAlpha)),
  targets: areaTargets,
  loss: (l): MethodLoss => {
    const { targets, ce } = clsPart(l);
    const { h, G } = patchOutputs(l);
    const loss = total(ce.loss, [
      [l.options.diversityContrastive, () => contextContrastive(l, h, G)],
      [l.options.diversityMixing, () => regionMixing(l, h)],
    ]);
    return { loss, targets, correct: ce.correct };
  },
};

export const diversepatchPaper: Method = {
  name: 'diversepatch-paper',
  summary: "DiversePatch as in the paper: token-aligned CutMix, CE + patch-wise cosine penalty + first-vs-last-layer patch contrastive + per-token mixing loss",
  drawMix: diversepatch.drawMix,
  targets: areaTargets,
  loss: (l): MethodLoss => {
    const { targets, ce } = clsPart(l);
    const { h } = patchOutputs(l);
    const loss = total(ce.loss, [
      [l.options.diversityCosine, () => meanPairwiseCosine(h)],
      [l.options.diversityContrastive, () => tokenContrastive(l, h)],
      [l.options.diversityMixing, () => tokenMixing(l, h)],
    ]);
    return { loss, targets, correct: ce.correct };
  },
};


