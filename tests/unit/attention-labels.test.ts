// TL-Align's label propagation fused into the attention forward (attention(qkv, B, N, H, { labels }):
// shaders/attention.wgsl attention_forward_labels, attention_forward_rows_labels and
// attention_combine_labels) against the separate kernel after the forward (propagateLabels) and
// the float64 reference (propagateRef, src/methods/labels-reference.ts), on the tiled kernel with
// one and several row blocks and key tiles and on the row kernel; then a training step with and
// without fusion: TL-Align's targets and loss, and the own shares of a fluctuation read-out.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { attention, noGrad, tapeLength, type Tensor, tensorFrom } from '../../src/autograd/index.ts';
import { ATTENTION_MAX_TILED_LABEL_COLUMNS, attentionTileRows } from '../../src/autograd/ops/attention.ts';
import * as ref from '../../src/autograd/reference/index.ts';
import { syntheticDataset } from '../../src/data/synthetic.ts';
import { type Gpu } from '../../src/gpu/gpu.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';
import { propagateRef } from '../../src/methods/labels-reference.ts';
import { propagateLabels } from '../../src/methods/labels.ts';
import { Rng } from '../../src/nn/random.ts';
import { type StepSnapshot, type TokenFluctuation, TrainingRun, type TrainConfig } from '../../src/train/trainer.ts';

let gpu: Gpu;
before(async () => { gpu = await openNodeGpu(); });
afterEach(() => { gpu.endStep(); assert.deepEqual(gpu.errors, []); });
after(() => gpu?.device.destroy());

/** max_i |got_i − want_i| / max_i |want_i| (labels live in [0, 1]: about the absolute error). */
function maxRel(got: ArrayLike<number>, want: ArrayLike<number>): { err: number; at: number } {
  assert.equal(got.length, want.length);
  let scale = 0, err = 0, at = -1;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]);
    if (!(e <= err)) { err = e; at = i; }
  }
  return { err: err / (scale || 1), at };
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): number {
  const { err, at } = maxRel(got, want);
  assert.ok(err <= tol, `${what}: max rel error ${err.toExponential(2)} > ${tol} at [${at}]: want ${want[at]} got ${got[at]}`);
  return err;
}

/** Label matrices L [B, N, C]: rows on the simplex for C > 1 (as TL-Align's), shares in [0, 1] for C = 1. */
function randomLabels(rng: Rng, rows: number, columns: number): Float32Array {
  if (columns === 1) return rng.fill(rows, () => rng.next());
  return Float32Array.from(ref.softmax(rng.fill(rows * columns, () => 2 * rng.normal()), columns));
}

const SHAPES = [
  { what: 'tiled, 1 row block, 1 key tile', batch: 2, tokens: 17, heads: 2, headDim: 8 },
  { what: 'tiled, 2 row blocks, several key tiles', batch: 2, tokens: 65, heads: 3, headDim: 32 },
  { what: 'tiled, 3 row blocks, several key tiles, E = 64', batch: 1, tokens: 130, heads: 2, headDim: 64 },
  { what: 'row kernels (E = 80)', batch: 2, tokens: 17, heads: 2, headDim: 80 },
];
const worst = { separate: 0, float64: 0 };

