// The optional f16 path (shader-f16): f16 rounding on the CPU, the registry's f16 alias variants,
// the f16 matmul variants (f16 A, B read through an f16 copy, f16 output) against float64
// references computed from the f16-rounded inputs, forward and backward (src/check/ops.ts), and
// AdamW's mixed step with dynamic loss scaling (shaders/optimizer.wgsl: adamw_mixed).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { checkHalfOps } from '../../src/check/ops.ts';
import { Gpu } from '../../src/gpu/gpu.ts';
import { fromHalfBits, roundHalf, toHalfBits } from '../../src/gpu/half.ts';
import { SHADER_SOURCES, shaderVariant } from '../../src/gpu/kernels.ts';
import { nodeGpu, openNodeGpu } from '../../src/gpu/node.ts';
import * as refOpt from '../../src/autograd/reference/optimizer.ts';
import { AdamW, DEFAULT_LOSS_SCALE, type LossScaleState } from '../../src/nn/adamw.ts';
import { type ParamSpec, Parameters } from '../../src/nn/parameters.ts';
import { Rng } from '../../src/nn/random.ts';
import { type Precision, VisionTransformer } from '../../src/nn/vit.ts';
import { PRESETS } from '../../src/nn/presets.ts';
import { backward, softCrossEntropy, tensorFrom } from '../../src/autograd/index.ts';
import { syntheticDataset } from '../../src/data/synthetic.ts';
import { type EpochResult, TrainingRun } from '../../src/train/trainer.ts';

let gpu: Gpu;
before(async () => { gpu = await openNodeGpu(); });
after(() => gpu?.device.destroy());

test('f16 rounding: exact values, ties to even, subnormals, overflow', () => {
  const cases: [number, number][] = [
    [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00], [2 ** -24, 0x0001], [2 ** -25, 0x0000],
    [1.5 * 2 ** -25, 0x0001], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [0.1, 0x2e66], [-0, 0x8000],
  ];
  for (const [x, bits] of cases) assert.equal(toHalfBits(x), bits, `toHalfBits(${x})`);
  assert.ok(Number.isNaN(fromHalfBits(toHalfBits(NaN))));
  for (let h = 0; h < 0x7c00; h += 37) assert.equal(toHalfBits(fromHalfBits(h)), h, `round trip of 0x${h.toString(16)}`);
  assert.equal(roundHalf(1 / 3), 0.333251953125);
});

test('shaderVariant compiles the named aliases as f16 and refuses an unknown one', () => {
  const src = shaderVariant(SHADER_SOURCES.matmul, false, 'matmul', ['A_T', 'C_T']);
  assert.ok(src.startsWith('enable f16; '));
  assert.match(src, /^alias A_T = f16;$/m);
  assert.match(src, /^alias B_T = f32;$/m);
  assert.match(src, /^alias C_T = f16;$/m);
  assert.equal(src.split('\n').length, SHADER_SOURCES.matmul.split('\n').length, 'line numbers kept');
  assert.equal(shaderVariant(SHADER_SOURCES.matmul, false, 'matmul'), SHADER_SOURCES.matmul);
  assert.throws(() => shaderVariant(SHADER_SOURCES.matmul, false, 'matmul', ['Q_T']), /no line "alias Q_T = f32;"/);
});

test('f16 matmul variants against float64 on f16-rounded inputs, forward and backward', async (t) => {
  if (!gpu.device.features.has('shader-f16')) { t.skip('the adapter has no shader-f16'); return; }
  const results = await checkHalfOps(gpu);
  assert.ok(results.length >= 6);
  for (const r of results) {
    console.log(`${r.name} ${r.shapes}: fwd ${r.fwd_max_rel.toExponential(2)} bwd ${r.bwd_max_rel?.toExponential(2)} ref-vs-fd ${r.fd_max_rel?.toExponential(2)} (tol ${r.tolerance.toExponential(2)})`);
    assert.ok(r.ok, `${r.name}: ${r.detail}`);
  }
});

// ------------------------------------------------------------------------------- AdamW and loss scaling

