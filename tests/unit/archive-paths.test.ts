/**
 * Archives are read only within their own tree (issue 16, item 4), by both readers: Node's
 * (src/data/tar.ts, loadDataset) and the page's (src/data/tar-web.ts, loadArchive, run here on a
 * web stream). An entry whose path is absolute or has a `..` component, however the path is
 * stored (name field, ustar prefix, pax `path`, GNU long name), is refused with an error naming
 * the entry; symbolic and hard links are skipped and counted in the dataset summary, in
 * ImageFolder archives and the official binary layout alike. The archives are written here,
 * header by header (tests/unit/helpers/tar-raw.ts), and by the system's tar where it is installed.
 * tests/e2e/archive-paths.test.ts picks the same archives in the page.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { encode as encodeJpeg } from 'jpeg-js';
import { type DatasetSplits, skippedLinksNote, summarize } from '../../src/data/dataset.ts';
import { nodeImageDecoder } from '../../src/data/imagefolder.ts';
import { loadDataset } from '../../src/data/load-node.ts';
import { loadArchive } from '../../src/data/load-web.ts';
import { readTarGz, readTarGzStream, type TarEntry } from '../../src/data/tar.ts';
import { cifarBatch } from './helpers/cifar-fixtures.ts';
import { gnuLong, paxData, type RawTarEntry, rawTarGz } from './helpers/tar-raw.ts';
import { hasSystemTar } from './helpers/tar-writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'labelflow-archive-paths-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: Uint8Array): string {
  const file = join(dir, name);
  writeFileSync(file, bytes);
  return file;
}

function solidJpeg(rgb: [number, number, number]): Uint8Array {
  const data = new Uint8Array(32 * 32 * 4);
  for (let p = 0; p < 32 * 32; p++) data.set([...rgb, 255], 4 * p);
  return new Uint8Array(encodeJpeg({ width: 32, height: 32, data }, 90).data);
}

const JPEG = solidJpeg([200, 40, 90]);
const image = (name: string): RawTarEntry => ({ name, type: '0', data: JPEG });
/** A well-formed ImageFolder tree: 2 training images, 1 test image. */
const GOOD: RawTarEntry[] = [image('test/cat/0.jpg'), image('train/cat/0.jpg'), image('train/dog/0.jpg')];

async function collect(it: AsyncIterable<TarEntry>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of it) out.push(e.path);
  return out;
}

/** `bytes` as a web stream, as the page reads a picked File. */
const streamOf = (bytes: Uint8Array) => new Blob([new Uint8Array(bytes)]).stream();

/** The four ways an archive is read: both tar readers on their own, and both dataset loaders. */
const READERS: [string, (file: string, bytes: Uint8Array) => Promise<unknown>][] = [
  ['Node tar reader (readTarGz)', (file) => collect(readTarGz(file))],
  ['page tar reader (readTarGzStream)', (file, bytes) => collect(readTarGzStream(streamOf(bytes), file))],
  ['Node loader (loadDataset)', (file) => loadDataset(file)],
  ['page loader (loadArchive)', (file, bytes) => loadArchive(streamOf(bytes), file, { decode: nodeImageDecoder })],
];

const DOTDOT = (file: string, path: string) =>
  `${file}: entry "${path}" has a ".." component that leads outside the archive; an archive is read only within its own tree, so the archive is refused`;
const ABSOLUTE = (file: string, path: string) =>
  `${file}: entry "${path}" has an absolute path; an archive is read only within its own tree, so the archive is refused`;

const pax = (records: Record<string, string>): RawTarEntry => ({ name: 'PaxHeaders/x.jpg', type: 'x', data: paxData(records) });

/** [what, the hostile entries (after GOOD's first image), the path the error must name, which error]. */
const HOSTILE: [string, RawTarEntry[], string, typeof DOTDOT][] = [
  ['a ../ name (the issue\'s example)', [image('../../escaped/train/cat/x.jpg')], '../../escaped/train/cat/x.jpg', DOTDOT],
  ['.. inside the path', [image('train/cat/../../../escaped/x.jpg')], 'train/cat/../../../escaped/x.jpg', DOTDOT],
  ['a path that is only ..', [{ name: '..', type: '5' }], '..', DOTDOT],
  ['an absolute name', [image('/abs/train/cat/x.jpg')], '/abs/train/cat/x.jpg', ABSOLUTE],
  ['a Windows drive path', [image('C:/abs/train/cat/x.jpg')], 'C:/abs/train/cat/x.jpg', ABSOLUTE],
  ['.. behind backslashes', [image('train\\..\\..\\escaped\\x.jpg')], 'train\\..\\..\\escaped\\x.jpg', DOTDOT],
  ['.. in the ustar prefix', [{ ...image('train/cat/x.jpg'), prefix: '../escaped' }], '../escaped/train/cat/x.jpg', DOTDOT],
  ['a pax path with ..', [pax({ path: '../escaped/train/cat/x.jpg' }), image('train/cat/x.jpg')], '../escaped/train/cat/x.jpg', DOTDOT],
  ['an absolute pax path', [pax({ path: '/abs/train/cat/x.jpg' }), image('train/cat/x.jpg')], '/abs/train/cat/x.jpg', ABSOLUTE],
  ['a GNU long name with ..', [gnuLong('L', `../${'d/'.repeat(60)}train/cat/x.jpg`), { ...image('train/cat/x.jpg'), magic: 'gnu' }], `../${'d/'.repeat(60)}train/cat/x.jpg`, DOTDOT],
  ['a directory ../escaped/', [{ name: '../escaped/', type: '5' }], '../escaped/', DOTDOT],
  ['a symbolic link named with ..', [{ name: '../link.jpg', type: '2', linkname: 'train/cat/0.jpg' }], '../link.jpg', DOTDOT],
  ['an absolute hard link', [{ name: '/abs/train/cat/hard.jpg', type: '1', linkname: 'train/cat/0.jpg' }], '/abs/train/cat/hard.jpg', ABSOLUTE],
];

