/**
 * A fully determined short training run: a seeded model and a seeded synthetic batch, trained
 * for a few steps. Node and the browser run the same function, so their losses can be compared.
 */
import { type Tensor, tensorFrom } from '../autograd/index.ts';
import { type Gpu } from '../gpu/gpu.ts';
import { preset, type VitConfig } from '../nn/presets.ts';
import { Rng } from '../nn/random.ts';
import { VisionTransformer } from '../nn/vit.ts';
import { AdamW, Trainer } from './step.ts';

/** A seeded batch: N(0,1) pixels [B, C, S, S], one random class per image as one-hot targets [B, K]. */
export function syntheticBatch(gpu: Gpu, config: VitConfig, seed: number, batch: number): { images: Tensor; targets: Tensor } {
  const rng = new Rng(seed + 1);
  const pixels = config.channels * config.imageSize * config.imageSize;
  const images = tensorFrom(gpu, [batch, config.channels, config.imageSize, config.imageSize], rng.fill(batch * pixels, () => rng.normal()));
  const t = new Float32Array(batch * config.classes);
  for (let i = 0; i < batch; i++) t[i * config.classes + rng.int(config.classes)] = 1;
  const targets = tensorFrom(gpu, [batch, config.classes], t);
  return { images, targets };
}

export interface FixedRunOptions { preset?: string; seed?: number; steps?: number; batch?: number; lr?: number }

export async function fixedRun(gpu: Gpu, o: FixedRunOptions = {}): Promise<{ losses: number[]; accuracies: number[]; buffersCreated: number[] }> {
  const { seed = 0, steps = 5, batch = 8, lr = 1e-3 } = o;
  const config = preset(o.preset ?? 'test');
  const model = new VisionTransformer(gpu, config, seed);
  const { images, targets } = syntheticBatch(gpu, config, seed, batch);
  const trainer = new Trainer(model, new AdamW(model.params, { maxGradNorm: 1 }));
  const losses: number[] = [];
  const accuracies: number[] = [];
  const buffersCreated: number[] = [];
  for (let s = 0; s < steps; s++) {
    const m = await trainer.step(images, targets, lr)!;
    losses.push(m.loss);
    accuracies.push(m.accuracy);
    buffersCreated.push(gpu.buffersCreated);
  }
  return { losses, accuracies, buffersCreated };
}