const SPECS = (rng: Rng): ParamSpec[] => [
  { name: 'w', shape: [13, 23], decay: true, init: () => rng.fill(13 * 23, () => 0.5 * rng.normal()) },
  { name: 'b', shape: [77], decay: false, init: () => rng.fill(77, () => 0.5 * rng.normal()) },
];

/** Parameters with an f16 copy, AdamW on them, and the unscaled gradients g (the arena holds S·g). */
async function mixedSetup(o: { scale: number; applied?: number; growthInterval?: number; maxGradNorm?: number; seed?: number }) {
  const rng = new Rng(o.seed ?? 1);
  const params = new Parameters(gpu, SPECS(rng), { half: true });
  const opt = new AdamW(params, { maxGradNorm: o.maxGradNorm ?? 0, lossScale: { initial: o.scale, growthInterval: o.growthInterval ?? 2000 } });
  opt.resetLossScale(o.scale, o.applied ?? 0);
  const n = params.values.elements;
  const g = rng.fill(n, () => 0.1 * rng.normal());
  params.load({ w: g.slice(0, 13 * 23), b: g.slice(params.offsets.get('b')!, params.offsets.get('b')! + 77) }, 'grads');
  // the arena's padding holds zeros; the gradients as the arena holds them, then scaled by S (exact: S is a power of 2)
  const grads = await gpu.read(params.grads);
  gpu.write(params.grads, grads.map((x) => x * o.scale));
  params.load({ w: rng.fill(13 * 23, () => 0.01 * rng.normal()), b: rng.fill(77, () => 0.01 * rng.normal()) }, 'expAvg');
  params.load({ w: rng.fill(13 * 23, () => rng.uniform(1e-4, 0.02)), b: rng.fill(77, () => rng.uniform(1e-4, 0.02)) }, 'expAvgSq');
  return { params, opt, grads };
}

const readArena = async (p: Parameters) => ({
  values: await gpu.read(p.values), expAvg: await gpu.read(p.expAvg), expAvgSq: await gpu.read(p.expAvgSq), half: await gpu.read(p.halfValues!),
});

function normwise(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let scale = 0, err = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]) / (scale || 1));
  return err;
}

test('adamw_mixed: unscaled, clipped AdamW step against float64, and the f16 copy of the result', async (t) => {
  if (!gpu.device.features.has('shader-f16')) { t.skip('the adapter has no shader-f16'); return; }
  for (const maxGradNorm of [0, 0.5]) {
    const scale = 2 ** 12;
    const { params, opt, grads } = await mixedSetup({ scale, applied: 2, maxGradNorm });
    const before = await readArena(params);
    const lr = 0.01;
    opt.update(lr);
    const after = await readArena(params);
    const state = await readState(opt);
    const normSq = grads.reduce((s, x) => s + x * x, 0);
    const r = refOpt.adamw(before.values, grads, before.expAvg, before.expAvgSq, normSq, {
      lr, beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps, weightDecay: opt.weightDecay, step: 3, decayEnd: params.decayEnd, maxNorm: maxGradNorm,
    });
    const step = normwise(after.values.map((x, i) => x - before.values[i]), r.params.map((x, i) => x - before.values[i]));
    const m = normwise(after.expAvg, r.expAvg);
    const v = normwise(after.expAvgSq, r.expAvgSq);
    // WGSL lets f32→f16 round to either neighbour: within one f16 ulp, 2^-10 of |θ| (θ here ~0.5, no subnormals)
    let halfErr = 0;
    for (let i = 0; i < after.values.length; i++) halfErr = Math.max(halfErr, Math.abs(after.half[i] - after.values[i]) / Math.max(Math.abs(after.values[i]), 2 ** -14));
    console.log(`max_norm ${maxGradNorm}: θ'−θ ${step.toExponential(2)}, m ${m.toExponential(2)}, v ${v.toExponential(2)}, f16 copy vs θ' ${halfErr.toExponential(2)} (tol 1e-4, 1e-4, 1e-4, 2^-10)`);
    assert.ok(step <= 1e-4 && m <= 1e-4 && v <= 1e-4, `θ'−θ ${step}, m ${m}, v ${v}`);
    assert.ok(halfErr <= 2 ** -10, `f16 copy ${halfErr}`);
    assert.deepEqual(state, { scale, goodSteps: 1, skipped: 0, applied: 3 });
  }
});

