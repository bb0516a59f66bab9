/**
 * Made-up official-binary CIFAR-10 batches whose every byte is a formula of (batch seed, record,
 * byte), so a test can check any image of a loaded set without keeping the batch; and an
 * assert.rejects that checks an error's message against several patterns.
 */
import assert from 'node:assert/strict';
import { CIFAR10_BATCH_RECORDS, CIFAR10_RECORD_BYTES } from '../../../src/data/cifar-binary.ts';
import { type ImageSet } from '../../../src/data/dataset.ts';

/** Byte q of record i's pixels in batch `seed`. */
export const pixel = (seed: number, i: number, q: number) => (i * 13 + q * 3 + seed * 29) & 255;
export const label = (seed: number, i: number) => (i * 7 + seed) % 10;

export function cifarBatch(seed: number, count = CIFAR10_BATCH_RECORDS, recordBytes = CIFAR10_RECORD_BYTES): Uint8Array {
  const out = new Uint8Array(count * recordBytes);
  for (let i = 0; i < count; i++) {
    const at = i * recordBytes;
    out[at] = label(seed, i);
    for (let q = 0; q < recordBytes - 1; q++) out[at + 1 + q] = pixel(seed, i, q);
  }
  return out;
}

/** Images from..from+count−1 of `set` are batch `seed`'s records 0..count−1 (spot checks). */
export function assertBatchImages(set: ImageSet, from: number, seed: number, count = CIFAR10_BATCH_RECORDS) {
  for (const i of [0, 1, 4321, count - 1]) {
    assert.equal(set.labels[from + i], label(seed, i), `label of image ${from + i}`);
    const img = set.images.subarray((from + i) * 3072, (from + i + 1) * 3072);
    for (const q of [0, 1023, 1024, 2047, 2048, 3071]) assert.equal(img[q], pixel(seed, i, q), `image ${from + i} byte ${q}`);
  }
}

export async function rejectsWith(p: Promise<unknown>, ...want: (RegExp | string)[]) {
  await assert.rejects(p, (e: Error) => {
    for (const w of want) assert.ok(typeof w === 'string' ? e.message.includes(w) : w.test(e.message), `error "${e.message}" should match ${w}`);
    return true;
  });
}
