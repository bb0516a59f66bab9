/**
 * Will a run fit the adapter? Checked before anything is allocated, so that a configuration the
 * device cannot hold is refused with its reason instead of failing half-way through a step.
 *
 * WebGPU tells the page its per-buffer limits but not how much memory the GPU has, so two checks:
 * every buffer the run needs against maxStorageBufferBindingSize / maxBufferSize (exact), and the
 * estimated total against a budget (default 4 GiB: what browsers commonly let one page allocate;
 * the allocation itself is also guarded by an out-of-memory error scope).
 *
 * The estimate counts the parameter arena (values, gradients, two AdamW moments), the uint8
 * datasets, and one step's temporaries: every forward activation of the batch and half as much
 * again for gradients and scratch (the backward hands each activation gradient back to the pool
 * once its op has consumed it; measured ×1.10–1.12 of what is created); evaluation's
 * batch, which reuses those buffers when its size is the same. With precision f16 the arena
 * has a fifth buffer (the f16 weight copy, 2 bytes a value), and LN1, LN2 and fc1's GELU output
 * are stored in f16.
 */
import { tokensOf, type VitConfig } from '../nn/presets.ts';
import { type Precision, vitParamSpecs } from '../nn/vit.ts';

export interface MemoryPlan {
  parameters: number;
  /** Bytes of the largest single buffer and what it holds. */
  largest: { bytes: number; what: string };
  /** Estimated bytes of everything, by part. */
  parts: { parameters: number; datasets: number; activations: number; evaluation: number };
  total: number;
}

export const DEFAULT_MEMORY_BUDGET = 4 * 2 ** 30;

/** Forward activations of one batch of `b` images, in floats, and the largest one. */
function forwardFloats(c: VitConfig, b: number, half: boolean): { floats: number; largest: { floats: number; what: string } } {
  const n = tokensOf(c);
  const rows = b * n;
  const candidates = [
    { floats: b * c.heads * n * n, what: `attention probabilities [${b}, ${c.heads}, ${n}, ${n}]` },
    { floats: rows * c.mlpDim, what: `MLP hidden [${rows}, ${c.mlpDim}]` },
    { floats: rows * 3 * c.dim, what: `qkv [${rows}, ${3 * c.dim}]` },
    { floats: b * c.channels * c.imageSize ** 2, what: `image batch [${b}, ${c.channels}, ${c.imageSize}, ${c.imageSize}]` },
  ];
  // Per block: LN1, qkv (3D), attention out, proj + residual, LN2, fc2 + residual (6D in all beside
  // qkv: the residual adds run in the matmul epilogues), fc1 and GELU (2F), the probabilities (H·N)
  // and the LayerNorm statistics. On the f16 path LN1, LN2 and the GELU output take half the bytes.
  const perBlock = rows * ((half ? 8 : 9) * c.dim + (half ? 1.5 : 2) * c.mlpDim + c.heads * n + 4);
  const embed = b * c.channels * c.imageSize ** 2 * 2 + rows * c.dim * 3;
  const largest = candidates.reduce((a, x) => (x.floats > a.floats ? x : a));
  return { floats: c.depth * perBlock + embed + rows * c.dim * 2 + b * c.classes * 4, largest };
}

export function planMemory(c: VitConfig, o: { batch: number; evalBatch: number; trainImages: number; testImages: number; teacher?: boolean; precision?: Precision }): MemoryPlan {
  const parameters = vitParamSpecs(c, 0).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  const half = o.precision === 'f16';
  const train = forwardFloats(c, o.batch, half);
  const evaluation = forwardFloats(c, o.evalBatch, half);
  const imageBytes = c.channels * c.imageSize ** 2;
  const parts = {
    parameters: (4 * 4 + (half ? 2 : 0)) * parameters,
    datasets: (o.trainImages + o.testImages) * (imageBytes + 4),
    activations: 4 * 1.5 * train.floats,
    evaluation: 4 * evaluation.floats,
    /** A teacher method's maps [trainImages, T, K] f32. */
    teacher: o.teacher ? 4 * o.trainImages * (c.imageSize / c.patch) ** 2 * c.classes : 0,
  };
  const largestBuffers = [
    { bytes: 4 * parameters, what: `parameter arena (${parameters.toLocaleString('en-US')} floats)` },
    { bytes: 4 * train.largest.floats, what: train.largest.what },
    { bytes: 4 * evaluation.largest.floats, what: `${evaluation.largest.what} (evaluation)` },
  ];
  const largest = largestBuffers.reduce((a, x) => (x.bytes > a.bytes ? x : a));
  // The pool reuses buffers of equal size only: evaluation shares training's when the batches are equal.
  const steps = o.batch === o.evalBatch ? Math.max(parts.activations, parts.evaluation) : parts.activations + parts.evaluation;
  return { parameters, largest, parts, total: parts.parameters + parts.datasets + parts.teacher + steps };
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 2 : 0)} MiB`;

/** Throws, naming the limit and the buffer, when the plan does not fit; returns it otherwise. */
export function checkFits(plan: MemoryPlan, limits: Record<string, number>, budget = DEFAULT_MEMORY_BUDGET): MemoryPlan {
  const binding = Math.min(limits.maxStorageBufferBindingSize ?? Infinity, limits.maxBufferSize ?? Infinity);
  if (plan.largest.bytes > binding) {
    throw new Error(`this configuration does not fit the adapter: its ${plan.largest.what} needs ${mib(plan.largest.bytes)} in one buffer, ` +
      `and this adapter allows at most ${mib(binding)} per storage buffer (maxStorageBufferBindingSize). Use a smaller batch or model.`);
  }
  if (plan.total > budget) {
    const p = plan.parts;
    throw new Error(`this configuration needs about ${mib(plan.total)} of GPU memory (parameters and AdamW ${mib(p.parameters)}, ` +
      `datasets ${mib(p.datasets)}, one step's activations ${mib(p.activations)}, evaluation ${mib(p.evaluation)}), ` +
      `more than the ${mib(budget)} a page can count on. Use a smaller batch or model.`);
  }
  return plan;
}
