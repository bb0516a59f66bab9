/**
 * The playground's IndexedDB store (src/train/browser-store.ts) over fake-indexeddb, a fresh
 * IDBFactory per test: runs, checkpoints, datasets and teacher maps round-trip, runs list newest
 * first, deleting a run deletes its checkpoint, a version-1 database gains the teacher-maps store,
 * a full disk reads as such; and the JSON / CSV exports.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IDBFactory } from 'fake-indexeddb';
import { CIFAR10_CLASSES, emptyImageSet, type ImageSet } from '../../src/data/dataset.ts';
import { decodeWebSplit, encodeWebSplit } from '../../src/data/webformat.ts';
import { newRunId, openStore, type RunRecord, runToCsv, runToJson, storageError, teacherMapsKey } from '../../src/train/browser-store.ts';
import { DEFAULT_TRAIN_CONFIG } from '../../src/train/trainer.ts';

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
    const summary = { name: 'cifar10', source: 'picked.tar.gz', classes: [...CIFAR10_CLASSES], size: 32, train: 0, test: 2 };
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
    const store = await openStore(new IDBFactory());
    const key = teacherMapsKey('ab'.repeat(32), 'cd'.repeat(32));
    assert.equal(key, `maps-v1:${'ab'.repeat(32)}:${'cd'.repeat(32)}`);
    assert.notEqual(teacherMapsKey('ab'.repeat(32), 'ce'.repeat(32)), key);
    const all = Float32Array.from({ length: 3 * 4 * 2 + 10 }, (_, i) => i / 7);
    const maps = all.subarray(5, 5 + 3 * 4 * 2);
    await store.putTeacherMaps(key, { maps, images: 3, tokens: 4, classes: 2, name: 'teacher.onnx', provider: 'wasm', createdAt: 42 });
    const back = await store.getTeacherMaps(key);
    assert.ok(back?.maps instanceof Float32Array);
    assert.deepEqual([...back!.maps], [...maps]);
    assert.equal(back!.maps.buffer.byteLength, maps.byteLength, 'only the view\'s values are stored');
    assert.deepEqual({ ...back!, maps: undefined }, { maps: undefined, images: 3, tokens: 4, classes: 2, name: 'teacher.onnx', provider: 'wasm', createdAt: 42 });
    assert.equal(await store.getTeacherMaps(teacherMapsKey('ab'.repeat(32), 'ce'.repeat(32))), undefined);
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
    const page = await openStore(factory);
    const worker = await openStore(factory);
    await worker.putRun(run('w', 9));
    assert.equal((await page.getRun('w'))?.name, 'run w');
    page.close();
    worker.close();
  });

  test('a full disk: the error says storage is full and how much was being written', () => {
    const full = storageError(new DOMException('quota', 'QuotaExceededError'), 'the checkpoint of run a', 12_345_678);
    assert.equal(full.message, 'browser storage is full: could not save the checkpoint of run a (12.3 MB); delete old runs or stored datasets, or allow this site more storage');
    assert.match(storageError(new DOMException('boom', 'UnknownError'), 'run "x"', 10).message, /^browser storage: could not save run "x" \(boom\)$/);
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