test('loss scaling: an inf or NaN gradient skips the step bit for bit and halves S', async (t) => {
  if (!gpu.device.features.has('shader-f16')) { t.skip('the adapter has no shader-f16'); return; }
  for (const bad of [Infinity, -Infinity, NaN]) {
    const { params, opt, grads } = await mixedSetup({ scale: 2 ** 15, applied: 5 });
    grads[7] = bad;
    gpu.write(params.grads, grads);
    const before = await readArena(params);
    opt.update(0.01);
    const after = await readArena(params);
    for (const k of ['values', 'expAvg', 'expAvgSq', 'half'] as const) {
      assert.deepEqual(new Uint32Array(after[k].buffer), new Uint32Array(before[k].buffer), `${k} changed by a skipped step (gradient ${bad})`);
    }
    assert.deepEqual(await readState(opt), { scale: 2 ** 14, goodSteps: 0, skipped: 1, applied: 5 });
  }
});

test('loss scaling: S doubles after growthInterval good steps, and only then', async (t) => {
  if (!gpu.device.features.has('shader-f16')) { t.skip('the adapter has no shader-f16'); return; }
  const { params, opt, grads } = await mixedSetup({ scale: 8, growthInterval: 3 });
  const seen = [];
  for (let i = 0; i < 4; i++) {
    gpu.write(params.grads, grads.map((x) => x * (i < 3 ? 8 : 16)));
    opt.update(0.01);
    seen.push(await readState(opt));
  }
  assert.deepEqual(seen.map((s) => [s.scale, s.goodSteps, s.applied]), [[8, 1, 1], [8, 2, 2], [16, 0, 3], [16, 1, 4]]);
  assert.ok(seen.every((s) => s.skipped === 0));
});

async function readState(opt: AdamW) {
  const p = opt.readLossScale()!;
  gpu.flush();
  return p;
}

// ------------------------------------------------------------------------------- training

/**
 * One forward + backward of the test ViT from the same weights and batch, f16 against f32: every
 * parameter's gradient (unscaled by S) normwise within 4e-3 of f32's. Each product's inputs are
 * rounded to f16 (2^-11 relative) and the backward reads the same rounded operands, so a
 * gradient carries a few such roundings; measured worst 1.12e-3 (blocks.0.norm2.weight).
 */
const GRAD_TOL = 4e-3;

test('whole model: f16 gradients (unscaled) match f32 gradients per parameter within 4e-3', async (t) => {
  if (!gpu.device.features.has('shader-f16')) { t.skip('the adapter has no shader-f16'); return; }
  const c = PRESETS.test;
  const B = 8;
  const rng = new Rng(3);
  const images = tensorFrom(gpu, [B, c.channels, c.imageSize, c.imageSize], rng.fill(B * c.channels * c.imageSize ** 2, () => rng.normal()));
  const onehot = new Float32Array(B * c.classes);
  for (let i = 0; i < B; i++) onehot[i * c.classes + rng.int(c.classes)] = 1;
  const targets = tensorFrom(gpu, [B, c.classes], onehot);
  const grads: Map<string, Float32Array>[] = [];
  for (const precision of ['f32', 'f16'] as const) {
    const model = new VisionTransformer(gpu, c, 0, [], { precision });
    const opt = new AdamW(model.params);
    model.params.zeroGrad();
    backward(softCrossEntropy(model.forward(images).logits, targets).loss, opt.lossScaleSeed ?? 1);
    const g = await model.params.read('grads');
    gpu.endStep();
    if (precision === 'f16') for (const [k, v] of g) g.set(k, v.map((x) => x / DEFAULT_LOSS_SCALE));
    grads.push(g);
  }
  let worst = { err: 0, name: '' };
  for (const [name, ref] of grads[0]) {
    const err = normwise(grads[1].get(name)!, ref);
    if (!(err <= worst.err)) worst = { err, name };
  }
  console.log(`worst parameter gradient, f16 vs f32: ${worst.err.toExponential(2)} (${worst.name}; tolerance ${GRAD_TOL})`);
  assert.ok(worst.err <= GRAD_TOL, `${worst.name}: ${worst.err}`);
  assert.ok(worst.err > 0, 'f16 and f32 gradients are identical: the f16 products did not run');
});

