// The jax-js peer (src/bench/peers/jaxjs.ts) against labelflow's engine on the same weights and
// batch: the forward loss, then two AdamW steps (weight decay on, no clipping) and the loss
// after them, each within 1e-4 relative; no GPU memory grows from step to step. A tiny ViT: most
// of the time is compiling shaders (about a minute with a cold Mesa shader cache, seconds warm).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { tensorFrom } from '../../src/autograd/index.ts';
import { createJaxPeer } from '../../src/bench/peers/jaxjs.ts';
import type { PeerAdamW, PeerWeights } from '../../src/bench/peers/peer.ts';
import { type Gpu } from '../../src/gpu/gpu.ts';
import { installNavigator, openNodeGpu } from '../../src/gpu/node.ts';
import { type VitConfig } from '../../src/nn/presets.ts';
import { Rng } from '../../src/nn/random.ts';
import { VisionTransformer } from '../../src/nn/vit.ts';
import { AdamW, Trainer } from '../../src/train/step.ts';

const TOLERANCE = 1e-4;
const config: VitConfig = { imageSize: 16, channels: 3, patch: 4, dim: 16, depth: 1, heads: 2, mlpDim: 32, classes: 10 };
const BATCH = 3;
const STEPS = 2;
// Weight decay far above DeiT's 0.05: lr·wd = 1% per step moves the loss by several times the
// tolerance, so decaying the wrong tensors (or none) fails; at 0.05 it would pass unnoticed.
const adam: PeerAdamW = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 10 };

let gpu: Gpu;
before(async () => {
  installNavigator();
  gpu = await openNodeGpu();
});
after(() => gpu?.device.destroy());

/** Normal images and soft targets (0.7 on one class, 0.3 on another). */
function randomBatch(seed: number) {
  const rng = new Rng(seed);
  const images = rng.fill(BATCH * config.channels * config.imageSize ** 2, () => rng.normal());
  const targets = new Float32Array(BATCH * config.classes);
  for (let b = 0; b < BATCH; b++) {
    const first = rng.int(config.classes);
    targets[b * config.classes + first] = 0.7;
    targets[b * config.classes + ((first + 1 + rng.int(config.classes - 1)) % config.classes)] = 0.3;
  }
  return { images, targets, batch: BATCH };
}

/** labelflow's losses: before training, at each step, and after the steps. */
async function engineLosses(model: VisionTransformer, data: ReturnType<typeof randomBatch>) {
  const trainer = new Trainer(model, new AdamW(model.params, { beta1: adam.beta1, beta2: adam.beta2, eps: adam.eps, weightDecay: adam.weightDecay, maxGradNorm: 0 }));
  const images = tensorFrom(gpu, [BATCH, config.channels, config.imageSize, config.imageSize], data.images);
  const targets = tensorFrom(gpu, [BATCH, config.classes], data.targets);
  const initial = (await trainer.evaluate(images, targets)).loss;
  const steps: number[] = [];
  for (let s = 0; s < STEPS; s++) steps.push((await trainer.step(images, targets, adam.lr))!.loss);
  const final = (await trainer.evaluate(images, targets)).loss;
  return { initial, steps, final };
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

test('jax-js peer: same loss as labelflow, and the same losses over two AdamW steps', async (t) => {
  const model = new VisionTransformer(gpu, config, 7);
  const values = await model.params.read('values');
  const weights: PeerWeights = model.params.specs.map((s) => ({ name: s.name, shape: s.shape, values: values.get(s.name)!, decay: s.decay }));
  const data = randomBatch(11);
  const ours = await engineLosses(model, data);

  const peer = await createJaxPeer(config, weights, data, adam);
  try {
    assert.match(peer.name, /^jax-js \d/);
    const initial = await peer.loss();
    const steps: number[] = [];
    const bytesAfterStep: number[] = [];
    for (let s = 0; s < STEPS; s++) {
      steps.push(await peer.step());
      bytesAfterStep.push(peer.gpuBytes!()!);
    }
    const final = await peer.loss();
    const report = `labelflow ${JSON.stringify(ours)}\njax-js    ${JSON.stringify({ initial, steps, final })}`;
    t.diagnostic(`relative loss differences: initial ${rel(initial, ours.initial).toExponential(1)}, after ${STEPS} steps ${rel(final, ours.final).toExponential(1)}`);
    assert.ok(rel(initial, ours.initial) <= TOLERANCE, `initial loss\n${report}`);
    steps.forEach((l, s) => assert.ok(rel(l, ours.steps[s]) <= TOLERANCE, `loss at step ${s + 1}\n${report}`));
    assert.ok(rel(final, ours.final) <= TOLERANCE, `loss after ${STEPS} steps\n${report}`);
    assert.ok(final < initial, `training lowers the loss\n${report}`);
    // The steps must move the loss by far more than the tolerance, or the comparison says little.
    assert.ok(initial - final > 20 * TOLERANCE * initial, `the steps barely moved the loss\n${report}`);

    // Each step hands its weights and moments on to the next: no GPU memory accumulates.
    assert.equal(bytesAfterStep[1], bytesAfterStep[0], `GPU bytes held after each step: ${bytesAfterStep}`);

    const ms = await peer.matmulMs(32, 2);
    assert.ok(ms > 0 && Number.isFinite(ms));
  } finally {
    peer.dispose();
  }
  assert.deepEqual(gpu.errors, []);
});
