/**
 * The OPFS blob store (src/train/blob-store.ts) over an in-memory OPFS (./helpers/memory-opfs.ts):
 * entries round-trip byte for byte whatever their name, are written in chunks of at most
 * WRITE_CHUNK bytes, appear only once complete (a failed write leaves the previous entry as it was
 * and nothing behind), half-written entries found when the store opens are removed, both write
 * paths (sync access handle, writable stream) work, and a browser without move() or OPFS says so.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { blobStoreIn, openOpfsBlobStore, WRITE_CHUNK } from '../../src/train/blob-store.ts';
import { memoryOpfs } from './helpers/memory-opfs.ts';

const pattern = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7 + (i >> 8)) & 255);

describe('blob store over OPFS', () => {
  test('entries round-trip byte for byte, parts in order; names with ":", "." and "/" are kept; list gives sizes', async () => {
    const fs = memoryOpfs();
    const store = await openOpfsBlobStore(fs.root);
    const a = pattern(1000, 1);
    const b = pattern(37, 2);
    const name = 'teacher-maps/maps-v1:ab12:50000x3x32x32-cd.34/x';
    assert.equal(await store.write(name, [a, b.subarray(5)]), 1032);
    const back = await store.read(name);
    assert.deepEqual([...back!], [...a, ...b.subarray(5)]);
    assert.equal(back!.byteOffset, 0);
    assert.equal(back!.buffer.byteLength, 1032, 'the entry in a buffer of its own');
    await store.write('datasets/file', [pattern(10)]);
    assert.deepEqual(await store.list(), [{ name: 'datasets/file', bytes: 10 }, { name, bytes: 1032 }]);
    assert.deepEqual(await store.list('datasets'), [{ name: 'datasets/file', bytes: 10 }]);
    assert.equal(await store.read('datasets/cifar10'), undefined);
    assert.equal(await store.read('nothing-here/x'), undefined);
    assert.ok([...fs.files().keys()].every((p) => p.startsWith('labelflow/')), [...fs.files().keys()].join(', '));
  });

  test('large parts go in chunks of at most WRITE_CHUNK bytes', async () => {
    const fs = memoryOpfs();
    const store = await openOpfsBlobStore(fs.root);
    const big = pattern(2 * WRITE_CHUNK + 12345, 3);
    await store.write('datasets/cifar10', [pattern(100), big]);
    assert.equal(fs.writes.largest, WRITE_CHUNK);
    assert.equal(fs.writes.calls, 4);
    const back = await store.read('datasets/cifar10');
    assert.equal(back!.length, big.length + 100);
    assert.deepEqual(back!.subarray(100), big);
  });

  test('a write that fails part-way (quota) leaves the previous entry as it was and nothing half-written', async () => {
    const fs = memoryOpfs({ quota: 5000 });
    const store = await openOpfsBlobStore(fs.root);
    const before = pattern(1000, 4);
    await store.write('datasets/file', [before]);
    await assert.rejects(store.write('datasets/file', [pattern(3000), pattern(3000)]),
      /^Error: browser storage is full: 0\.0 MB for datasets\/file do not fit in this site's quota \(QuotaExceededError: .*\); delete stored datasets or old runs under Storage, or allow this site more storage$/);
    assert.deepEqual(await store.read('datasets/file'), before);
    assert.deepEqual([...fs.files()], [['labelflow/datasets/file', 1000]], 'no temporary file left');
  });

  test('a replaced entry is the new bytes only (no tail of the old, longer one)', async () => {
    for (const syncAccess of [true, false]) {
      const fs = memoryOpfs({ syncAccess });
      const store = await openOpfsBlobStore(fs.root);
      await store.write('checkpoints/run-1', [pattern(500, 5)]);
      await store.write('checkpoints/run-1', [pattern(20, 6)]);
      assert.deepEqual(await store.read('checkpoints/run-1'), pattern(20, 6), `syncAccess ${syncAccess}`);
      assert.deepEqual([...fs.files()], [['labelflow/checkpoints/run-1', 20]]);
    }
  });

  test('the writable-stream path (no sync access handle, as on the main thread) writes in chunks too', async () => {
    const fs = memoryOpfs({ syncAccess: false });
    const store = blobStoreIn(await fs.root.getDirectoryHandle('labelflow', { create: true }));
    const big = pattern(WRITE_CHUNK + 1, 7);
    await store.write('datasets/file', [big]);
    assert.equal(fs.writes.largest, WRITE_CHUNK);
    assert.deepEqual(await store.read('datasets/file'), big);
  });

  test('half-written entries found when the store opens are removed; one still being written is left alone', async () => {
    const fs = memoryOpfs();
    const base = await fs.root.getDirectoryHandle('labelflow', { create: true });
    const done = await openOpfsBlobStore(fs.root);
    await done.write('datasets/cifar10', [pattern(64)]);
    // A tab closed while writing: the temporary file is there, its entry is not.
    const incomplete = await base.getDirectoryHandle('incomplete', { create: true });
    const left = await (await incomplete.getFileHandle('lost-write', { create: true })).createSyncAccessHandle!();
    left.write(pattern(300), { at: 0 });
    left.close();
    // Another tab's worker writing right now holds its file's access handle.
    const busy = await (await incomplete.getFileHandle('busy-write', { create: true })).createSyncAccessHandle!();
    busy.write(pattern(10), { at: 0 });
    assert.deepEqual(await done.list(), [{ name: 'datasets/cifar10', bytes: 64 }], 'an incomplete entry is never listed');
    const reopened = await openOpfsBlobStore(fs.root);
    assert.deepEqual([...fs.files().keys()].sort(), ['labelflow/datasets/cifar10', 'labelflow/incomplete/busy-write']);
    busy.close();
    assert.equal(await reopened.removeIncomplete(), 1);
    assert.deepEqual([...fs.files().keys()], ['labelflow/datasets/cifar10']);
    assert.deepEqual(await reopened.read('datasets/cifar10'), pattern(64));
  });

  test('remove: true once, then false; a bad name is refused with the rule', async () => {
    const store = await openOpfsBlobStore(memoryOpfs().root);
    await store.write('datasets/file', [pattern(3)]);
    assert.equal(await store.remove('datasets/file'), true);
    assert.equal(await store.remove('datasets/file'), false);
    assert.equal(await store.read('datasets/file'), undefined);
    for (const bad of ['file', '/x', 'Datasets/x', 'incomplete/x', 'datasets/']) {
      await assert.rejects(store.read(bad), /is not a valid entry name \(expected "<folder>\/<name>"/, bad);
    }
  });

  test('without move() nothing is written (an entry could not appear atomically), and the error says why', async () => {
    const fs = memoryOpfs({ move: false });
    const store = await openOpfsBlobStore(fs.root);
    await assert.rejects(store.write('datasets/file', [pattern(10)]), /could not write datasets\/file \(0\.0 MB\) to the Origin Private File System: this browser cannot move OPFS files \(FileSystemHandle\.move is missing\)/);
    assert.deepEqual([...fs.files()], []);
  });

  test('no OPFS in this context: opening says so', async () => {
    assert.equal(typeof (globalThis.navigator as { storage?: unknown } | undefined)?.storage, 'undefined');
    await assert.rejects(openOpfsBlobStore(), /^Error: this browser gives the page no Origin Private File System \(navigator\.storage\.getDirectory is missing\)$/);
  });
});
