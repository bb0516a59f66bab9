/**
 * Decoding images with many in flight (decodeImageEntries' `concurrency`) and the page's pool of
 * decode workers (src/data/decode-pool.ts), with stand-in workers that speak its protocol: archive
 * order is kept, the first failing entry in archive order is the one reported, images go to the
 * workers in batches, and a worker that fails rejects its images with the reason.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type DecodeBatch, type DecodedBatch, DecodePool } from '../../src/data/decode-pool.ts';
import { decodeImageEntries, type DecodedImage, type ImageDecoder, type ImageEntry } from '../../src/data/imagefolder-web.ts';

/** A made-up "JPEG" of image i: the JPEG signature, then i; decoded to 2×2 planes filled with i % 251. */
const fakeJpeg = (i: number) => Uint8Array.of(0xff, 0xd8, 0xff, i & 255, (i >> 8) & 255);
const decodeFake = (bytes: Uint8Array, where: string): DecodedImage => {
  const i = bytes[3] | (bytes[4] << 8);
  if (i % 1000 === 999) throw new Error(`${where}: cannot decode JPEG (image ${i} is broken)`);
  return { width: 2, height: 2, chw: new Uint8Array(12).fill(i % 251) };
};

function entries(n: number): ImageEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    entry: { split: 'train', className: 'cat', label: i % 10, path: `train/cat/${i}.jpg`, index: i },
    data: fakeJpeg(i),
  }));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('decodeImageEntries with decodes in flight', () => {
  test('keeps archive order whatever order the decodes finish in', async () => {
    const slowFirst: ImageDecoder = async (bytes, _kind, where) => {
      await sleep((7 - (bytes[3] % 7)) % 4);
      return decodeFake(bytes, where);
    };
    const list = entries(900);
    const one = await decodeImageEntries(list, 'a.tar.gz', { select: { train: true }, decode: slowFirst, imageSize: 2 });
    const many = await decodeImageEntries(list, 'a.tar.gz', { select: { train: true }, decode: slowFirst, imageSize: 2, concurrency: 64 });
    assert.equal(many.train!.count, 900);
    assert.deepEqual(many.train!.images, one.train!.images);
    assert.deepEqual(many.train!.labels, one.train!.labels);
    assert.deepEqual(many.train!.paths, one.train!.paths);
    assert.equal(many.train!.images[12 * 100], 100, 'image 100 is in place 100');
  });

  test('reports the first failing entry in archive order, though a later one failed first', async () => {
    let inFlight = 0;
    let most = 0;
    const decode: ImageDecoder = async (bytes, _kind, where) => {
      inFlight++;
      most = Math.max(most, inFlight);
      const i = bytes[3] | (bytes[4] << 8);
      // Entry 5 fails late, entry 40 fails at once.
      await sleep(i === 5 ? 30 : 0);
      inFlight--;
      if (i === 5 || i === 40) throw new Error(`${where}: cannot decode JPEG (bad ${i})`);
      return decodeFake(bytes, where);
    };
    await assert.rejects(decodeImageEntries(entries(100), 'b.tar.gz', { select: { train: true }, decode, imageSize: 2, concurrency: 50 }),
      { message: 'b.tar.gz: train/cat/5.jpg: cannot decode JPEG (bad 5)' });
    assert.ok(most > 1 && most <= 50, `${most} decodes were in flight at most (limit 50)`);
  });

  test('a wrong size from a decode in flight names its entry', async () => {
    const decode: ImageDecoder = async (bytes, _kind, where) => {
      const d = decodeFake(bytes, where);
      return bytes[3] === 7 ? { ...d, width: 3 } : d;
    };
    await assert.rejects(decodeImageEntries(entries(20), 'c.tar.gz', { select: { train: true }, decode, imageSize: 2, concurrency: 8 }),
      { message: 'c.tar.gz: train/cat/7.jpg: image is 3×2, expected 2×2' });
  });
});

