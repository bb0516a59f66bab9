/**
 * Float64 CPU references of every kernel (plain loops over Float64Array, no GPU), one file per
 * kernel family. src/check/ops.ts compares the GPU ops against them and checks each reference
 * backward against central finite differences of its forward.
 */
export * from './types.ts';
export * from './matmul.ts';
export * from './elementwise.ts';
export * from './gelu.ts';
export * from './layernorm.ts';
export * from './softmax.ts';
export * from './attention.ts';
export * from './cross-entropy.ts';
export * from './patch.ts';
export * from './tokens.ts';
export * from './diversity.ts';
export * from './reduce.ts';
export * from './optimizer.ts';
