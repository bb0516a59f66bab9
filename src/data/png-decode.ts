/**
 * A PNG decoder in plain TypeScript (fflate's inflate + the five PNG row filters), for the small
 * 8-bit PNGs datasets ship: the Hugging Face Hub's CIFAR-10 is 60,000 32×32 RGB PNGs, and
 * decoding those here takes tens of microseconds each where the browser's createImageBitmap
 * path (./imagefolder-web.ts browserImageDecoder) takes a millisecond or more. Browser-safe.
 *
 * Handled: bit depth 8, not interlaced, colour types 0 (grey), 2 (RGB), 3 (palette), 4 (grey +
 * alpha), 6 (RGBA). Alpha is dropped, and colour chunks (gAMA, iCCP, sRGB) are ignored, as
 * browserImageDecoder does with colorSpaceConversion 'none'. Anything else (16-bit, 1/2/4-bit,
 * interlaced) goes to the fallback decoder. Chunk CRCs are not checked; a damaged stream fails
 * in inflate or in its length check.
 */
import { unzlibSync } from 'fflate';
import { type DecodedImage, type ImageDecoder } from './imagefolder-web.ts';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Samples per pixel by colour type. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** The image, or undefined when it is a PNG variant this decoder leaves to another (see the header). Throws on a damaged file. */
export function decodePng(bytes: Uint8Array, where: string): DecodedImage | undefined {
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) throw new Error(`${where}: not a PNG file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width = 0;
  let height = 0;
  let colourType = -1;
  let palette: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let idatBytes = 0;
  let at = 8;
  let ended = false;
  while (at + 8 <= bytes.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]);
    const data = at + 8;
    if (data + length + 4 > bytes.length) throw new Error(`${where}: cannot decode PNG (chunk ${type} runs past the end of the file: truncated)`);
    if (type === 'IHDR') {
      if (length < 13) throw new Error(`${where}: cannot decode PNG (IHDR of ${length} bytes)`);
      width = view.getUint32(data);
      height = view.getUint32(data + 4);
      const depth = bytes[data + 8];
      colourType = bytes[data + 9];
      const interlaced = bytes[data + 12] !== 0;
      if (depth !== 8 || interlaced || !(colourType in CHANNELS)) return undefined;
      if (width === 0 || height === 0) throw new Error(`${where}: cannot decode PNG (it is ${width}×${height})`);
    } else if (type === 'PLTE') palette = bytes.subarray(data, data + length);
    else if (type === 'IDAT') {
      idat.push(bytes.subarray(data, data + length));
      idatBytes += length;
    } else if (type === 'IEND') {
      ended = true;
      break;
    }
    at = data + length + 4;
  }
  if (colourType < 0) throw new Error(`${where}: cannot decode PNG (no IHDR chunk)`);
  if (!ended) throw new Error(`${where}: cannot decode PNG (no IEND chunk: truncated)`);
  if (!idat.length) throw new Error(`${where}: cannot decode PNG (no image data)`);
  if (colourType === 3 && !palette) throw new Error(`${where}: cannot decode PNG (a palette image without a PLTE chunk)`);

  const channels = CHANNELS[colourType];
  const stride = width * channels;
  const expected = height * (stride + 1);
  let compressed: Uint8Array;
  if (idat.length === 1) compressed = idat[0];
  else {
    compressed = new Uint8Array(idatBytes);
    let o = 0;
    for (const part of idat) {
      compressed.set(part, o);
      o += part.length;
    }
  }
  // One byte more than needed, so a stream that is too long shows as one.
  let raw: Uint8Array;
  try {
    raw = unzlibSync(compressed, { out: new Uint8Array(expected + 1) });
  } catch (e) {
    throw new Error(`${where}: cannot decode PNG (${(e as Error).message})`);
  }
  if (raw.length !== expected) throw new Error(`${where}: cannot decode PNG (${raw.length} bytes of pixel rows where a ${width}×${height} image has ${expected})`);
  const pixels = unfilter(raw, height, stride, channels, where);
  return { width, height, chw: toChw(pixels, width, height, colourType, palette, where) };
}

/** Undoes the per-row filters in place; returns the rows without their filter bytes. */
function unfilter(raw: Uint8Array, height: number, stride: number, bpp: number, where: string): Uint8Array {
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const up = row - stride;
    switch (filter) {
      case 0:
        out.set(raw.subarray(src, src + stride), row);
        break;
      case 1:
        for (let i = 0; i < stride; i++) out[row + i] = raw[src + i] + (i >= bpp ? out[row + i - bpp] : 0);
        break;
      case 2:
        for (let i = 0; i < stride; i++) out[row + i] = raw[src + i] + (y > 0 ? out[up + i] : 0);
        break;
      case 3:
        for (let i = 0; i < stride; i++) {
          const left = i >= bpp ? out[row + i - bpp] : 0;
          const above = y > 0 ? out[up + i] : 0;
          out[row + i] = raw[src + i] + ((left + above) >> 1);
        }
        break;
      case 4:
        for (let i = 0; i < stride; i++) {
          const a = i >= bpp ? out[row + i - bpp] : 0;
          const b = y > 0 ? out[up + i] : 0;
          const c = i >= bpp && y > 0 ? out[up + i - bpp] : 0;
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          out[row + i] = raw[src + i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
        }
        break;
      default:
        throw new Error(`${where}: cannot decode PNG (row ${y} has filter type ${filter}; PNG has 0–4)`);
    }
  }
  return out;
}

function toChw(pixels: Uint8Array, width: number, height: number, colourType: number, palette: Uint8Array | undefined, where: string): Uint8Array {
  const hw = width * height;
  const chw = new Uint8Array(3 * hw);
  switch (colourType) {
    case 2:
    case 6: {
      const n = colourType === 2 ? 3 : 4;
      for (let p = 0; p < hw; p++) {
        chw[p] = pixels[n * p];
        chw[hw + p] = pixels[n * p + 1];
        chw[2 * hw + p] = pixels[n * p + 2];
      }
      break;
    }
    case 0:
    case 4: {
      const n = colourType === 0 ? 1 : 2;
      for (let p = 0; p < hw; p++) chw[p] = chw[hw + p] = chw[2 * hw + p] = pixels[n * p];
      break;
    }
    case 3: {
      const entries = palette!.length / 3;
      for (let p = 0; p < hw; p++) {
        const k = pixels[p];
        if (k >= entries) throw new Error(`${where}: cannot decode PNG (palette index ${k} of a ${entries}-colour palette)`);
        chw[p] = palette![3 * k];
        chw[hw + p] = palette![3 * k + 1];
        chw[2 * hw + p] = palette![3 * k + 2];
      }
      break;
    }
  }
  return chw;
}

/** PNGs decoded here (the variants decodePng handles), everything else by `fallback`. */
export function withPngDecoder(fallback: ImageDecoder): ImageDecoder {
  return (bytes, kind, where) => (kind === 'png' ? decodePng(bytes, where) : undefined) ?? fallback(bytes, kind, where);
}
