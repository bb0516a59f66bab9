/**
 * The page's dataset loaders (src/data/load-web.ts): picked archives of both layouts, fed as web
 * streams, with absent splits, progress and each kind of broken file; the readers that move in
 * step; the prepared web format through a fake fetch. The shipped test-only tarball is read from
 * LABELFLOW_CIFAR10 or ../shared/datasets/cifar10 (skipped when absent, except under CI).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { PNG } from 'pngjs';
import { CIFAR10_RECORD_BYTES } from '../../src/data/cifar-binary.ts';
import { CIFAR10_CLASSES, emptyImageSet, type ImageSet } from '../../src/data/dataset.ts';
import { nodeImageDecoder } from '../../src/data/imagefolder.ts';
import { inStep, loadArchive, loadPrepared, preparedAvailable } from '../../src/data/load-web.ts';
import { classCounts } from '../../src/data/subset.ts';
import { encodeWebSplit, type WebManifest } from '../../src/data/webformat.ts';
import { assertBatchImages, cifarBatch, rejectsWith } from './helpers/cifar-fixtures.ts';
import { makeTar, makeTarGz, type TarItem } from './helpers/tar-writer.ts';

/** `bytes` as a web stream of 64 KiB chunks, as File.stream() gives them. */
function webStream(bytes: Uint8Array, chunk = 65536): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

const load = (bytes: Uint8Array, name = 'picked.tar.gz', totalBytes?: number, onProgress?: (done: number, total: number, what: string) => void) =>
  loadArchive(webStream(bytes), name, { decode: nodeImageDecoder, totalBytes, onProgress });


// ------------------------------------------------------------------ official binary layout



const META: TarItem = { path: 'cifar-10-batches-bin/batches.meta.txt', data: new TextEncoder().encode(CIFAR10_CLASSES.join('\n') + '\n') };
const batchItem = (file: string, seed: number): TarItem => ({ path: `cifar-10-batches-bin/${file}`, data: cifarBatch(seed) });
const TEST_BATCH = batchItem('test_batch.bin', 0);

describe('loadArchive: the CIFAR-10 binary layout', () => {
  test('both splits, training batches in order 1, 2 whatever the archive order', async () => {
    const gz = makeTarGz([{ path: 'cifar-10-batches-bin/', type: '5' }, batchItem('data_batch_2.bin', 2), META, TEST_BATCH, batchItem('data_batch_1.bin', 1), { path: 'cifar-10-batches-bin/readme.html', data: new Uint8Array(10) }]);
    const progress: [number, number, string][] = [];
    const d = await load(gz, 'two-batches.tar.gz', gz.length, (done, total, what) => progress.push([done, total, what]));
    assert.equal(d.name, 'cifar10');
    assert.equal(d.source, 'two-batches.tar.gz');
    assert.equal(d.train.count, 20000);
    assert.equal(d.test.count, 10000);
    assert.deepEqual(d.train.classes, CIFAR10_CLASSES);
    assertBatchImages(d.train, 0, 1);
    assertBatchImages(d.train, 10000, 2);
    assertBatchImages(d.test, 0, 0);
    const bytes = progress.filter(([, , what]) => what === 'bytes read');
    assert.deepEqual(bytes.at(-1), [gz.length, gz.length, 'bytes read']);
    assert.ok(bytes.every(([done], i) => i === 0 || done > bytes[i - 1][0]), 'bytes read only grows');
    assert.deepEqual(progress.filter(([, , what]) => what === 'test records').at(-1), [10000, 10000, 'test records']);
    assert.deepEqual(progress.filter(([, , what]) => what === 'train records').at(-1), [20000, 20000, 'train records']);
  });

  test('a test-only archive gives an empty training split, a train-only one an empty test split', async () => {
    const what = new Set<string>();
    const testOnly = await load(makeTarGz([META, TEST_BATCH]), 'test-only.tar.gz', undefined, (_done, _total, w) => what.add(w));
    assert.deepEqual([...what], ['test records'], 'no progress of the absent split');
    assert.equal(testOnly.train.count, 0);
    assert.equal(testOnly.train.images.length, 0);
    assert.equal(testOnly.test.count, 10000);
    assertBatchImages(testOnly.test, 0, 0);
    const trainOnly = await load(makeTarGz([batchItem('data_batch_3.bin', 3)]));
    assert.equal(trainOnly.train.count, 10000);
    assert.equal(trainOnly.test.count, 0);
    assertBatchImages(trainOnly.train, 0, 3);
  });

  test('CIFAR-100-sized records: the reader\'s error, naming archive and entry', async () => {
    const gz = makeTarGz([{ path: 'cifar-10-batches-bin/data_batch_1.bin', data: cifarBatch(1, 100, CIFAR10_RECORD_BYTES + 1) }, TEST_BATCH]);
    await rejectsWith(load(gz, 'c100.tar.gz'), 'c100.tar.gz: cifar-10-batches-bin/data_batch_1.bin', /CIFAR-100/);
  });

  test('a bad batch stops the other split\'s reader too (no hang), with the batch\'s error', async () => {
    const gz = makeTarGz([{ path: 'cifar-10-batches-bin/test_batch.bin', data: cifarBatch(0, 10) }, batchItem('data_batch_1.bin', 1), batchItem('data_batch_2.bin', 2)]);
    await rejectsWith(load(gz, 'short.tar.gz'), 'short.tar.gz: cifar-10-batches-bin/test_batch.bin', /10 records where an official CIFAR-10 batch has 10000/);
  });

  test('only batches.meta.txt: no batch files at all', async () => {
    await rejectsWith(load(makeTarGz([META]), 'meta.tar.gz'), /meta\.tar\.gz: no CIFAR-10 batch files/);
  });
});

