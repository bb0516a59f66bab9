/**
 * One ViT training step, as each engine in `npm run bench:peers` implements it: the same network
 * (timm's ViT, src/nn/vit.ts), the same weights and batch, soft-target cross-entropy, AdamW.
 * Every engine keeps its weights, optimizer state and batch on the GPU between calls.
 */
import type { VitConfig } from '../../nn/presets.ts';

/** Initial weights in timm's names and shapes; `decay` marks what AdamW decays (weights, not biases/norms/embeddings). */
export type PeerWeights = { name: string; shape: number[]; values: Float32Array; decay: boolean }[];

/** Images [B, C, S, S] (normalised) and soft targets [B, K]. */
export interface PeerBatch { images: Float32Array; targets: Float32Array; batch: number }

/** torch.optim.AdamW; no gradient clipping in the bench. */
export interface PeerAdamW { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number }

export interface Peer {
  /** Library and version, e.g. "TF.js 4.22.0 (webgpu)". */
  name: string;
  /** Loss of the current weights on the batch (forward only), read back. */
  loss(): Promise<number>;
  /** One training step (forward, loss, gradients, AdamW), finished on the GPU; resolves to its loss. */
  step(): Promise<number>;
  /** Milliseconds for `reps` n×n · n×n f32 matmuls recorded back to back and waited for once. */
  matmulMs(n: number, reps: number): Promise<number>;
  /** GPU bytes the engine holds now, where the library tells (undefined where it does not). */
  gpuBytes?(): number | undefined;
  dispose(): void;
}

export type PeerFactory = (config: VitConfig, weights: PeerWeights, batch: PeerBatch, adam: PeerAdamW) => Promise<Peer>;