/** A stand-in decode worker: the pool's protocol, decodeFake for the images, answers after a tick. */
class FakeWorker {
  onmessage: ((ev: MessageEvent<DecodedBatch>) => void) | null = null;
  onerror: ((ev: ErrorEvent) => void) | null = null;
  batches: number[] = [];
  constructor(private readonly broken = false) {}
  postMessage(m: DecodeBatch) {
    this.batches.push(m.items.length);
    setTimeout(() => {
      if (this.broken) {
        this.onerror?.({ message: 'SyntaxError: unexpected token', preventDefault() {} } as ErrorEvent);
        return;
      }
      const results: DecodedBatch['results'] = [];
      const planes: Uint8Array[] = [];
      let at = 0;
      for (const it of m.items) {
        try {
          const d = decodeFake(new Uint8Array(m.bytes, it.offset, it.length), it.where);
          results.push({ width: d.width, height: d.height, offset: at, length: d.chw.length });
          planes.push(d.chw);
          at += d.chw.length;
        } catch (e) {
          results.push({ error: (e as Error).message });
        }
      }
      const chw = new Uint8Array(at);
      let k = 0;
      for (const p of planes) { chw.set(p, k); k += p.length; }
      this.onmessage?.({ data: { id: m.id, chw: chw.buffer, results } } as MessageEvent<DecodedBatch>);
    }, 1);
  }
  terminate() {}
}

describe('DecodePool', () => {
  test('decodes through its workers in batches, in archive order, with per-image errors', async () => {
    const workers: FakeWorker[] = [];
    const pool = new DecodePool({ workers: 3, batch: 64, createWorker: () => (workers.push(new FakeWorker()), workers.at(-1) as unknown as Worker) });
    assert.equal(pool.size, 3);
    const list = entries(2000).filter((e) => e.entry.index % 1000 !== 999);
    const sets = await decodeImageEntries(list, 'd.tar.gz', { select: { train: true }, decode: pool.decode, imageSize: 2, concurrency: pool.concurrency });
    const expected = await decodeImageEntries(list, 'd.tar.gz', { select: { train: true }, decode: (b, _k, w) => decodeFake(b, w), imageSize: 2 });
    assert.deepEqual(sets.train!.images, expected.train!.images);
    const messages = workers.reduce((n, w) => n + w.batches.length, 0);
    assert.ok(workers.every((w) => w.batches.length > 0), `every worker got work: ${workers.map((w) => w.batches.length).join(', ')}`);
    assert.ok(messages <= Math.ceil(list.length / 64) + 3 * workers.length, `${list.length} images took ${messages} messages`);
    await assert.rejects(pool.decode(fakeJpeg(999), 'jpeg', 'd.tar.gz: train/cat/999.jpg'), { message: 'd.tar.gz: train/cat/999.jpg: cannot decode JPEG (image 999 is broken)' });
    pool.close();
    await assert.rejects(pool.decode(fakeJpeg(1), 'jpeg', 'd.tar.gz: train/cat/1.jpg'), /the decode pool was closed/);
  });

  test('a worker that fails rejects its images with the reason; the others go on', async () => {
    let made = 0;
    const pool = new DecodePool({ workers: 2, batch: 4, createWorker: () => new FakeWorker(made++ === 0) as unknown as Worker });
    const results = await Promise.allSettled(Array.from({ length: 16 }, (_, i) => pool.decode(fakeJpeg(i), 'jpeg', `e.tar.gz: train/cat/${i}.jpg`)));
    const failed = results.filter((r) => r.status === 'rejected').map((r) => ((r as PromiseRejectedResult).reason as Error).message);
    assert.ok(failed.length > 0 && failed.length < 16, `${failed.length} of 16 failed`);
    for (const m of failed) assert.match(m, /^e\.tar\.gz: train\/cat\/\d+\.jpg: the image decode worker failed \(SyntaxError: unexpected token\)$/);
    // After the failure every image goes to the worker that works.
    const after = await pool.decode(fakeJpeg(3), 'jpeg', 'e.tar.gz: train/cat/3.jpg');
    assert.equal(after.chw[0], 3);
    pool.close();
  });
});
