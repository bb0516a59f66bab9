/**
 * The CPU reference of GpuBatcher.encode (src/data/gpu-batcher.ts, shaders/augment.wgsl): the same
 * gather, crop, flip, integer mixing and normalisation, written plainly, so tests can require the
 * GPU batch to equal it bit for bit. Why that is possible is argued in the shader's header: all
 * arithmetic is integer up to one f32 subtraction and one f32 multiplication, each rounded here
 * with Math.fround exactly as the GPU rounds it.
 */
import { augmentDraw, type BatchRequest, type ImageBytes, resolveBatch, WEIGHT_ONE } from './gpu-batcher.ts';

export interface ReferenceBatch {
  /** [B, C, S, S] normalised and mixed. */
  images: Float32Array;
  /** [B] each sample's own label. */
  labels: Uint32Array;
  /** [B, C, S, S] the cropped and flipped pixels before mixing. */
  augmented: Uint8Array;
}

export function referenceBatch(set: ImageBytes, order: Uint32Array, r: BatchRequest): ReferenceBatch {
  const { size: s, channels } = set;
  const b = resolveBatch(r, s, channels);
  if (b.first + b.batch > order.length) throw new Error(`referenceBatch: order[${b.first} .. ${b.first + b.batch}) passes its ${order.length} entries`);
  const perImage = channels * s * s;
  const augmented = new Uint8Array(b.batch * perImage);
  const labels = new Uint32Array(b.batch);

  for (let sample = 0; sample < b.batch; sample++) {
    const image = order[b.first + sample];
    if (image >= set.count) throw new Error(`referenceBatch: image ${image} is not in the set of ${set.count}`);
    labels[sample] = set.labels[image];
    const draw = augmentDraw(b.seed, b.step, sample, b.padding);
    const offsetY = b.randomCrop ? draw.offsetY : b.padding;
    const offsetX = b.randomCrop ? draw.offsetX : b.padding;
    const flip = b.randomFlip && draw.flip;
    for (let c = 0; c < channels; c++) {
      for (let y = 0; y < s; y++) {
        for (let x = 0; x < s; x++) {
          const sy = y + offsetY - b.padding;
          const sx = (flip ? s - 1 - x : x) + offsetX - b.padding;
          const inside = sy >= 0 && sy < s && sx >= 0 && sx < s;
          augmented[((sample * channels + c) * s + y) * s + x] = inside ? set.images[image * perImage + (c * s + sy) * s + sx] : 0;
        }
      }
    }
  }

  const images = new Float32Array(b.batch * perImage);
  for (let sample = 0; sample < b.batch; sample++) {
    const partner = b.batch - 1 - sample;
    for (let c = 0; c < channels; c++) {
      for (let y = 0; y < s; y++) {
        for (let x = 0; x < s; x++) {
          const within = (c * s + y) * s + x;
          const inBox = y >= b.box.y0 && y < b.box.y1 && x >= b.box.x0 && x < b.box.x1;
          const inMask = b.maskPatch > 0 && b.tokenMask[Math.floor(y / b.maskPatch) * (s / b.maskPatch) + Math.floor(x / b.maskPatch)] !== 0;
          const w = inBox || inMask ? 0 : b.ownWeight;
          const mixed = w * augmented[sample * perImage + within] + (WEIGHT_ONE - w) * augmented[partner * perImage + within];
          images[sample * perImage + within] = Math.fround(mixed - b.meanQ[c]) * b.scaleQ[c];
        }
      }
    }
  }
  return { images, labels, augmented };
}

/** The CPU reference of GpuBatcher.encodeTeacher (teacher_gather): maps [count, T, K] → the batch's [B, T, K]. */
export function referenceTeacherBatch(maps: Float32Array, order: Uint32Array, r: BatchRequest, o: { size: number; patch: number; classes: number }): Float32Array {
  const b = resolveBatch(r, o.size, r.mean?.length ?? 3);
  const G = o.size / o.patch, T = G * G, K = o.classes;
  const out = new Float32Array(b.batch * T * K);
  for (let sample = 0; sample < b.batch; sample++) {
    const image = order[b.first + sample];
    const draw = augmentDraw(b.seed, b.step, sample, b.padding);
    const oy = b.randomCrop ? draw.offsetY : b.padding;
    const ox = b.randomCrop ? draw.offsetX : b.padding;
    const flip = b.randomFlip && draw.flip;
    for (let t = 0; t < T; t++) {
      const tx = flip ? G - 1 - (t % G) : t % G;
      const uy = Math.min(G - 1, Math.max(0, Math.floor(t / G) + (oy - b.padding) / o.patch));
      const ux = Math.min(G - 1, Math.max(0, tx + (ox - b.padding) / o.patch));
      const y0 = Math.floor(uy), x0 = Math.floor(ux), y1 = Math.min(y0 + 1, G - 1), x1 = Math.min(x0 + 1, G - 1);
      const fy = uy - y0, fx = ux - x0;
      const at = (y: number, x: number, k: number) => maps[(image * T + y * G + x) * K + k];
      for (let k = 0; k < K; k++) {
        out[(sample * T + t) * K + k] = (1 - fy) * ((1 - fx) * at(y0, x0, k) + fx * at(y0, x1, k)) + fy * ((1 - fx) * at(y1, x0, k) + fx * at(y1, x1, k));
      }
    }
  }
  return out;
}
