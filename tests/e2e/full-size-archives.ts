/**
 * Full-size CIFAR-10 archives for the page tests, built at test time and never committed:
 *
 *   fullSizeBinaryTarball()  the official binary release's layout (cifar-10-batches-bin/
 *                            batches.meta.txt, data_batch_1..5.bin, test_batch.bin, readme.html),
 *                            50,000 + 10,000 records whose pixels are the shared JPEG archive's
 *                            images decoded with jpeg-js, in a seeded shuffled order as the official
 *                            batches are, so gzip meets real pixels (≈ 162 MB compressed, as the
 *                            real tarball).
 *
 * The tarball is cached under .cache/test-data/ by a version string that changes whenever what it
 * holds would, so reruns skip the build (about a minute on 2 cores).
 */
import { createWriteStream, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { CIFAR10_BATCH_RECORDS, CIFAR10_RECORD_BYTES } from '../../src/data/cifar-binary.ts';
import { CIFAR10_CLASSES, type ImageSet } from '../../src/data/dataset.ts';
import { loadDataset } from '../../src/data/load-node.ts';
import { shuffled } from '../../src/data/subset.ts';
import { Rng } from '../../src/nn/random.ts';
import { ROOT } from './helpers.ts';

export const CIFAR = process.env.LABELFLOW_CIFAR10 ?? join(ROOT, '../shared/datasets/cifar10');
export const JPEG_ARCHIVE = join(CIFAR, 'cifar10-jpg.tar.gz');
const CACHE = join(ROOT, '.cache', 'test-data');
/** Bump when the tarball's content or layout changes. */
const BINARY_TARBALL_VERSION = 'v1-jpeg-js-seed7';
const SHUFFLE_SEED = 7;

/** The path of the full-size official-layout tarball, built first when the cache lacks it. */
export async function fullSizeBinaryTarball(): Promise<string> {
  const file = join(CACHE, `cifar-10-binary.full-size.${BINARY_TARBALL_VERSION}.tar.gz`);
  if (existsSync(file)) return file;
  const t0 = Date.now();
  const data = await loadDataset(JPEG_ARCHIVE);
  if (data.train.count !== 5 * CIFAR10_BATCH_RECORDS || data.test.count !== CIFAR10_BATCH_RECORDS) {
    throw new Error(`${JPEG_ARCHIVE}: ${data.train.count} + ${data.test.count} images, expected 50,000 + 10,000 to build the full-size tarball`);
  }
  const rng = new Rng(SHUFFLE_SEED);
  const trainOrder = shuffled([...Array(data.train.count).keys()], rng);
  const testOrder = shuffled([...Array(data.test.count).keys()], rng);
  const batch = (set: ImageSet, order: number[]) => {
    const out = new Uint8Array(order.length * CIFAR10_RECORD_BYTES);
    order.forEach((image, i) => {
      out[i * CIFAR10_RECORD_BYTES] = set.labels[image];
      out.set(set.images.subarray(image * 3072, (image + 1) * 3072), i * CIFAR10_RECORD_BYTES + 1);
    });
    return out;
  };
  const dir = 'cifar-10-batches-bin';
  const files: [string, () => Uint8Array][] = [
    [`${dir}/batches.meta.txt`, () => new TextEncoder().encode(CIFAR10_CLASSES.join('\n') + '\n\n')],
    ...[1, 2, 3, 4, 5].map((b): [string, () => Uint8Array] =>
      [`${dir}/data_batch_${b}.bin`, () => batch(data.train, trainOrder.slice((b - 1) * CIFAR10_BATCH_RECORDS, b * CIFAR10_BATCH_RECORDS))]),
    [`${dir}/test_batch.bin`, () => batch(data.test, testOrder)],
    [`${dir}/readme.html`, () => new TextEncoder().encode('<meta HTTP-EQUIV="REFRESH" content="0; url=http://www.cs.toronto.edu/~kriz/cifar.html">\n')],
  ];
  async function* tarBlocks() {
    yield ustarHeader(`${dir}/`, 0, '5');
    for (const [path, make] of files) {
      const bytes = make();
      yield ustarHeader(path, bytes.length, '0');
      yield bytes;
      yield new Uint8Array((512 - (bytes.length % 512)) % 512);
    }
    yield new Uint8Array(1024);
  }
  mkdirSync(CACHE, { recursive: true });
  const partial = `${file}.partial-${process.pid}`;
  await pipeline(Readable.from(tarBlocks()), createGzip({ level: 6 }), createWriteStream(partial));
  renameSync(partial, file);
  console.log(`built ${file}: ${(statSync(file).size / 1e6).toFixed(1)} MB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return file;
}

/** A 512-byte ustar header (paths up to 100 bytes: the ones above). */
function ustarHeader(path: string, size: number, type: '0' | '5'): Uint8Array {
  if (path.length > 100) throw new Error(`ustarHeader: ${path} is longer than 100 bytes`);
  const h = new Uint8Array(512);
  const put = (at: number, s: string) => h.set(new TextEncoder().encode(s), at);
  put(0, path);
  put(100, type === '5' ? '0000755\0' : '0000644\0');
  put(108, '0001750\0');
  put(116, '0001750\0');
  put(124, size.toString(8).padStart(11, '0') + '\0');
  put(136, '11100000000\0');
  put(156, type);
  put(257, 'ustar\0');
  put(263, '00');
  put(148, '        ');
  const sum = h.reduce((a, b) => a + b, 0);
  put(148, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}