// ------------------------------------------------------------------ ImageFolder layout

/** A 32×32 PNG whose pixel (y, x) is (c·10 + seed, y·8, x·8): lossless, so pixels can be checked. */
function png(seed: number, size = 32): Uint8Array {
  const p = new PNG({ width: size, height: size });
  for (let i = 0; i < size * size; i++) {
    p.data[4 * i] = seed;
    p.data[4 * i + 1] = Math.floor(i / size) * 8;
    p.data[4 * i + 2] = (i % size) * 8;
    p.data[4 * i + 3] = 255;
  }
  return new Uint8Array(PNG.sync.write(p));
}

function assertPng(set: ImageSet, i: number, seed: number) {
  const img = set.images.subarray(i * 3072, (i + 1) * 3072);
  assert.equal(img[0], seed, `image ${i} red`);
  assert.equal(img[1024 + 5 * 32 + 3], 40, `image ${i} green at row 5`);
  assert.equal(img[2048 + 5 * 32 + 3], 24, `image ${i} blue at column 3`);
}

describe('loadArchive: ImageFolder archives', () => {
  test('both splits, labels by CIFAR-10 class order, pixels as stored', async () => {
    const gz = makeTarGz([
      { path: 'README.txt', data: new TextEncoder().encode('hello') },
      { path: 'test/dog/0.png', data: png(1) },
      { path: 'train/truck/0.png', data: png(2) },
      { path: 'train/airplane/1.png', data: png(3) },
      { path: 'test/cat/1.png', data: png(4) },
    ]);
    const images: string[] = [];
    const d = await load(gz, 'folder.tar.gz', undefined, (done, total, what) => images.push(`${what} ${done}/${total}`));
    assert.equal(d.train.count, 2);
    assert.equal(d.test.count, 2);
    assert.deepEqual([...d.train.labels], [CIFAR10_CLASSES.indexOf('truck'), CIFAR10_CLASSES.indexOf('airplane')]);
    assert.deepEqual([...d.test.labels], [CIFAR10_CLASSES.indexOf('dog'), CIFAR10_CLASSES.indexOf('cat')]);
    assertPng(d.train, 0, 2);
    assertPng(d.train, 1, 3);
    assertPng(d.test, 0, 1);
    assertPng(d.test, 1, 4);
    assert.ok(images.includes('train images 2/0') && images.includes('test images 2/0'), images.join('; '));
  });

  test('a test-only archive gives an empty training split', async () => {
    const d = await load(makeTarGz([{ path: './test/frog/a.png', data: png(7) }]));
    assert.equal(d.train.count, 0);
    assert.equal(d.test.count, 1);
    assert.equal(d.test.labels[0], CIFAR10_CLASSES.indexOf('frog'));
  });

  test('a file that is not an image: the decoder\'s error, naming the entry', async () => {
    const gz = makeTarGz([{ path: 'train/cat/ok.png', data: png(1) }, { path: 'test/cat/bad.jpg', data: new TextEncoder().encode('not a jpeg') }, { path: 'train/cat/more.png', data: png(2) }]);
    await rejectsWith(load(gz, 'bad.tar.gz'), 'bad.tar.gz: test/cat/bad.jpg: not an image');
  });

  test('an unknown class folder', async () => {
    await rejectsWith(load(makeTarGz([{ path: 'train/unicorn/0.png', data: png(1) }]), 'zoo.tar.gz'), /zoo\.tar\.gz: train\/unicorn\/0\.png: class folder "unicorn"/);
  });
});

