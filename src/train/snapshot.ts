/**
 * Turns a step's raw read-outs (src/train/trainer.ts StepSnapshot) into what the page's views draw
 * (src/train/protocol.ts Snapshot), and an epoch's test logits into its report. Pure CPU work on
 * a few hundred kilobytes, done in the worker, never in the step.
 */
import { CIFAR10_MEAN, CIFAR10_STD, type ImageSet } from '../data/dataset.ts';
import { gridOf, maskParts } from '../methods/mixing.ts';
import { type VitConfig } from '../nn/presets.ts';
import { type EpochReport, type Snapshot, type TeacherView, type TokenMixView } from './protocol.ts';
import { type EpochResult, type StepSnapshot } from './trainer.ts';

/** CHW planes [n, 3, S, S] → RGBA [n, S, S, 4], each value mapped to a byte by `toByte(value, channel)`. */
function planesToRgba(planes: ArrayLike<number>, n: number, size: number, toByte: (v: number, c: number) => number): Uint8ClampedArray {
  const plane = size * size;
  const out = new Uint8ClampedArray(n * plane * 4);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) out[(i * plane + p) * 4 + c] = toByte(planes[(i * 3 + c) * plane + p], c);
      out[(i * plane + p) * 4 + 3] = 255;
    }
  }
  return out;
}

/** Normalised images → RGBA (pixel = (x·std + mean)·255). */
export function unnormalizeToRgba(images: Float32Array, n: number, size: number, mean: readonly number[] = CIFAR10_MEAN, std: readonly number[] = CIFAR10_STD): Uint8ClampedArray {
  return planesToRgba(images, n, size, (v, c) => Math.round((v * std[c] + mean[c]) * 255));
}

/** uint8 images → RGBA. */
export function bytesToRgba(images: Uint8Array, n: number, size: number): Uint8ClampedArray {
  return planesToRgba(images, n, size, (v) => v);
}

/** Row-wise softmax of logits [rows, K]. */
export function softmaxRows(logits: Float32Array, k: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / k; r++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, logits[r * k + j]);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += (out[r * k + j] = Math.exp(logits[r * k + j] - max));
    for (let j = 0; j < k; j++) out[r * k + j] /= sum;
  }
  return out;
}

/**
 * DiversePatch's over-smoothing metric for one sample's tokens [N, D] (CLS first, skipped):
 * 1/(T(T−1)) Σ_{i≠j} cos(h_i, h_j) over the T patch tokens, via |Σ uᵢ|² = T + Σ_{i≠j} uᵢ·uⱼ for unit uᵢ.
 */
export function meanPatchCosine(tokens: Float32Array, n: number, d: number, offset = 0): number {
  const t = n - 1;
  if (t < 2) return NaN;
  const sum = new Float64Array(d);
  for (let i = 1; i < n; i++) {
    const at = offset + i * d;
    let norm = 0;
    for (let k = 0; k < d; k++) norm += tokens[at + k] ** 2;
    const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let k = 0; k < d; k++) sum[k] += tokens[at + k] * inv;
  }
  let sq = 0;
  for (let k = 0; k < d; k++) sq += sum[k] ** 2;
  return (sq - t) / (t * (t - 1));
}

/** A token mask [G²] (non-zero = the partner's token) as its connected parts, numbered in row-major order of their first token. */
export function tokenMixView(mask: ArrayLike<number>, grid: number): TokenMixView {
  const parts = maskParts(mask, grid);
  let count = 0;
  let tokens = 0;
  for (const p of parts) {
    if (p >= 0) tokens++;
    count = Math.max(count, p + 1);
  }
  return { parts, count, tokens, share: tokens / (grid * grid) };
}

/**
 * The teacher's maps [samples, T, K] (per-token class probabilities) as the view draws them:
 * each token's first class and its probability, and the probability of the sample's own label.
 * With `mask` (TokenMix, [T], non-zero = partner), also ρ_own = Σ_t (1 − m_t)·p_t / Σ_t p_t of the
 * ground-truth-class map p, as shaders/labels.wgsl content_targets computes it.
 */
