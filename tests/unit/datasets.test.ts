/**
 * The dataset loaders of src/data: the official CIFAR-10 binary format (tarball and folder) with
 * each of its errors, ImageFolder archives with PNG and non-image entries, the browser tar path,
 * the web format, the synthetic set, `npm run data` end to end (from a file, and downloading from
 * a local HTTP server). With LABELFLOW_CIFAR10 set, also the real archives of shared/datasets.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createHash } from 'node:crypto';
import { encode as encodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import { CIFAR10_RECORD_BYTES } from '../../src/data/cifar-binary.ts';
import { CIFAR10_CLASSES, type ImageSet } from '../../src/data/dataset.ts';
import { downloadVerified } from '../../src/data/download-node.ts';
import { readImageFolder } from '../../src/data/imagefolder.ts';
import { loadDataset } from '../../src/data/load-node.ts';
import { classCounts } from '../../src/data/subset.ts';
import { SYNTHETIC_CLASSES, syntheticDataset } from '../../src/data/synthetic.ts';
import { readTarGz, readTarGzStream, type TarEntry } from '../../src/data/tar.ts';
import { decodeWebSplit, encodeWebSplit } from '../../src/data/webformat.ts';
import { assertBatchImages, cifarBatch, pixel, rejectsWith } from './helpers/cifar-fixtures.ts';
import { makeTar, makeTarGz, type TarItem } from './helpers/tar-writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'labelflow-datasets-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, data: Uint8Array): string => {
  const file = join(dir, name);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, data);
  return file;
};

/** Asserts that `p` rejects with a message matching every pattern (and containing every string). */

// ------------------------------------------------------------------ official binary batches


const META = new TextEncoder().encode(CIFAR10_CLASSES.join('\n') + '\n\n');
const TEST_BATCH = cifarBatch(0);
const TRAIN_1 = cifarBatch(1);
const TRAIN_2 = cifarBatch(2);


