/** No mixing: cross-entropy against the (smoothed) one-hot labels. */
import { type Method, areaTargets } from './method.ts';
import { noMix } from './mixing.ts';

export const none: Method = {
  name: 'none',
  summary: 'no mixing; CE on smoothed one-hot labels',
  drawMix: (_rng, g) => noMix(g),
  targets: areaTargets,
};
