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
          const w = inBox ? 0 : b.ownWeight;
          const mixed = w * augmented[sample * perImage + within] + (WEIGHT_ONE - w) * augmented[partner * perImage + within];
          images[sample * perImage + within] = Math.fround(mixed - b.meanQ[c]) * b.scaleQ[c];
        }
      }
    }
  }
  return { images, labels, augmented };
}