describe('CIFAR-10 binary', () => {
  let tarball: string;
  before(() => {
    // Batches out of order, with the folder entry and the meta file the real release has.
    tarball = write('cifar-10-binary.tar.gz', makeTarGz([
      { path: 'cifar-10-batches-bin/', type: '5' },
      { path: 'cifar-10-batches-bin/test_batch.bin', data: TEST_BATCH },
      { path: 'cifar-10-batches-bin/data_batch_2.bin', data: TRAIN_2 },
      { path: 'cifar-10-batches-bin/batches.meta.txt', data: META },
      { path: 'cifar-10-batches-bin/data_batch_1.bin', data: TRAIN_1 },
    ]));
  });

  test('a tarball loads: batches in order 1, 2, labels and CHW pixels as in the records', async () => {
    const progress: number[] = [];
    const d = await loadDataset(tarball, { onProgress: (done) => progress.push(done) });
    assert.equal(d.name, 'cifar10');
    assert.equal(d.train.count, 20000);
    assert.equal(d.test.count, 10000);
    assert.deepEqual(d.train.classes, CIFAR10_CLASSES);
    assertBatchImages(d.train, 0, 1);
    assertBatchImages(d.train, 10000, 2);
    assertBatchImages(d.test, 0, 0);
    assert.deepEqual(progress, [10000, 20000, 30000, 30000]);
  });

  test('the extracted folder loads, given its parent or the batch folder itself; splits limit what is read', async () => {
    const root = join(dir, 'extracted');
    write('extracted/cifar-10-batches-bin/test_batch.bin', TEST_BATCH);
    write('extracted/cifar-10-batches-bin/batches.meta.txt', META);
    for (const spec of [root, join(root, 'cifar-10-batches-bin')]) {
      const d = await loadDataset(spec, { splits: ['test'] });
      assert.equal(d.train.count, 0);
      assertBatchImages(d.test, 0, 0);
    }
    await rejectsWith(loadDataset(root), `no data_batch_*.bin in ${join(root, 'cifar-10-batches-bin')}`);
  });

  test('limits draw a seeded class-balanced subset; a limit above the split size names both numbers', async () => {
    const a = await loadDataset(tarball, { trainLimit: 100, testLimit: 50, seed: 3 });
    assert.equal(a.train.count, 100);
    assert.deepEqual(classCounts(a.train.labels, 10), new Array(10).fill(10));
    assert.deepEqual(classCounts(a.test.labels, 10), new Array(10).fill(5));
    const b = await loadDataset(tarball, { trainLimit: 100, testLimit: 50, seed: 3 });
    assert.deepEqual(b.train.indices, a.train.indices);
    const i = a.train.indices![7];
    assert.deepEqual(a.train.images.subarray(7 * 3072, 8 * 3072), Uint8Array.from({ length: 3072 }, (_, q) => pixel(i < 10000 ? 1 : 2, i % 10000, q)));
    await rejectsWith(loadDataset(tarball, { testLimit: 20000 }), /test limit of 20000 is more than the 10000 images/);
  });

  test('a truncated tarball fails as truncated', async () => {
    const whole = readFileSync(tarball);
    const cut = write('truncated.tar.gz', whole.subarray(0, Math.floor(whole.length * 0.6)));
    await rejectsWith(loadDataset(cut), cut, /truncated gzip stream/);
  });

  test('a batch with fewer than 10,000 records, or a partial record, is truncated', async () => {
    const short = write('short/test_batch.bin', TEST_BATCH.subarray(0, 9995 * CIFAR10_RECORD_BYTES));
    await rejectsWith(loadDataset(join(dir, 'short'), { splits: ['test'] }), short.slice(dir.length + 7), /9995 records where an official CIFAR-10 batch has 10000; the file is truncated/);
    write('partial/test_batch.bin', TEST_BATCH.subarray(0, 9995 * CIFAR10_RECORD_BYTES + 100));
    await rejectsWith(loadDataset(join(dir, 'partial'), { splits: ['test'] }), 'test_batch.bin', /not whole 3073-byte CIFAR-10 records \(9995 records and 100 bytes over\)/);
  });

  test('3074-byte records are reported as looking like CIFAR-100', async () => {
    const file = write('cifar100.tar.gz', makeTarGz([{ path: 'cifar-10-batches-bin/test_batch.bin', data: cifarBatch(0, 10000, 3074) }]));
    await rejectsWith(loadDataset(file, { splits: ['test'] }), `${file}: cifar-10-batches-bin/test_batch.bin`, /10000 records of 3074 bytes: this looks like CIFAR-100/);
  });

  test('a label byte of 10 or more names the record and the value', async () => {
    const bad = TEST_BATCH.slice();
    bad[1234 * CIFAR10_RECORD_BYTES] = 17;
    const file = write('bad-label.tar.gz', makeTarGz([{ path: 'test_batch.bin', data: bad }]));
    await rejectsWith(loadDataset(file, { splits: ['test'] }), `${file}: test_batch.bin`, /record 1234 has label 17; CIFAR-10 labels are 0–9/);
  });

  test('an empty archive, an empty batch, an archive without batches, and one of neither format', async () => {
    const empty = write('empty.tar.gz', makeTarGz([]));
    await rejectsWith(loadDataset(empty), empty, /empty archive \(no entries\)/);
    const emptyBatch = write('empty-batch.tar.gz', makeTarGz([{ path: 'test_batch.bin', data: new Uint8Array(0) }]));
    await rejectsWith(loadDataset(emptyBatch, { splits: ['test'] }), `${emptyBatch}: test_batch.bin: empty file (0 bytes)`);
    const noBatches = write('no-batches.tar.gz', makeTarGz([
      { path: 'cifar-10-batches-bin/batches.meta.txt', data: META },
      { path: 'cifar-10-batches-bin/readme.html', data: new TextEncoder().encode('<html></html>') },
    ]));
    await rejectsWith(loadDataset(noBatches), `${noBatches}: no CIFAR-10 batch files`);
    const other = write('other.tar.gz', makeTarGz([{ path: 'notes/README.txt', data: new Uint8Array(5) }]));
    await rejectsWith(loadDataset(other), other, /neither the CIFAR-10 binary release .* nor an ImageFolder archive .*notes\/README\.txt/);
  });

  test('batches.meta.txt with other class names is an error', async () => {
    const file = write('bad-meta.tar.gz', makeTarGz([
      { path: 'batches.meta.txt', data: new TextEncoder().encode('apple\nbanana\n') },
      { path: 'test_batch.bin', data: TEST_BATCH },
    ]));
    await rejectsWith(loadDataset(file, { splits: ['test'] }), `${file}: batches.meta.txt`, /lists the classes apple, banana, not CIFAR-10's/);
  });

  test('other specs: a missing path, a plain file, a folder without a dataset', async () => {
    await rejectsWith(loadDataset(join(dir, 'absent')), /absent: no such file or folder/);
    await rejectsWith(loadDataset(write('plain.txt', new Uint8Array(3))), /plain\.txt: not a dataset/);
    mkdirSync(join(dir, 'nothing'));
    await rejectsWith(loadDataset(join(dir, 'nothing')), /nothing: no dataset in this folder/);
  });
});

// ------------------------------------------------------------------ ImageFolder

function rgbaImage(side: number, at: (x: number, y: number) => [number, number, number]): Uint8Array {
  const data = new Uint8Array(side * side * 4);
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) data.set([...at(x, y), 255], 4 * (y * side + x));
  return data;
}

