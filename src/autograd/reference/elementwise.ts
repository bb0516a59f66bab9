/** Elementwise arithmetic (shaders/elementwise.wgsl). */
import { type In, type Vec } from './types.ts';

/** y = a + b. */
export const add = (a: In, b: In): Vec => Float64Array.from(a, (v, i) => v + b[i]);
/** da = dy, db = dy. */
export const addBackward = (dy: In): { da: Vec; db: Vec } => ({ da: Float64Array.from(dy), db: Float64Array.from(dy) });
/** y = alpha · a. */
export const scale = (a: In, alpha: number): Vec => Float64Array.from(a, (v) => alpha * v);
/** da = alpha · dy. */
export const scaleBackward = (dy: In, alpha: number): Vec => scale(dy, alpha);
/** dst = alpha · a (+ dst when accumulate). */
export const axpy = (a: In, alpha: number, dst?: In): Vec => Float64Array.from(a, (v, i) => alpha * v + (dst ? dst[i] : 0));
