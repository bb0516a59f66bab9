/** The optimizer step (shaders/optimizer.wgsl): torch.optim.AdamW after clip_grad_norm_. */
import { type In, type Vec } from './types.ts';

export interface AdamWConfig {
  lr: number; beta1: number; beta2: number; eps: number; weightDecay: number;
  step: number; // t ≥ 1, for the bias corrections 1 − βᵗ
  decayEnd: number; // elements [0, decayEnd) get weight decay
  maxNorm: number; // ≤ 0 disables clipping
}

/** c = min(1, max_norm / (√normsq + 1e-6)), or 1 when max_norm ≤ 0. */
export const clipCoefficient = (normSq: number, maxNorm: number): number =>
  maxNorm <= 0 ? 1 : Math.min(1, maxNorm / (Math.sqrt(normSq) + 1e-6));

/** g ← c·g. */
export const clipGradients = (grads: In, normSq: number, maxNorm: number): Vec =>
  Float64Array.from(grads, (g) => g * clipCoefficient(normSq, maxNorm));

/**
 * g ← c·g; θ ← θ − lr·wd·θ (i < decayEnd); m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²;
 * θ ← θ − lr · (m / (1−β1ᵗ)) / (√(v / (1−β2ᵗ)) + eps).
 */
export function adamw(params: In, grads: In, expAvg: In, expAvgSq: In, normSq: number, o: AdamWConfig): { params: Vec; expAvg: Vec; expAvgSq: Vec } {
  const c = clipCoefficient(normSq, o.maxNorm);
  const bc1 = 1 - o.beta1 ** o.step, bc2 = 1 - o.beta2 ** o.step;
  const n = params.length, p = new Float64Array(n), m = new Float64Array(n), v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = c * grads[i];
    const theta = i < o.decayEnd ? params[i] - o.lr * o.weightDecay * params[i] : params[i];
    m[i] = o.beta1 * expAvg[i] + (1 - o.beta1) * g;
    v[i] = o.beta2 * expAvgSq[i] + (1 - o.beta2) * g * g;
    p[i] = theta - (o.lr * (m[i] / bc1)) / (Math.sqrt(v[i] / bc2) + o.eps);
  }
  return { params: p, expAvg: m, expAvgSq: v };
}
