/**
 * Token-aligned CutMix: the box is drawn on the token grid (every patch token pure), λ = 1 − box
 * tokens / T; area-ratio target. TL-Align's mix, without TL-Align's targets.
 */
import { type Method, areaTargets } from './method.ts';
import { withMixupSwitch } from './cutmix.ts';
import { drawTokenCutmix } from './mixing.ts';

export const cutmixToken: Method = {
  name: 'cutmix-token',
  summary: 'token-aligned CutMix (box on the token grid), area-ratio target',
  drawMix: (rng, g, o) => withMixupSwitch(rng, g, o, o.mixupSwitchProb, () => drawTokenCutmix(rng, g, o.cutmixAlpha)),
  targets: areaTargets,
};
