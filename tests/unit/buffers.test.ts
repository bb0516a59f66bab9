/**
 * A training step allocates nothing after the first: every temporary comes from the pool, the
 * uniform arena and read-back staging buffers are reused. And a step is one submit.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tensorFrom } from '../../src/autograd/index.ts';
import { type Gpu } from '../../src/gpu/gpu.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';
import { PRESETS } from '../../src/nn/presets.ts';
import { Rng } from '../../src/nn/random.ts';
import { type Precision, VisionTransformer } from '../../src/nn/vit.ts';
import { AdamW, Trainer } from '../../src/train/step.ts';

const BATCH = 8;
const MORE_STEPS = 4;

function setup(gpu: Gpu, seed: number, precision: Precision) {
  const c = PRESETS.test;
  const rng = new Rng(seed);
  const images = tensorFrom(gpu, [BATCH, c.channels, c.imageSize, c.imageSize], rng.fill(BATCH * c.channels * c.imageSize ** 2, () => rng.normal()));
  const t = new Float32Array(BATCH * c.classes);
  for (let i = 0; i < BATCH; i++) t[i * c.classes + rng.int(c.classes)] = 1;
  const targets = tensorFrom(gpu, [BATCH, c.classes], t);
  const model = new VisionTransformer(gpu, c, seed, [], { precision });
  const trainer = new Trainer(model, new AdamW(model.params, { maxGradNorm: 1 }));
  return { images, targets, trainer };
}

for (const precision of ['f32', 'f16'] as const) {
  test(`${precision}: steps after the first create no GPU buffers, with metrics and without; a step is one submit`, async (t) => {
    const gpu = await openNodeGpu();
    if (precision === 'f16' && !gpu.device.features.has('shader-f16')) { t.skip('the adapter has no shader-f16'); gpu.device.destroy(); return; }
    const { images, targets, trainer } = setup(gpu, 0, precision);

    const before = gpu.buffersCreated;
    const m0 = await trainer.step(images, targets, 1e-3, true)!;
    assert.ok(Number.isFinite(m0.loss));
    const afterFirst = gpu.buffersCreated;
    assert.ok(afterFirst > before, 'the first step should fill the pool (is buffersCreated counting?)');

    for (let s = 0; s < MORE_STEPS; s++) {
      const submits = gpu.submits;
      const m = await trainer.step(images, targets, 1e-3, true)!;
      assert.ok(Number.isFinite(m.loss), `step ${s + 2}: loss ${m.loss}`);
      assert.equal(gpu.submits - submits, 1, `step ${s + 2} with metrics took ${gpu.submits - submits} submits`);
      assert.equal(gpu.buffersCreated, afterFirst, `step ${s + 2} with metrics created ${gpu.buffersCreated - afterFirst} buffers`);
    }
    for (let s = 0; s < MORE_STEPS; s++) {
      const submits = gpu.submits;
      assert.equal(trainer.step(images, targets, 1e-3, false), undefined);
      assert.equal(gpu.submits - submits, 1, `step without metrics took ${gpu.submits - submits} submits`);
      await gpu.sync();
      assert.equal(gpu.buffersCreated, afterFirst, `step without metrics created ${gpu.buffersCreated - afterFirst} buffers`);
    }
    assert.deepEqual(gpu.errors, []);
    console.log(`buffers: ${afterFirst} after the first step, unchanged over ${2 * MORE_STEPS} more`);
    gpu.device.destroy();
  });

  test(`${precision}: without metrics from the first step on, later steps create no GPU buffers either, and from the third on no bind groups`, async (t) => {
    const gpu = await openNodeGpu(); // a fresh pool: nothing left over from the test above
    if (precision === 'f16' && !gpu.device.features.has('shader-f16')) { t.skip('the adapter has no shader-f16'); gpu.device.destroy(); return; }
    const { images, targets, trainer } = setup(gpu, 1, precision);
    trainer.step(images, targets, 1e-3, false);
    await gpu.sync();
    const afterFirst = gpu.buffersCreated;
    let bindGroups = 0;
    for (let s = 0; s < MORE_STEPS; s++) {
      const submits = gpu.submits;
      const dispatches = gpu.dispatches;
      trainer.step(images, targets, 1e-3, false);
      assert.equal(gpu.submits - submits, 1);
      await gpu.sync();
      // Each step gets the same buffers in the same order, so its bind groups are all cached.
      if (s > 0) assert.equal(gpu.bindGroupsCreated, bindGroups, `step ${s + 2} created ${gpu.bindGroupsCreated - bindGroups} bind groups`);
      bindGroups = gpu.bindGroupsCreated;
      // ... and the same ones every step: the cache holds about one step's worth.
      if (s === MORE_STEPS - 1) console.log(`bind groups: ${bindGroups} created, ${gpu.dispatches - dispatches} dispatches per step`);
      if (s === MORE_STEPS - 1) assert.ok(bindGroups <= 1.1 * (gpu.dispatches - dispatches), `${bindGroups} bind groups for ${gpu.dispatches - dispatches} dispatches per step`);
    }
    assert.ok(bindGroups > 0, 'bindGroupsCreated does not count');
    assert.equal(gpu.buffersCreated, afterFirst, `${gpu.buffersCreated - afterFirst} buffers created after the first step`);
    assert.deepEqual(gpu.errors, []);
    gpu.device.destroy();
  });
}
