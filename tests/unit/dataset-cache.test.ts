/**
 * The dataset cache's encoding (src/train/dataset-cache.ts): the WebCrypto-checksummed encoder
 * writes exactly encodeWebSplit's bytes (a header with non-ASCII text included, an empty split
 * too), the decoder reads them back as views and refuses a corrupted payload; a dataset survives
 * toStoredDataset → browser storage (in-memory OPFS) → fromStoredDataset whole, skipped links kept.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IDBFactory } from 'fake-indexeddb';
import { CIFAR10_CLASSES, emptyImageSet, type ImageSet } from '../../src/data/dataset.ts';
import { openOpfsBlobStore } from '../../src/train/blob-store.ts';
import { openStore } from '../../src/train/browser-store.ts';
import { decodeWebSplitAsync, encodeWebSplit, encodeWebSplitAsync } from '../../src/data/webformat.ts';
import { fromStoredDataset, toStoredDataset } from '../../src/train/dataset-cache.ts';
import { memoryOpfs } from './helpers/memory-opfs.ts';

const set = (count: number, seed: number): ImageSet => ({
  images: Uint8Array.from({ length: count * 3072 }, (_, i) => (i * seed + (i >> 10)) & 255),
  labels: Uint8Array.from({ length: count }, (_, i) => (i * seed) % 10), count, channels: 3, size: 32, classes: CIFAR10_CLASSES,
});

describe('dataset cache encoding', () => {
  test('the native encoder writes encodeWebSplit\'s bytes exactly', async () => {
    for (const [s, source, name] of [[set(50, 3), 'cifar-10-binary.tar.gz', 'cifar10'], [set(7, 5), 'mes données «000000…».tar.gz', 'x'], [emptyImageSet(CIFAR10_CLASSES), 'empty', 'cifar10']] as const) {
      const native = await encodeWebSplitAsync(s, 'train', source, name);
      assert.deepEqual(native, encodeWebSplit(s, 'train', source, name), source);
    }
  });

  test('the native decoder reads views of the bytes and refuses a corrupted payload', async () => {
    const bytes = encodeWebSplit(set(20, 7), 'test', 'a.tar.gz', 'cifar10');
    const back = await decodeWebSplitAsync(bytes, 'cached');
    assert.equal(back.images.buffer, bytes.buffer, 'no copy');
    assert.deepEqual(back.images, set(20, 7).images);
    assert.deepEqual(back.labels, set(20, 7).labels);
    bytes[bytes.length - 100] ^= 1;
    await assert.rejects(decodeWebSplitAsync(bytes, 'cached'), /^Error: cached: corrupted: the payload's sha256 is [0-9a-f]{64}, the header says [0-9a-f]{64}$/);
  });

  test('a dataset through browser storage and back is whole', async () => {
    const store = await openStore(new IDBFactory(), await openOpfsBlobStore(memoryOpfs().root));
    const data = { name: 'cifar10', source: 'imagefolder.tar.gz', train: set(30, 3), test: set(10, 9), skippedLinks: 2 };
    await store.putDataset('file', await toStoredDataset(data));
    const back = await fromStoredDataset((await store.getDataset('file'))!, 'file (browser storage)');
    assert.deepEqual(back, data);
    store.close();
  });
});