// ------------------------------------------------------------------ files that are neither

describe('loadArchive: broken and wrong files', () => {
  const gz = makeTarGz([META, TEST_BATCH]);

  test('truncated gzip (the first half of the bytes), naming the file', async () => {
    await rejectsWith(load(gz.subarray(0, gz.length >> 1), 'half.tar.gz'), /^half\.tar\.gz: /, /truncated/);
  });

  test('a PNG renamed .tar.gz', async () => {
    await rejectsWith(load(png(0), 'photo.tar.gz'), /^photo\.tar\.gz: corrupt or not gzip data/);
  });

  test('an empty file', async () => {
    await rejectsWith(load(new Uint8Array(0), 'empty.tar.gz'), /^empty\.tar\.gz: empty file/);
  });

  test('a tarball of neither layout lists what it holds', async () => {
    const other = makeTarGz([{ path: 'notes/a.txt', data: new Uint8Array(3) }, { path: 'images/cat.png', data: png(1) }]);
    await rejectsWith(load(other, 'other.tar.gz'), /^other\.tar\.gz: neither the CIFAR-10 binary release .* nor an ImageFolder archive .*its 2 files: notes\/a\.txt, images\/cat\.png$/);
  });

  test('a tar missing its end-of-archive blocks', async () => {
    await rejectsWith(load(makeTarGz([META, TEST_BATCH], false), 'noend.tar.gz'), /^noend\.tar\.gz: truncated tar archive/);
  });

  test('an async iterable of chunks works as well as a stream', async () => {
    async function* chunks() {
      for (let at = 0; at < gz.length; at += 100000) yield gz.subarray(at, at + 100000);
    }
    const d = await loadArchive(chunks(), 'chunks.tar.gz', { decode: nodeImageDecoder });
    assert.equal(d.test.count, 10000);
  });
});

// ------------------------------------------------------------------ readers in step

