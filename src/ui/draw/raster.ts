/** Pure pixel helpers: value grids to RGBA, and slicing one image out of a batch. */
import { type Rgb } from './colour.ts';

/** A grid of values (row-major) coloured through `colourOf`, as RGBA bytes with the given alpha (0–255). */
export function valuesToRgba(values: ArrayLike<number>, colourOf: (v: number) => Rgb, alpha = 255): Uint8ClampedArray {
  const out = new Uint8ClampedArray(values.length * 4);
  for (let i = 0; i < values.length; i++) {
    const [r, g, b] = colourOf(values[i]);
    out.set([r, g, b, alpha], i * 4);
  }
  return out;
}

/** Image `index` of a batch of size×size RGBA images laid end to end (a view, not a copy). */
export function imageAt(rgba: Uint8ClampedArray, index: number, size: number): Uint8ClampedArray {
  const bytes = size * size * 4;
  return rgba.subarray(index * bytes, (index + 1) * bytes);
}
