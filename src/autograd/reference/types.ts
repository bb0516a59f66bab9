/** Float64 CPU references of the WGSL kernels: plain loops, no GPU, for checking (src/check/ops.ts). */
export type In = ArrayLike<number>;
export type Vec = Float64Array;

export const zeros = (n: number): Vec => new Float64Array(n);
