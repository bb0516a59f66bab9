/**
 * "ImageFolder" archives: `train/<class>/<name>.jpg` and `test/<class>/<name>.jpg` inside a
 * .tar.gz (shared/datasets/cifar10/cifar10-jpg.tar.gz), streamed with ./tar.ts.
 *
 * Labels follow the class order of the dataset's README, never the archive's order. Images come
 * out as uint8 CHW (channel planes, each row-major), the layout of the official binary records.
 * `select` sees every image entry of the split before it is decoded, so a caller that wants 64
 * images decodes 64, not 50,000. Reading the training split scans the whole archive (the test
 * split comes first); `listImageFolder` is the same scan without decoding.
 */
import { decode as decodeJpeg } from 'jpeg-js';
import { readTarGz } from './tar.ts';

/** CIFAR-10 class names in label order (shared/datasets/cifar10/README.md). */
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

/** Per-channel mean and standard deviation of the CIFAR-10 training pixels, in [0, 1] units. */
export const CIFAR10_MEAN = [0.4914, 0.4822, 0.4465] as const;
export const CIFAR10_STD = [0.2470, 0.2435, 0.2616] as const;

export type Split = 'train' | 'test';

export interface FolderEntry {
  split: Split;
  className: string;
  label: number;
  /** Path inside the archive. */
  path: string;
  /** Position among the split's images in archive order (0, 1, 2, …), counted before `select`. */
  index: number;
}

export interface ImageFolderOptions {
  split: Split;
  /** Folder names in label order; defaults to CIFAR-10's. */
  classes?: readonly string[];
  /** Decode only the entries for which this returns true (all when absent). */
  select?: (entry: FolderEntry) => boolean;
  /** Expected side of every image (checked); 32 for CIFAR-10. */
  imageSize?: number;
}

export interface ImageSet {
  /** [count, 3, size, size] uint8, CHW per image. */
  images: Uint8Array;
  labels: Uint8Array;
  /** Each image's FolderEntry.index and archive path. */
  indices: number[];
  paths: string[];
  count: number;
  channels: 3;
  size: number;
  classes: readonly string[];
}

const IMAGE_PATH = /^(?:\.\/)?(train|test)\/([^/]+)\/([^/]+\.(jpe?g|png))$/i;

async function* imageEntries(file: string, split: Split, classes: readonly string[]) {
  let index = 0;
  let seen = 0;
  for await (const e of readTarGz(file)) {
    const m = IMAGE_PATH.exec(e.path);
    if (!m) continue;
    seen++;
    if (m[1] !== split) continue;
    const label = classes.indexOf(m[2]);
    if (label < 0) throw new Error(`${file}: ${e.path}: class folder "${m[2]}" is not one of ${classes.join(', ')}`);
    const entry: FolderEntry = { split, className: m[2], label, path: e.path, index: index++ };
    yield { entry, data: e.data, kind: m[4].toLowerCase() === 'png' ? 'png' as const : 'jpeg' as const };
  }
  if (seen === 0) throw new Error(`${file}: no train/<class>/*.jpg or test/<class>/*.jpg entries; not an ImageFolder archive`);
  if (index === 0) throw new Error(`${file}: no images in the "${split}" split`);
}

/** Every image entry of a split, in archive order, without decoding anything. */
export async function listImageFolder(file: string, split: Split, classes: readonly string[] = CIFAR10_CLASSES): Promise<FolderEntry[]> {
  const out: FolderEntry[] = [];
  for await (const { entry } of imageEntries(file, split, classes)) out.push(entry);
  return out;
}

/** Decodes the selected images of a split, in archive order. */
export async function readImageFolder(file: string, o: ImageFolderOptions): Promise<ImageSet> {
  const classes = o.classes ?? CIFAR10_CLASSES;
  const size = o.imageSize ?? 32;
  const pixels = 3 * size * size;
  const planes: Uint8Array[] = [];
  const labels: number[] = [];
  const indices: number[] = [];
  const paths: string[] = [];
  for await (const { entry, data, kind } of imageEntries(file, o.split, classes)) {
    if (o.select && !o.select(entry)) continue;
    if (kind === 'png') throw new Error(`${file}: ${entry.path}: PNG images are not supported yet (JPEG only)`);
    planes.push(decodeJpegChw(data, size, `${file}: ${entry.path}`));
    labels.push(entry.label);
    indices.push(entry.index);
    paths.push(entry.path);
  }
  const images = new Uint8Array(planes.length * pixels);
  planes.forEach((p, i) => images.set(p, i * pixels));
  return { images, labels: Uint8Array.from(labels), indices, paths, count: planes.length, channels: 3, size, classes };
}

/** JPEG bytes → uint8 [3, size, size]; grayscale JPEGs come out with three equal planes. */
export function decodeJpegChw(data: Uint8Array, size: number, where: string): Uint8Array {
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = decodeJpeg(data, { useTArray: true, formatAsRGBA: false });
  } catch (e) {
    throw new Error(`${where}: cannot decode JPEG (${(e as Error).message})`);
  }
  if (img.width !== size || img.height !== size) throw new Error(`${where}: image is ${img.width}×${img.height}, expected ${size}×${size}`);
  const hw = size * size;
  const out = new Uint8Array(3 * hw);
  const rgb = img.data;
  for (let p = 0; p < hw; p++) {
    out[p] = rgb[3 * p];
    out[hw + p] = rgb[3 * p + 1];
    out[2 * hw + p] = rgb[3 * p + 2];
  }
  return out;
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
