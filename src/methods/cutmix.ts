/**
 * Pixel CutMix: a box of area (1−λ)·H·W from the partner, λ corrected to the clipped box's area;
 * target λ·ỹ_i + (1−λ)·ỹ_partner. With mixupSwitchProb > 0 some batches use Mixup instead.
 * `mixupCutmix` is DeiT's recipe: that switch with probability 0.5.
 */
import { type Method, type MethodOptions, areaTargets } from './method.ts';
import { type BatchMix, drawCutmix, drawMixup, type MixGeometry } from './mixing.ts';
import { type Rng } from '../nn/random.ts';

/** The DeiT switch: Mixup with probability p, otherwise the given spatial mix. */
export function withMixupSwitch(rng: Rng, g: MixGeometry, o: MethodOptions, p: number, spatial: () => BatchMix): BatchMix {
  if (p > 0 && rng.next() < p) return drawMixup(rng, g, o.mixupAlpha);
  return spatial();
}

export const cutmix: Method = {
  name: 'cutmix',
  summary: 'pixel CutMix (λ ~ Beta(α, α), box area corrected), area-ratio target',
  drawMix: (rng, g, o) => withMixupSwitch(rng, g, o, o.mixupSwitchProb, () => drawCutmix(rng, g, o.cutmixAlpha)),
  targets: areaTargets,
};

export const mixupCutmix: Method = {
  name: 'mixup-cutmix',
  summary: "DeiT's recipe: per batch Mixup (α 0.8) or pixel CutMix (α 1.0) with probability 0.5 each",
  drawMix: (rng, g, o) => withMixupSwitch(rng, g, o, 0.5, () => drawCutmix(rng, g, o.cutmixAlpha)),
  targets: areaTargets,
};