for (const d of SHAPES) {
  for (const columns of [10, 1]) {
    test(`${d.what}: B=${d.batch} N=${d.tokens} H=${d.heads} E=${d.headDim} C=${columns}`, async (t) => {
      const rng = new Rng(d.tokens * 100 + d.headDim + columns);
      const D = d.heads * d.headDim;
      // q, k ~ N(0, 1.5²): scores of std ≈ 2, attention far from uniform.
      const qkvData = rng.fill(d.batch * d.tokens * 3 * D, () => 1.5 * rng.normal());
      const labelData = randomLabels(rng, d.batch * d.tokens, columns);
      const qkv = tensorFrom(gpu, [d.batch * d.tokens, 3 * D], qkvData);
      const L = tensorFrom(gpu, [d.batch, d.tokens, columns], labelData);
      if (d.headDim <= 64) {
        const kt = attentionTileRows(d.headDim, columns);
        t.diagnostic(`key tile ${kt} rows (${attentionTileRows(d.headDim)} without labels): ${Math.ceil(d.tokens / kt)} tiles`);
      }

      const tape = tapeLength();
      const fused = noGrad(() => attention(qkv, d.batch, d.tokens, d.heads, { labels: L }));
      const plain = noGrad(() => attention(qkv, d.batch, d.tokens, d.heads));
      assert.equal(tapeLength(), tape);
      assert.ok(fused.labels && !fused.labels.requiresGrad);
      assert.deepEqual(fused.labels.shape, [d.batch, d.tokens, columns]);
      const separate = propagateLabels(L, plain.probs);
      const [labels, sep, probs, plainProbs, out, plainOut] = await Promise.all(
        [fused.labels, separate, fused.probs, plain.probs, fused.out, plain.out].map((x: Tensor) => x.read()));

      // The forward itself is unchanged: same probabilities and output, bit for bit.
      assert.deepEqual(probs, plainProbs, 'probs with and without labels');
      assert.deepEqual(out, plainOut, 'out with and without labels');
      // (a) the separate kernel on the same probabilities (f32, another summation order);
      const dims = { batch: d.batch, tokens: d.tokens, heads: d.heads, columns };
      const eSep = assertClose(labels, sep, 1e-6, 'fused vs propagateLabels');
      // (b) float64: the product on the GPU's probabilities, and the whole chain from qkv.
      const eProd = assertClose(labels, propagateRef(labelData, probs, dims), 1e-6, 'fused vs float64 product on the GPU probs');
      const ref64 = propagateRef(labelData, ref.attention(qkvData, d).probs, dims);
      const e64 = assertClose(labels, ref64, 1e-5, 'fused vs float64 attention + propagation');
      assertClose(sep, ref64, 1e-5, 'propagateLabels vs float64 attention + propagation');
      worst.separate = Math.max(worst.separate, eSep);
      worst.float64 = Math.max(worst.float64, e64);
      t.diagnostic(`max rel error: vs propagateLabels ${eSep.toExponential(2)}, vs float64 product ${eProd.toExponential(2)}, vs float64 chain ${e64.toExponential(2)}`);
    });
  }
}

test('column limits: the tiled kernel carries up to 16 columns, the row kernels any; labels with a gradient are refused', async () => {
  const rng = new Rng(9);
  const make = (headDim: number, columns: number) => {
    const d = { batch: 1, tokens: 9, heads: 2, headDim };
    const qkvData = rng.fill(d.tokens * 6 * headDim, () => rng.normal());
    const labelData = randomLabels(rng, d.tokens, columns);
    const qkv = tensorFrom(gpu, [d.tokens, 6 * headDim], qkvData);
    return { d, qkv, labelData, L: tensorFrom(gpu, [1, d.tokens, columns], labelData) };
  };
  for (const [headDim, columns] of [[16, ATTENTION_MAX_TILED_LABEL_COLUMNS], [80, 33]]) {
    const { d, qkv, labelData, L } = make(headDim, columns);
    const r = noGrad(() => attention(qkv, 1, d.tokens, 2, { labels: L }));
    assertClose(await r.labels!.read(), propagateRef(labelData, await r.probs.read(), { ...d, columns }), 1e-6, `E=${headDim} C=${columns}`);
  }
  const over = make(16, ATTENTION_MAX_TILED_LABEL_COLUMNS + 1);
  assert.throws(() => attention(over.qkv, 1, 9, 2, { labels: over.L }), /carries at most 16 label columns, got 17/);
  const withGrad = make(16, 3);
  withGrad.L.requiresGrad = true;
  assert.throws(() => attention(withGrad.qkv, 1, 9, 2, { labels: withGrad.L }), /labels are data and take no gradient/);
});

test(`fused results within float tolerance of the separate kernel and float64 (worst: printed)`, (t) => {
  t.diagnostic(`worst max rel error over all shapes: vs propagateLabels ${worst.separate.toExponential(2)}, vs float64 ${worst.float64.toExponential(2)}`);
  assert.ok(worst.separate > 0 || worst.float64 > 0, 'the shape tests ran');
});

// ------------------------------------------------------------------ a training step

const data = syntheticDataset({ train: 32, test: 16, seed: 3 });
const small: Partial<TrainConfig> = { model: 'test', batch: 16, epochs: 1, evalBatch: 16, lr: 2e-3, seed: 2 };

