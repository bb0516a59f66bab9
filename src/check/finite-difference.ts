/**
 * Whole-model gradient check: the GPU's analytic gradients of the `test` ViT's loss against
 * central finite differences of the float64 reference model (src/check/vit-reference.ts), on
 * randomly chosen parameter entries (every tensor gets some).
 *
 * Error per entry: |g − fd| / max(|fd|, 1e-2 · max|g| over that tensor). The floor keeps
 * entries whose true gradient is ~0 from dividing f32 rounding noise by ~0.
 */
import { backward, softCrossEntropy, tensorFrom } from '../autograd/index.ts';
import { type Gpu } from '../gpu/gpu.ts';
import { preset } from '../nn/presets.ts';
import { Rng } from '../nn/random.ts';
import { VisionTransformer } from '../nn/vit.ts';
import { referenceLoss, type Weights } from './vit-reference.ts';

export const FD_TOLERANCE = 1e-2;
const STEP = 1e-5;

export interface FiniteDifferenceReport {
  entries: number;
  max_rel: number;
  loss_rel: number;
  worst: string;
  tolerance: number;
  ok: boolean;
}

/** A seeded batch of normal images and soft targets (two classes mixed 0.7/0.3). */
export function randomBatch(seed: number, batch: number, classes: number, pixels: number) {
  const rng = new Rng(seed);
  const images = rng.fill(batch * pixels, () => rng.normal());
  const targets = new Float32Array(batch * classes);
  for (let b = 0; b < batch; b++) {
    targets[b * classes + rng.int(classes)] += 0.7;
    targets[b * classes + rng.int(classes)] += 0.3;
  }
  return { images, targets };
}

export async function checkModelFiniteDifference(
  gpu: Gpu, o: { seed?: number; batch?: number; entries?: number; preset?: string } = {},
): Promise<FiniteDifferenceReport> {
  const { seed = 0, batch = 4, entries = 240 } = o;
  const c = preset(o.preset ?? 'test');
  const model = new VisionTransformer(gpu, c, seed);
  const pixels = c.channels * c.imageSize * c.imageSize;
  const data = randomBatch(seed + 100, batch, c.classes, pixels);
  const images = tensorFrom(gpu, [batch, c.channels, c.imageSize, c.imageSize], data.images);
  const targets = tensorFrom(gpu, [batch, c.classes], data.targets);

  model.params.zeroGrad();
  const { loss } = softCrossEntropy(model.forward(images).logits, targets);
  backward(loss);
  const gpuLoss = (await loss.read())[0];
  const grads = await model.params.read('grads');
  const values = await model.params.read('values');
  gpu.endStep();

  const weights: Weights = new Map([...values].map(([k, v]) => [k, Float64Array.from(v)]));
  const lossAt = () => referenceLoss(c, weights, data.images, data.targets, batch);
  const refLoss = lossAt();

  const rng = new Rng(seed + 200);
  const names = [...weights.keys()];
  const picks: [string, number][] = [];
  for (const n of names) for (let i = 0; i < Math.min(3, weights.get(n)!.length); i++) picks.push([n, rng.int(weights.get(n)!.length)]);
  const total = names.reduce((s, n) => s + weights.get(n)!.length, 0);
  while (picks.length < entries) {
    let r = rng.int(total);
    for (const n of names) {
      const len = weights.get(n)!.length;
      if (r < len) { picks.push([n, r]); break; }
      r -= len;
    }
  }

  let maxRel = 0;
  let worst = '';
  for (const [name, i] of picks) {
    const w = weights.get(name)!;
    const g = grads.get(name)!;
    const saved = w[i];
    w[i] = saved + STEP;
    const up = lossAt();
    w[i] = saved - STEP;
    const down = lossAt();
    w[i] = saved;
    const fd = (up - down) / (2 * STEP);
    const floor = 1e-2 * g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const rel = Math.abs(g[i] - fd) / Math.max(Math.abs(fd), floor, 1e-30);
    if (rel >= maxRel) {
      maxRel = rel;
      worst = `${name}[${i}]: gpu ${g[i].toExponential(4)} vs fd ${fd.toExponential(4)}`;
    }
  }
  const lossRel = Math.abs(gpuLoss - refLoss) / Math.abs(refLoss);
  return { entries: picks.length, max_rel: maxRel, loss_rel: lossRel, worst, tolerance: FD_TOLERANCE, ok: maxRel <= FD_TOLERANCE && lossRel <= 1e-5 };
}
