// The trainer (src/train/trainer.ts) on the built-in synthetic set with the `test` ViT:
// reproducible for a seed, bit-exact resume from a checkpoint, every method runs, one submit
// per step and no new buffers after the first epoch, the token-fluctuation read-out.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type DatasetSplits } from '../../src/data/dataset.ts';
import { syntheticDataset } from '../../src/data/synthetic.ts';
import { type Gpu } from '../../src/gpu/gpu.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';
import { METHOD_NAMES, methodByName } from '../../src/methods/index.ts';
import { Rng } from '../../src/nn/random.ts';
import { type TeacherMaps, TrainingRun, type TrainConfig, trainEvalOrder } from '../../src/train/trainer.ts';

let gpu: Gpu;
let data: DatasetSplits;
before(async () => {
  gpu = await openNodeGpu();
  data = syntheticDataset({ train: 96, test: 40, seed: 3 });
});
after(() => gpu?.device.destroy());

const small: Partial<TrainConfig> = { model: 'test', batch: 16, epochs: 2, evalBatch: 32, lr: 2e-3, method: 'tl-align' };

async function losses(run: TrainingRun, epochs: number) {
  const out = [];
  for (let e = 0; e < epochs; e++) out.push(await run.runEpoch());
  return out.map(({ train_loss, test_loss, test_acc }) => ({ train_loss, test_loss, test_acc }));
}

test('same seed, same numbers; another seed, other numbers', async () => {
  const a = await losses(new TrainingRun(gpu, data, { ...small, seed: 5 }), 2);
  const b = await losses(new TrainingRun(gpu, data, { ...small, seed: 5 }), 2);
  const c = await losses(new TrainingRun(gpu, data, { ...small, seed: 6 }), 2);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(a.every((e) => Number.isFinite(e.train_loss) && e.test_acc >= 0 && e.test_acc <= 1));
});

for (const precision of ['f32', 'f16'] as const) {
  test(`${precision}: a run resumed from a checkpoint continues exactly as an uninterrupted one`, async (t) => {
    if (precision === 'f16' && !gpu.device.features.has('shader-f16')) { t.skip('the adapter has no shader-f16'); return; }
    const config = { ...small, seed: 1, precision };
    const straightRun = new TrainingRun(gpu, data, config);
    const straight = await losses(straightRun, 2);
    const first = new TrainingRun(gpu, data, config);
    await first.runEpoch();
    const bytes = await first.saveCheckpoint();
    const resumed = new TrainingRun(gpu, data, config);
    resumed.restore(bytes, 'mid.safetensors');
    assert.equal(resumed.epoch, 1);
    assert.equal(resumed.history.length, 1);
    const rest = await losses(resumed, 1);
    assert.deepEqual([...resumed.history.slice(0, 1).map(({ train_loss, test_loss, test_acc }) => ({ train_loss, test_loss, test_acc })), ...rest], straight);
    // f16: the loss scaler (scale, good, skipped and applied steps) travels in the checkpoint
    assert.deepEqual(await resumed.lossScale(), await straightRun.lossScale());
  });
}

test('resuming from a weights-only file is refused', async () => {
  const { saveCheckpoint } = await import('../../src/train/checkpoint.ts');
  const run = new TrainingRun(gpu, data, { ...small, epochs: 1 });
  await run.runEpoch();
  const weights = await saveCheckpoint(run.model, run.optimizer, { config: run.config, epoch: 1, step: run.step, seed: 0 }, { weightsOnly: true });
  const other = new TrainingRun(gpu, data, { ...small, epochs: 1 });
  assert.throws(() => other.restore(weights, 'w.safetensors'), /w\.safetensors: holds no optimizer state/);
  const full = await run.saveCheckpoint();
  const otherLr = new TrainingRun(gpu, data, { ...small, epochs: 1, lr: 1e-3 });
  assert.throws(() => otherLr.restore(full, 'c.safetensors'), /c\.safetensors: made with another configuration.*lr 0\.002 there, 0\.001 here/);
});

/** Random per-token distributions for the `test` model's 4×4 grid: a stand-in teacher. */
function randomTeacher(count: number): TeacherMaps {
  const rng = new Rng(4);
  const maps = new Float32Array(count * 16 * 10);
  for (let r = 0; r < count * 16; r++) {
    const w = Array.from({ length: 10 }, () => rng.next() ** 2);
    const sum = w.reduce((a, b) => a + b, 0);
    w.forEach((v, k) => (maps[r * 10 + k] = v / sum));
  }
  return { maps, patch: 8, classes: 10 };
}

test('every method trains a step; one submit per step, no buffers created after the first epoch', async () => {
  for (const method of METHOD_NAMES) {
    const teacher = methodByName(method).teacher ? randomTeacher(data.train.count) : undefined;
    const run = new TrainingRun(gpu, data, { ...small, method, epochs: 2 }, { teacher });
    await run.runEpoch();
    const buffers = gpu.buffersCreated;
    const submits = gpu.submits;
    const t = await run.trainEpoch();
    assert.ok(Number.isFinite(t.train_loss) && t.train_loss > 0, `${method}: loss ${t.train_loss}`);
    assert.equal(gpu.buffersCreated, buffers, `${method}: no new GPU buffers in epoch 2`);
    // one per step + the epoch-start upload that flushes the loss clear + one per loss read-back
    const reads = Math.ceil(run.stepsPerEpoch / run.readEvery);
    assert.ok(gpu.submits - submits <= run.stepsPerEpoch + 1 + reads, `${method}: ${gpu.submits - submits} submits for ${run.stepsPerEpoch} steps`);
  }
});

