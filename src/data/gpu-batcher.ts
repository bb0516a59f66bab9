/**
 * Training batches made on the GPU, so a step does no per-image work on the CPU: the dataset is
 * uploaded once as uint8 (packed 4 per u32, split into shards of whole images so that no binding
 * passes the device limit), an epoch's order once per epoch, and each batch is gathered, cropped
 * and flipped, mixed with its partner (the reversed batch) and normalised by the two kernels of
 * shaders/augment.wgsl, recorded into the current command encoder.
 *
 * Per-image randomness is an integer hash of (seed, step, position in the batch) that the CPU
 * computes identically (`augmentHash`, `augmentDraw`), and every number the kernels use is
 * resolved here (`resolveBatch`), so src/data/augment-reference.ts reproduces a batch bit for bit.
 * Per-batch randomness (mixup λ, the pasted box) is drawn by the caller and passed in.
 *
 * Browser-safe: no node: imports.
 */
import { ELEMENTWISE_WG as WG, elementwiseGrid } from '../autograd/ops/workgroups.ts';
import { tempTensor, type Tensor } from '../autograd/tensor.ts';
import { type Gpu, STORAGE_ALIGN_BYTES, type Storage } from '../gpu/gpu.ts';
import { CIFAR10_MEAN, CIFAR10_STD } from './dataset.ts';

export const DEFAULT_PADDING = 4;
/** Mixing weights are integers in 65536ths, so that mixed pixels stay exact integers below 2^24. */
export const WEIGHT_ONE = 65536;
/** The kernels carry one normalisation constant per channel in their uniforms, for at most 3. */
const MAX_CHANNELS = 3;
/** The crop offsets are drawn from 12-bit fields of the hash. */
const MAX_PADDING = 2047;

/** uint8 images on the CPU: [count, channels, size, size] CHW, one label each. */
export interface ImageBytes {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  size: number;
  channels: number;
}

export interface DatasetOnGpu {
  count: number;
  size: number;
  channels: number;
  /** u32 [count] */
  labels: Storage;
  /** Images first .. first+count−1, uint8 CHW packed 4 per u32 (byte k at bits 8·(k%4) of word k/4). */
  shards: { storage: Storage; first: number; count: number }[];
}

/** The largest binding the device allows whose 256-byte-aligned buffer it can also create. */
function deviceMaxBindingBytes(limits: GPUSupportedLimits): number {
  return Math.min(limits.maxStorageBufferBindingSize, Math.floor(limits.maxBufferSize / STORAGE_ALIGN_BYTES) * STORAGE_ALIGN_BYTES);
}

function packBytes(bytes: Uint8Array): Uint32Array {
  const words = new Uint32Array(Math.ceil(bytes.length / 4));
  const whole = bytes.length >> 2;
  for (let w = 0; w < whole; w++) {
    const k = 4 * w;
    words[w] = bytes[k] | (bytes[k + 1] << 8) | (bytes[k + 2] << 16) | (bytes[k + 3] << 24);
  }
  for (let k = 4 * whole; k < bytes.length; k++) words[whole] |= bytes[k] << (8 * (k & 3));
  return words;
}

/**
 * Uploads images [count, C, S, S] uint8 and their labels. Images are split into shards of whole
 * images so that no shard's binding exceeds `maxBindingBytes` (capped at the device's limit).
 */
export function uploadDataset(gpu: Gpu, set: ImageBytes, maxBindingBytes = deviceMaxBindingBytes(gpu.device.limits)): DatasetOnGpu {
  const { count, size, channels } = set;
  const imageBytes = channels * size * size;
  if (!(count >= 1 && size >= 1 && channels >= 1 && channels <= MAX_CHANNELS) || ![count, size, channels].every(Number.isInteger)) {
    throw new Error(`uploadDataset: ${count} images of ${channels}×${size}×${size}: need count ≥ 1, size ≥ 1, 1..${MAX_CHANNELS} channels`);
  }
  if (set.images.length !== count * imageBytes || set.labels.length !== count) {
    throw new Error(`uploadDataset: ${set.images.length} image bytes and ${set.labels.length} labels for ${count} images of ${imageBytes} bytes`);
  }
  const limit = Math.min(maxBindingBytes, deviceMaxBindingBytes(gpu.device.limits));
  const perShard = Math.floor(Math.floor(limit / 4) * 4 / imageBytes);
  if (perShard < 1) throw new Error(`uploadDataset: one image is ${imageBytes} bytes, more than a binding may hold (${limit})`);
  if (count * 4 > limit) throw new Error(`uploadDataset: ${count} labels do not fit one binding of ${limit} bytes`);

  const labels = gpu.persistent(count, 'dataset labels');
  gpu.write(labels, Uint32Array.from(set.labels));
  const shards: DatasetOnGpu['shards'] = [];
  for (let first = 0; first < count; first += perShard) {
    const n = Math.min(perShard, count - first);
    const words = packBytes(set.images.subarray(first * imageBytes, (first + n) * imageBytes));
    const storage = gpu.persistent(words.length, `dataset images ${first}..${first + n - 1}`);
    gpu.write(storage, words);
    shards.push({ storage, first, count: n });
  }
  return { count, size, channels, labels, shards };
}

