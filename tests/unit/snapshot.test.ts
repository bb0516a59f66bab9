/** The worker's read-out conversions (src/train/snapshot.ts) on hand-computed cases. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bytesToRgba, meanPatchCosine, softmaxRows, unnormalizeToRgba } from '../../src/train/snapshot.ts';

test('meanPatchCosine: CLS skipped, mean over ordered pairs i ≠ j', () => {
  // CLS (ignored), then patches (1,0), (0,2), (3,0): cosines 0, 1, 0 → 2·1 / (3·2) = 1/3.
  const tokens = Float32Array.of(9, 9, 1, 0, 0, 2, 3, 0);
  assert.ok(Math.abs(meanPatchCosine(tokens, 4, 2) - 1 / 3) < 1e-12);
  assert.ok(Math.abs(meanPatchCosine(Float32Array.of(0, 0, 1, 1, 2, 2, -1, -1), 4, 2) - (1 - 1 - 1) / 3) < 1e-12);
});

test('RGBA from CHW planes: bytes as they are, normalised values un-normalised', () => {
  const chw = Uint8Array.of(10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120); // 1 image, 2×2
  assert.deepEqual([...bytesToRgba(chw, 1, 2)], [10, 50, 90, 255, 20, 60, 100, 255, 30, 70, 110, 255, 40, 80, 120, 255]);
  const normalised = Float32Array.from(chw, (v, k) => (v / 255 - 0.5) / 0.25 + 0 * k);
  assert.deepEqual([...unnormalizeToRgba(normalised, 1, 2, [0.5, 0.5, 0.5], [0.25, 0.25, 0.25])], [...bytesToRgba(chw, 1, 2)]);
});

test('softmaxRows', () => {
  const p = softmaxRows(Float32Array.of(0, Math.log(3), 1000, 1000), 2);
  assert.deepEqual([...p].map((v) => +v.toFixed(6)), [0.25, 0.75, 0.5, 0.5]);
});
