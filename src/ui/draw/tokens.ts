/** Slicing the worker's per-token read-outs: one sample's patch tokens, one head's or all heads' CLS attention. */

/** Values of the G² patch tokens of `sample` in a [samples × N] array whose token 0 is CLS (N = G² + 1). */
export function patchTokens(values: Float32Array, sample: number, grid: number): Float32Array {
  const tokens = grid * grid + 1;
  const start = sample * tokens + 1;
  return values.subarray(start, start + grid * grid);
}

/** The CLS token's value of `sample` in a [samples × N] array. */
export function clsToken(values: Float32Array, sample: number, grid: number): number {
  return values[sample * (grid * grid + 1)];
}

/** CLS attention row over all N tokens, from [heads × N]: one head's row, or the mean over heads. */
export function clsAttention(layer: Float32Array, heads: number, head: number | 'mean'): Float32Array {
  const tokens = layer.length / heads;
  if (head !== 'mean') return layer.subarray(head * tokens, (head + 1) * tokens);
  const out = new Float32Array(tokens);
  for (let h = 0; h < heads; h++) for (let t = 0; t < tokens; t++) out[t] += layer[h * tokens + t] / heads;
  return out;
}

/** Values divided by their maximum (all zeros stay zeros), so a heat map uses its whole colour range. */
/** values → [0, 1] between their minimum and maximum (all 0 when flat): shows the pattern of near-uniform attention too. */
export function stretchToRange(values: ArrayLike<number>): Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]);
    hi = Math.max(hi, values[i]);
  }
  return Float32Array.from(values, (v) => (hi > lo ? (v - lo) / (hi - lo) : 0));
}

/** "input", "block 1", …, "block L" for depth L; "in", "1", …, "L" when the labels must be short. */
export function layerNames(depth: number, short = false): string[] {
  return Array.from({ length: depth + 1 }, (_, l) => (l === 0 ? (short ? 'in' : 'input') : short ? String(l) : `block ${l}`));
}
