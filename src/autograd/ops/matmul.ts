/**
 * matmul: C = alpha · op(A) · op(B) + bias, batched or 2-D (shaders/matmul.wgsl).
 * A is [M, K] or [Z, M, K] (stored transposed when transA), B likewise [K, N] (transB: [N, K]).
 * A linear layer y = x·Wᵀ + b is matmul(x, W, { transB: true, bias: b }).
 *
 * Backward, in terms of the same kernel (derivation: dop(A) = dC·op(B)ᵀ, dop(B) = op(A)ᵀ·dC):
 *   dA = transA ? mm(B, dC, tA=transB, tB=1) : mm(dC, B, tA=0, tB=!transB)
 *   dB = transB ? mm(dC, A, tA=1, tB=transA) : mm(A, dC, tA=!transA, tB=0)
 *   dbias = column sums of dC
 */
import { type Gpu, type Storage } from '../../gpu/gpu.ts';
import { gradInto, record, zeroedGrad } from '../tape.ts';
import { tempTensor, type Tensor } from '../tensor.ts';
import { columnSum } from './reduce.ts';
import { MATMUL_TILE } from './workgroups.ts';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  bias?: Tensor;
  alpha?: number;
}

interface Dims { batch: number; M: number; N: number; K: number }

/** Shape bookkeeping shared by the op and by callers that want the raw kernel. */
export function matmulDims(a: readonly number[], b: readonly number[], transA: boolean, transB: boolean): Dims {
  if (a.length !== b.length || (a.length !== 2 && a.length !== 3)) {
    throw new Error(`matmul: operands must both be 2-D or both 3-D, got [${a}] and [${b}]`);
  }
  const batch = a.length === 3 ? a[0] : 1;
  if (a.length === 3 && b[0] !== batch) throw new Error(`matmul: batch sizes ${a[0]} and ${b[0]} differ`);
  const [ar, ac] = a.slice(-2);
  const [br, bc] = b.slice(-2);
  const [M, K] = transA ? [ac, ar] : [ar, ac];
  const [K2, N] = transB ? [bc, br] : [br, bc];
  if (K !== K2) throw new Error(`matmul: inner dimensions differ: [${a}]${transA ? 'ᵀ' : ''} · [${b}]${transB ? 'ᵀ' : ''}`);
  return { batch, M, N, K };
}

/** Records the kernel: c = alpha·op(a)·op(b) (+ bias) (+ c). `bias` may be any buffer when absent. */
export function encodeMatmul(
  gpu: Gpu, a: Storage, b: Storage, c: Storage, d: Dims,
  o: { transA: boolean; transB: boolean; bias?: Storage; accumulate: boolean; alpha: number },
): void {
  const { BM, BN, BK } = MATMUL_TILE;
  const z = d.batch;
  gpu.run(
    'matmul', 'matmul',
    {
      M: d.M, N: d.N, K: d.K, trans_a: o.transA, trans_b: o.transB,
      batch_stride_a: z > 1 ? d.M * d.K : 0, batch_stride_b: z > 1 ? d.K * d.N : 0, batch_stride_c: d.M * d.N,
      has_bias: !!o.bias, accumulate: o.accumulate, alpha: o.alpha,
    },
    { a, b, bias: o.bias ?? a, c },
    [Math.ceil(d.N / BN), Math.ceil(d.M / BM), z],
    { BM, BN, BK },
  );
}

export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const { transA = false, transB = false, bias, alpha = 1 } = options;
  const gpu = a.gpu;
  const d = matmulDims(a.shape, b.shape, transA, transB);
  if (bias && bias.size !== d.N) throw new Error(`matmul: bias of ${bias.size} values for ${d.N} output columns`);
  const shape = a.shape.length === 3 ? [d.batch, d.M, d.N] : [d.M, d.N];
  const c = tempTensor(gpu, shape, 'matmul');
  encodeMatmul(gpu, a.storage, b.storage, c.storage, d, { transA, transB, bias: bias?.storage, accumulate: false, alpha });

  const inputs = bias ? [a, b, bias] : [a, b];
  return record('matmul', inputs, c, (dC) => {
    gradInto(a, (dA, accumulate) => {
      if (transA) encodeMatmul(gpu, b.storage, dC.storage, dA.storage, { batch: d.batch, M: d.K, N: d.M, K: d.N }, { transA: transB, transB: true, accumulate, alpha });
      else encodeMatmul(gpu, dC.storage, b.storage, dA.storage, { batch: d.batch, M: d.M, N: d.K, K: d.N }, { transA: false, transB: !transB, accumulate, alpha });
    });
    gradInto(b, (dB, accumulate) => {
      if (transB) encodeMatmul(gpu, dC.storage, a.storage, dB.storage, { batch: d.batch, M: d.N, N: d.K, K: d.M }, { transA: true, transB: transA, accumulate, alpha });
      else encodeMatmul(gpu, a.storage, dC.storage, dB.storage, { batch: d.batch, M: d.K, N: d.N, K: d.M }, { transA: !transA, transB: false, accumulate, alpha });
    });
    if (bias?.requiresGrad) columnSum(gpu, dC.storage, zeroedGrad(bias).storage, d.N, true);
  });
}
