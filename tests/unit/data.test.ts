/**
 * src/data: the streaming tar reader on archives made here (by hand, and by the system's `tar`
 * in its three formats when it is installed), the ImageFolder reader on a tiny JPEG archive, and
 * seeded class-balanced subsets.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { encode as encodeJpeg } from 'jpeg-js';
import { CIFAR10_CLASSES, listImageFolder, readImageFolder } from '../../src/data/imagefolder.ts';
import { balancedSubset, classCounts } from '../../src/data/subset.ts';
import { readTarGz, type TarEntry, tarEntries } from '../../src/data/tar.ts';
import { hasSystemTar, makeTar, type TarItem } from './helpers/tar-writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'labelflow-data-'));
after(() => rmSync(dir, { recursive: true, force: true }));

type Item = TarItem;

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 255);

const LONG = `train/${'a'.repeat(60)}/${'b'.repeat(50)}/file-with-a-long-name.jpg`;
const ITEMS: Item[] = [
  { path: 'train/', type: '5' },
  { path: 'train/cat/0000.jpg', data: bytes(888, 1) },
  { path: 'train/cat/empty.txt', data: new Uint8Array(0) },
  { path: 'train/cat/exact.bin', data: bytes(1024, 2) },
  { path: LONG, data: bytes(1500, 3) },
];
const FILES = ITEMS.filter((i) => i.type !== '5');

function writeGz(name: string, data: Uint8Array): string {
  const file = join(dir, name);
  writeFileSync(file, data);
  return file;
}

async function collect(it: AsyncIterable<TarEntry>): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  for await (const e of it) out.push(e);
  return out;
}

function assertSameFiles(got: TarEntry[], want: Item[]) {
  assert.deepEqual(got.map((e) => e.path), want.map((i) => i.path));
  got.forEach((e, i) => assert.deepEqual(Buffer.from(e.data), Buffer.from(want[i].data ?? new Uint8Array(0)), e.path));
}

// ------------------------------------------------------------------ tar

describe('tar reader', () => {
  test('reads a gzipped archive: files in order, directories skipped, ustar prefix joined', async () => {
    const file = writeGz('normal.tar.gz', gzipSync(makeTar(ITEMS)));
    assertSameFiles(await collect(readTarGz(file)), FILES);
  });

  test('chunk boundaries anywhere (7-byte chunks) give the same entries', async () => {
    const tar = makeTar(ITEMS);
    const chunks = Array.from({ length: Math.ceil(tar.length / 7) }, (_, i) => tar.subarray(7 * i, 7 * i + 7));
    assertSameFiles(await collect(tarEntries(chunks, 'chunks.tar')), FILES);
  });

  test('stopping early is allowed', async () => {
    const file = writeGz('early.tar.gz', gzipSync(makeTar(ITEMS)));
    for await (const e of readTarGz(file)) {
      assert.equal(e.path, 'train/cat/0000.jpg');
      break;
    }
  });

  test('a truncated gzip stream fails with the file name', async () => {
    const gz = gzipSync(makeTar(ITEMS));
    const file = writeGz('cut-gzip.tar.gz', gz.subarray(0, Math.floor(gz.length / 2)));
    await assert.rejects(collect(readTarGz(file)), (e: Error) => e.message.includes(file) && /truncated gzip/.test(e.message));
  });

  test('a tar cut inside an entry fails with the file and entry names', async () => {
    const tar = makeTar(ITEMS);
    const file = writeGz('cut-entry.tar.gz', gzipSync(tar.subarray(0, 512 * 3 + 100))); // inside 0000.jpg's data
    await assert.rejects(collect(readTarGz(file)),
      (e: Error) => e.message.includes(file) && /truncated tar archive/.test(e.message) && e.message.includes('train/cat/0000.jpg'));
  });

  test('a tar without its end-of-archive blocks, or cut inside a header, is truncated', async () => {
    const noEnd = writeGz('no-end.tar.gz', gzipSync(makeTar(ITEMS, false)));
    await assert.rejects(collect(readTarGz(noEnd)), (e: Error) => e.message.includes(noEnd) && /truncated tar archive.*without the end-of-archive/.test(e.message));
    const tar = makeTar(ITEMS);
    const midHeader = writeGz('mid-header.tar.gz', gzipSync(tar.subarray(0, 512 + 200)));
    await assert.rejects(collect(readTarGz(midHeader)), (e: Error) => e.message.includes(midHeader) && /truncated tar archive/.test(e.message));
  });

  test('an empty archive fails clearly: a 0-byte file, and a tar with no entries', async () => {
    const zero = writeGz('zero.tar.gz', new Uint8Array(0));
    await assert.rejects(collect(readTarGz(zero)), (e: Error) => e.message.includes(zero) && /empty file/.test(e.message));
    const noEntries = writeGz('no-entries.tar.gz', gzipSync(new Uint8Array(1024)));
    await assert.rejects(collect(readTarGz(noEntries)), (e: Error) => e.message.includes(noEntries) && /empty archive/.test(e.message));
    const nothing = writeGz('nothing.tar.gz', gzipSync(new Uint8Array(0)));
    await assert.rejects(collect(readTarGz(nothing)), (e: Error) => e.message.includes(nothing) && /empty archive/.test(e.message));
  });

  test('a damaged header, a file that is not gzip, and a missing file fail with the file name', async () => {
    const tar = makeTar(ITEMS);
    tar[512 * 1 + 10] ^= 0x55; // inside the second header's name
    const bad = writeGz('bad-header.tar.gz', gzipSync(tar));
    await assert.rejects(collect(readTarGz(bad)), (e: Error) => e.message.includes(bad) && /corrupt tar header at offset 512/.test(e.message));
    const plain = writeGz('plain.tar.gz', makeTar(ITEMS));
    await assert.rejects(collect(readTarGz(plain)), (e: Error) => e.message.includes(plain) && /not gzip/.test(e.message));
    const absent = join(dir, 'absent.tar.gz');
    await assert.rejects(collect(readTarGz(absent)), (e: Error) => e.message.includes(absent) && /cannot open/.test(e.message));
  });


  for (const format of ['ustar', 'gnu', 'pax'] as const) {
    test(`reads archives written by the system tar (--format=${format})`, { skip: hasSystemTar ? false : 'no tar command' }, async () => {
      const root = join(dir, `tree-${format}`);
      for (const it of FILES) {
        mkdirSync(dirname(join(root, it.path)), { recursive: true });
        writeFileSync(join(root, it.path), it.data ?? new Uint8Array(0));
      }
      const file = join(dir, `system-${format}.tar.gz`);
      execFileSync('tar', ['-czf', file, `--format=${format}`, '-C', root, ...FILES.map((i) => i.path)]);
      assertSameFiles(await collect(readTarGz(file)), FILES);
    });
  }
});

// ------------------------------------------------------------------ ImageFolder

function solidJpeg(rgb: [number, number, number], side = 32): Uint8Array {
  const data = new Uint8Array(side * side * 4);
  for (let p = 0; p < side * side; p++) data.set([...rgb, 255], 4 * p);
  return new Uint8Array(encodeJpeg({ width: side, height: side, data }, 100).data);
}

describe('ImageFolder', () => {
  const archive = () => writeGz('folder.tar.gz', gzipSync(makeTar([
    { path: 'test/dog/0000.jpg', data: solidJpeg([10, 20, 30]) },
    { path: 'train/truck/0000.jpg', data: solidJpeg([200, 50, 100]) },
    { path: 'train/airplane/0000.jpg', data: solidJpeg([0, 128, 255]) },
    { path: 'train/airplane/0001.png', data: bytes(64, 4) },
    { path: 'README.txt', data: bytes(10, 5) },
  ])));

  test('labels follow the README class order; images come out CHW; select decides what is decoded', async () => {
    const file = archive();
    const listed = await listImageFolder(file, 'train');
    assert.deepEqual(listed.map((e) => [e.index, e.label, e.className]), [[0, 9, 'truck'], [1, 0, 'airplane'], [2, 0, 'airplane']]);
    const set = await readImageFolder(file, { split: 'train', select: (e) => e.index < 2 });
    assert.equal(set.count, 2);
    assert.deepEqual([...set.labels], [CIFAR10_CLASSES.indexOf('truck'), CIFAR10_CLASSES.indexOf('airplane')]);
    assert.deepEqual(set.indices, [0, 1]);
    assert.equal(set.images.length, 2 * 3 * 32 * 32);
    const near = (i: number, c: number, v: number) => {
      const plane = set.images.subarray((i * 3 + c) * 1024, (i * 3 + c + 1) * 1024);
      for (const x of plane) assert.ok(Math.abs(x - v) <= 3, `image ${i} channel ${c}: ${x} vs ${v}`);
    };
    [200, 50, 100].forEach((v, c) => near(0, c, v));
    [0, 128, 255].forEach((v, c) => near(1, c, v));
    const test = await readImageFolder(file, { split: 'test' });
    assert.deepEqual([...test.labels], [CIFAR10_CLASSES.indexOf('dog')]);
  });

  test('an entry named .png that is not an image fails clearly when selected', async () => {
    const file = archive();
    await assert.rejects(readImageFolder(file, { split: 'train' }), (e: Error) => e.message.includes('train/airplane/0001.png') && /not an image/.test(e.message));
  });

  test('an unknown class folder is an error', async () => {
    const file = writeGz('unknown-class.tar.gz', gzipSync(makeTar([{ path: 'train/unicorn/0000.jpg', data: solidJpeg([1, 2, 3]) }])));
    await assert.rejects(listImageFolder(file, 'train'), /class folder "unicorn"/);
  });
});

// ------------------------------------------------------------------ subsets

describe('balancedSubset', () => {
  // Ordered by class like the archive: 10 classes × 100 items, plus a short class 10 of 3 items.
  const labels = [...Array.from({ length: 1000 }, (_, i) => Math.floor(i / 100))];

  test('class-balanced, sorted, unique, the right size', () => {
    for (const count of [10, 50, 64, 999]) {
      const idx = balancedSubset(labels, count, 0, 10);
      assert.equal(idx.length, count);
      assert.equal(new Set(idx).size, count);
      assert.deepEqual(idx, [...idx].sort((a, b) => a - b));
      const counts = classCounts(idx.map((i) => labels[i]), 10);
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `${count}: ${counts}`);
      if (count % 10 === 0) assert.deepEqual(counts, new Array(10).fill(count / 10));
    }
  });

  test('deterministic for a seed, different for another seed, random within classes', () => {
    const a = balancedSubset(labels, 64, 7, 10);
    assert.deepEqual(balancedSubset(labels, 64, 7, 10), a);
    const b = balancedSubset(labels, 64, 8, 10);
    assert.notDeepEqual(b, a);
    const firstOfEach = Array.from({ length: 10 }, (_, c) => Array.from({ length: 6 }, (_, k) => c * 100 + k)).flat();
    assert.notDeepEqual(a.slice(0, 60), firstOfEach, 'not simply the first items of each class');
  });

  test('too few items in a class, and out-of-range labels, are errors', () => {
    const short = [...labels, 10, 10, 10];
    assert.throws(() => balancedSubset(short, 44, 0, 11), /class 10 has 3 items, 4 wanted/);
    assert.throws(() => balancedSubset([0, 1, 5], 2, 0, 3), /label 5 of item 2/);
  });
});