/**
 * f16 against f32 from the same seed, 4 epochs of the test preset on synthetic data (64 steps at
 * lr 2e-3). The first epoch's losses agree to ~1e-5; after that the two trajectories drift apart
 * as any two perturbed runs do (Adam normalises each update, so rounding-sized differences in
 * small gradients give update-sized ones): measured worst 1.05e-2 relative (epoch 2 test loss;
 * epoch 4: 7e-3 train, 9e-4 test). The tolerance, 2%, bounds that drift; the runs must also
 * differ (the f16 products really ran).
 */
const CURVE_TOL = 2e-2;

test('training: f16 tracks f32 (epoch train and test losses within 2%), the loss falls, no step skipped', async (t) => {
  if (!gpu.device.features.has('shader-f16')) { t.skip('the adapter has no shader-f16'); return; }
  const data = syntheticDataset({ train: 256, test: 64 });
  const config = { model: 'test', method: 'none', epochs: 4, batch: 16, lr: 2e-3, warmupEpochs: 0.5, augment: false, evalBatch: 64 };
  const curves: Record<Precision, EpochResult[]> = { f32: [], f16: [] };
  let scale: LossScaleState | undefined;
  for (const precision of ['f32', 'f16'] as const) {
    const run = new TrainingRun(gpu, data, { ...config, precision });
    while (!run.complete) curves[precision].push(await run.runEpoch());
    if (precision === 'f16') scale = await run.lossScale();
    else assert.equal(await run.lossScale(), undefined);
  }
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
  let worst = 0, differs = false;
  for (const [e, r32] of curves.f32.entries()) {
    const r16 = curves.f16[e];
    console.log(`epoch ${e + 1}: train ${r32.train_loss.toFixed(6)} (f32) ${r16.train_loss.toFixed(6)} (f16), test ${r32.test_loss.toFixed(6)} / ${r16.test_loss.toFixed(6)}, acc ${r32.test_acc} / ${r16.test_acc}`);
    worst = Math.max(worst, rel(r16.train_loss, r32.train_loss), rel(r16.test_loss, r32.test_loss));
    differs ||= r16.train_loss !== r32.train_loss || r16.test_loss !== r32.test_loss;
  }
  console.log(`worst relative difference of an epoch loss: ${worst.toExponential(2)} (tolerance ${CURVE_TOL}); loss scale ${JSON.stringify(scale)}`);
  assert.ok(worst <= CURVE_TOL, `f16 departs from f32 by ${worst}`);
  assert.ok(differs, 'f16 and f32 losses are identical: the f16 products did not run');
  for (const p of ['f32', 'f16'] as const) {
    const c = curves[p];
    assert.ok(c[c.length - 1].train_loss < 0.9 * c[0].train_loss, `${p}: train loss ${c[0].train_loss} → ${c[c.length - 1].train_loss}`);
  }
  assert.deepEqual(scale, { scale: 2 ** 15, goodSteps: 4 * 16, skipped: 0, applied: 4 * 16 });
});

test('precision f16 on a device without shader-f16 is refused, naming the feature', async () => {
  const adapter = (await nodeGpu().requestAdapter())!;
  const device = await adapter.requestDevice(); // no optional features
  const bare = new Gpu(device, { vendor: '', architecture: '', device: '', description: '', isFallbackAdapter: false, features: [], limits: {} });
  try {
    assert.throws(() => new VisionTransformer(bare, PRESETS.test, 0, [], { precision: 'f16' }), /precision f16 needs the WebGPU feature 'shader-f16'/);
    assert.throws(() => bare.kernels.get('matmul', 'matmul', {}, ['A_T']), /needs the 'shader-f16' feature/);
    assert.doesNotThrow(() => new VisionTransformer(bare, PRESETS.test, 0, [], { precision: 'f32' }));
  } finally {
    device.destroy();
  }
});