function png(side: number, at: (x: number, y: number) => [number, number, number], colorType: 2 | 6 = 2): Uint8Array {
  const image = new PNG({ width: side, height: side, colorType });
  image.data = Buffer.from(rgbaImage(side, at));
  return new Uint8Array(PNG.sync.write(image, { colorType }));
}

const jpeg = (rgb: [number, number, number]) => new Uint8Array(encodeJpeg({ width: 32, height: 32, data: rgbaImage(32, () => rgb) }, 100).data);
const gradient = (x: number, y: number): [number, number, number] => [x * 8, y * 8, (x * y) & 255];

describe('ImageFolder', () => {
  test('PNG entries decode exactly (RGB and RGBA), beside JPEG ones', async () => {
    const file = write('png-folder.tar.gz', makeTarGz([
      { path: 'train/cat/0.png', data: png(32, gradient) },
      { path: 'train/dog/1.png', data: png(32, gradient, 6) },
      { path: 'train/ship/2.jpg', data: jpeg([10, 200, 30]) },
    ]));
    const set = await readImageFolder(file, { split: 'train' });
    assert.deepEqual([...set.labels], [3, 5, 8]);
    for (const i of [0, 1]) {
      const img = set.images.subarray(i * 3072, (i + 1) * 3072);
      for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
        gradient(x, y).forEach((v, c) => assert.equal(img[c * 1024 + y * 32 + x], v, `image ${i} (${x}, ${y}) channel ${c}`));
      }
    }
    assert.ok(Math.abs(set.images[2 * 3072 + 1024] - 200) <= 3);
  });

  test('a file that is not an image, posing as .jpg, names the archive and the entry', async () => {
    const file = write('fake-jpg.tar.gz', makeTarGz([
      { path: 'test/cat/0.jpg', data: jpeg([1, 2, 3]) },
      { path: 'test/cat/1.jpg', data: new TextEncoder().encode('<!DOCTYPE html><html>') },
    ]));
    await rejectsWith(loadDataset(file, { splits: ['test'] }), `${file}: test/cat/1.jpg: not an image`, /neither JPEG nor PNG \(they start with 3c 21 44 4f 43 54 59 50 "<!DOCTYP"\)/);
    const badPng = write('bad-png.tar.gz', makeTarGz([{ path: 'test/cat/0.png', data: png(32, gradient).subarray(0, 60) }]));
    await rejectsWith(loadDataset(badPng, { splits: ['test'] }), `${badPng}: test/cat/0.png: cannot decode PNG`);
    const wrongSize = write('wrong-size.tar.gz', makeTarGz([{ path: 'test/cat/0.png', data: png(16, gradient) }]));
    await rejectsWith(loadDataset(wrongSize, { splits: ['test'] }), `${wrongSize}: test/cat/0.png: image is 16×16, expected 32×32`);
  });

  test('loadDataset on an ImageFolder archive: balanced subsets, decoding only the chosen images', async () => {
    const items: TarItem[] = [];
    for (const split of ['test', 'train']) {
      CIFAR10_CLASSES.forEach((c, label) => {
        for (let k = 0; k < 3; k++) items.push({ path: `${split}/${c}/${k}.png`, data: png(32, () => [label * 20, k * 50, split === 'train' ? 0 : 255]) });
      });
    }
    const file = write('folder.tar.gz', makeTarGz(items));
    const d = await loadDataset(file, { trainLimit: 20, testLimit: 10, seed: 5 });
    assert.deepEqual(classCounts(d.train.labels, 10), new Array(10).fill(2));
    assert.deepEqual(classCounts(d.test.labels, 10), new Array(10).fill(1));
    for (let i = 0; i < d.train.count; i++) assert.equal(d.train.images[i * 3072], d.train.labels[i] * 20);
    assert.equal(d.test.images[2048], 255, 'test images come from the test split');
    // A split that is not asked for is not decoded: its broken entry only fails when it is.
    const withBroken = write('folder-broken.tar.gz', makeTarGz([...items, { path: 'test/cat/broken.png', data: new Uint8Array(10) }]));
    assert.equal((await loadDataset(withBroken, { splits: ['train'], trainLimit: 20, seed: 5 })).train.count, 20);
    await rejectsWith(loadDataset(withBroken, { splits: ['test'] }), `${withBroken}: test/cat/broken.png: not an image`);
  });
});

