/** The worker's read-out conversions (src/train/snapshot.ts) on hand-computed cases. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_TRAIN_CONFIG, type StepSnapshot } from '../../src/train/trainer.ts';
import { drawMixToken, drawTokenMix } from '../../src/methods/mixing.ts';
import { Rng } from '../../src/nn/random.ts';
import { PRESETS } from '../../src/nn/presets.ts';
import { bytesToRgba, meanPatchCosine, softmaxRows, teacherView, tokenMixView, toViewSnapshot, unnormalizeToRgba } from '../../src/train/snapshot.ts';

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

test('tokenMixView: connected parts (4-neighbourhood) in row-major order, partner tokens and share', () => {
  // 4×4 grid: a 2×2 block top-left, a diagonal neighbour (its own part), a bar on the right.
  const mask = [
    1, 1, 0, 1,
    1, 1, 0, 1,
    0, 0, 1, 0,
    0, 0, 0, 0,
  ];
  const v = tokenMixView(mask, 4);
  assert.deepEqual([...v.parts], [0, 0, -1, 1, 0, 0, -1, 1, -1, -1, 2, -1, -1, -1, -1, -1]);
  assert.equal(v.count, 3);
  assert.equal(v.tokens, 7);
  assert.equal(v.share, 7 / 16);
  assert.deepEqual(tokenMixView(new Array(16).fill(0), 4), { parts: new Int32Array(16).fill(-1), count: 0, tokens: 0, share: 0 });
});

test('teacherView: argmax class and its probability, the ground-truth map, ρ_own over the unmasked tokens', () => {
  // 2 samples, T = 2 tokens, K = 3 classes; labels 2 and 0.
  const maps = Float32Array.of(
    0.1, 0.2, 0.7, /**/ 0.5, 0.3, 0.2,
    0.6, 0.3, 0.1, /**/ 0.2, 0.2, 0.6,
  );
  const v = teacherView(maps, [2, 0, 9], 2, 2, 3, [0, 1]);
  assert.deepEqual([...v.argmax], [2, 0, 0, 2]);
  assert.deepEqual([...v.confidence], [...Float32Array.of(0.7, 0.5, 0.6, 0.6)]);
  assert.deepEqual([...v.groundTruth], [...Float32Array.of(0.7, 0.2, 0.6, 0.2)]);
  // Sample 0 keeps token 0: 0.7 / (0.7 + 0.2); sample 1: 0.6 / 0.8.
  assert.ok(Math.abs(v.kept![0] - 0.7 / 0.9) < 1e-6 && Math.abs(v.kept![1] - 0.75) < 1e-6);
  assert.equal(teacherView(maps, [2, 0], 2, 2, 3).kept, undefined);
});

/** A step's read-outs of 2 samples of a batch of 4 (labels 1..4) for the `test` model. */
function rawSnapshot(mix: StepSnapshot['mix'], extra: Partial<StepSnapshot> = {}): StepSnapshot {
  const vit = PRESETS.test;
  const n = 2;
  return {
    step: 3, epoch: 0, mix, batch: 4, samples: n, images: new Float32Array(n * 3 * vit.imageSize ** 2), labels: Uint32Array.of(1, 2, 3, 4),
    targets: new Float32Array(n * vit.classes), logits: new Float32Array(n * vit.classes), ...extra,
  };
}

test('toViewSnapshot: TokenMix sends its mask parts, MixToken says the mix is on the embeddings, a teacher its maps', () => {
  const vit = PRESETS.test;
  const geometry = { imageSize: vit.imageSize, patch: vit.patch };
  const G = vit.imageSize / vit.patch;
  const tokenmix = drawTokenMix(new Rng(3), geometry, DEFAULT_TRAIN_CONFIG.tokenmixMask, DEFAULT_TRAIN_CONFIG.tokenmixShare);
  const s = toViewSnapshot(rawSnapshot(tokenmix), vit, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  assert.equal(s.at, 'pixels');
  assert.ok(s.tokenMix && s.tokenMix.count >= 1);
  assert.equal(s.tokenMix.tokens, Math.round((1 - s.lambda) * G * G));
  assert.deepEqual([...s.tokenMix.parts].map((p) => (p >= 0 ? 1 : 0)), [...tokenmix.partnerShare]);

  const mixtoken = drawMixToken(new Rng(4), geometry, 1);
  const K = vit.classes;
  const maps = Float32Array.from({ length: 2 * G * G * K }, (_, i) => (i % K === 0 ? 0.55 : 0.05));
  const m = toViewSnapshot(rawSnapshot(mixtoken, { teacher: maps }), vit, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  assert.equal(m.mix, 'mixtoken');
  assert.equal(m.at, 'embeddings');
  assert.ok(m.box);
  assert.equal(m.tokenMix, undefined);
  assert.equal(m.teacher?.argmax.length, 2 * G * G);
  assert.ok(m.teacher!.argmax.every((k) => k === 0));
  assert.ok(m.teacher!.groundTruth.every((p) => Math.abs(p - 0.05) < 1e-6), 'labels 1 and 2 have 0.05 everywhere');
  assert.equal(m.teacher!.kept, undefined);
});
