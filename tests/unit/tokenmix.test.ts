// TokenMix's mask generator (src/methods/mixing.ts) against methods.md: counts, block aspect and
// size bounds, multi-part masks, the random variant; checked on a scripted draw worked out by hand
// and on many seeded draws.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drawTokenMask, drawTokenMix, maskParts, type TokenBlock, tokenMixCount } from '../../src/methods/mixing.ts';
import { Rng } from '../../src/nn/random.ts';

/** An Rng whose next() returns the given numbers in order. */
class ScriptedRng extends Rng {
  constructor(private values: number[]) { super(0); }
  override next(): number {
    const v = this.values.shift();
    if (v === undefined) throw new Error('script ran out');
    return v;
  }
}

test('the code fixes the partner share at 0.5·T + T/14 tokens', () => {
  assert.equal(tokenMixCount(196), 112); // ImageNet, 14×14: the released code's 112
  assert.equal(tokenMixCount(64), 37); // 8×8: 32 + 4.57
  assert.equal(tokenMixCount(16), 9); // 4×4: 8 + 1.14
});

test('a scripted draw gives the hand-drawn two-block mask', () => {
  // G = 8, 25 tokens to place.
  //  try 1: area 1 + 24·0.999 = 24.98, aspect e^(ln 0.3) = 0.3 → h = round(√7.49) = 3, w = round(√83.3) = 9 ≥ 8: rejected
  //  try 2: area 1 + 24·0.625 = 16, aspect 1 → 4×4 at top 0, left 0: 16 new tokens, 9 remain
  //  block 2: area 1 + 8·0.9875 = 8.9, aspect 1 → 3×3 (√8.9 = 2.98), top = ⌊0.99·6⌋ = 5, left 5: 9 new tokens, done
  const rng = new ScriptedRng([0.999, 0, 0.625, 0.5, 0, 0, 0.9875, 0.5, 0.99, 0.99]);
  const blocks: TokenBlock[] = [];
  const mask = drawTokenMask(rng, 8, 25, 'blocks', blocks);
  assert.deepEqual(blocks, [{ top: 0, left: 0, h: 4, w: 4 }, { top: 5, left: 5, h: 3, w: 3 }]);
  const rows = Array.from({ length: 8 }, (_, y) => Array.from(mask.subarray(8 * y, 8 * y + 8)).join(''));
  assert.deepEqual(rows, ['11110000', '11110000', '11110000', '11110000', '00000000', '00000111', '00000111', '00000111']);
  const parts = maskParts(mask, 8);
  assert.equal(Math.max(...parts) + 1, 2, 'two separate parts');
  assert.equal(parts[0], 0);
  assert.equal(parts[63], 1);
});

test('every block keeps the aspect and size bounds, and a mask never passes its count', () => {
  const rng = new Rng(5);
  for (const G of [4, 8, 14]) {
    const count = tokenMixCount(G * G);
    let full = 0;
    let multiPart = 0;
    const draws = 1500;
    for (let i = 0; i < draws; i++) {
      const blocks: TokenBlock[] = [];
      const mask = drawTokenMask(rng, G, count, 'blocks', blocks);
      const set = mask.reduce((a, b) => a + b, 0);
      assert.ok(set <= count, `${set} > ${count}`);
      if (set === count) full++;
      if (Math.max(...maskParts(mask, G)) >= 1) multiPart++;
      for (const b of blocks) {
        assert.ok(b.h >= 1 && b.w >= 1 && b.h < G && b.w < G, `block ${b.h}×${b.w} on ${G}×${G}`);
        assert.ok(b.top >= 0 && b.left >= 0 && b.top + b.h <= G && b.left + b.w <= G);
        // h = round(√(a·r)), w = round(√(a/r)): r = h'/w' for some h' ∈ [h ± ½], w' ∈ [w ± ½], and a = h'·w'.
        assert.ok((b.h + 0.5) / Math.max(b.w - 0.5, 1e-9) >= 0.3 && (b.h - 0.5) / (b.w + 0.5) <= 1 / 0.3, `aspect of ${b.h}×${b.w}`);
        assert.ok((b.h - 0.5) * (b.w - 0.5) <= count && (b.h + 0.5) * (b.w + 0.5) >= 1, `area of ${b.h}×${b.w}`);
      }
    }
    const fullShare = full / draws, multiShare = multiPart / draws;
    console.log(`G=${G}: ${count} tokens; ${(100 * fullShare).toFixed(1)}% of masks reach it, ${(100 * multiShare).toFixed(1)}% have more than one part`);
    assert.ok(fullShare > 0.9, `only ${fullShare} of masks reach the count`);
    // One block can hold at most (G−1)² tokens; a second block lands apart from the first unless it touches it.
    assert.ok(multiShare > 0.2 && multiShare < 0.98, `share of multi-part masks ${multiShare}`);
  }
});

test('a mask that needs more than one block is always made of several blocks', () => {
  // At 4×4 a block is at most 3×3 = 9 tokens; 12 tokens need at least two blocks.
  const rng = new Rng(8);
  for (let i = 0; i < 300; i++) {
    const blocks: TokenBlock[] = [];
    const mask = drawTokenMask(rng, 4, 12, 'blocks', blocks);
    if (mask.reduce((a, b) => a + b, 0) === 12) assert.ok(blocks.length >= 2);
  }
});

test("the 'random' variant sets exactly count tokens, scattered", () => {
  const rng = new Rng(6);
  let parts = 0;
  for (let i = 0; i < 500; i++) {
    const mask = drawTokenMask(rng, 8, 37, 'random');
    assert.equal(mask.reduce((a, b) => a + b, 0), 37);
    parts += Math.max(...maskParts(mask, 8)) + 1;
  }
  assert.ok(parts / 500 > 2, `random masks average ${parts / 500} parts`);
});

test('drawTokenMix: λ = 1 − masked tokens / T and the pixel plan carries the mask', () => {
  const rng = new Rng(9);
  for (let i = 0; i < 100; i++) {
    const m = drawTokenMix(rng, { imageSize: 32, patch: 4 });
    assert.equal(m.kind, 'tokenmix');
    assert.ok(m.plan.mode === 'tokens' && m.plan.patch === 4);
    const set = m.partnerShare.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(m.ownShare - (1 - set / 64)) < 1e-12);
    if (m.plan.mode === 'tokens') assert.deepEqual(Array.from(m.plan.mask), Array.from(m.partnerShare));
  }
});
