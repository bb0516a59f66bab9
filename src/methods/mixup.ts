/** Mixup: x = λ·x_i + (1−λ)·x_partner, λ ~ Beta(α, α); target λ·ỹ_i + (1−λ)·ỹ_partner. */
import { type Method, areaTargets } from './method.ts';
import { drawMixup } from './mixing.ts';

export const mixup: Method = {
  name: 'mixup',
  summary: 'Mixup (λ ~ Beta(α, α)), area-ratio target',
  drawMix: (rng, g, o) => drawMixup(rng, g, o.mixupAlpha),
  targets: areaTargets,
};