// ------------------------------------------------------------------ the browser's tar path

describe('readTarGzStream (DecompressionStream)', () => {
  const items: TarItem[] = [{ path: 'a/1.bin', data: new Uint8Array(700).fill(1) }, { path: 'a/2.bin', data: new Uint8Array(3).fill(2) }];
  const collect = async (it: AsyncIterable<TarEntry>) => {
    const out: [string, number[]][] = [];
    for await (const e of it) out.push([e.path, [...e.data]]);
    return out;
  };

  test('a web stream and an async iterable give the same entries as the Node reader', async () => {
    const gz = makeTarGz(items);
    const file = write('web.tar.gz', gz);
    const want = await collect(readTarGz(file));
    assert.deepEqual(await collect(readTarGzStream(new Blob([new Uint8Array(gz)]).stream(), 'blob')), want);
    async function* chunks() {
      for (let i = 0; i < gz.length; i += 50) yield gz.subarray(i, i + 50);
    }
    assert.deepEqual(await collect(readTarGzStream(chunks(), 'chunks')), want);
  });

  test('truncated, corrupt and empty streams fail with the name', async () => {
    const gz = makeTarGz(items);
    await rejectsWith(collect(readTarGzStream(new Blob([new Uint8Array(gz.subarray(0, gz.length - 20))]).stream(), 'cut.tgz')), /^cut\.tgz: truncated gzip stream/);
    await rejectsWith(collect(readTarGzStream(new Blob([new Uint8Array(makeTar(items))]).stream(), 'plain.tar')), /^plain\.tar: corrupt or not gzip data/);
    await rejectsWith(collect(readTarGzStream(new Blob([]).stream(), 'zero.tgz')), /^zero\.tgz: empty file \(0 bytes\)/);
  });
});

// ------------------------------------------------------------------ web format

