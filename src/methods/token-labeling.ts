/**
 * Token Labeling with MixToken (methods.md, "Token Labeling"): a token-aligned CutMix box swaps
 * patch embeddings with the partner inside the model (the images are not mixed); an aux head
 * Linear(D, K) scores every final patch token; the token predictions inside the box are swapped
 * back, so each is scored against the teacher's map of the image its content came from.
 *   loss = CE(z_cls, λ·c_own + (1 − λ)·c_partner) + β·mean over B·T tokens of CE(aux token, teacher token)
 *   c = (1 − γ)·pooled teacher label + γ·ỹ(y)
 * Evaluation: z_cls + 0.5·max over tokens of the aux logits.
 */
import { add, matmul, maxTokens, noGrad, patchTokens, scale, softCrossEntropy, swapTokens, type Tensor } from '../autograd/index.ts';
import { headSpecs, type VisionTransformer, type VitOutput } from '../nn/vit.ts';
import { pooledTargets } from './labels.ts';
import { type Method, type TargetInputs } from './method.ts';
import { drawMixToken } from './mixing.ts';

export const AUX_HEAD = 'aux_head';
/** The aux head's init stream: independent of the ViT's, so the ViT starts the same as under every other method. */
const AUX_SEED = 0x7a11;

/** aux_head on every final patch token: [B, T, K]. */
export function auxLogits(out: VitOutput, model: VisionTransformer): Tensor {
  const [B, N, D] = out.tokens.shape;
  const w = (n: string) => model.params.get(`${AUX_HEAD}.${n}`);
  return matmul(patchTokens(out.tokens).reshape([B * (N - 1), D]), w('weight'), { transB: true, bias: w('bias') })
    .reshape([B, N - 1, model.config.classes]);
}

function clsTargetsOf(t: TargetInputs): Tensor {
  return pooledTargets(t.gpu, {
    labels: t.labels, batch: t.batch, tokens: t.tokens, classes: t.classes, smoothing: t.smoothing, partnerShare: t.partnerShare,
    teacher: t.teacher, ownShare: t.mix.ownShare, gtWeight: t.options.tokenLabelGtWeight,
  });
}

export const tokenLabeling: Method = {
  name: 'token-labeling',
  summary: "Token Labeling: MixToken on patch embeddings, aux head on every token against the teacher's dense maps (swapped back), CLS against the pooled map",
  teacher: true,
  extraParams: (vit, seed) => headSpecs(AUX_HEAD, vit.classes, vit.dim, seed ^ AUX_SEED),
  drawMix: (rng, g, o) => drawMixToken(rng, g, o.cutmixAlpha),
  targets: clsTargetsOf,
  loss: (l) => {
    const targets = noGrad(() => clsTargetsOf(l));
    const cls = softCrossEntropy(l.out.logits, targets);
    const [B, T, K] = [l.batch, l.tokens - 1, l.classes];
    const tokenPredictions = swapTokens(auxLogits(l.out, l.model), l.tokenMask).reshape([B * T, K]);
    const tokens = softCrossEntropy(tokenPredictions, l.teacher!.reshape([B * T, K]));
    return { loss: add(cls.loss, scale(tokens.loss, l.options.tokenLabelWeight)), targets, correct: cls.correct };
  },
  evalLogits: (out, model) => add(out.logits, scale(maxTokens(auxLogits(out, model)), 0.5)),
};
