/**
 * matmul (shaders/matmul.wgsl). op(A) is M×K (A stored K×M when transA), op(B) K×N (B stored N×K
 * when transB). sharedA / sharedB: that operand is one matrix used by every batch entry (broadcast).
 */
import { gelu, geluBackward } from './gelu.ts';
import { type In, type Vec, zeros } from './types.ts';

export interface MatmulDims {
  batch: number; M: number; N: number; K: number; transA?: boolean; transB?: boolean; alpha?: number;
  sharedA?: boolean; sharedB?: boolean;
}

const at = (x: In, z: number, rows: number, cols: number, r: number, c: number, trans = false) =>
  trans ? x[z * rows * cols + c * rows + r] : x[z * rows * cols + r * cols + c];

/** C[z] = alpha · op(A[z]) · op(B[z]) + bias. */
export function matmul(a: In, b: In, d: MatmulDims, bias?: In): Vec {
  const { batch, M, N, K, alpha = 1 } = d;
  const c = zeros(batch * M * N);
  for (let z = 0; z < batch; z++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += at(a, d.sharedA ? 0 : z, M, K, m, k, d.transA) * at(b, d.sharedB ? 0 : z, K, N, k, n, d.transB);
        c[(z * M + m) * N + n] = alpha * s + (bias ? bias[n] : 0);
      }
    }
  }
  return c;
}

/** dop(A) = alpha · dC · op(B)ᵀ, dop(B) = alpha · op(A)ᵀ · dC (each stored like its operand), dbias = Σ_rows dC. */
export function matmulBackward(a: In, b: In, dc: In, d: MatmulDims): { da: Vec; db: Vec; dbias: Vec } {
  const { batch, M, N, K, alpha = 1 } = d;
  const da = zeros((d.sharedA ? 1 : batch) * M * K), db = zeros((d.sharedB ? 1 : batch) * K * N), dbias = zeros(N);
  const za = (z: number) => (d.sharedA ? 0 : z), zb = (z: number) => (d.sharedB ? 0 : z);
  const ia = (z: number, m: number, k: number) => (d.transA ? za(z) * M * K + k * M + m : za(z) * M * K + m * K + k);
  const ib = (z: number, k: number, n: number) => (d.transB ? zb(z) * K * N + n * K + k : zb(z) * K * N + k * N + n);
  for (let z = 0; z < batch; z++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        const g = dc[(z * M + m) * N + n];
        dbias[n] += g;
        for (let k = 0; k < K; k++) {
          da[ia(z, m, k)] += alpha * g * b[ib(z, k, n)];
          db[ib(z, k, n)] += alpha * a[ia(z, m, k)] * g;
        }
      }
    }
  }
  return { da, db, dbias };
}

/** C = GELU(alpha · op(A) · op(B) + bias) (the fused epilogue's activation: 'gelu'). */
export function matmulGelu(a: In, b: In, d: MatmulDims, bias?: In): Vec {
  return gelu(matmul(a, b, d, bias));
}

/** dV = dC · GELU'(V), V = alpha·op(A)·op(B) + bias; then matmulBackward with dV (dbias = Σ_rows dV). */
export function matmulGeluBackward(a: In, b: In, dc: In, d: MatmulDims, bias?: In): { da: Vec; db: Vec; dbias: Vec } {
  return matmulBackward(a, b, geluBackward(matmul(a, b, d, bias), dc), d);
}