describe('inStep', () => {
  async function* numbers(n: number, log: number[]) {
    for (let i = 0; i < n; i++) {
      log.push(i);
      yield i;
    }
  }

  test('every reader sees every item once read, and the source runs at most one item ahead of the slowest', async () => {
    const read: number[] = [];
    const [a, b] = inStep(numbers(50, read), 2);
    const seenA: number[] = [];
    const seenB: number[] = [];
    let maxLead = 0;
    await Promise.all([
      (async () => { for await (const x of a) seenA.push(x); })(),
      (async () => {
        for await (const x of b) {
          await new Promise((r) => setTimeout(r, 1));
          seenB.push(x);
          maxLead = Math.max(maxLead, read.length - seenB.length);
        }
      })(),
    ]);
    assert.deepEqual(seenA, [...Array(50).keys()]);
    assert.deepEqual(seenB, seenA);
    assert.deepEqual(read, seenA);
    assert.ok(maxLead <= 2, `the source ran ${maxLead} items ahead`);
  });

  test('a reader that fails stops the source and the other reader', async () => {
    const read: number[] = [];
    const [a, b] = inStep(numbers(1000, read), 2);
    const results = await Promise.allSettled([
      (async () => { for await (const x of a) if (x === 5) throw new Error('bad item 5'); })(),
      (async () => { let n = 0; for await (const _ of b) n++; return n; })(),
    ]);
    assert.equal(results[0].status, 'rejected');
    assert.equal(results[1].status, 'rejected');
    assert.match((results[1] as PromiseRejectedResult).reason.message, /another reader/);
    assert.ok(read.length < 10, `the source read ${read.length} items`);
  });

  test('an error of the source reaches every reader', async () => {
    async function* failing() {
      yield 1;
      throw new Error('source broke');
    }
    const readers = inStep(failing(), 2);
    const results = await Promise.allSettled(readers.map(async (r) => { for await (const _ of r); }));
    for (const r of results) assert.match((r as PromiseRejectedResult).reason.message, /source broke/);
  });
});

// ------------------------------------------------------------------ the shipped test-only tarball

const sharedDir = process.env.LABELFLOW_CIFAR10 ?? join(import.meta.dirname, '../../../shared/datasets/cifar10');
const testOnlyTarball = join(sharedDir, 'cifar-10-binary.test-only.tar.gz');
const skipReal = existsSync(testOnlyTarball) || process.env.CI ? false : `${testOnlyTarball} is not there`;

describe('the shipped test-only CIFAR-10 tarball', { skip: skipReal }, () => {
  test('10,000 test images, 1,000 of each class, and no training images', async () => {
    const bytes = new Uint8Array(readFileSync(testOnlyTarball));
    const d = await load(bytes, 'cifar-10-binary.test-only.tar.gz', bytes.length);
    assert.equal(d.train.count, 0);
    assert.equal(d.test.count, 10000);
    assert.deepEqual(classCounts(d.test.labels, 10), new Array(10).fill(1000));
  });

  test('its first half: a truncation error naming the file', async () => {
    const bytes = new Uint8Array(readFileSync(testOnlyTarball));
    await rejectsWith(load(bytes.subarray(0, bytes.length >> 1), 'cifar-10-binary.test-only.tar.gz'), /^cifar-10-binary\.test-only\.tar\.gz: truncated/);
  });
});

// ------------------------------------------------------------------ prepared web format