describe('entries outside the archive are refused, naming the entry', () => {
  HOSTILE.forEach(([what, entries, path, error], k) => {
    test(what, async () => {
      const bytes = rawTarGz([GOOD[0], ...entries, ...GOOD.slice(1)]);
      const file = write(`hostile-${k}.tar.gz`, bytes);
      for (const [reader, read] of READERS) {
        await assert.rejects(read(file, bytes), (e: Error) => {
          assert.equal(e.message, error(file, path), reader);
          return true;
        });
      }
    });
  });

  test('dots that are not a .. component are ordinary names', async () => {
    const names = ['train/cat/..x.jpg', 'train/cat/x...jpg', './train/dog/.../1.jpg', 'test/cat/x..y.jpg', './train/dog/2.jpg'];
    const bytes = rawTarGz([...GOOD, ...names.map(image)]);
    const file = write('dots.tar.gz', bytes);
    assert.deepEqual(await collect(readTarGz(file)), [...GOOD.map((e) => e.name), ...names]);
    const d = await loadDataset(file);
    assert.equal(d.train.count, 5, 'train/cat/0, train/dog/0, ..x, x...jpg, ./train/dog/2 (…/.../1.jpg is not in a class folder)');
    assert.equal(d.test.count, 2);
  });

  test('the official binary layout: a batch reached through .. is refused, not read by its file name', async () => {
    const bytes = rawTarGz([{ name: '../cifar-10-batches-bin/test_batch.bin', type: '0', data: cifarBatch(0) }]);
    const file = write('cifar-dotdot.tar.gz', bytes);
    await assert.rejects(loadDataset(file, { splits: ['test'] }), (e: Error) => e.message === DOTDOT(file, '../cifar-10-batches-bin/test_batch.bin'));
    await assert.rejects(loadArchive(streamOf(bytes), file, { decode: nodeImageDecoder }),
      (e: Error) => e.message === DOTDOT(file, '../cifar-10-batches-bin/test_batch.bin'));
    const absolute = rawTarGz([{ name: '/cifar-10-batches-bin/test_batch.bin', type: '0', data: cifarBatch(0) }]);
    const absFile = write('cifar-absolute.tar.gz', absolute);
    await assert.rejects(loadDataset(absFile, { splits: ['test'] }), (e: Error) => e.message === ABSOLUTE(absFile, '/cifar-10-batches-bin/test_batch.bin'));
  });
});

// ------------------------------------------------------------------ links

const LONG_LINK_NAME = `train/cat/${'l'.repeat(120)}.jpg`;
const LONG_HARD_LINK_NAME = `train/dog/${'h'.repeat(120)}.jpg`;
/**
 * GOOD's images, with a symbolic link, a hard link and two long-named links between them: GNU
 * long link target ('K') then long name ('L'), as GNU tar writes them, and the other way round.
 */
const WITH_LINKS: RawTarEntry[] = [
  GOOD[0],
  { name: 'train/cat/link.jpg', type: '2', linkname: '../../../../etc/passwd' },
  GOOD[1],
  { name: 'train/dog/hard.jpg', type: '1', linkname: 'train/cat/0.jpg' },
  gnuLong('K', `../${'t/'.repeat(60)}target.jpg`),
  gnuLong('L', LONG_LINK_NAME),
  { name: 'train/cat/short-name', type: '2', linkname: 'x', magic: 'gnu' },
  gnuLong('L', LONG_HARD_LINK_NAME),
  gnuLong('K', `train/cat/${'k'.repeat(120)}.jpg`),
  { name: 'train/dog/short-name', type: '1', linkname: 'y', magic: 'gnu' },
  GOOD[2],
];

function assertSkippedLinks(d: DatasetSplits, links: number, train: number, test: number) {
  const s = summarize(d);
  assert.equal(s.skippedLinks, links);
  assert.equal(s.train, train);
  assert.equal(s.test, test);
}