/** One step of a fresh run: its snapshot (targets of the whole batch, the fluctuation) and loss. */
async function oneStep(method: string, fuseLabels: boolean, fluctuationOnly = false) {
  const run = new TrainingRun(gpu, data, { ...small, method }, { fuseLabels });
  const dispatches = countDispatches(gpu);
  let snapshot: Promise<StepSnapshot> | undefined;
  let fluctuation: Promise<TokenFluctuation> | undefined;
  if (fluctuationOnly) fluctuation = run.nextFluctuation();
  else snapshot = run.nextSnapshot({ samples: small.batch!, sample: 0, fluctuation: true, attention: false, hiddenSamples: 0 });
  run.stepOnce();
  const count = dispatches.stop();
  return { snapshot: await snapshot, fluctuation: await fluctuation, loss: await run.epochLossSum(), dispatches: count, depth: run.vit.depth };
}

/** Counts gpu.run calls until stop() (by kernel entry). */
function countDispatches(g: Gpu) {
  const original = g.run;
  const counts = new Map<string, number>();
  g.run = function (this: Gpu, ...args: Parameters<Gpu['run']>) {
    counts.set(args[1], (counts.get(args[1]) ?? 0) + 1);
    return original.apply(this, args);
  } as Gpu['run'];
  return { stop: () => { g.run = original; return counts; } };
}

const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

test('a TL-Align training step: same targets and loss with fusion as without (1e-6 relative)', async (t) => {
  const fused = await oneStep('tl-align', true);
  const separate = await oneStep('tl-align', false);
  const depth = fused.depth;
  const a = fused.snapshot!, b = separate.snapshot!;
  assert.deepEqual(a.mix, b.mix);
  assert.ok(a.mix.ownShare < 1, `the step's mix is spatial (λ = ${a.mix.ownShare})`);
  assert.deepEqual(a.logits, b.logits, 'the forward is the same');
  const eTargets = assertClose(a.targets, b.targets, 1e-6, 'targets');
  const eLoss = Math.abs(fused.loss - separate.loss) / Math.abs(separate.loss);
  assert.ok(eLoss <= 1e-6, `loss ${fused.loss} vs ${separate.loss}: rel ${eLoss.toExponential(2)}`);
  // TL-Align carries the own shares (one column): the snapshot's fluctuation view reads those layers, fused or not.
  a.fluctuation!.forEach((l, i) => assertClose(l, b.fluctuation![i], 1e-6, `fluctuation layer ${i}`));
  assert.equal(fused.dispatches.get('attention_forward_labels'), depth);
  assert.equal(fused.dispatches.get('attention_combine_labels'), depth);
  assert.equal(fused.dispatches.get('propagate_labels'), undefined, 'no propagation outside the attention kernels');
  assert.equal(separate.dispatches.get('propagate_labels'), depth);
  t.diagnostic(`targets max rel ${eTargets.toExponential(2)}, loss rel ${eLoss.toExponential(2)} (${fused.loss} vs ${separate.loss}); ` +
    `dispatches per step ${total(fused.dispatches)} fused, ${total(separate.dispatches)} separate`);
});

test('a fluctuation read-out of a CutMix step carries the own shares through the attention kernels', async (t) => {
  const fused = await oneStep('cutmix-token', true, true);
  const separate = await oneStep('cutmix-token', false, true);
  const depth = fused.depth;
  assert.equal(fused.fluctuation!.layers.length, depth + 1);
  assert.deepEqual(fused.fluctuation!.layers[0], separate.fluctuation!.layers[0], 'v⁰');
  let worstLayer = 0;
  for (let i = 1; i <= depth; i++) worstLayer = Math.max(worstLayer, assertClose(fused.fluctuation!.layers[i], separate.fluctuation!.layers[i], 1e-6, `layer ${i}`));
  assert.equal(fused.loss, separate.loss);
  assert.equal(fused.dispatches.get('attention_forward_labels'), depth);
  assert.equal(fused.dispatches.get('propagate_labels'), undefined);
  assert.equal(separate.dispatches.get('propagate_labels'), depth);
  t.diagnostic(`own shares max rel ${worstLayer.toExponential(2)}`);
});