describe('loadPrepared', () => {
  const trainSet: ImageSet = { images: new Uint8Array(3 * 3072).map((_, i) => i & 255), labels: Uint8Array.from([0, 9, 4]), count: 3, channels: 3, size: 32, classes: CIFAR10_CLASSES };
  const testSet: ImageSet = { images: new Uint8Array(2 * 3072).map((_, i) => (i * 7) & 255), labels: Uint8Array.from([1, 2]), count: 2, channels: 3, size: 32, classes: CIFAR10_CLASSES };

  function site(files: Record<string, Uint8Array | string>): typeof fetch {
    return (async (input: RequestInfo | URL) => {
      const url = String(input);
      const body = files[url];
      if (body === undefined) return new Response('<!doctype html>', { status: 404 });
      return new Response(body as BodyInit);
    }) as typeof fetch;
  }

  function prepared(splits: Record<string, ImageSet>, base = '/data/cifar10/'): Record<string, Uint8Array | string> {
    const out: Record<string, Uint8Array | string> = {};
    const manifest: WebManifest = { format: 'LFDS1', name: 'cifar10', source: 'made.tar.gz', classes: [...CIFAR10_CLASSES], files: [] };
    for (const [split, set] of Object.entries(splits)) {
      const bytes = encodeWebSplit(set, split as 'train' | 'test', 'made.tar.gz');
      out[`${base}${split}.bin`] = bytes;
      manifest.files.push({ split: split as 'train' | 'test', file: `${split}.bin`, count: set.count, bytes: bytes.length, sha256: '' });
    }
    out[`${base}manifest.json`] = JSON.stringify(manifest);
    return out;
  }

  test('both splits, decoded and checked, with byte progress', async () => {
    const progress: string[] = [];
    const d = await loadPrepared('/data/cifar10/', site(prepared({ train: trainSet, test: testSet })), (done, total, what) => progress.push(`${what} ${done}/${total}`));
    assert.equal(d.name, 'cifar10');
    assert.equal(d.source, 'made.tar.gz');
    assert.deepEqual([...d.train.labels], [0, 9, 4]);
    assert.deepEqual([...d.test.labels], [1, 2]);
    assert.deepEqual([...d.train.images], [...trainSet.images]);
    assert.deepEqual([...d.test.images], [...testSet.images]);
    assert.ok(progress.some((p) => p.startsWith('train bytes')) && progress.some((p) => p.startsWith('test bytes')));
  });

  test('a base URL without the trailing slash, and a split the manifest does not list', async () => {
    const d = await loadPrepared('/data/cifar10', site(prepared({ test: testSet })));
    assert.equal(d.train.count, 0);
    assert.equal(d.test.count, 2);
  });

  test('an empty split encodes and loads back as empty', async () => {
    const d = await loadPrepared('/data/cifar10/', site(prepared({ train: emptyImageSet(CIFAR10_CLASSES), test: testSet })));
    assert.equal(d.train.count, 0);
  });

  test('no manifest: says to run npm run data', async () => {
    await rejectsWith(loadPrepared('/data/cifar10/', site({})), '/data/cifar10/manifest.json: no prepared dataset (HTTP 404)', 'npm run data');
    await rejectsWith(loadPrepared('/data/cifar10/', site({ '/data/cifar10/manifest.json': '<!doctype html><html>' })), /not JSON.*npm run data/);
    assert.equal(await preparedAvailable('/data/cifar10/', site({})), false);
    assert.equal(await preparedAvailable('/data/cifar10/', site(prepared({ train: trainSet, test: testSet }))), true);
    assert.equal(await preparedAvailable('/data/cifar10/', (async () => { throw new TypeError('Failed to fetch'); }) as typeof fetch), false);
  });

  test('a corrupted or stale split file: the format\'s error, naming the URL', async () => {
    const files = prepared({ train: trainSet, test: testSet });
    const bad = new Uint8Array(files['/data/cifar10/train.bin'] as Uint8Array);
    bad[bad.length - 1] ^= 1;
    await rejectsWith(loadPrepared('/data/cifar10/', site({ ...files, '/data/cifar10/train.bin': bad })), /^\/data\/cifar10\/train\.bin: corrupted: the payload's sha256/);
    const shorter = encodeWebSplit({ ...trainSet, images: trainSet.images.subarray(0, 2 * 3072), labels: trainSet.labels.subarray(0, 2), count: 2 }, 'train', 'made.tar.gz');
    await rejectsWith(loadPrepared('/data/cifar10/', site({ ...files, '/data/cifar10/train.bin': shorter })), /train\.bin: .* bytes where manifest\.json says .*npm run data/);
    await rejectsWith(loadPrepared('/data/cifar10/', site({ ...files, '/data/cifar10/test.bin': undefined as unknown as string })), /test\.bin: listed in manifest\.json but HTTP 404/);
  });
});

// Keeps makeTar in use for a check that a plain (not gzipped) tar is refused as not gzip.
test('a plain tar, not gzipped, is refused as not gzip data', async () => {
  await rejectsWith(load(makeTar([META]), 'plain.tar.gz'), /^plain\.tar\.gz: corrupt or not gzip data/);
});