export type MixPlan =
  | { mode: 'none' }
  /** own image × λ + partner × (1 − λ), λ quantised by `quantiseWeight`. */
  | { mode: 'mixup'; ownWeight: number }
  /** The half-open pixel box [y0, y1) × [x0, x1) comes from the partner, the rest is the own image. */
  | { mode: 'box'; y0: number; y1: number; x0: number; x1: number }
  /** TokenMix: pixel (y, x) comes from the partner where mask[(y/patch)·(S/patch) + x/patch] ≠ 0. */
  | { mode: 'tokens'; patch: number; mask: Uint8Array };

export interface BatchRequest {
  batch: number;
  /** The batch is order[first .. first+batch). */
  first: number;
  /** false: no crop, no flip (evaluation). */
  augment: boolean;
  /** Zero padding of the random crop; offsets lie in [0, 2·padding]. Default 4. */
  padding?: number;
  /** Random horizontal flips; default true. */
  flip?: boolean;
  /** Hash inputs, with each sample's position b in the batch. */
  seed: number;
  step: number;
  /** The partner of sample b is sample batch−1−b. */
  mix: MixPlan;
  /** Per channel, in [0, 1] pixel units; default CIFAR-10's. */
  mean?: readonly number[];
  std?: readonly number[];
}

/** λ → its integer weight q = round(λ·65536) and the λ the kernels really use, q / 65536. */
export function quantiseWeight(lambda: number): { q: number; ownWeight: number } {
  if (!(lambda >= 0 && lambda <= 1)) throw new Error(`quantiseWeight: λ = ${lambda} is not in [0, 1]`);
  const q = Math.round(lambda * WEIGHT_ONE);
  return { q, ownWeight: q / WEIGHT_ONE };
}

