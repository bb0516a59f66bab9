/**
 * The memory plan that refuses configurations before allocation: its estimate against the bytes
 * the engine really creates (one training step and an evaluation), and the refusals' reasons.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { syntheticDataset } from '../../src/data/synthetic.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';
import { checkFits, planMemory } from '../../src/train/memory.ts';
import { TrainingRun, vitConfigOf } from '../../src/train/trainer.ts';

const data = syntheticDataset({ train: 256, test: 64 });

test('the estimate covers what a step and an evaluation allocate, within 25%', async () => {
  const cases = [
    { model: 'test', batch: 32, modelOverrides: {} },
    { model: 'test', batch: 64, modelOverrides: {} },
    { model: 'test', batch: 32, modelOverrides: { dim: 64, mlpDim: 256, depth: 3 } },
    { model: 'test', batch: 32, modelOverrides: { dim: 64, mlpDim: 256, depth: 3 }, precision: 'f16' as const },
  ];
  for (const c of cases) {
    const gpu = await openNodeGpu();
    if (c.precision && !gpu.device.features.has(`shader-${c.precision}` as GPUFeatureName)) { gpu.device.destroy(); continue; }
    const run = new TrainingRun(gpu, data, { ...c, method: 'tl-align', epochs: 1, evalBatch: 64 });
    run.stepOnce();
    run.stepOnce();
    await run.epochLossSum();
    await run.evaluate({ logits: true });
    const plan = planMemory(vitConfigOf(c), { batch: c.batch, evalBatch: 64, trainImages: 256, testImages: 64, precision: c.precision });
    gpu.device.destroy();
    const ratio = plan.total / gpu.bytesCreated;
    console.log(`${JSON.stringify(c)}: created ${gpu.bytesCreated} B, estimated ${plan.total} B (×${ratio.toFixed(2)})`);
    assert.ok(ratio >= 1 && ratio <= 1.25, `estimate ${plan.total} vs created ${gpu.bytesCreated} for ${JSON.stringify(c)}`);
  }
});

test('a buffer over the binding limit is refused, naming it and the limit', () => {
  const plan = planMemory(vitConfigOf({ model: 'small' }), { batch: 4096, evalBatch: 250, trainImages: 50000, testImages: 10000 });
  assert.throws(() => checkFits(plan, { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 }),
    /its qkv \[266240, 384\] needs 390 MiB in one buffer, and this adapter allows at most 128 MiB per storage buffer/);
});

test('a total over the budget is refused with its parts', () => {
  const plan = planMemory(vitConfigOf({ model: 'base' }), { batch: 512, evalBatch: 250, trainImages: 50000, testImages: 10000 });
  assert.throws(() => checkFits(plan, { maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 31 }, 2 ** 30),
    /needs about \d+ MiB of GPU memory \(parameters and AdamW \d+ MiB, datasets 176 MiB, one step's activations \d+ MiB/);
  const small = planMemory(vitConfigOf({ model: 'test' }), { batch: 32, evalBatch: 250, trainImages: 5000, testImages: 1000 });
  assert.equal(checkFits(small, { maxStorageBufferBindingSize: 2 ** 27, maxBufferSize: 2 ** 28 }), small);
});
