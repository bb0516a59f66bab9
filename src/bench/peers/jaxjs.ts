/**
 * The jax-js peer for `npm run bench:peers`: labelflow's ViT training step written in jax-js
 * (@jax-js/jax, WebGPU backend), differentiated by `valueAndGrad` and compiled whole by `jit`
 * (forward + backward + AdamW in one traced function, as measured in shared/docs/peers.md).
 *
 * Legend: B batch, C channels, S image side, P patch, G = S/P, T = G² patches, N = T + 1 tokens,
 *         D dim, H heads, E = D/H head dim, F MLP hidden dim, K classes.
 *
 *   patch embedding  patchify [B,C,G,P,G,P] → [B·T, C·P·P] (the order of proj.weight [D,C,P,P]),
 *                    · W_peᵀ + b_pe                                                    [B, T, D]
 *   tokens           x = concat(cls, patches) + pos_embed                              [B, N, D]
 *   LayerNorm        (x − mean) / √(var + 1e-6) · γ + β over D (biased variance)
 *   attention        qkv [B,N,3,H,E] → q, k, v [B,H,N,E]; softmax(q kᵀ / √E) v → [B, N, D]
 *   block            x += proj(attention(qkv(LN1 x)));  x += fc2(GELU(fc1(LN2 x)))
 *   GELU             x · ½ (1 + erf(x / √2))   (jax-js's own erf, lax.erf)
 *   logits           head(LN(x)[:, 0])                                                  [B, K]
 *   loss             −Σ t ⊙ logSoftmax(logits) / B   (soft targets)
 *   AdamW            θ ← θ − lr·wd·θ (decay parameters only); m ← β1 m + (1−β1) g;
 *                    v ← β2 v + (1−β2) g²; θ ← θ − lr · (m / bc1) / (√(v / bc2) + eps),
 *                    bc = 1 − βᵗ (torch.optim.AdamW, shaders/optimizer.wgsl without clipping).
 *
 * jax-js ownership: every function consumes its Array arguments (refcount −1); `.ref` adds one
 * for a second use. The jitted step consumes weights and moments and returns new ones, so the
 * peer's state is swapped each step and nothing accumulates across steps.
 *
 * WebGPU: jax-js opens `navigator.gpu.requestAdapter({ powerPreference: 'high-performance' })`
 * itself, the power preference labelflow asks for, so both run on one adapter (two devices). In
 * Node, `installNavigator()` (src/gpu/node.ts) must have defined `navigator` from labelflow's Dawn
 * instance first; this file imports nothing from Node, so the bench page bundles it too.
 */
import { blockUntilReady, defaultDevice, getWebGPUDevice, init, jit, lax, nn, numpy as np, valueAndGrad } from '@jax-js/jax';
import type { VitConfig } from '../../nn/presets.ts';
import { vitParamSpecs } from '../../nn/vit.ts';
import type { Peer, PeerAdamW, PeerBatch, PeerWeights } from './peer.ts';

export type { Peer, PeerAdamW, PeerBatch, PeerWeights };

/** The version pinned in package.json (the package does not export its package.json). */
export const JAX_VERSION = '0.1.25';
const LAYERNORM_EPS = 1e-6;

type Arr = np.Array;

