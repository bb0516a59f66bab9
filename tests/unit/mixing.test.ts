// The per-batch draws of the mixing methods (src/methods/mixing.ts) against methods.md:
// Beta moments, CutMix box sides and λ correction, token-aligned boxes, per-token partner shares.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boxTokenShares, drawBox, drawCutmix, drawMixup, drawTokenCutmix, sampleBeta } from '../../src/methods/mixing.ts';
import { Rng } from '../../src/nn/random.ts';

const g = { imageSize: 32, patch: 4 };

test('Beta(α, α) samples have the right mean and variance', () => {
  for (const [a, b] of [[0.8, 0.8], [1, 1], [2, 5]]) {
    const rng = new Rng(1);
    const xs = Array.from({ length: 40000 }, () => sampleBeta(rng, a, b));
    const m = xs.reduce((s, x) => s + x, 0) / xs.length;
    const v = xs.reduce((s, x) => s + (x - m) ** 2, 0) / xs.length;
    const em = a / (a + b);
    const ev = (a * b) / ((a + b) ** 2 * (a + b + 1));
    assert.ok(Math.abs(m - em) < 0.01, `Beta(${a},${b}) mean ${m} vs ${em}`);
    assert.ok(Math.abs(v - ev) < 0.01, `Beta(${a},${b}) variance ${v} vs ${ev}`);
    assert.ok(xs.every((x) => x > 0 && x < 1));
  }
});

test('a CutMix box has side ⌊S·√(1−λ)⌋ before clipping and lies in the image', () => {
  const rng = new Rng(2);
  for (let i = 0; i < 2000; i++) {
    const lambda = rng.next();
    const b = drawBox(rng, 32, lambda);
    const cut = Math.floor(32 * Math.sqrt(1 - lambda));
    assert.ok(b.y0 >= 0 && b.y1 <= 32 && b.x0 >= 0 && b.x1 <= 32);
    assert.ok(b.y1 - b.y0 <= cut && b.x1 - b.x0 <= cut);
    if (b.y0 > 0 && b.y1 < 32) assert.equal(b.y1 - b.y0, cut, 'an unclipped side is exactly cut');
  }
});

test('pixel CutMix corrects λ to the clipped box area and shares follow the pixels', () => {
  const rng = new Rng(3);
  for (let i = 0; i < 200; i++) {
    const m = drawCutmix(rng, g, 1);
    const box = m.box!;
    const area = (box.y1 - box.y0) * (box.x1 - box.x0);
    assert.equal(m.ownShare, 1 - area / 1024);
    const meanShare = m.partnerShare.reduce((s, x) => s + x, 0) / m.partnerShare.length;
    assert.ok(Math.abs(meanShare - (1 - m.ownShare)) < 1e-6, 'mean token share = pixel share');
    assert.deepEqual(m.plan, { mode: 'box', ...box });
  }
});

test('token-aligned CutMix: every token pure, λ = 1 − tokens in box / T, never empty', () => {
  const rng = new Rng(4);
  for (let i = 0; i < 500; i++) {
    const m = drawTokenCutmix(rng, g, 1);
    const box = m.box!;
    for (const v of [box.y0, box.y1, box.x0, box.x1]) assert.equal(v % 4, 0, 'box on the token grid');
    assert.ok(m.partnerShare.every((s) => s === 0 || s === 1), 'pure tokens');
    const inBox = m.partnerShare.reduce((s, x) => s + x, 0);
    assert.ok(inBox > 0, 'resampled until non-empty');
    assert.equal(m.ownShare, 1 - inBox / 64);
  }
});

test('token shares of a hand-placed box', () => {
  // 8×8 image, 4×4 patches (G = 2): box rows [2, 6), cols [0, 4) covers half of tokens 0 and 2.
  const shares = boxTokenShares({ imageSize: 8, patch: 4 }, { y0: 2, y1: 6, x0: 0, x1: 4 });
  assert.deepEqual([...shares], [0.5, 0, 0.5, 0]);
});

test('Mixup: λ quantised for the GPU, every token shares it', () => {
  const rng = new Rng(5);
  const m = drawMixup(rng, g, 0.8);
  assert.equal(m.plan.mode, 'mixup');
  assert.equal(Math.round(m.ownShare * 65536), m.ownShare * 65536, 'λ is a multiple of 2^-16');
  assert.ok(m.partnerShare.every((s) => Math.abs(s - (1 - m.ownShare)) < 1e-7));
});
