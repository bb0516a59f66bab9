/**
 * The playground views' pure helpers (src/ui/draw/): colour maps, histogram bins, confusion
 * normalisation, axis ticks and tick labels, token slicing, summaries, on hand-worked cases.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatTick, logTicks, niceRange, niceStep, scale } from '../../src/ui/draw/axis.ts';
import { NEUTRAL, OWN, PARTNER, heatColour, ownPartnerColour, textOn } from '../../src/ui/draw/colour.ts';
import { accuracyOf, rowNormalise } from '../../src/ui/draw/confusion.ts';
import { histogram } from '../../src/ui/draw/histogram.ts';
import { imageAt, valuesToRgba } from '../../src/ui/draw/raster.ts';
import { column, extent, mean, variance } from '../../src/ui/draw/stats.ts';
import { clsAttention, clsToken, layerNames, patchTokens, stretchToRange } from '../../src/ui/draw/tokens.ts';

test('own/partner map: 0 is the own colour, 1 the partner colour, 0.5 the neutral, clamped outside', () => {
  assert.deepEqual(ownPartnerColour(0), OWN);
  assert.deepEqual(ownPartnerColour(1), PARTNER);
  assert.deepEqual(ownPartnerColour(0.5), NEUTRAL);
  // A quarter of the way is halfway from own to neutral: (31+226)/2 = 128.5 → 129, (119+226)/2 = 172.5 → 173, (180+226)/2 = 203.
  assert.deepEqual(ownPartnerColour(0.25), [129, 173, 203]);
  assert.deepEqual(ownPartnerColour(-3), OWN);
  assert.deepEqual(ownPartnerColour(7), PARTNER);
  assert.deepEqual(ownPartnerColour(Number.NaN), OWN);
});

test('heat map runs dark to light; text colour follows the background', () => {
  assert.deepEqual(heatColour(0), [0, 0, 4]);
  assert.deepEqual(heatColour(1), [252, 255, 164]);
  assert.equal(textOn(heatColour(0)), '#fff');
  assert.equal(textOn(heatColour(1)), '#222');
});

test('histogram: bins are [lo + i·w, lo + (i+1)·w), the last also holds hi; outside values counted apart', () => {
  // [0, 4) in 4 bins of width 1: 0 and 0.99 → bin 0; 1 → bin 1 (left edge inclusive); 3.5 and 4 → bin 3 (hi inclusive).
  const h = histogram([0, 0.99, 1, 2.5, 3.5, 4, -0.01, 4.01, Number.NaN], 0, 4, 4);
  assert.deepEqual(h.counts, [2, 1, 1, 2]);
  assert.equal(h.outside, 2);
  assert.deepEqual(histogram([-0.5, 0, 0.5], -0.5, 0.5, 2).counts, [1, 2]);
  assert.throws(() => histogram([1], 1, 1, 3), /lo < hi/);
});

test('confusion rows become shares; an empty row stays zeros; accuracy is the diagonal share', () => {
  const confusion = [[3, 1, 0], [0, 0, 0], [2, 2, 4]];
  assert.deepEqual(rowNormalise(confusion), [[0.75, 0.25, 0], [0, 0, 0], [0.25, 0.25, 0.5]]);
  assert.equal(accuracyOf(confusion), 7 / 12);
  assert.equal(accuracyOf([]), 0);
});

test('nice steps are 1, 2 or 5 × 10^k and ranges widen outwards to them', () => {
  assert.equal(niceStep(10, 5), 2);
  assert.equal(niceStep(0.7, 4), 0.2);
  assert.equal(niceStep(3000, 3), 1000);
  assert.deepEqual(niceRange(0.13, 0.87, 4), { lo: 0, hi: 1, step: 0.2, ticks: [0, 0.2, 0.4, 0.6, 0.8, 1] });
  assert.deepEqual(niceRange(-0.1, 1, 4).ticks, [-0.2, 0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceRange(2.3, 2.3, 2).ticks, [1, 2, 3, 4]);
  assert.deepEqual(niceRange(0, 0, 2).ticks, [-1, 0, 1]);
});

test('log ticks: decades, with 2× and 5× over short spans', () => {
  assert.deepEqual(logTicks(0.3, 30), [0.5, 1, 2, 5, 10, 20]);
  assert.deepEqual(logTicks(1e-5, 1), [1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1]);
});

test('scales map domain ends to range ends, linear and log', () => {
  const linear = scale(0, 10, 100, 0);
  assert.equal(linear(0), 100);
  assert.equal(linear(2.5), 75);
  const log = scale(1, 100, 0, 200, true);
  assert.equal(log(10), 100);
});

test('tick labels: decimals from the step, k above ten thousand, exponents for tiny steps', () => {
  assert.equal(formatTick(0.6000000000000001, 0.2), '0.6');
  assert.equal(formatTick(3, 1), '3');
  assert.equal(formatTick(25000, 5000), '25k');
  assert.equal(formatTick(0.00030000000000000003, 1e-4), '3e-4');
  assert.equal(formatTick(0, 1e-4), '0');
});

test('summaries: mean, population variance, finite extent, strided column', () => {
  assert.equal(mean([1, 2, 3, 6]), 3);
  assert.equal(variance([1, 2, 3, 6]), 3.5);
  assert.deepEqual(extent([3, Number.NaN, -1, Infinity, 2]), [-1, 3]);
  assert.deepEqual(extent([]), [0, 0]);
  assert.deepEqual(Array.from(column([0, 1, 2, 3, 4, 5], 1, 2, 3)), [1, 3, 5]);
});

test('token slicing: CLS first, then the G² patch tokens of each sample', () => {
  // 2 samples, G = 2 → N = 5 tokens each.
  const values = Float32Array.from([0.9, 1, 2, 3, 4, 0.1, 5, 6, 7, 8]);
  assert.equal(clsToken(values, 1, 2), Math.fround(0.1));
  assert.deepEqual(Array.from(patchTokens(values, 1, 2)), [5, 6, 7, 8]);
});

test('CLS attention: one head is its row, mean averages the rows', () => {
  const layer = Float32Array.from([0.5, 0.25, 0.25, 0.1, 0.3, 0.6]); // 2 heads × 3 tokens
  assert.deepEqual(Array.from(clsAttention(layer, 2, 1)), Array.from(Float32Array.from([0.1, 0.3, 0.6])));
  const average = Array.from(clsAttention(layer, 2, 'mean'));
  [0.3, 0.275, 0.425].forEach((v, i) => assert.ok(Math.abs(average[i] - v) < 1e-6, `token ${i}: ${average[i]} vs ${v}`));
  assert.deepEqual(Array.from(stretchToRange([1, 2, 5])), [0, 0.25, 1]);
  assert.deepEqual(Array.from(stretchToRange([0.3, 0.3])), [0, 0]);
});

test('layer names and RGBA helpers', () => {
  assert.deepEqual(layerNames(2), ['input', 'block 1', 'block 2']);
  assert.deepEqual(layerNames(2, true), ['in', '1', '2']);
  assert.deepEqual(Array.from(valuesToRgba([0, 1], ownPartnerColour, 128)), [...OWN, 128, ...PARTNER, 128]);
  const batch = Uint8ClampedArray.from({ length: 2 * 2 * 2 * 4 }, (_, i) => i); // two 2×2 images
  assert.deepEqual(Array.from(imageAt(batch, 1, 2)), Array.from({ length: 16 }, (_, i) => 16 + i));
});