/** Brings up jax-js's WebGPU backend as its default device. */
async function initJaxWebGpu(): Promise<void> {
  if (!(globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu) {
    throw new Error('jax-js needs navigator.gpu (in Node, call installNavigator() from src/gpu/node.ts first)');
  }
  const devices = await init('webgpu');
  if (!devices.includes('webgpu')) throw new Error('jax-js: the WebGPU backend did not come up (no adapter from navigator.gpu)');
  defaultDevice('webgpu');
  countJaxBuffers(getWebGPUDevice());
}

/**
 * Bytes in live GPUBuffers of jax-js's device, its buffer pool included. jax-js has no public
 * memory query, so its device's createBuffer is wrapped once to count sizes and each buffer's
 * destroy to take them off again.
 */
let jaxGpuBytes = 0;
let countedDevice: GPUDevice | undefined;
function countJaxBuffers(device: GPUDevice): void {
  if (countedDevice === device) return;
  countedDevice = device;
  const create = device.createBuffer.bind(device);
  device.createBuffer = (descriptor: GPUBufferDescriptor) => {
    const buffer = create(descriptor);
    const size = buffer.size;
    jaxGpuBytes += size;
    const destroy = buffer.destroy.bind(buffer);
    let live = true;
    buffer.destroy = () => {
      if (live) jaxGpuBytes -= size;
      live = false;
      destroy();
    };
    return buffer;
  };
}

// ------------------------------------------------------------------ the network in jax-js
// Every weight is used exactly once, so it is passed without `.ref`; activations used twice take `.ref`.

type ByName = (name: string) => Arr;

/** timm Linear on the last axis: x · Wᵀ + b, W [out, in]. */
function linear(x: Arr, w: ByName, name: string): Arr {
  const W = w(`${name}.weight`);
  const [out, inp] = W.shape;
  const lead = x.shape.slice(0, -1);
  const y = np.matmul(x.reshape([-1, inp]), W.transpose()).add(w(`${name}.bias`));
  return y.reshape([...lead, out]);
}

function layerNorm(x: Arr, gamma: Arr, beta: Arr): Arr {
  const centred = x.ref.sub(np.mean(x, -1, { keepdims: true }));
  const variance = np.mean(np.square(centred.ref), -1, { keepdims: true });
  return centred.div(np.sqrt(variance.add(LAYERNORM_EPS))).mul(gamma).add(beta);
}

function geluErf(x: Arr): Arr {
  return x.ref.mul(lax.erf(x.mul(Math.SQRT1_2)).add(1).mul(0.5));
}

/** qkv [B, N, 3D] in timm's layout [B, N, 3, H, E] → attention output [B, N, D]. */
function multiHeadAttention(qkv: Arr, heads: number): Arr {
  const [B, N, threeD] = qkv.shape;
  const D = threeD / 3;
  const E = D / heads;
  const split = qkv.reshape([B, N, 3, heads, E]).transpose([2, 0, 3, 1, 4]); // [3, B, H, N, E]
  const q = split.ref.slice(0);
  const k = split.ref.slice(1);
  const v = split.slice(2);
  const scores = np.matmul(q, k.transpose([0, 1, 3, 2])).mul(1 / Math.sqrt(E)); // [B, H, N, N]
  const out = np.matmul(nn.softmax(scores, -1), v); // [B, H, N, E]
  return out.transpose([0, 2, 1, 3]).reshape([B, N, D]);
}

/** Patchify (the order of proj.weight [D, C, P, P]) + matmul, then the CLS token and position embedding. */
function embed(c: VitConfig, w: ByName, images: Arr): Arr {
  const B = images.shape[0];
  const G = c.imageSize / c.patch;
  const patches = images
    .reshape([B, c.channels, G, c.patch, G, c.patch])
    .transpose([0, 2, 4, 1, 3, 5]) // [B, G, G, C, P, P]
    .reshape([B * G * G, c.channels * c.patch * c.patch]);
  const W = w('patch_embed.proj.weight').reshape([c.dim, c.channels * c.patch * c.patch]);
  const tokens = np.matmul(patches, W.transpose()).add(w('patch_embed.proj.bias')).reshape([B, G * G, c.dim]);
  const cls = np.broadcastTo(w('cls_token'), [B, 1, c.dim]);
  return np.concatenate([cls, tokens], 1).add(w('pos_embed'));
}

function vitLogits(c: VitConfig, w: ByName, images: Arr): Arr {
  let x = embed(c, w, images); // [B, N, D]
  for (let i = 0; i < c.depth; i++) {
    const blk = `blocks.${i}`;
    const h = layerNorm(x.ref, w(`${blk}.norm1.weight`), w(`${blk}.norm1.bias`));
    const a = multiHeadAttention(linear(h, w, `${blk}.attn.qkv`), c.heads);
    x = x.add(linear(a, w, `${blk}.attn.proj`));
    const m = layerNorm(x.ref, w(`${blk}.norm2.weight`), w(`${blk}.norm2.bias`));
    x = x.add(linear(geluErf(linear(m, w, `${blk}.mlp.fc1`)), w, `${blk}.mlp.fc2`));
  }
  const tokens = layerNorm(x, w('norm.weight'), w('norm.bias'));
  return linear(tokens.slice([], 0), w, 'head'); // the CLS token [B, D]
}

function softTargetCrossEntropy(logits: Arr, targets: Arr): Arr {
  const B = logits.shape[0];
  return np.sum(targets.mul(nn.logSoftmax(logits, -1))).mul(-1 / B);
}

// ------------------------------------------------------------------ the peer

/** The network consumes each weight exactly once, so the list must be exactly the ViT's (timm names and shapes). */
function checkWeights(c: VitConfig, weights: PeerWeights): void {
  const expected = vitParamSpecs(c, 0);
  const given = new Map(weights.map((w) => [w.name, w]));
  const problems: string[] = [];
  for (const s of expected) {
    const w = given.get(s.name);
    if (!w) problems.push(`${s.name} missing`);
    else if (w.shape.join() !== s.shape.join()) problems.push(`${s.name} is [${w.shape}], the ViT's is [${s.shape}]`);
    else if (w.values.length !== s.shape.reduce((a, b) => a * b, 1)) problems.push(`${s.name} has ${w.values.length} values for [${s.shape}]`);
  }
  const known = new Set(expected.map((s) => s.name));
  for (const w of weights) if (!known.has(w.name)) problems.push(`${w.name} is not a ViT weight`);
  if (given.size !== weights.length) problems.push('a weight name is repeated');
  if (problems.length) throw new Error(`jax-js peer: the weights do not fit the ViT config: ${problems.join('; ')}`);
}

export async function createJaxPeer(config: VitConfig, weights: PeerWeights, batch: PeerBatch, adam: PeerAdamW): Promise<Peer> {
  checkWeights(config, weights);
  await initJaxWebGpu();
  const c = config;
  const B = batch.batch;
  const names = weights.map((w) => w.name);
  const index = new Map(names.map((n, i) => [n, i]));
  const decays = weights.map((w) => w.decay);

  /** Mean soft-target CE of the weights (a list in `weights` order) on the batch; consumes all arguments. */
  const lossOf = (params: Arr[], images: Arr, targets: Arr): Arr => {
    const w: ByName = (name) => {
      const i = index.get(name);
      if (i === undefined) throw new Error(`jax-js peer: no weight named ${name}`);
      return params[i];
    };
    return softTargetCrossEntropy(vitLogits(c, w, images), targets);
  };

  /** The whole training step, traced once: value_and_grad + AdamW. `corrections` = [bc1, bc2] of this step. */
  const trainStep = jit((params: Arr[], expAvg: Arr[], expAvgSq: Arr[], images: Arr, targets: Arr, corrections: Arr) => {
    const [loss, grads] = valueAndGrad(lossOf)(params.map((p) => p.ref), images, targets);
    const bc1 = corrections.ref.slice(0);
    const bc2 = corrections.slice(1);
    const next: Arr[] = [];
    const nextAvg: Arr[] = [];
    const nextAvgSq: Arr[] = [];
    params.forEach((p, i) => {
      const g = grads[i];
      const decayed = decays[i] ? p.mul(1 - adam.lr * adam.weightDecay) : p;
      const m = expAvg[i].mul(adam.beta1).add(g.ref.mul(1 - adam.beta1));
      const v = expAvgSq[i].mul(adam.beta2).add(np.square(g).mul(1 - adam.beta2));
      const update = m.ref.div(bc1.ref).div(np.sqrt(v.ref.div(bc2.ref)).add(adam.eps)).mul(adam.lr);
      next.push(decayed.sub(update));
      nextAvg.push(m);
      nextAvgSq.push(v);
    });
    bc1.dispose();
    bc2.dispose();
    return { loss, params: next, expAvg: nextAvg, expAvgSq: nextAvgSq };
  });
  const forwardLoss = jit(lossOf);

  let params = weights.map((w) => np.array(w.values).reshape(w.shape));
  let expAvg = weights.map((w) => np.zeros(w.shape));
  let expAvgSq = weights.map((w) => np.zeros(w.shape));
  const images = np.array(batch.images).reshape([B, c.channels, c.imageSize, c.imageSize]);
  const targets = np.array(batch.targets).reshape([B, c.classes]);
  let steps = 0;

  const refAll = (xs: Arr[]) => xs.map((x) => x.ref);

  return {
    name: `jax-js ${JAX_VERSION}`,
    async loss() {
      const l = forwardLoss(refAll(params), images.ref, targets.ref);
      return (await l.data())[0];
    },
    async step() {
      steps++;
      const corrections = np.array(new Float32Array([1 - adam.beta1 ** steps, 1 - adam.beta2 ** steps]));
      const out = trainStep(params, expAvg, expAvgSq, images.ref, targets.ref, corrections);
      params = out.params;
      expAvg = out.expAvg;
      expAvgSq = out.expAvgSq;
      return (await out.loss.data())[0];
    },
    async matmulMs(n, reps) {
      // Operands from real buffers: a constant like np.ones would be folded into the kernel.
      const random = () => { const v = new Float32Array(n * n); for (let i = 0; i < v.length; i++) v[i] = Math.random() - 0.5; return v; };
      const a = np.array(random()).reshape([n, n]);
      const b = np.array(random()).reshape([n, n]);
      await np.matmul(a.ref, b.ref).data(); // warm-up: compiles the kernel, uploads a and b
      const start = performance.now();
      const products: Arr[] = [];
      for (let r = 0; r < reps; r++) products.push(np.matmul(a.ref, b.ref));
      await blockUntilReady(products);
      const ms = performance.now() - start;
      for (const p of products) p.dispose();
      a.dispose();
      b.dispose();
      return ms;
    },
    gpuBytes() {
      return jaxGpuBytes;
    },
    dispose() {
      for (const x of [...params, ...expAvg, ...expAvgSq, images, targets]) x.dispose();
      params = expAvg = expAvgSq = [];
      trainStep.dispose();
      forwardLoss.dispose();
    },
  };
}
