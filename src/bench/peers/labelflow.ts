/**
 * labelflow's side of the peer benchmark: the engine's own Trainer (one command encoder per step)
 * on the given weights and batch. Clipping is off, as in the peers.
 */
import { noGrad, softCrossEntropy, tensorFrom } from '../../autograd/index.ts';
import { encodeMatmul } from '../../autograd/ops/matmul.ts';
import { type Gpu } from '../../gpu/gpu.ts';
import type { VitConfig } from '../../nn/presets.ts';
import { Rng } from '../../nn/random.ts';
import { VisionTransformer } from '../../nn/vit.ts';
import { AdamW, Trainer } from '../../train/step.ts';
import type { Peer, PeerAdamW, PeerBatch, PeerWeights } from './peer.ts';

export const LABELFLOW_VERSION = 'labelflow 0.1.0';

export async function createLabelflowPeer(gpu: Gpu, config: VitConfig, weights: PeerWeights, batch: PeerBatch, adam: PeerAdamW): Promise<Peer> {
  const model = new VisionTransformer(gpu, config, 0);
  model.params.load(new Map(weights.map((w) => [w.name, w.values])));
  for (const w of weights) {
    const spec = model.params.specs.find((s) => s.name === w.name);
    if (!spec || spec.decay !== w.decay) throw new Error(`labelflow peer: weight ${w.name} does not match the engine's parameters`);
  }
  const optimizer = new AdamW(model.params, { beta1: adam.beta1, beta2: adam.beta2, eps: adam.eps, weightDecay: adam.weightDecay, maxGradNorm: 0 });
  const trainer = new Trainer(model, optimizer);
  const B = batch.batch;
  const images = tensorFrom(gpu, [B, config.channels, config.imageSize, config.imageSize], batch.images, false, 'images');
  const targets = tensorFrom(gpu, [B, config.classes], batch.targets, false, 'targets');
  const square = new Map<number, ReturnType<typeof tensorFrom>[]>();

  return {
    name: LABELFLOW_VERSION,
    async loss() {
      const loss = noGrad(() => softCrossEntropy(model.forward(images).logits, targets).loss);
      const value = gpu.read(loss.storage);
      gpu.endStep();
      return (await value)[0];
    },
    async step() {
      return (await trainer.step(images, targets, adam.lr, true)!).loss;
    },
    async matmulMs(n, reps) {
      if (!square.has(n)) {
        const rng = new Rng(n);
        square.set(n, [0, 1, 2].map(() => tensorFrom(gpu, [n, n], rng.fill(n * n, () => rng.uniform(-1, 1)))));
      }
      const [a, b, c] = square.get(n)!;
      const record = () => {
        for (let r = 0; r < reps; r++) encodeMatmul(gpu, a.storage, b.storage, c.storage, { batch: 1, M: n, N: n, K: n }, { transA: false, transB: false, accumulate: false, alpha: 1 });
      };
      record(); // warm-up: pipeline compiled
      await gpu.sync();
      const t0 = performance.now();
      record();
      await gpu.sync();
      return performance.now() - t0;
    },
    gpuBytes: () => gpu.bytesCreated,
    dispose() {
      gpu.device.destroy();
    },
  };
}
