/**
 * The playground's browser storage (src/train/browser-store.ts) over fake-indexeddb (a fresh
 * IDBFactory per test) and an in-memory OPFS (./helpers/memory-opfs.ts): runs, checkpoints,
 * datasets and teacher maps round-trip, runs list newest first, deleting a run deletes its
 * checkpoint, a version-1 database gains the teacher-maps store, a full disk reads as such; large
 * data goes to OPFS and nothing large to IndexedDB; what the previous version kept in IndexedDB
 * (checkpoints, datasets, teacher maps) still loads; without OPFS checkpoints still save and a
 * dataset's error says why; and the JSON / CSV exports.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IDBFactory } from 'fake-indexeddb';
import { CIFAR10_CLASSES, emptyImageSet, type ImageSet } from '../../src/data/dataset.ts';
import { decodeWebSplit, encodeWebSplit } from '../../src/data/webformat.ts';
import { openOpfsBlobStore } from '../../src/train/blob-store.ts';
import { encodeStoredDataset, newRunId, openStore as openWith, type RunRecord, runToCsv, runToJson, storageError, teacherMapsKey } from '../../src/train/browser-store.ts';
import { DEFAULT_TRAIN_CONFIG } from '../../src/train/trainer.ts';
import { memoryOpfs, type MemoryOpfs } from './helpers/memory-opfs.ts';

/** The store over `factory` and an in-memory OPFS of its own (or `fs`). */
async function openStore(factory: IDBFactory, fs: MemoryOpfs = memoryOpfs()) {
  return openWith(factory, await openOpfsBlobStore(fs.root));
}

function run(id: string, createdAt: number, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    id, name: `run ${id}`, config: { ...DEFAULT_TRAIN_CONFIG, dataset: 'synthetic', trainLimit: 512 },
    createdAt, updatedAt: createdAt + 5, state: 'paused', step: 20, epoch: 1, totalSteps: 80,
    points: [{ step: 10, epoch: 0.5, loss: 2.25, lr: 0.0005, imgPerS: 1234.5 }, { step: 20, epoch: 1, loss: 2.125, lr: 0.001, imgPerS: 1300 }],
    epochs: [{ epoch: 1, train_loss: 2.2, test_loss: 2.1, test_acc: 0.25, img_per_s: 1280, seconds: 3.5, lr: 0.001 }],
    ...extra,
  };
}

