/**
 * Independent reference for the whole model: one batch's loss and every parameter gradient of a
 * VisionTransformer, computed by our WGSL kernels on the GPU and by TF.js (CPU backend, float32),
 * then compared. The TF.js network (./tfjs-vit.ts) is written from TF.js primitives only: no code, layout
 * helper or kernel is shared with src/autograd.
 *
 * The network and loss are in ./tfjs-vit.ts.
 *
 * Pass: loss_rel = |ours − tfjs| / |tfjs| ≤ 1e-5, and for every parameter tensor
 *       rel = max|grad_ours − grad_tfjs| / max|grad_tfjs| ≤ 1e-4.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import { backward, softCrossEntropy, tempTensor } from '../autograd/index.ts';
import { type Gpu } from '../gpu/gpu.ts';
import { preset, type VitConfig } from '../nn/presets.ts';
import { VisionTransformer } from '../nn/vit.ts';
import { benchBatch } from '../bench/peers-bench.ts';
import { loadTfjs, type Tf } from './tfjs-runtime.ts';
import { softTargetCrossEntropy, vitLogits } from './tfjs-vit.ts';

export const LOSS_TOLERANCE = 1e-5;
export const GRAD_TOLERANCE = 1e-4;

export interface TfjsComparison {
  loss_ours: number;
  loss_tfjs: number;
  loss_rel: number;
  grad_max_rel: number;
  /** The parameter with the largest gradient difference. */
  worst: string;
  per_tensor: { name: string; rel: number }[];
  ok: boolean;
}

interface Batch { images: Float32Array; targets: Float32Array }
interface LossAndGrads { loss: number; grads: Map<string, Float32Array> }
/** Our parameters: name → values and shape, in arena order. */
type Weights = Map<string, { values: Float32Array; shape: number[] }>;

export async function compareWithTfjs(gpu: Gpu, o: { preset?: string; seed?: number; batch?: number } = {}): Promise<TfjsComparison> {
  const config = preset(o.preset ?? 'test');
  const seed = o.seed ?? 0;
  const batchSize = o.batch ?? 4;
  const batch = benchBatch(config, batchSize, seed);
  const ours = await ourLossAndGrads(gpu, config, seed, batch, batchSize);
  const tf = await loadTfjs();
  const theirs = tfjsLossAndGrads(tf, config, ours.weights, batch, batchSize);

  const loss_rel = Math.abs(ours.loss - theirs.loss) / Math.abs(theirs.loss);
  const per_tensor = [...theirs.grads].map(([name, g]) => ({ name, rel: maxRelDiff(ours.grads.get(name)!, g) }));
  const worst = per_tensor.reduce((a, b) => (b.rel > a.rel || Number.isNaN(b.rel) ? b : a));
  const grad_max_rel = worst.rel;
  return {
    loss_ours: ours.loss,
    loss_tfjs: theirs.loss,
    loss_rel,
    grad_max_rel,
    worst: worst.name,
    per_tensor,
    ok: loss_rel <= LOSS_TOLERANCE && grad_max_rel <= GRAD_TOLERANCE,
  };
}

/** Our engine: one forward + soft-target CE + backward on the GPU; also returns the weights used. */
async function ourLossAndGrads(gpu: Gpu, c: VitConfig, seed: number, data: Batch, batch: number): Promise<LossAndGrads & { weights: Weights }> {
  const model = new VisionTransformer(gpu, c, seed);
  try {
    const images = tempTensor(gpu, [batch, c.channels, c.imageSize, c.imageSize], 'images');
    const targets = tempTensor(gpu, [batch, c.classes], 'targets');
    gpu.write(images.storage, data.images);
    gpu.write(targets.storage, data.targets);
    model.params.zeroGrad();
    const ce = softCrossEntropy(model.forward(images).logits, targets);
    backward(ce.loss);
    const loss = (await ce.loss.read())[0];
    const grads = await model.params.read('grads');
    const values = await model.params.read('values');
    gpu.endStep();
    const weights: Weights = new Map(model.params.specs.map((s) => [s.name, { values: values.get(s.name)!, shape: s.shape }]));
    return { loss, grads, weights };
  } finally {
    const p = model.params;
    for (const s of [p.values, p.grads, p.expAvg, p.expAvgSq]) s.buffer.destroy();
  }
}

/** TF.js: the same network and loss, differentiated by tf.valueAndGrads with respect to every weight. */
function tfjsLossAndGrads(tf: Tf, c: VitConfig, weights: Weights, data: Batch, batch: number): LossAndGrads {
  const names = [...weights.keys()];
  const before = tf.memory().numTensors;
  const result = tf.tidy(() => {
    const images = tf.tensor4d(data.images, [batch, c.channels, c.imageSize, c.imageSize]);
    const targets = tf.tensor2d(data.targets, [batch, c.classes]);
    const tensors = names.map((n) => tf.tensor(weights.get(n)!.values, weights.get(n)!.shape));
    const lossOf = (...ws: TfCore.Tensor[]): TfCore.Scalar => {
      const w = (name: string) => ws[names.indexOf(name)];
      return softTargetCrossEntropy(tf, vitLogits(tf, c, w, images), targets);
    };
    const { value, grads } = tf.valueAndGrads(lossOf)(tensors);
    return { loss: value.dataSync()[0], grads: grads.map((g) => g.dataSync() as Float32Array) };
  });
  const leaked = tf.memory().numTensors - before;
  if (leaked !== 0) throw new Error(`tfjs reference leaked ${leaked} tensors`);
  return { loss: result.loss, grads: new Map(names.map((n, i) => [n, result.grads[i]])) };
}

// ------------------------------------------------------------------ comparison

/** max|a − b| / max|b| (0 when both are all zeros). */
function maxRelDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`compare: ${a.length} vs ${b.length} values`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
    if (Number.isNaN(a[i]) || Number.isNaN(b[i])) return NaN;
  }
  return diff === 0 ? 0 : diff / scale;
}