test('token fluctuation: per-layer own-image shares of a spatial mix, read on request only', async () => {
  const run = new TrainingRun(gpu, data, { ...small, method: 'cutmix' });
  const pending = run.nextFluctuation();
  await run.trainEpoch();
  const f = await pending;
  assert.equal(f.layers.length, run.vit.depth + 1);
  const N = f.tokens;
  for (let b = 0; b < f.batch; b++) {
    assert.ok(Math.abs(f.layers[0][b * N] - f.mix.ownShare) < 1e-6, 'CLS starts at λ');
    for (let j = 1; j < N; j++) assert.ok(Math.abs(f.layers[0][b * N + j] - (1 - f.mix.partnerShare[j - 1])) < 1e-6, 'patch j starts at 1 − m_j');
  }
  for (const layer of f.layers) assert.ok(layer.every((v) => v >= -1e-6 && v <= 1 + 1e-6));
});

test('train accuracy: the clean evaluation of the training images, as evaluate() scores a test split holding them', async () => {
  const same: DatasetSplits = { ...data, test: data.train };
  const run = new TrainingRun(gpu, same, { ...small, method: 'cutmix-token' }, { trainEval: data.train.count });
  const e = await run.runEpoch();
  assert.equal(e.train_acc, e.test_acc);
  assert.equal(e.train_eval_loss, e.test_loss);
  const off = await new TrainingRun(gpu, data, small).runEpoch();
  assert.equal(off.train_acc, undefined, 'off by default');
  // fewer than the split: a fixed subset, the same for every run and seed, of distinct images
  const order = trainEvalOrder(1000, 40);
  assert.equal(new Set(order).size, 40);
  assert.ok(order.every((i) => i < 1000));
  assert.deepEqual(trainEvalOrder(1000, 40), order);
  assert.notDeepEqual([...order], Array.from({ length: 40 }, (_, i) => i));
  const partial = await new TrainingRun(gpu, data, { ...small, seed: 9 }, { trainEval: 40 }).runEpoch();
  assert.ok(partial.train_acc !== undefined && Number.isInteger(partial.train_acc * 40), `${partial.train_acc} is a count over 40 images`);
});

test('share gap: mean over the epoch of mean_b |ρ_b − λ|, as the per-step read-outs of the last block give it', async () => {
  for (const method of ['cutmix-token', 'tl-align', 'mixup'] as const) {
    const run = new TrainingRun(gpu, data, { ...small, method }, { measureShareGap: true });
    const reads = [];
    while (!run.epochTrained) {
      reads.push(run.nextFluctuation());
      run.stepOnce();
    }
    const e = await run.finishEpoch({ train_loss: 0, img_per_s: 0, seconds: 0, lr: 0 });
    const steps = (await Promise.all(reads)).filter((f) => f.mix.kind !== 'mixup' && f.mix.kind !== 'none');
    if (method === 'mixup') {
      assert.equal(e.cls_share_gap, undefined, 'no spatial batch, no gap');
      continue;
    }
    assert.equal(steps.length, run.stepsPerEpoch);
    const expected = steps.reduce((total, f) => {
      const last = f.layers[f.layers.length - 1];
      let gap = 0;
      for (let b = 0; b < f.batch; b++) gap += Math.abs(last[b * f.tokens] - f.mix.ownShare);
      return total + gap / f.batch;
    }, 0) / steps.length;
    assert.ok(expected > 0, `${method}: attention moves the CLS share away from λ`);
    assert.ok(Math.abs(e.cls_share_gap! - expected) < 1e-9, `${method}: ${e.cls_share_gap} against ${expected} from the read-outs`);
  }
  // Measuring only reads: the same run without it learns the same numbers, bit for bit.
  const plain = await losses(new TrainingRun(gpu, data, { ...small, method: 'cutmix-token', seed: 4 }), 1);
  const measured = await losses(new TrainingRun(gpu, data, { ...small, method: 'cutmix-token', seed: 4 }, { measureShareGap: true, trainEval: 40 }), 1);
  assert.deepEqual(measured, plain);
});

test('bad configurations are refused with the reason', () => {
  assert.throws(() => new TrainingRun(gpu, data, { ...small, method: 'cutout' }), /unknown method "cutout" \(known: none, mixup/);
  assert.throws(() => new TrainingRun(gpu, data, { ...small, model: 'huge' }), /unknown model preset "huge"/);
  assert.throws(() => new TrainingRun(gpu, data, { ...small, batch: 200 }), /96 images, fewer than one batch of 200/);
  assert.throws(() => new TrainingRun(gpu, data, { ...small, smoothing: 1 }), /label smoothing must be in \[0, 1\)/);
  assert.throws(() => new TrainingRun(gpu, data, { ...small, method: 'token-labeling' }), /method token-labeling needs a teacher.*--teacher/);
  assert.throws(() => new TrainingRun(gpu, data, { ...small, method: 'token-labeling' }, { teacher: { ...randomTeacher(data.train.count), patch: 4 } }),
    /teacher's maps are on a 8×8 token grid, the model's is 4×4/);
  assert.throws(() => new TrainingRun(gpu, data, { ...small, method: 'tokenmix', tokenmixLoss: 'mse' as 'ce' }), /TokenMix loss must be "bce" or "ce"/);
  assert.throws(() => new TrainingRun(gpu, data, { ...small, method: 'diversepatch', diversityWindow: 4 }), /odd number of tokens/);
});
