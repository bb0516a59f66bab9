/**
 * Float64 CPU references of the token-level methods' whole losses (methods.md), written from the
 * formulas with the reference ops, for `npm run gradcheck`: the GPU loss of each method and its
 * gradients against these and against finite differences of these.
 * Legend: B batch, G grid, T = G² patch tokens, N = T + 1, D dim, K classes; partner(b) = B − 1 − b;
 * mask[t] = 1 where token t is the partner's; λ the own share.
 */
import * as ref from '../autograd/reference/index.ts';
import { type In, type Vec, zeros } from '../autograd/reference/types.ts';
import { contentTargetsRef, initLabelsRef, pooledTargetsRef, smoothedOneHot } from './labels-reference.ts';

export interface LossDims {
  batch: number;
  grid: number;
  dim: number;
  classes: number;
  labels: In;
  mask: In;
  ownShare: number;
  smoothing: number;
}

const ce = (z: In, t: In, K: number) => ref.softCrossEntropy(z, t, K).loss;
const linear = (x: In, w: In, b: In, rows: number, inp: number, out: number) => ref.matmul(x, w, { batch: 1, M: rows, N: out, K: inp, transB: true }, b);

/** The area-ratio CLS target: λ·ỹ(own) + (1 − λ)·ỹ(partner). */
function areaTargets(d: LossDims): Vec {
  return initLabelsRef(d.labels, { batch: d.batch, tokens: 1, classes: d.classes, smoothing: d.smoothing, clsOwnShare: d.ownShare, partnerShare: [], perSample: false });
}

/** TokenMix: BCE (or CE) of the CLS logits against the content targets. */
export function tokenmixLossRef(d: LossDims, logits: In, teacher: In | undefined, loss: 'bce' | 'ce'): number {
  const t = contentTargetsRef(d.labels, { batch: d.batch, patches: d.grid ** 2, classes: d.classes, smoothing: d.smoothing, partnerShare: d.mask, teacher }, loss === 'ce');
  return loss === 'ce' ? ce(logits, t, d.classes) : ref.binaryCrossEntropy(logits, t, d.classes).loss;
}

/** Token Labeling: CE(CLS, pooled targets) + β·mean CE(aux token swapped back, teacher token). */
export function tokenLabelingLossRef(d: LossDims, x: { logits: In; tokens: In; auxW: In; auxB: In; teacher: In }, beta: number, gtWeight: number): number {
  const { batch: B, dim: D, classes: K } = d, T = d.grid ** 2;
  const cls = pooledTargetsRef(d.labels, { batch: B, patches: T, classes: K, smoothing: d.smoothing, partnerShare: d.mask, teacher: x.teacher }, d.ownShare, gtWeight);
  const aux = linear(ref.patchTokens(x.tokens, B, T + 1, D), x.auxW, x.auxB, B * T, D, K);
  return ce(x.logits, cls, K) + beta * ce(ref.swapTokens(aux, d.mask, B, K), x.teacher, K);
}

/** DiversePatch, released code: CE(CLS, area) + w_c·3-way contrastive + w_m·area-weighted region CE. */
export function diversepatchLossRef(d: LossDims, x: { logits: In; tokens: In; patches: In; mixW: In; mixB: In }, window: number, w: { contrastive: number; mixing: number }): number {
  const { batch: B, dim: D, classes: K, grid: G } = d, T = G * G;
  const h = ref.patchTokens(x.tokens, B, T + 1, D);
  const scores = ref.contextScores(x.patches, h, { batch: B, dim: D, grid: G, window });
  const first = zeros(B * T * 3);
  for (let r = 0; r < B * T; r++) first[3 * r] = 1;
  const logits = linear(ref.poolRegions(h, d.mask, B, D), x.mixW, x.mixB, B * 2, D, K);
  const targets = zeros(B * 2 * K);
  for (let b = 0; b < B; b++) {
    const own = smoothedOneHot(d.labels[b], K, d.smoothing), partner = smoothedOneHot(d.labels[B - 1 - b], K, d.smoothing);
    for (let k = 0; k < K; k++) {
      targets[(2 * b) * K + k] = d.ownShare * own[k];
      targets[(2 * b + 1) * K + k] = (1 - d.ownShare) * partner[k];
    }
  }
  return ce(x.logits, areaTargets(d), K) + w.contrastive * ce(scores, first, 3) + w.mixing * 2 * ce(logits, targets, K);
}

/** DiversePatch, paper: CE(CLS, area) + w_cos·cosSim(h) + w_c·first-vs-last contrastive + w_m·per-token CE with the head. */
export function diversepatchPaperLossRef(d: LossDims, x: { logits: In; tokens: In; hidden1: In; headW: In; headB: In }, w: { cosine: number; contrastive: number; mixing: number }): number {
  const { batch: B, dim: D, classes: K } = d, T = d.grid ** 2;
  const h = ref.patchTokens(x.tokens, B, T + 1, D);
  const first = ref.patchTokens(x.hidden1, B, T + 1, D);
  const similarities = ref.matmul(first, h, { batch: B, M: T, N: T, K: D, transB: true });
  const diagonal = zeros(B * T * T);
  for (let r = 0; r < B * T; r++) diagonal[r * T + (r % T)] = 1;
  const tokenLabels = ref.patchTokens(initLabelsRef(d.labels, {
    batch: B, tokens: T + 1, classes: K, smoothing: d.smoothing, clsOwnShare: d.ownShare, partnerShare: d.mask, perSample: false,
  }), B, T + 1, K);
  return ce(x.logits, areaTargets(d), K) + w.cosine * ref.meanPairwiseCosine(h, B, T, D) + w.contrastive * ce(similarities, diagonal, T) +
    w.mixing * ce(linear(h, x.headW, x.headB, B * T, D, K), tokenLabels, K);
}
