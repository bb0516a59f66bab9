/**
 * TokenMix (methods.md, "TokenMix"): the images are mixed by a token-level mask made of several
 * separate blocks (0.5·T + T/14 tokens from the partner, the released code's share), and the CLS
 * target weights each image by how much of it the mixed image keeps: by area (`tokenmix`), or by
 * the teacher's activation map of its ground-truth class (`tokenmix-teacher`). The code's loss is
 * BCE on targets s/K + [y_own](ρ_own − s/2) + [y_partner](ρ_partner − s/2); `tokenmixLoss: 'ce'`
 * normalises them and uses soft-target CE instead.
 */
import { binaryCrossEntropy, noGrad, softCrossEntropy } from '../autograd/index.ts';
import { contentTargets } from './labels.ts';
import { type LossInputs, type Method, type MethodLoss, type TargetInputs } from './method.ts';
import { drawTokenMix } from './mixing.ts';

function targetsOf(t: TargetInputs, withTeacher: boolean) {
  return contentTargets(t.gpu, {
    labels: t.labels, batch: t.batch, tokens: t.tokens, classes: t.classes, smoothing: t.smoothing, partnerShare: t.partnerShare,
    teacher: withTeacher ? t.teacher : undefined, normalise: t.options.tokenmixLoss === 'ce',
  });
}

function lossOf(l: LossInputs, withTeacher: boolean): MethodLoss {
  const targets = noGrad(() => targetsOf(l, withTeacher));
  const r = l.options.tokenmixLoss === 'ce' ? softCrossEntropy(l.out.logits, targets) : binaryCrossEntropy(l.out.logits, targets);
  return { loss: r.loss, targets, correct: r.correct };
}

export const tokenmix: Method = {
  name: 'tokenmix',
  summary: 'TokenMix: images mixed by a multi-block token mask (0.5·T + T/14 partner tokens), area-ratio targets, BCE',
  drawMix: (rng, g, o) => drawTokenMix(rng, g, o.tokenmixMask, o.tokenmixShare),
  targets: (t) => targetsOf(t, false),
  loss: (l) => lossOf(l, false),
};

export const tokenmixTeacher: Method = {
  name: 'tokenmix-teacher',
  summary: "TokenMix with content-based targets: each image weighted by the share of the teacher's ground-truth-class map it keeps",
  teacher: true,
  drawMix: tokenmix.drawMix,
  targets: (t) => targetsOf(t, true),
  loss: (l) => lossOf(l, true),
};
