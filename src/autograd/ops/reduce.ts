/** Reductions (shaders/reduce.wgsl): total sums for metrics and norms, column sums for bias grads. */
import { type Gpu, type Storage } from '../../gpu/gpu.ts';
import { tempTensor, type Tensor } from '../tensor.ts';
import { REDUCE_MAX_GROUPS, REDUCE_WG } from './workgroups.ts';

const constants = { WG: REDUCE_WG };
/** reduce.wgsl's uniforms that a kernel leaves at rest (every call gives the whole struct). */
const REST = { square: 0, alpha: 1, accumulate: 0, split: 0, accumulate2: 0 };

/** dst[0] (+)= alpha · Σ src (squared when `square`). Two dispatches, deterministic. */
export function encodeSum(gpu: Gpu, src: Storage, dst: Storage, o: { square?: boolean; alpha?: number; accumulate?: boolean } = {}): void {
  const groups = Math.max(1, Math.min(REDUCE_MAX_GROUPS, Math.ceil(src.elements / REDUCE_WG)));
  const partial = gpu.temp(groups);
  gpu.run('reduce', 'sum_partial', { ...REST, n: src.elements, cols: 1, square: !!o.square }, { src, dst: partial }, [groups], constants);
  gpu.run('reduce', 'sum_final', { ...REST, n: groups, cols: 1, alpha: o.alpha ?? 1, accumulate: !!o.accumulate }, { src: partial, dst }, [1], constants);
}

/** Rows per workgroup in the first pass of a column sum (shaders/reduce.wgsl). */
export const COLUMN_CHUNK = 256;
const COLUMN_TILE = 64;

/**
 * dst[c] (+)= Σ_r src[r, c] over a row-major [rows, cols] matrix: partial sums per chunk of
 * COLUMN_CHUNK rows, then one pass over the chunks (one pass alone when the matrix is short).
 */
export function columnSum(gpu: Gpu, src: Storage, dst: Storage, cols: number, accumulate: boolean): void {
  const rows = src.elements / cols;
  const chunks = Math.ceil(rows / COLUMN_CHUNK);
  let input = src;
  if (chunks > 1) {
    input = gpu.temp(chunks * cols);
    gpu.run('reduce', 'column_sum_partial', { ...REST, n: src.elements, cols }, { src, dst: input },
      [Math.ceil(cols / COLUMN_TILE), chunks], { COLUMN_CHUNK });
  }
  gpu.run('reduce', 'column_sum', { ...REST, n: input.elements, cols, accumulate }, { src: input, dst }, [Math.ceil(cols / REDUCE_WG)], constants);
}

/**
 * columnSum of a short [rows, cols] matrix (one pass) whose columns from `split` on go to a second
 * buffer: dst[c] (+)= Σ_r src[r, c] for c < split, dst2[c − split] (+)= … for the rest.
 */
export function columnSumSplit(gpu: Gpu, src: Storage, dst: Storage, dst2: Storage, cols: number, split: number, accumulate: boolean, accumulate2: boolean): void {
  gpu.run('reduce', 'column_sum_split', { ...REST, n: src.elements, cols, accumulate, split, accumulate2 }, { src, dst, dst2 }, [Math.ceil(cols / REDUCE_WG)], constants);
}

/** A [1] tensor holding alpha·Σ t (no gradient: for metrics and norms). */
export function sumOf(t: Tensor, o: { square?: boolean; alpha?: number } = {}): Tensor {
  const out = tempTensor(t.gpu, [1], 'sum');
  encodeSum(t.gpu, t.storage, out.storage, o);
  return out;
}