describe('web format', () => {
  const set = syntheticDataset({ train: 30, test: 0, seed: 1 }).train;
  const encoded = encodeWebSplit(set, 'train', 'synthetic seed 1', 'synthetic');

  test('round-trips bit-exactly', () => {
    assert.equal(new TextDecoder().decode(encoded.subarray(0, 6)), 'LFDS1\n');
    const back = decodeWebSplit(encoded, 'train.bin');
    assert.equal(back.count, 30);
    assert.equal(back.size, 32);
    assert.deepEqual(back.classes, [...SYNTHETIC_CLASSES]);
    assert.ok(Buffer.from(back.images).equals(Buffer.from(set.images)));
    assert.ok(Buffer.from(back.labels).equals(Buffer.from(set.labels)));
  });

  test('rejects a corrupted, truncated, overlong or foreign file', () => {
    const corrupted = encoded.slice();
    corrupted[corrupted.length - 5] ^= 1;
    assert.throws(() => decodeWebSplit(corrupted, 'c.bin'), /^Error: c\.bin: corrupted: the payload's sha256 is [0-9a-f]{64}, the header says/);
    assert.equal(decodeWebSplit(corrupted, 'c.bin', { verifyChecksum: false }).count, 30);
    assert.throws(() => decodeWebSplit(encoded.subarray(0, encoded.length - 1), 't.bin'), /t\.bin: truncated: the header promises 30 images \(92190 payload bytes\), only 92189 bytes follow/);
    assert.throws(() => decodeWebSplit(encoded.subarray(0, 40), 'h.bin'), /h\.bin: truncated: the header is \d+ bytes, only 30 follow the preamble/);
    assert.throws(() => decodeWebSplit(encoded.subarray(0, 4), 'p.bin'), /p\.bin: truncated: 4 bytes, less than the 10-byte preamble/);
    assert.throws(() => decodeWebSplit(Buffer.concat([encoded, new Uint8Array(2)]), 'x.bin'), /x\.bin: 2 unexpected bytes after the 30 images/);
    assert.throws(() => decodeWebSplit(new TextEncoder().encode('PK\x03\x04 not ours at all'), 'zip.bin'), /zip\.bin: not a labelflow dataset file \(it starts with "PK/);
    const badLabel = encoded.slice();
    badLabel[encoded.length - 30 * 3072 - 30 + 3] = 200;
    assert.throws(() => decodeWebSplit(badLabel, 'l.bin', { verifyChecksum: false }), /l\.bin: image 3 has label 200, but there are 10 classes/);
    const header = encoded.slice();
    const at = Buffer.from(header).indexOf('"channels":3');
    header[at + 11] = '4'.charCodeAt(0);
    assert.throws(() => decodeWebSplit(header, 'ch.bin'), /ch\.bin: corrupt header: "channels" is 4, expected 3/);
  });
});

// ------------------------------------------------------------------ synthetic

describe('synthetic dataset', () => {
  const d = syntheticDataset({ train: 2000, test: 1000, seed: 3 });

  test('deterministic for a seed, different for another seed and between splits, fast', () => {
    const again = syntheticDataset({ train: 2000, test: 1000, seed: 3 });
    assert.ok(Buffer.from(again.train.images).equals(Buffer.from(d.train.images)));
    assert.ok(Buffer.from(again.test.labels).equals(Buffer.from(d.test.labels)));
    const other = syntheticDataset({ train: 2000, test: 0, seed: 4 });
    assert.ok(!Buffer.from(other.train.images).equals(Buffer.from(d.train.images)));
    assert.ok(!Buffer.from(d.test.images).equals(Buffer.from(d.train.images.subarray(0, d.test.images.length))));
    const start = performance.now();
    syntheticDataset();
    assert.ok(performance.now() - start < 3000, 'the default 5000 + 1000 images in under 3 s');
  });

  test('10 named, balanced classes', () => {
    assert.deepEqual(d.train.classes, [...SYNTHETIC_CLASSES]);
    assert.equal(SYNTHETIC_CLASSES.length, 10);
    assert.deepEqual(classCounts(d.train.labels, 10), new Array(10).fill(200));
    assert.deepEqual(classCounts(d.test.labels, 10), new Array(10).fill(100));
    const counts = classCounts(syntheticDataset({ train: 5003, test: 0 }).train.labels, 10);
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `${counts}`);
  });

  test('without the colour cue, classes are told apart by shape, not by any one pixel', () => {
    const d = syntheticDataset({ train: 2000, test: 1000, seed: 3, colourCue: 0 });
    // Colour-blind shape features + nearest class centroid: far above chance (10%).
    const features = (set: ImageSet) => Array.from({ length: set.count }, (_, i) => shapeFeatures(set.images.subarray(i * 3072, (i + 1) * 3072)));
    const train = features(d.train);
    const test = features(d.test);
    const k = train[0].length;
    const mean = Array.from({ length: k }, (_, j) => train.reduce((a, f) => a + f[j], 0) / train.length);
    const std = Array.from({ length: k }, (_, j) => Math.sqrt(train.reduce((a, f) => a + (f[j] - mean[j]) ** 2, 0) / train.length) || 1);
    const z = (f: number[]) => f.map((v, j) => (v - mean[j]) / std[j]);
    const centroids = Array.from({ length: 10 }, (_, c) => {
      const rows = train.filter((_, i) => d.train.labels[i] === c).map(z);
      return Array.from({ length: k }, (_, j) => rows.reduce((a, r) => a + r[j], 0) / rows.length);
    });
    let correct = 0;
    test.forEach((f, i) => {
      const zf = z(f);
      const dist = centroids.map((c) => c.reduce((a, v, j) => a + (v - zf[j]) ** 2, 0));
      if (dist.indexOf(Math.min(...dist)) === d.test.labels[i]) correct++;
    });
    assert.ok(correct / test.length > 0.5, `nearest-centroid accuracy ${correct / test.length}`);

    // The best single (pixel, channel) with its value in 8 bins, majority class per bin: near chance.
    const bins = 8;
    const counts = new Uint32Array(3072 * bins * 10);
    for (let i = 0; i < d.train.count; i++) {
      for (let q = 0; q < 3072; q++) counts[(q * bins + (d.train.images[i * 3072 + q] >> 5)) * 10 + d.train.labels[i]]++;
    }
    let best = 0;
    for (let q = 0; q < 3072; q++) {
      let right = 0;
      for (let i = 0; i < d.test.count; i++) {
        const at = (q * bins + (d.test.images[i * 3072 + q] >> 5)) * 10;
        let arg = 0;
        for (let c = 1; c < 10; c++) if (counts[at + c] > counts[at + arg]) arg = c;
        if (arg === d.test.labels[i]) right++;
      }
      best = Math.max(best, right / d.test.count);
    }
    assert.ok(best < 0.2, `one pixel predicts the class with accuracy ${best}`);
  });

  test('with the default colour cue, the mean hue predicts the class in about that share of images', () => {
    const hueOf = (img: Uint8Array) => {
      const [r, g, b] = [0, 1, 2].map((c) => img.subarray(c * 1024, (c + 1) * 1024).reduce((a, v) => a + v, 0) / 1024);
      return (Math.atan2(Math.sqrt(3) * (g - b), 2 * r - g - b) / (2 * Math.PI) + 1) % 1;
    };
    const accuracy = (set: ImageSet) => {
      let right = 0;
      for (let i = 0; i < set.count; i++) if (Math.round(hueOf(set.images.subarray(i * 3072, (i + 1) * 3072)) * 10) % 10 === set.labels[i]) right++;
      return right / set.count;
    };
    const cued = accuracy(d.test);
    const plain = accuracy(syntheticDataset({ train: 0, test: 1000, seed: 3, colourCue: 0 }).test);
    assert.ok(cued > 0.3 && plain < 0.2, `mean-hue accuracy ${cued} with the cue, ${plain} without`);
  });
});

/** Object mask by distance from the median grey level; its fill of the bounding box, edge density along x and y, aspect, area. */
function shapeFeatures(img: Uint8Array): number[] {
  const grey = Float32Array.from({ length: 1024 }, (_, p) => (img[p] + img[1024 + p] + img[2048 + p]) / 3);
  const median = Float32Array.from(grey).sort()[512];
  const spread = grey.reduce((m, g) => Math.max(m, Math.abs(g - median)), 0);
  const mask = grey.map((g) => (Math.abs(g - median) > spread / 2 ? 1 : 0));
  let area = 0, x0 = 32, x1 = -1, y0 = 32, y1 = -1, edgesX = 0, edgesY = 0;
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const m = mask[y * 32 + x];
      if (x > 0 && m !== mask[y * 32 + x - 1]) edgesX++;
      if (y > 0 && m !== mask[(y - 1) * 32 + x]) edgesY++;
      if (!m) continue;
      area++;
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
  }
  const w = Math.max(1, x1 - x0 + 1), h = Math.max(1, y1 - y0 + 1);
  return [area / (w * h), edgesX / Math.max(1, area), edgesY / Math.max(1, area), w / h, area / 1024];
}

// ------------------------------------------------------------------ npm run data

function runDataCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['scripts/node-ts.mjs', 'src/cli/data.ts', ...args], (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('npm run data', () => {
  let tarball: string;
  let server: Server;
  let base: string;
  before(async () => {
    tarball = write('small-release.tar.gz', makeTarGz([
      { path: 'cifar-10-batches-bin/data_batch_1.bin', data: TRAIN_1 },
      { path: 'cifar-10-batches-bin/test_batch.bin', data: TEST_BATCH },
    ]));
    const body = readFileSync(tarball);
    server = createServer((req, res) => {
      if (req.url === '/cifar-10-binary.tar.gz') {
        res.writeHead(200, { 'content-length': body.length });
        res.end(body);
      } else if (req.url === '/cut/cifar-10-binary.tar.gz') {
        res.writeHead(200, { 'content-length': body.length });
        res.write(body.subarray(0, 1000), () => res.destroy());
      } else {
        res.writeHead(404, 'Not Found');
        res.end();
      }
    });
    server.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  test('--from a tarball writes train.bin, test.bin and manifest.json that load back bit-exactly', async () => {
    const out = join(dir, 'web-out');
    const r = await runDataCli(['--from', tarball, '--out', out, '--train-limit', '200', '--seed', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /read 10000\/60000 records\nread 20000\/20000 records/);
    assert.match(r.stdout, /train\.bin: 200 images/);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    assert.deepEqual(manifest.files.map((f: { split: string; count: number }) => [f.split, f.count]), [['train', 200], ['test', 10000]]);
    assert.equal(manifest.source, 'small-release.tar.gz (class-balanced subset, seed 2)');
    const web = await loadDataset(out);
    const direct = await loadDataset(tarball, { trainLimit: 200, seed: 2 });
    assert.ok(Buffer.from(web.train.images).equals(Buffer.from(direct.train.images)));
    assert.ok(Buffer.from(web.test.images).equals(Buffer.from(direct.test.images)));
    assert.ok(Buffer.from(web.test.labels).equals(Buffer.from(direct.test.labels)));
  });

  test('bad input fails with the loader\'s message and exit code 1', async () => {
    const r = await runDataCli(['--from', join(dir, 'absent.tar.gz'), '--out', join(dir, 'never')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^data: .*absent\.tar\.gz: no such file or folder/m);
    assert.ok(!existsSync(join(dir, 'never')));
  });

  test('downloads to the cache with a matching MD5 and converts; a wrong MD5 deletes the download', async () => {
    const md5 = createHash('md5').update(readFileSync(tarball)).digest('hex');
    const cache = join(dir, 'cache');
    const out = join(dir, 'downloaded');
    const r = await runDataCli(['--url', `${base}/cifar-10-binary.tar.gz`, '--md5', md5, '--cache', cache, '--out', out, '--splits', 'test', '--test-limit', '100']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(cache), ['cifar-10-binary.tar.gz']);
    assert.equal((await loadDataset(out, { splits: ['test'] })).test.count, 100);

    const wrong = await runDataCli(['--url', `${base}/cifar-10-binary.tar.gz`, '--md5', '0'.repeat(32), '--cache', cache, '--out', join(dir, 'wrong')]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, new RegExp(`checksum mismatch: ${base}/cifar-10-binary.tar.gz has MD5 ${md5}, expected 0{32}; the download was deleted`));
    assert.deepEqual(readdirSync(cache), [], 'neither the mismatching download nor a .part file is kept');
  });

  test('HTTP errors, a connection cut mid-body and an unreachable server leave nothing behind', async () => {
    const cache = join(dir, 'cache-errors');
    const md5 = '0'.repeat(32);
    await rejectsWith(downloadVerified({ url: `${base}/missing.tar.gz`, md5, dir: cache }), `download of ${base}/missing.tar.gz failed: HTTP 404 Not Found`);
    await rejectsWith(downloadVerified({ url: `${base}/cut/cifar-10-binary.tar.gz`, md5, dir: cache }), `download of ${base}/cut/cifar-10-binary.tar.gz failed`, /nothing was kept/);
    const closed = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => closed.once('listening', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await rejectsWith(downloadVerified({ url: `http://127.0.0.1:${port}/cifar-10-binary.tar.gz`, md5, dir: cache }), /failed: fetch failed \(.*ECONNREFUSED/);
    await rejectsWith(downloadVerified({ url: `${base}/x.tar.gz`, md5: 'abc', dir: cache }), /"abc" is not an MD5 checksum/);
    assert.deepEqual(readdirSync(cache), []);
  });
});

// ------------------------------------------------------------------ the real archives

const real = process.env.LABELFLOW_CIFAR10;

describe('real CIFAR-10 archives (LABELFLOW_CIFAR10)', { skip: real ? false : 'LABELFLOW_CIFAR10 is not set' }, () => {
  test('the test-only binary tarball: 10,000 test images, 1,000 of each class', async () => {
    const d = await loadDataset(join(real!, 'cifar-10-binary.test-only.tar.gz'), { splits: ['test'] });
    assert.equal(d.test.count, 10000);
    assert.deepEqual(classCounts(d.test.labels, 10), new Array(10).fill(1000));
    assert.equal(d.train.count, 0);
  });

  test('the JPEG archive with limits: balanced subsets, the same for a seed', async () => {
    const file = join(real!, 'cifar10-jpg.tar.gz');
    const a = await loadDataset(file, { trainLimit: 500, testLimit: 100, seed: 1 });
    assert.deepEqual(classCounts(a.train.labels, 10), new Array(10).fill(50));
    assert.deepEqual(classCounts(a.test.labels, 10), new Array(10).fill(10));
    const b = await loadDataset(file, { trainLimit: 500, testLimit: 100, seed: 1 });
    assert.deepEqual(b.train.paths, a.train.paths);
    assert.ok(Buffer.from(b.train.images).equals(Buffer.from(a.train.images)));
    assert.deepEqual(b.test.paths, a.test.paths);
  });
});
