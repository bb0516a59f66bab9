// Warmup + cosine learning rate (src/nn/schedule.ts) against its closed form at the key points.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { learningRate } from '../../src/nn/schedule.ts';

test('linear warmup, then cosine from lr to minLr', () => {
  const s = { lr: 1e-3, totalSteps: 110, warmupSteps: 10, minLr: 1e-5, warmupFrom: 1e-6 };
  assert.ok(Math.abs(learningRate(s, 0) - (1e-6 + (1e-3 - 1e-6) / 10)) < 1e-15);
  assert.ok(Math.abs(learningRate(s, 9) - 1e-3) < 1e-15, 'warmup ends at lr');
  assert.ok(Math.abs(learningRate(s, 10) - 1e-3) < 1e-15, 'cosine starts at lr');
  assert.ok(Math.abs(learningRate(s, 60) - (1e-5 + 0.5 * (1e-3 - 1e-5))) < 1e-15, 'half way is the mean of lr and minLr');
  assert.ok(Math.abs(learningRate(s, 110) - 1e-5) < 1e-15, 'ends at minLr');
  assert.ok(Math.abs(learningRate(s, 500) - 1e-5) < 1e-15, 'stays at minLr past the end');
  for (let t = 11; t < 110; t++) assert.ok(learningRate(s, t) < learningRate(s, t - 1), `decreasing at ${t}`);
});
