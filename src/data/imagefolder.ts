/**
 * "ImageFolder" archives on disk, in Node: `train/<class>/<name>.jpg|png` and
 * `test/<class>/<name>.jpg|png` inside a .tar.gz (shared/datasets/cifar10/cifar10-jpg.tar.gz),
 * streamed with ./tar.ts and decoded with jpeg-js / pngjs. The format logic is in
 * ./imagefolder-web.ts, which the page uses with its own decoder.
 *
 * `select` sees every image entry of the split before it is decoded, so a caller that wants 64
 * images decodes 64, not 50,000. Reading the training split scans the whole archive (the test
 * split comes first); `listImageFolder` is the same scan without decoding.
 */
import { decode as decodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import { CIFAR10_CLASSES, type Split } from './dataset.ts';
import { decodeImageEntries, type DecodedImage, type FolderEntry, type FolderImageSet, type ImageDecoder, type ImageKind, imageEntries, interleavedToChw, listImageFolderSplits } from './imagefolder-web.ts';
import { readTarGz } from './tar.ts';

export { CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, type ImageSet, normalizeImages, oneHot, type Split } from './dataset.ts';
export type { DecodedImage, FolderEntry, FolderImageSet, ImageDecoder, ImageKind } from './imagefolder-web.ts';

export interface ImageFolderOptions {
  split: Split;
  /** Folder names in label order; defaults to CIFAR-10's. */
  classes?: readonly string[];
  /** Decode only the entries for which this returns true (all when absent). */
  select?: (entry: FolderEntry) => boolean;
  /** Expected side of every image (checked); 32 for CIFAR-10. */
  imageSize?: number;
  /** Defaults to nodeImageDecoder. */
  decode?: ImageDecoder;
}

/** Every image entry of a split, in archive order, without decoding anything. */
export async function listImageFolder(file: string, split: Split, classes: readonly string[] = CIFAR10_CLASSES): Promise<FolderEntry[]> {
  const entries = (await listImageFolderSplits(readTarGz(file), file, classes))[split];
  if (entries.length === 0) throw new Error(`${file}: no images in the "${split}" split`);
  return entries;
}

/** Decodes the selected images of a split, in archive order. */
export async function readImageFolder(file: string, o: ImageFolderOptions): Promise<FolderImageSet> {
  const classes = o.classes ?? CIFAR10_CLASSES;
  const sets = await decodeImageEntries(imageEntries(readTarGz(file), file, classes), file, {
    select: { [o.split]: o.select ?? true },
    decode: o.decode ?? nodeImageDecoder,
    classes,
    imageSize: o.imageSize,
  });
  return sets[o.split]!;
}

/** JPEG (jpeg-js) or PNG (pngjs) bytes → CHW planes; grayscale images come out with three equal planes. */
export const nodeImageDecoder: ImageDecoder = (bytes: Uint8Array, kind: ImageKind, where: string): DecodedImage => {
  if (kind === 'jpeg') {
    try {
      const img = decodeJpeg(bytes, { useTArray: true, formatAsRGBA: false });
      return { width: img.width, height: img.height, chw: interleavedToChw(img.data, img.width, img.height, 3) };
    } catch (e) {
      throw new Error(`${where}: cannot decode JPEG (${(e as Error).message})`);
    }
  }
  try {
    const img = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return { width: img.width, height: img.height, chw: interleavedToChw(img.data, img.width, img.height, 4) };
  } catch (e) {
    throw new Error(`${where}: cannot decode PNG (${(e as Error).message})`);
  }
};
