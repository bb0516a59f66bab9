/**
 * What every dataset loader returns, whatever it read (official binary batches, an ImageFolder
 * archive, the web format, the synthetic set), plus the CIFAR-10 constants and the small helpers
 * that work on any ImageSet. Browser-safe: no Node imports here.
 */
import { balancedSubset } from './subset.ts';

export type Split = 'train' | 'test';
export const SPLITS: readonly Split[] = ['train', 'test'];

export interface ImageSet {
  /** [count, 3, size, size] uint8, CHW per image (channel planes, each row-major). */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  channels: 3;
  size: number;
  classes: readonly string[];
  /** Each image's position in the full split, when the set is a subset or was read by index. */
  indices?: number[];
  /** Each image's path inside its archive, when it came from one file per image. */
  paths?: string[];
}

export interface DatasetSplits {
  /** "cifar10", "synthetic", or the name recorded in a web-format file. */
  name: string;
  /** Where it was read from (a path, a URL, "synthetic seed 0"). */
  source: string;
  train: ImageSet;
  test: ImageSet;
  /** Symbolic and hard links in the archive it was read from, skipped (absent: none, or not an archive). */
  skippedLinks?: number;
}

/** What the page shows about a loaded dataset (no pixels). */
export interface DatasetSummary {
  name: string;
  source: string;
  classes: readonly string[];
  size: number;
  train: number;
  test: number;
  /**
   * Symbolic and hard links in the archive, skipped: an archive's images are its own files.
   * summarize always sets it; a summary stored by an older version may lack it.
   */
  skippedLinks?: number;
}

export function summarize(d: DatasetSplits): DatasetSummary {
  return {
    name: d.name, source: d.source, classes: d.train.count ? d.train.classes : d.test.classes, size: d.train.count ? d.train.size : d.test.size,
    train: d.train.count, test: d.test.count, skippedLinks: d.skippedLinks ?? 0,
  };
}

/** The summary's note on skipped links, for the CLI and the page; undefined when there were none. */
export function skippedLinksNote(s: Pick<DatasetSummary, 'skippedLinks'>): string | undefined {
  if (!s.skippedLinks) return undefined;
  return `${s.skippedLinks} ${s.skippedLinks === 1 ? 'link' : 'links'} (symbolic or hard) in the archive skipped: only its own files are read`;
}

export interface LoadOptions {
  /** Draw a seeded class-balanced subset of this many training images. */
  trainLimit?: number;
  testLimit?: number;
  /** Seed of the subsets (and of the synthetic set); default 0. */
  seed?: number;
  /** Splits to read; the others come back empty. Default both. */
  splits?: Split[];
  onProgress?: (done: number, total: number, what: string) => void;
}

/** CIFAR-10 class names in label order (shared/datasets/cifar10/README.md). */
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

/** Per-channel mean and standard deviation of the CIFAR-10 training pixels, in [0, 1] units. */
export const CIFAR10_MEAN = [0.4914, 0.4822, 0.4465] as const;
export const CIFAR10_STD = [0.2470, 0.2435, 0.2616] as const;

export function emptyImageSet(classes: readonly string[], size = 32): ImageSet {
  return { images: new Uint8Array(0), labels: new Uint8Array(0), count: 0, channels: 3, size, classes };
}

/** The images at `indices` (positions in `set`), in that order; `indices` are recorded on the result. */
export function selectImages(set: ImageSet, indices: readonly number[]): ImageSet {
  const pixels = 3 * set.size * set.size;
  const images = new Uint8Array(indices.length * pixels);
  const labels = new Uint8Array(indices.length);
  indices.forEach((from, to) => {
    images.set(set.images.subarray(from * pixels, (from + 1) * pixels), to * pixels);
    labels[to] = set.labels[from];
  });
  const out: ImageSet = { images, labels, count: indices.length, channels: 3, size: set.size, classes: set.classes, indices: indices.map((i) => set.indices?.[i] ?? i) };
  if (set.paths) out.paths = indices.map((i) => set.paths![i]);
  return out;
}

/**
 * Indices of a seeded class-balanced subset of `limit` items (all, in order, when `limit` is
 * undefined). A limit above the split's size is an error naming both numbers and `where`.
 */
export function subsetIndices(labels: ArrayLike<number>, classes: number, limit: number | undefined, seed: number, what: string, where: string): number[] | undefined {
  if (limit === undefined) return undefined;
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`${where}: the ${what} limit must be a positive integer, got ${limit}`);
  if (limit > labels.length) throw new Error(`${where}: a ${what} limit of ${limit} is more than the ${labels.length} images of the ${what} split`);
  return balancedSubset(labels, limit, seed, classes);
}

/** A seeded class-balanced subset of `set` (the set itself when `limit` is undefined). */
export function limitImageSet(set: ImageSet, limit: number | undefined, seed: number, what: string, where: string): ImageSet {
  const chosen = subsetIndices(set.labels, set.classes.length, limit, seed, what, where);
  return chosen ? selectImages(set, chosen) : set;
}

/** uint8 [N, C, H, W] images → float32 (x/255 − mean[c]) / std[c]; C = mean.length, `plane` = H·W. */
export function normalizeImages(images: Uint8Array, plane: number, mean: readonly number[] = CIFAR10_MEAN, std: readonly number[] = CIFAR10_STD): Float32Array {
  const channels = mean.length;
  if (std.length !== channels || images.length % (channels * plane) !== 0) {
    throw new Error(`normalizeImages: ${images.length} bytes are not whole images of ${channels}×${plane} pixels`);
  }
  const out = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) {
    const c = Math.floor(i / plane) % channels;
    out[i] = (images[i] / 255 - mean[c]) / std[c];
  }
  return out;
}

/** Labels → one-hot rows [count, classes]. */
export function oneHot(labels: ArrayLike<number>, classes: number): Float32Array {
  const out = new Float32Array(labels.length * classes);
  for (let i = 0; i < labels.length; i++) out[i * classes + labels[i]] = 1;
  return out;
}
