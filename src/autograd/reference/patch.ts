/** patchify (shaders/patch.wgsl): images [B, C, S, S] → patches [B·T, C·P·P], T = (S/P)² row-major over the patch grid. */
import { type In, type Vec, zeros } from './types.ts';

export interface PatchDims { batch: number; channels: number; side: number; patch: number }

/** Index into patches of image element (b, c, y, x): row b·T + (y/P)·G + x/P, column c·P·P + (y%P)·P + x%P. */
function patchIndex(d: PatchDims, b: number, c: number, y: number, x: number): number {
  const { channels: C, side: S, patch: P } = d, G = S / P;
  const t = Math.floor(y / P) * G + Math.floor(x / P);
  return (b * G * G + t) * C * P * P + c * P * P + (y % P) * P + (x % P);
}

/** Calls f(image index, patch index) for every image element. */
function forEach(d: PatchDims, f: (i: number, j: number) => void): void {
  let i = 0;
  for (let b = 0; b < d.batch; b++) for (let c = 0; c < d.channels; c++)
    for (let y = 0; y < d.side; y++) for (let x = 0; x < d.side; x++) f(i++, patchIndex(d, b, c, y, x));
}

/** patches[b·T + t, c·P·P + ky·P + kx] = images[b, c, ty·P + ky, tx·P + kx]. */
export function patchify(images: In, d: PatchDims): Vec {
  const out = zeros(images.length);
  forEach(d, (i, j) => (out[j] = images[i]));
  return out;
}

/** dimages = the inverse permutation of dpatches (patches do not overlap). */
export function patchifyBackward(dpatches: In, d: PatchDims): Vec {
  const out = zeros(dpatches.length);
  forEach(d, (i, j) => (out[i] = dpatches[j]));
  return out;
}