describe('openStore', () => {
  test('runs round-trip, list newest first, and update in place', async () => {
    const store = await openStore(new IDBFactory());
    assert.deepEqual(await store.listRuns(), []);
    await store.putRun(run('a', 100));
    await store.putRun(run('c', 300));
    await store.putRun(run('b', 200, { config: { ...DEFAULT_TRAIN_CONFIG, dataset: 'cifar10', model: 'test', modelOverrides: { dim: 48 } } }));
    assert.deepEqual((await store.listRuns()).map((r) => r.id), ['c', 'b', 'a']);
    assert.deepEqual(await store.getRun('b'), run('b', 200, { config: { ...DEFAULT_TRAIN_CONFIG, dataset: 'cifar10', model: 'test', modelOverrides: { dim: 48 } } }));
    await store.putRun(run('a', 100, { state: 'done', step: 80, final: { test_acc: 0.5, test_loss: 1.5, train_loss: 1.6 } }));
    const a = await store.getRun('a');
    assert.equal(a?.state, 'done');
    assert.deepEqual(a?.final, { test_acc: 0.5, test_loss: 1.5, train_loss: 1.6 });
    assert.equal((await store.listRuns()).length, 3);
    assert.equal(await store.getRun('nope'), undefined);
    store.close();
  });

  test('checkpoints round-trip byte for byte, a view stored as its own bytes', async () => {
    const store = await openStore(new IDBFactory());
    const big = Uint8Array.from({ length: 5000 }, (_, i) => (i * 31) & 255);
    const view = big.subarray(1000, 1100);
    await store.putCheckpoint('a', view);
    const back = await store.getCheckpoint('a');
    assert.ok(back instanceof Uint8Array);
    assert.deepEqual([...back!], [...view]);
    assert.equal(back!.buffer.byteLength, 100, 'only the view\'s bytes are stored');
    assert.equal(await store.getCheckpoint('b'), undefined);
    store.close();
  });

  test('deleting a run deletes its checkpoint and nothing else', async () => {
    const store = await openStore(new IDBFactory());
    await store.putRun(run('a', 1));
    await store.putRun(run('b', 2));
    await store.putCheckpoint('a', new Uint8Array([1, 2, 3]));
    await store.putCheckpoint('b', new Uint8Array([4]));
    await store.deleteRun('a');
    assert.equal(await store.getRun('a'), undefined);
    assert.equal(await store.getCheckpoint('a'), undefined);
    assert.deepEqual((await store.listRuns()).map((r) => r.id), ['b']);
    assert.deepEqual([...(await store.getCheckpoint('b'))!], [4]);
    store.close();
  });

  test('datasets round-trip as web-format bytes, an empty split included, and clear', async () => {
    const store = await openStore(new IDBFactory());
    const test: ImageSet = { images: Uint8Array.from({ length: 2 * 3072 }, (_, i) => i & 255), labels: Uint8Array.from([3, 7]), count: 2, channels: 3, size: 32, classes: CIFAR10_CLASSES };
    const summary = { name: 'cifar10', source: 'picked.tar.gz', classes: [...CIFAR10_CLASSES], size: 32, train: 0, test: 2, skippedLinks: 1 };
    await store.putDataset('file', { summary, train: encodeWebSplit(emptyImageSet(CIFAR10_CLASSES), 'train', 'picked.tar.gz'), test: encodeWebSplit(test, 'test', 'picked.tar.gz') });
    const back = await store.getDataset('file');
    assert.deepEqual(back?.summary, summary);
    assert.equal(decodeWebSplit(back!.train, 'train').count, 0);
    const t = decodeWebSplit(back!.test, 'test');
    assert.deepEqual([...t.labels], [3, 7]);
    assert.deepEqual([...t.images], [...test.images]);
    assert.equal(await store.getDataset('cifar10'), undefined);
    await store.clearDataset('file');
    assert.equal(await store.getDataset('file'), undefined);
    store.close();
  });

  test('teacher maps round-trip under their key, a view stored as its own values; a run keeps its teacher', async () => {
    const fs = memoryOpfs();
    const store = await openStore(new IDBFactory(), fs);
    const key = teacherMapsKey('ab'.repeat(32), 'cd'.repeat(32));
    assert.equal(key, `maps-v1:${'ab'.repeat(32)}:${'cd'.repeat(32)}`);
    assert.notEqual(teacherMapsKey('ab'.repeat(32), 'ce'.repeat(32)), key);
    const all = Float32Array.from({ length: 3 * 4 * 2 + 10 }, (_, i) => i / 7);
    const maps = all.subarray(5, 5 + 3 * 4 * 2);
    await store.putTeacherMaps(key, { maps, images: 3, tokens: 4, classes: 2, name: 'teacher.onnx', provider: 'wasm', createdAt: 42 });
    const back = await store.getTeacherMaps(key);
    assert.ok(back?.maps instanceof Float32Array);
    assert.deepEqual([...back!.maps], [...maps]);
    assert.equal(back!.maps.byteLength, maps.byteLength);
    assert.deepEqual({ ...back!, maps: undefined }, { maps: undefined, images: 3, tokens: 4, classes: 2, name: 'teacher.onnx', provider: 'wasm', createdAt: 42 });
    assert.equal(await store.getTeacherMaps(teacherMapsKey('ab'.repeat(32), 'ce'.repeat(32))), undefined);
    const [file, bytes] = [...fs.files()].find(([f]) => f.startsWith('labelflow/teacher-maps/'))!;
    assert.ok(bytes >= maps.byteLength && bytes < maps.byteLength + 200, `${file}: ${bytes} bytes for ${maps.byteLength} bytes of maps and a header`);
    await store.putRun(run('t', 1, { teacher: { name: 'teacher.onnx', sha256: 'ab'.repeat(32) } }));
    assert.deepEqual((await store.getRun('t'))?.teacher, { name: 'teacher.onnx', sha256: 'ab'.repeat(32) });
    store.close();
  });

  test('a database of version 1 (no teacher maps) is upgraded and keeps its runs', async () => {
    const factory = new IDBFactory();
    await new Promise<void>((resolve, reject) => {
      const open = factory.open('labelflow', 1);
      open.onupgradeneeded = () => {
        open.result.createObjectStore('runs', { keyPath: 'id' });
        open.result.createObjectStore('checkpoints');
        open.result.createObjectStore('datasets');
      };
      open.onsuccess = () => {
        const tx = open.result.transaction('runs', 'readwrite');
        tx.objectStore('runs').put(run('old', 5));
        tx.oncomplete = () => { open.result.close(); resolve(); };
        tx.onerror = () => reject(tx.error);
      };
      open.onerror = () => reject(open.error);
    });
    const store = await openStore(factory);
    assert.equal((await store.getRun('old'))?.name, 'run old');
    await store.putTeacherMaps('k', { maps: new Float32Array(2), images: 1, tokens: 1, classes: 2, name: 't', provider: 'webgpu', createdAt: 0 });
    assert.equal((await store.getTeacherMaps('k'))?.classes, 2);
    store.close();
  });

  test('a second open of the same database sees what the first wrote (page and worker)', async () => {
    const factory = new IDBFactory();
    const fs = memoryOpfs();
    const page = await openStore(factory, fs);
    const worker = await openStore(factory, fs);
    await worker.putRun(run('w', 9));
    assert.equal((await page.getRun('w'))?.name, 'run w');
    await worker.putCheckpoint('w', new Uint8Array([7, 8]));
    assert.deepEqual([...(await page.getCheckpoint('w'))!], [7, 8]);
    page.close();
    worker.close();
  });

  test('a full disk: the error says storage is full and how much was being written', () => {
    const full = storageError(new DOMException('quota', 'QuotaExceededError'), 'the checkpoint of run a', 12_345_678);
    assert.equal(full.message, 'browser storage is full: could not save the checkpoint of run a (12.3 MB); delete old runs or stored datasets, or allow this site more storage');
    assert.match(storageError(new DOMException('boom', 'UnknownError'), 'run "x"', 10).message, /^browser storage: could not save run "x" \(boom\)$/);
  });
});