export function teacherView(maps: Float32Array, labels: ArrayLike<number>, samples: number, tokens: number, classes: number, mask?: ArrayLike<number>): TeacherView {
  const T = tokens;
  const K = classes;
  const argmax = new Uint8Array(samples * T);
  const confidence = new Float32Array(samples * T);
  const groundTruth = new Float32Array(samples * T);
  const kept = mask ? new Float32Array(samples) : undefined;
  for (let i = 0; i < samples; i++) {
    const y = labels[i];
    let total = 0;
    let own = 0;
    for (let t = 0; t < T; t++) {
      const at = (i * T + t) * K;
      let best = 0;
      for (let k = 1; k < K; k++) if (maps[at + k] > maps[at + best]) best = k;
      argmax[i * T + t] = best;
      confidence[i * T + t] = maps[at + best];
      const p = (groundTruth[i * T + t] = maps[at + y]);
      total += p;
      if (mask && !mask[t]) own += p;
    }
    if (kept) kept[i] = total > 0 ? own / total : NaN;
  }
  return { tokens: T, classes: K, argmax, confidence, groundTruth, kept };
}

export function toViewSnapshot(raw: StepSnapshot, vit: VitConfig, classes: readonly string[]): Snapshot {
  const K = vit.classes;
  const n = raw.samples;
  const B = raw.batch;
  const N = (vit.imageSize / vit.patch) ** 2 + 1;
  const lambda = raw.mix.ownShare;
  const grid = gridOf(vit);
  const snapshot: Snapshot = {
    step: raw.step, epoch: raw.epoch, mix: raw.mix.kind, at: raw.mix.at ?? 'pixels', lambda, box: raw.mix.box, grid, imageSize: vit.imageSize,
    classes, samples: n, batch: B,
    rgba: unnormalizeToRgba(raw.images, n, vit.imageSize),
    labels: Uint8Array.from(raw.labels.subarray(0, n)),
    partnerLabels: Uint8Array.from({ length: n }, (_, i) => raw.labels[B - 1 - i]),
    partnerShare: raw.mix.partnerShare,
    targets: raw.targets,
    predictions: softmaxRows(raw.logits, K),
  };
  const mask = raw.mix.kind === 'tokenmix'
    ? (raw.mix.plan.mode === 'tokens' ? raw.mix.plan.mask : Uint8Array.from(raw.mix.partnerShare, (v) => (v >= 0.5 ? 1 : 0)))
    : undefined;
  if (mask) snapshot.tokenMix = tokenMixView(mask, grid);
  if (raw.teacher) snapshot.teacher = teacherView(raw.teacher, raw.labels, n, grid * grid, K, mask);
  if (raw.fluctuation) {
    const final = raw.fluctuation[raw.fluctuation.length - 1];
    snapshot.fluctuation = {
      layers: raw.fluctuation,
      rhoMinusLambda: Float32Array.from({ length: B }, (_, b) => final[b * N] - lambda),
    };
  }
  if (raw.attention) {
    const H = vit.heads;
    snapshot.attention = {
      sample: raw.attention.sample, heads: H,
      layers: raw.attention.layers.map((a) => {
        const rows = new Float32Array(H * N);
        for (let h = 0; h < H; h++) rows.set(a.subarray(h * N * N, h * N * N + N), h * N);
        return rows;
      }),
    };
  }
  if (raw.hidden) {
    const s = raw.hidden[0].length / (N * vit.dim);
    snapshot.smoothing = Float32Array.from(raw.hidden, (h) => {
      let total = 0;
      for (let i = 0; i < s; i++) total += meanPatchCosine(h, N, vit.dim, i * N * vit.dim);
      return total / s;
    });
  }
  return snapshot;
}

/** Confusion counts [true][predicted] and the first `examples` test images with their softmax. */
export function epochReport(result: EpochResult, logits: Float32Array, test: ImageSet, examples = 12): EpochReport {
  const K = test.classes.length;
  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  for (let i = 0; i < test.count; i++) {
    let best = 0;
    for (let j = 1; j < K; j++) if (logits[i * K + j] > logits[i * K + best]) best = j;
    confusion[test.labels[i]][best]++;
  }
  const m = Math.min(examples, test.count);
  const plane = 3 * test.size * test.size;
  const probs = softmaxRows(logits.subarray(0, m * K), K);
  return {
    result, confusion,
    examples: Array.from({ length: m }, (_, i) => ({
      rgba: bytesToRgba(test.images.subarray(i * plane, (i + 1) * plane), 1, test.size),
      label: test.labels[i],
      probs: probs.slice(i * K, (i + 1) * K),
    })),
  };
}