/** lowbias32 (Chris Wellons) of x + golden ratio, a bijection of u32: `mix32` in augment.wgsl. */
function mix32(value: number): number {
  let x = (value + 0x9e3779b9) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

/** The u32 that drives one sample's augmentation; `augment_hash` in augment.wgsl. */
export function augmentHash(seed: number, step: number, sample: number): number {
  return mix32((mix32((mix32(seed >>> 0) ^ step) >>> 0) ^ sample) >>> 0);
}

export interface AugmentDraw {
  /** Crop offsets in [0, 2·padding]: output (y, x) reads padded source (y + offsetY, x' + offsetX). */
  offsetY: number;
  offsetX: number;
  /** The hash's flip bit (used only when flips are on). */
  flip: boolean;
}

/** Splits the hash as augment_gather does: bit 0 flip, bits 8..19 row offset, bits 20..31 column offset. */
export function augmentDraw(seed: number, step: number, sample: number, padding: number): AugmentDraw {
  const h = augmentHash(seed, step, sample);
  const offsets = 2 * padding + 1;
  return { offsetY: ((h >>> 8) & 0xfff) % offsets, offsetX: (h >>> 20) % offsets, flip: (h & 1) !== 0 };
}

/** Everything the kernels compute with, defaults applied and checked; the CPU reference uses it too. */
export interface ResolvedBatch {
  batch: number;
  first: number;
  padding: number;
  randomCrop: boolean;
  randomFlip: boolean;
  seed: number;
  step: number;
  /** w outside the box, in 65536ths. */
  ownWeight: number;
  /** Where w = 0 (the partner's pixels): empty unless box mixing. */
  box: { y0: number; y1: number; x0: number; x1: number };
  /** Token-mask mixing: the patch side (0: none) and the mask [(S/patch)²], 1 = partner. */
  maskPatch: number;
  tokenMask: Uint32Array;
  /** M[c] = f32(mean_c·255·65536) and R[c] = f32(1/(std_c·255·65536)): out = (mixed − M)·R. */
  meanQ: Float32Array;
  scaleQ: Float32Array;
}

const isU32 = (v: number) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

export function resolveBatch(r: BatchRequest, size: number, channels: number): ResolvedBatch {
  const padding = r.padding ?? DEFAULT_PADDING;
  if (!(Number.isInteger(r.batch) && r.batch >= 1 && isU32(r.first))) throw new Error(`batch ${r.batch} from ${r.first}: need an integer batch ≥ 1 and first ≥ 0`);
  if (!(Number.isInteger(padding) && padding >= 0 && padding <= Math.min(size, MAX_PADDING))) throw new Error(`padding ${padding} is not an integer in [0, ${Math.min(size, MAX_PADDING)}]`);
  if (!isU32(r.seed) || !isU32(r.step)) throw new Error(`seed ${r.seed} and step ${r.step} must be u32 integers`);
  const mean = r.mean ?? CIFAR10_MEAN;
  const std = r.std ?? CIFAR10_STD;
  if (mean.length !== channels || std.length !== channels || !std.every((s) => s > 0)) {
    throw new Error(`mean [${mean}] and std [${std}] need ${channels} values each, std > 0`);
  }
  let ownWeight = WEIGHT_ONE;
  let box = { y0: 0, y1: 0, x0: 0, x1: 0 };
  if (r.mix.mode === 'mixup') {
    ownWeight = quantiseWeight(r.mix.ownWeight).q;
  } else if (r.mix.mode === 'box') {
    const { y0, y1, x0, x1 } = r.mix;
    if (![y0, y1, x0, x1].every(Number.isInteger) || !(y0 >= 0 && y0 <= y1 && y1 <= size && x0 >= 0 && x0 <= x1 && x1 <= size)) {
      throw new Error(`box [${y0}, ${y1}) × [${x0}, ${x1}) is not inside the ${size}×${size} image`);
    }
    box = { y0, y1, x0, x1 };
  }
  let maskPatch = 0;
  let tokenMask = new Uint32Array(1);
  if (r.mix.mode === 'tokens') {
    const { patch, mask } = r.mix;
    if (!(Number.isInteger(patch) && patch >= 1 && size % patch === 0)) throw new Error(`token mask: patch ${patch} does not divide the ${size}-pixel image`);
    if (mask.length !== (size / patch) ** 2) throw new Error(`token mask has ${mask.length} entries, the ${size / patch}×${size / patch} grid needs ${(size / patch) ** 2}`);
    maskPatch = patch;
    tokenMask = Uint32Array.from(mask, (m) => (m ? 1 : 0));
  }
  return {
    batch: r.batch, first: r.first, padding, seed: r.seed, step: r.step, ownWeight, box, maskPatch, tokenMask,
    randomCrop: r.augment, randomFlip: r.augment && (r.flip ?? true),
    meanQ: Float32Array.from(mean, (m) => m * 255 * WEIGHT_ONE),
    scaleQ: Float32Array.from(std, (s) => 1 / (s * 255 * WEIGHT_ONE)),
  };
}

/** Uniforms of shaders/augment.wgsl (one Params struct for both kernels), shard fields left to the caller. */
function uniforms(b: ResolvedBatch, channels: number, side: number) {
  const c = (values: Float32Array, i: number) => (i < values.length ? values[i] : 0);
  return {
    batch: b.batch, channels, side, first: b.first, padding: b.padding,
    random_crop: b.randomCrop, random_flip: b.randomFlip, seed: b.seed, step: b.step,
    own_weight: b.ownWeight, mask_patch: b.maskPatch, map_patch: 0, map_classes: 0, box_y0: b.box.y0, box_y1: b.box.y1, box_x0: b.box.x0, box_x1: b.box.x1,
    mean_q0: c(b.meanQ, 0), mean_q1: c(b.meanQ, 1), mean_q2: c(b.meanQ, 2),
    scale_q0: c(b.scaleQ, 0), scale_q1: c(b.scaleQ, 1), scale_q2: c(b.scaleQ, 2),
  };
}

/** A teacher's per-token class probabilities for a whole dataset, [count, T, K], in shards of whole images. */
export interface TeacherMapsOnGpu {
  count: number;
  /** Patch side of the maps' token grid (G = S / patch). */
  patch: number;
  classes: number;
  shards: { storage: Storage; first: number; count: number }[];
}

/** Uploads maps [count, T, K] (T = (size/patch)²), split so that no shard's binding passes the device limit. */
export function uploadTeacherMaps(gpu: Gpu, maps: Float32Array, o: { count: number; size: number; patch: number; classes: number }): TeacherMapsOnGpu {
  const T = (o.size / o.patch) ** 2;
  const perImage = T * o.classes;
  if (!Number.isInteger(T) || maps.length !== o.count * perImage) {
    throw new Error(`teacher maps: ${maps.length} values for ${o.count} images of ${T} tokens × ${o.classes} classes (${o.count * perImage} expected)`);
  }
  const perShard = Math.floor(deviceMaxBindingBytes(gpu.device.limits) / 4 / perImage);
  if (perShard < 1) throw new Error(`teacher maps: one image's map (${perImage} values) passes the device's binding limit`);
  const shards: TeacherMapsOnGpu['shards'] = [];
  for (let first = 0; first < o.count; first += perShard) {
    const n = Math.min(perShard, o.count - first);
    const storage = gpu.persistent(n * perImage, `teacher maps ${first}..${first + n - 1}`);
    gpu.write(storage, maps.subarray(first * perImage, (first + n) * perImage));
    shards.push({ storage, first, count: n });
  }
  return { count: o.count, patch: o.patch, classes: o.classes, shards };
}

export interface GpuBatch {
  /** [B, C, S, S] f32, normalised and mixed. */
  images: Tensor;
  /** u32 [B]: each sample's own label (the partner's is labels[B−1−b]). */
  labels: Storage;
  /** u32 [B, C, S, S]: the cropped and flipped pixels before mixing. */
  augmented: Storage;
}

export class GpuBatcher {
  private order?: Storage;
  private tokenMask?: Storage;
  private last?: { request: BatchRequest; params: ReturnType<typeof uniforms> };

  constructor(readonly gpu: Gpu, readonly data: DatasetOnGpu) {}

  /** Uploads the order (e.g. an epoch's permutation) once; gpu.write flushes, so call between steps. */
  setOrder(order: Uint32Array): void {
    for (const i of order) {
      if (i >= this.data.count) throw new Error(`setOrder: image ${i} is not in the dataset of ${this.data.count}`);
    }
    const old = this.order;
    const fits = old && old.buffer.size >= order.length * 4;
    this.order = fits ? { ...old, elements: order.length } : this.gpu.persistent(order.length, 'batch order');
    this.gpu.write(this.order, order);
    if (!fits) old?.buffer.destroy();
  }

  /** Records the dispatches of one batch into the current encoder; the outputs are step temporaries. */
  encode(r: BatchRequest): GpuBatch {
    const { gpu, data } = this;
    const { size, channels } = data;
    const b = resolveBatch(r, size, channels);
    if (!this.order) throw new Error('GpuBatcher.encode: setOrder first');
    if (b.first + b.batch > this.order.elements) {
      throw new Error(`GpuBatcher.encode: batch order[${b.first} .. ${b.first + b.batch}) passes the order's ${this.order.elements} entries`);
    }
    const augmented = gpu.temp(b.batch * channels * size * size);
    const labels = gpu.temp(b.batch);
    const images = tempTensor(gpu, [b.batch, channels, size, size], 'batch images');
    const grid = elementwiseGrid(images.size);
    const params = uniforms(b, channels, size);
    if (!this.tokenMask || this.tokenMask.elements < b.tokenMask.length) {
      gpu.flush(); // commands already recorded may still use the old mask
      this.tokenMask?.buffer.destroy();
      this.tokenMask = gpu.persistent(Math.max(64, b.tokenMask.length), 'batch token mask');
    }
    gpu.write(this.tokenMask, b.tokenMask);
    for (const shard of data.shards) {
      gpu.run('augment', 'augment_gather', { ...params, shard_first: shard.first, shard_count: shard.count },
        { order: this.order, shard_images: shard.storage, dataset_labels: data.labels, augmented, labels }, grid, { WG });
    }
    this.last = { request: r, params };
    gpu.run('augment', 'mix_normalize', { ...params, shard_first: 0, shard_count: 0 }, { augmented, token_mask: this.tokenMask, dst: images.storage }, grid, { WG });
    return { images, labels, augmented };
  }

  /**
   * The teacher's maps [B, T, K] of the batch just encoded, cropped and flipped with its images
   * (shaders/augment.wgsl teacher_gather); unmixed: sample b's own image.
   */
  encodeTeacher(maps: TeacherMapsOnGpu): Tensor {
    const { gpu, data } = this;
    if (!this.last) throw new Error('GpuBatcher.encodeTeacher: encode a batch first');
    if (maps.count !== data.count) throw new Error(`teacher maps cover ${maps.count} images, the dataset has ${data.count}`);
    const T = (data.size / maps.patch) ** 2;
    const { request: r, params } = this.last;
    const out = tempTensor(gpu, [r.batch, T, maps.classes], 'teacher maps');
    for (const shard of maps.shards) {
      gpu.run('augment', 'teacher_gather', { ...params, map_patch: maps.patch, map_classes: maps.classes, shard_first: shard.first, shard_count: shard.count },
        { order: this.order!, teacher_maps: shard.storage, teacher_dst: out.storage }, elementwiseGrid(out.size), { WG });
    }
    return out;
  }
}
