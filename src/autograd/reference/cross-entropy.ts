/** Soft-target cross-entropy over B rows of K logits, mean over rows (shaders/cross_entropy.wgsl). */
import { type In, type Vec, zeros } from './types.ts';

const argmax = (x: In, base: number, k: number) => {
  let best = 0;
  for (let j = 1; j < k; j++) if (x[base + j] > x[base + best]) best = j; // first max wins
  return best;
};

/** loss = (1/B) Σ_b Σ_k t_bk (lse(z_b) − z_bk); probs = softmax(z); correct_b = [argmax z_b = argmax t_b]. */
export function softCrossEntropy(z: In, t: In, classes: number): { loss: number; probs: Vec; correct: Vec } {
  const rows = z.length / classes;
  const probs = zeros(z.length), correct = zeros(rows);
  let loss = 0;
  for (let r = 0, base = 0; r < rows; r++, base += classes) {
    let m = -Infinity, s = 0;
    for (let k = 0; k < classes; k++) m = Math.max(m, z[base + k]);
    for (let k = 0; k < classes; k++) s += Math.exp(z[base + k] - m);
    const lse = m + Math.log(s);
    for (let k = 0; k < classes; k++) {
      probs[base + k] = Math.exp(z[base + k] - lse);
      loss += (t[base + k] * (lse - z[base + k])) / rows;
    }
    correct[r] = argmax(z, base, classes) === argmax(t, base, classes) ? 1 : 0;
  }
  return { loss, probs, correct };
}

/** dz_bk = dloss · (p_bk Σ_k t_bk − t_bk) / B. */
export function softCrossEntropyBackward(z: In, t: In, classes: number, dloss: number): Vec {
  const { probs } = softCrossEntropy(z, t, classes);
  const rows = z.length / classes, dz = zeros(z.length);
  for (let r = 0, base = 0; r < rows; r++, base += classes) {
    let mass = 0;
    for (let k = 0; k < classes; k++) mass += t[base + k];
    for (let k = 0; k < classes; k++) dz[base + k] = (dloss * (probs[base + k] * mass - t[base + k])) / rows;
  }
  return dz;
}

/**
 * Binary cross-entropy with logits (torch BCEWithLogitsLoss, mean over all R·K entries):
 * loss = mean of max(z,0) − t·z + log(1 + exp(−|z|)); correct_r = [argmax z_r = argmax t_r].
 */
export function binaryCrossEntropy(z: In, t: In, classes: number): { loss: number; correct: Vec } {
  const rows = z.length / classes, correct = zeros(rows);
  let loss = 0;
  for (let i = 0; i < z.length; i++) loss += (Math.max(z[i], 0) - t[i] * z[i] + Math.log1p(Math.exp(-Math.abs(z[i])))) / z.length;
  for (let r = 0, base = 0; r < rows; r++, base += classes) correct[r] = argmax(z, base, classes) === argmax(t, base, classes) ? 1 : 0;
  return { loss, correct };
}

/** dz = dloss · (σ(z) − t) / (R·K). */
export function binaryCrossEntropyBackward(z: In, t: In, dloss: number): Vec {
  return Float64Array.from(z, (v, i) => (dloss * (1 / (1 + Math.exp(-v)) - t[i])) / z.length);
}
