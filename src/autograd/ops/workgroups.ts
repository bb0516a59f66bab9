/**
 * Workgroup sizes and tiles, one source for TS grids and WGSL (passed as override constants).
 */
import { grid1d } from '../../gpu/gpu.ts';

/** Threads per workgroup of the elementwise-style kernels (one thread per element). */
export const ELEMENTWISE_WG = 256;
/** Threads per workgroup of the row-per-thread kernels (layernorm, softmax, attention, CE). */
export const ROW_WG = 64;
/** Matmul output tile: BM×BN per workgroup, K streamed BK at a time (4×4 per thread). */
export const MATMUL_TILE = { BM: 64, BN: 64, BK: 16 } as const;
/** Threads of a reduction workgroup, and the most workgroups a first pass uses. */
export const REDUCE_WG = 256;
export const REDUCE_MAX_GROUPS = 256;

export const elementwiseGrid = (n: number) => grid1d(n, ELEMENTWISE_WG);
export const rowGrid = (rows: number) => grid1d(rows, ROW_WG);