describe('symbolic and hard links are skipped and counted', () => {
  const bytes = rawTarGz(WITH_LINKS);
  const file = write('links.tar.gz', bytes);

  test('the tar readers report each link and yield only the files; a long link name does not rename the next entry', async () => {
    for (const read of [(o: object) => readTarGz(file, o), (o: object) => readTarGzStream(streamOf(bytes), file, o)]) {
      const links: [string, string][] = [];
      assert.deepEqual(await collect(read({ onLink: (path: string, kind: string) => links.push([path, kind]) })), GOOD.map((e) => e.name));
      assert.deepEqual(links, [['train/cat/link.jpg', 'symbolic link'], ['train/dog/hard.jpg', 'hard link'], [LONG_LINK_NAME, 'symbolic link'], [LONG_HARD_LINK_NAME, 'hard link']]);
    }
  });

  test('ImageFolder: both loaders count 4 links in the summary and read the 3 images', async () => {
    assertSkippedLinks(await loadDataset(file), 4, 2, 1);
    assertSkippedLinks(await loadArchive(streamOf(bytes), file, { decode: nodeImageDecoder }), 4, 2, 1);
    assertSkippedLinks(await loadDataset(write('no-links.tar.gz', rawTarGz(GOOD))), 0, 2, 1);
  });

  test('the official binary layout: a linked batch is skipped and counted', async () => {
    const cifar = rawTarGz([
      { name: 'cifar-10-batches-bin/data_batch_1.bin', type: '2', linkname: '/somewhere/data_batch_1.bin' },
      { name: 'cifar-10-batches-bin/test_batch.bin', type: '0', data: cifarBatch(0) },
      { name: 'cifar-10-batches-bin/data_batch_2.bin', type: '1', linkname: 'cifar-10-batches-bin/test_batch.bin' },
    ]);
    const cifarFile = write('cifar-links.tar.gz', cifar);
    assertSkippedLinks(await loadDataset(cifarFile, { splits: ['test'] }), 2, 0, 10000);
    assertSkippedLinks(await loadArchive(streamOf(cifar), cifarFile, { decode: nodeImageDecoder }), 2, 0, 10000);
  });

  test('the summary note names the count', () => {
    assert.equal(skippedLinksNote({ skippedLinks: 0 }), undefined);
    assert.equal(skippedLinksNote({}), undefined);
    assert.equal(skippedLinksNote({ skippedLinks: 1 }), '1 link (symbolic or hard) in the archive skipped: only its own files are read');
    assert.equal(skippedLinksNote({ skippedLinks: 3 }), '3 links (symbolic or hard) in the archive skipped: only its own files are read');
  });

  test('npm run data prints the count, and refuses a .. archive naming the entry', () => {
    const run = (from: string) => spawnSync(process.execPath, ['scripts/node-ts.mjs', 'src/cli/data.ts', '--from', from, '--out', join(dir, 'web')], { encoding: 'utf8' });
    const ok = run(file);
    assert.equal(ok.status, 0, ok.stderr);
    assert.ok(ok.stdout.includes(`${file}: 4 links (symbolic or hard) in the archive skipped: only its own files are read`), ok.stdout);
    const hostile = write('cli-dotdot.tar.gz', rawTarGz([GOOD[0], image('../../escaped/train/cat/x.jpg')]));
    const bad = run(hostile);
    assert.equal(bad.status, 1);
    assert.ok(bad.stderr.includes(DOTDOT(hostile, '../../escaped/train/cat/x.jpg')), bad.stderr);
  });
});

// ------------------------------------------------------------------ the system's tar


describe('archives written by the system tar', { skip: hasSystemTar ? false : 'no tar command' }, () => {
  const root = join(dir, 'tree');
  for (const e of GOOD) {
    mkdirSync(join(root, e.name, '..'), { recursive: true });
    writeFileSync(join(root, e.name), JPEG);
  }
  symlinkSync('../../../outside.jpg', join(root, 'train/cat/sym.jpg'));
  linkSync(join(root, 'train/cat/0.jpg'), join(root, 'train/dog/hard.jpg'));

  for (const format of ['ustar', 'gnu', 'pax'] as const) {
    test(`--format=${format}: a symbolic link and a hard link are skipped and counted`, async () => {
      const file = join(dir, `system-links-${format}.tar.gz`);
      execFileSync('tar', ['-czf', file, `--format=${format}`, '-C', root, 'test', 'train']);
      assertSkippedLinks(await loadDataset(file), 2, 2, 1);
    });
  }

  test('-P (absolute names kept): refused, naming the entry', async () => {
    const file = join(dir, 'system-absolute.tar.gz');
    execFileSync('tar', ['-czPf', file, join(root, 'test/cat/0.jpg')]);
    await assert.rejects(loadDataset(file), (e: Error) => e.message === ABSOLUTE(file, join(root, 'test/cat/0.jpg')));
  });
});
