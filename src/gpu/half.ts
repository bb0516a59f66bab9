/**
 * IEEE 754 binary16 on the CPU: rounding f32/f64 values to f16 (round to nearest, ties to even;
 * WGSL's f16() may round to either neighbour, so tests allow one f16 ulp where the GPU rounds)
 * and decoding f16 bits, for the f16 storage path (uploads, read-backs) and for references
 * computed from f16-rounded inputs.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The f16 bit pattern nearest to x (overflow → ±inf, NaN → a quiet NaN). */
export function toHalfBits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    // subnormal: shift the implicit-one mantissa right, rounding to nearest even
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && (half & 1)) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // a carry out of the mantissa rolls into the exponent, which is the right result (up to inf)
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && (half & 1)) ? 1 : 0));
}

export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** x rounded to the nearest f16 value. */
export function roundHalf(x: number): number {
  return fromHalfBits(toHalfBits(x));
}

/** Values rounded to f16, as f32 (exact: every f16 value is an f32 value). */
export function roundHalfArray(a: ArrayLike<number>): Float32Array {
  return Float32Array.from(a, roundHalf);
}

/** Values as f16 bit patterns, in the layout of an array<f16> in a storage buffer. */
export function packHalf(a: ArrayLike<number>): Uint16Array {
  return Uint16Array.from(a, toHalfBits);
}

export function unpackHalf(bits: Uint16Array, elements = bits.length): Float32Array {
  const out = new Float32Array(elements);
  for (let i = 0; i < elements; i++) out[i] = fromHalfBits(bits[i]);
  return out;
}