/** Writes `value` under `key` into a store of the database as version 2 wrote it (before OPFS). */
function putOld(factory: IDBFactory, store: string, key: string, value: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const open = factory.open('labelflow', 2);
    open.onupgradeneeded = () => {
      for (const s of ['checkpoints', 'datasets', 'teacherMaps']) if (!open.result.objectStoreNames.contains(s)) open.result.createObjectStore(s);
      if (!open.result.objectStoreNames.contains('runs')) open.result.createObjectStore('runs', { keyPath: 'id' });
    };
    open.onsuccess = () => {
      const tx = open.result.transaction(store, 'readwrite');
      tx.objectStore(store).put(value, key);
      tx.oncomplete = () => { open.result.close(); resolve(); };
      tx.onerror = () => reject(tx.error);
    };
    open.onerror = () => reject(open.error);
  });
}

/** How many values an IndexedDB store holds, and the largest one's byte size (typed arrays and their fields). */
async function idbValues(factory: IDBFactory, store: string): Promise<{ count: number; largest: number }> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const open = factory.open('labelflow');
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  const values = await new Promise<unknown[]>((resolve, reject) => {
    const r = db.transaction(store).objectStore(store).getAll();
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  db.close();
  const size = (v: unknown): number => ArrayBuffer.isView(v) ? v.byteLength
    : v && typeof v === 'object' ? Object.values(v).reduce((n: number, x) => n + size(x), 0) : 0;
  return { count: values.length, largest: Math.max(0, ...values.map(size)) };
}

describe('large data in OPFS', () => {
  const dataset = (train: number, test: number) => {
    const set = (count: number, seed: number): ImageSet => ({
      images: Uint8Array.from({ length: count * 3072 }, (_, i) => (i * seed) & 255), labels: Uint8Array.from({ length: count }, (_, i) => (i * seed) % 10),
      count, channels: 3, size: 32, classes: CIFAR10_CLASSES,
    });
    const summary = { name: 'cifar10', source: 'cifar-10-binary.tar.gz', classes: [...CIFAR10_CLASSES], size: 32, train, test, skippedLinks: 0 };
    return { summary, train: encodeWebSplit(set(train, 3), 'train', summary.source), test: encodeWebSplit(set(test, 5), 'test', summary.source) };
  };

  test('datasets, teacher maps and checkpoints go to OPFS: IndexedDB holds no value larger than a run record', async () => {
    const factory = new IDBFactory();
    const fs = memoryOpfs();
    const store = await openStore(factory, fs);
    const value = dataset(300, 100);
    const bytes = await store.putDataset('cifar10', value);
    assert.ok(bytes > value.train.length + value.test.length && bytes < value.train.length + value.test.length + 1000, `${bytes} bytes`);
    await store.putTeacherMaps('k', { maps: new Float32Array(300 * 16 * 10).fill(0.1), images: 300, tokens: 16, classes: 10, name: 't.onnx', provider: 'wasm', createdAt: 1 });
    await store.putCheckpoint('r', new Uint8Array(50_000));
    for (const s of ['datasets', 'teacherMaps', 'checkpoints']) assert.deepEqual(await idbValues(factory, s), { count: 0, largest: 0 }, s);
    assert.deepEqual([...fs.files().keys()].sort(), ['labelflow/checkpoints/r', 'labelflow/datasets/cifar10', 'labelflow/teacher-maps/k']);
    assert.equal(fs.files().get('labelflow/datasets/cifar10'), bytes);
    const back = await store.getDataset('cifar10');
    assert.deepEqual(back?.summary, value.summary);
    assert.deepEqual(back?.train, value.train);
    assert.deepEqual(back?.test, value.test);
    assert.deepEqual(decodeWebSplit(back!.train, 'train').labels, decodeWebSplit(value.train, 'train').labels);
    assert.deepEqual((await store.listStored()).map((e) => [e.kind, e.key, e.where, e.bytes]), [
      ['dataset', 'cifar10', 'opfs', bytes], ['teacher-maps', 'k', 'opfs', fs.files().get('labelflow/teacher-maps/k')], ['checkpoint', 'r', 'opfs', 50_000],
    ]);
    await store.clearDataset('cifar10');
    await store.removeTeacherMaps('k');
    assert.equal(await store.getDataset('cifar10'), undefined);
    assert.equal(await store.getTeacherMaps('k'), undefined);
    assert.deepEqual([...fs.files().keys()], ['labelflow/checkpoints/r']);
    store.close();
  });

  test('what the previous version kept in IndexedDB still loads when OPFS has no entry, and gives way to a new entry', async () => {
    const factory = new IDBFactory();
    const old = dataset(20, 10);
    const oldMaps = { maps: Float32Array.from({ length: 20 * 4 * 10 }, (_, i) => i / 3), images: 20, tokens: 4, classes: 10, name: 'old.onnx', provider: 'webgpu', createdAt: 7 };
    await putOld(factory, 'checkpoints', 'run-old', Uint8Array.from([1, 2, 3, 4]));
    await putOld(factory, 'datasets', 'file', old);
    await putOld(factory, 'teacherMaps', 'maps-v1:aa:bb', oldMaps);
    const fs = memoryOpfs();
    const store = await openStore(factory, fs);
    assert.deepEqual([...(await store.getCheckpoint('run-old'))!], [1, 2, 3, 4]);
    const back = await store.getDataset('file');
    assert.deepEqual(back?.summary, old.summary);
    assert.deepEqual(decodeWebSplit(back!.test, 'test').images, decodeWebSplit(old.test, 'test').images);
    assert.deepEqual([...(await store.getTeacherMaps('maps-v1:aa:bb'))!.maps], [...oldMaps.maps]);
    assert.deepEqual((await store.listStored()).map((e) => [e.kind, e.key, e.where, e.bytes]), [
      ['dataset', 'file', 'indexeddb', undefined], ['teacher-maps', 'maps-v1:aa:bb', 'indexeddb', undefined], ['checkpoint', 'run-old', 'indexeddb', undefined],
    ]);
    // Writing anew moves it to OPFS and frees IndexedDB.
    await store.putCheckpoint('run-old', Uint8Array.from([9]));
    await store.putDataset('file', dataset(2, 1));
    assert.deepEqual([...(await store.getCheckpoint('run-old'))!], [9]);
    assert.equal((await store.getDataset('file'))?.summary.train, 2);
    assert.equal((await idbValues(factory, 'checkpoints')).count, 0);
    assert.equal((await idbValues(factory, 'datasets')).count, 0);
    // Deleting the run removes its checkpoint wherever it is.
    await putOld(factory, 'checkpoints', 'run-2', Uint8Array.from([5]));
    await store.deleteRun('run-old');
    await store.deleteRun('run-2');
    assert.equal(await store.getCheckpoint('run-old'), undefined);
    assert.equal(await store.getCheckpoint('run-2'), undefined);
    await store.removeTeacherMaps('maps-v1:aa:bb');
    assert.equal(await store.getTeacherMaps('maps-v1:aa:bb'), undefined);
    store.close();
  });

  test('without OPFS: checkpoints go to IndexedDB as before; a dataset or teacher maps cannot be stored, and the error says why', async () => {
    const factory = new IDBFactory();
    const store = await openWith(factory, null);
    assert.equal(store.largeDataUnavailable, 'this page has no Origin Private File System');
    await store.putCheckpoint('r', Uint8Array.from([4, 2]));
    assert.deepEqual([...(await store.getCheckpoint('r'))!], [4, 2]);
    await assert.rejects(store.putDataset('file', dataset(2, 1)), /^Error: browser storage: could not save dataset "file": this page has no Origin Private File System$/);
    await assert.rejects(store.putTeacherMaps('k', { maps: new Float32Array(2), images: 1, tokens: 1, classes: 2, name: 't.onnx', provider: 'wasm', createdAt: 0 }),
      /could not save the teacher maps of t\.onnx: this page has no Origin Private File System/);
    assert.equal(await store.getDataset('file'), undefined);
    assert.deepEqual(await store.listStored(), [{ kind: 'checkpoint', key: 'r', where: 'indexeddb' }]);
    // Opened where there is no navigator.storage (Node): the same, with the reason.
    const bare = await openWith(new IDBFactory());
    assert.match(bare.largeDataUnavailable ?? '', /no Origin Private File System \(navigator\.storage\.getDirectory is missing\)/);
    store.close();
    bare.close();
  });

  test('a full quota while writing a dataset: the error says so, and the dataset stored before is still whole', async () => {
    const fs = memoryOpfs();
    const store = await openStore(new IDBFactory(), fs);
    const first = dataset(10, 5);
    await store.putDataset('cifar10', first);
    fs.quota = fs.used() + 30_000;
    await assert.rejects(store.putDataset('cifar10', dataset(40, 10)), /^Error: browser storage is full: 0\.2 MB for datasets\/cifar10 do not fit in this site's quota/);
    assert.deepEqual((await store.getDataset('cifar10'))?.train, first.train);
    assert.deepEqual([...fs.files().keys()], ['labelflow/datasets/cifar10']);
    store.close();
  });

  test('stored entries that are not what they claim are refused with the reason', async () => {
    const fs = memoryOpfs();
    const blobs = await openOpfsBlobStore(fs.root);
    const store = await openWith(new IDBFactory(), blobs);
    await blobs.write('datasets/file', [new TextEncoder().encode('LFDC1\n'), Uint8Array.from([2, 0, 0, 0]), new TextEncoder().encode('{}')]);
    await assert.rejects(store.getDataset('file'), /stored dataset "file": corrupt header \(it needs a summary and the byte sizes of both splits\)/);
    await blobs.write('datasets/cifar10', encodeStoredDataset({ ...dataset(3, 2) }).slice(0, 2));
    await assert.rejects(store.getDataset('cifar10'), /stored dataset "cifar10": \d+ bytes of splits, the header promises \d+ \+ \d+/);
    await blobs.write('teacher-maps/k', [new TextEncoder().encode('nope')]);
    await assert.rejects(store.getTeacherMaps('k'), /stored teacher maps k: not a labelflow teacher-maps entry/);
    store.close();
  });
});

describe('exports', () => {
  test('JSON is the whole record, indented', () => {
    const r = run('a', 100);
    const json = runToJson(r);
    assert.deepEqual(JSON.parse(json), r);
    assert.ok(json.includes('\n  "config": {'));
  });

  test('CSV: one table with a kind column, step rows then epoch rows', () => {
    assert.equal(runToCsv(run('a', 100)), [
      'kind,step,epoch,loss,train_loss,test_loss,test_acc,lr,img_per_s,seconds',
      'step,10,0.5,2.25,,,,0.0005,1234.5,',
      'step,20,1,2.125,,,,0.001,1300,',
      'epoch,,1,,2.2,2.1,0.25,0.001,1280,3.5',
      '',
    ].join('\n'));
    assert.equal(runToCsv(run('b', 1, { points: [], epochs: [] })), 'kind,step,epoch,loss,train_loss,test_loss,test_acc,lr,img_per_s,seconds\n');
  });

  test('run ids are distinct and sort by creation time', () => {
    const ids = Array.from({ length: 100 }, () => newRunId(1_700_000_000_000));
    assert.equal(new Set(ids).size, 100);
    assert.match(ids[0], /^run-[0-9a-z]+-[0-9a-f]{8}$/);
    assert.ok(newRunId(1_700_000_000_000) < newRunId(1_800_000_000_000));
  });
});
