/**
 * TensorFlow.js's side of the peer benchmark: the network of src/check/tfjs-vit.ts on whatever
 * backend `tf` runs (the bench sets WebGPU), gradients by tf.variableGrads, and AdamW written
 * from TF.js ops (TF.js has Adam but no decoupled weight decay):
 *   θ ← θ − lr·wd·θ (decayed weights only);  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;
 *   θ ← θ − lr · (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + eps)
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import { softTargetCrossEntropy, type Tf, vitLogits } from '../../check/tfjs-vit.ts';
import type { VitConfig } from '../../nn/presets.ts';
import type { Peer, PeerAdamW, PeerBatch, PeerWeights } from './peer.ts';

export async function createTfjsPeer(tf: Tf, config: VitConfig, weights: PeerWeights, batch: PeerBatch, adam: PeerAdamW): Promise<Peer> {
  const B = batch.batch;
  const images = tf.tensor4d(batch.images, [B, config.channels, config.imageSize, config.imageSize]);
  const targets = tf.tensor2d(batch.targets, [B, config.classes]);
  const vars = new Map(weights.map((w) => [w.name, tf.variable(tf.tensor(w.values, w.shape), true, `lf/${w.name}`)]));
  const m = new Map(weights.map((w) => [w.name, tf.variable(tf.zeros(w.shape), false)]));
  const v = new Map(weights.map((w) => [w.name, tf.variable(tf.zeros(w.shape), false)]));
  const decay = new Set(weights.filter((w) => w.decay).map((w) => w.name));
  const byName = (name: string) => {
    const t = vars.get(name);
    if (!t) throw new Error(`TF.js peer: no weight named ${name}`);
    return t;
  };
  const lossOf = () => softTargetCrossEntropy(tf, vitLogits(tf, config, byName, images), targets);
  let t = 0;
  const squares = new Map<number, TfCore.Tensor2D[]>();

  return {
    name: `TF.js ${tf.version_core} (${tf.getBackend()})`,
    async loss() {
      const l = tf.tidy(lossOf);
      const value = (await l.data())[0];
      l.dispose();
      return value;
    },
    async step() {
      t++;
      const bc1 = 1 - adam.beta1 ** t;
      const bc2 = 1 - adam.beta2 ** t;
      const loss = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(lossOf, [...vars.values()]);
        for (const [name, w] of vars) {
          const g = grads[w.name];
          const m1 = tf.add(tf.mul(adam.beta1, m.get(name)!), tf.mul(1 - adam.beta1, g));
          const v1 = tf.add(tf.mul(adam.beta2, v.get(name)!), tf.mul(1 - adam.beta2, tf.square(g)));
          m.get(name)!.assign(m1);
          v.get(name)!.assign(v1);
          const decayed = decay.has(name) ? tf.sub(w, tf.mul(adam.lr * adam.weightDecay, w)) : w;
          const update = tf.div(tf.div(m1, bc1), tf.add(tf.sqrt(tf.div(v1, bc2)), adam.eps));
          w.assign(tf.sub(decayed, tf.mul(adam.lr, update)));
        }
        return value;
      });
      const value = (await loss.data())[0];
      loss.dispose();
      return value;
    },
    async matmulMs(n, reps) {
      if (!squares.has(n)) squares.set(n, [0, 1].map(() => tf.randomUniform([n, n], -1, 1) as TfCore.Tensor2D));
      const [a, b] = squares.get(n)!;
      const run = async () => {
        const outs: TfCore.Tensor[] = [];
        for (let r = 0; r < reps; r++) outs.push(tf.matMul(a, b));
        await outs[outs.length - 1].data();
        for (const o of outs) o.dispose();
      };
      await run(); // warm-up: programs compiled
      const t0 = performance.now();
      await run();
      return performance.now() - t0;
    },
    gpuBytes() {
      const mem = tf.memory() as { numBytesInGPU?: number };
      return mem.numBytesInGPU;
    },
    dispose() {
      for (const x of [images, targets, ...vars.values(), ...m.values(), ...v.values(), ...[...squares.values()].flat()]) x.dispose();
    },
  };
}
