/**
 * Learning rate: linear warmup from warmupFrom to `lr`, then cosine decay to `minLr`
 * (timm's CosineLRScheduler with warmup_t, per step rather than per epoch).
 */
export interface LrSchedule {
  lr: number;
  totalSteps: number;
  warmupSteps: number;
  minLr?: number;
  warmupFrom?: number;
}

export function learningRate(s: LrSchedule, step: number): number {
  const minLr = s.minLr ?? 0;
  const from = s.warmupFrom ?? 0;
  if (step < s.warmupSteps) return from + ((s.lr - from) * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const t = Math.min(1, (step - s.warmupSteps) / span);
  return minLr + 0.5 * (s.lr - minLr) * (1 + Math.cos(Math.PI * t));
}
