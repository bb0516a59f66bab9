/**
 * matmul: C = alpha · op(A) · op(B) + bias, batched or 2-D (shaders/matmul.wgsl), optionally with
 * GELU fused into the epilogue (activation: 'gelu': C = GELU(V), V = alpha·op(A)·op(B) + bias), or
 * a residual added there (residual: R: C = alpha·op(A)·op(B) + bias + R; the ViT's x + proj(…)
 * costs no pass of its own, and the product alone is never stored).
 * A is [M, K] or [Z, M, K] (stored transposed when transA), B likewise [K, N] (transB: [N, K]).
 * A linear layer y = x·Wᵀ + b is matmul(x, W, { transB: true, bias: b }).
 *
 * Backward, in terms of the same kernel (derivation: dop(A) = dC·op(B)ᵀ, dop(B) = op(A)ᵀ·dC):
 *   dA = transA ? mm(B, dC, tA=transB, tB=1) : mm(dC, B, tA=0, tB=!transB)
 *   dB = transB ? mm(dC, A, tA=1, tB=transA) : mm(A, dC, tA=!transA, tB=0)
 *   dbias = column sums of dC (with dB's product where it can: rowSums);  dR = dC
 * With GELU the forward also writes the pre-activation V, and the backward first forms
 * dV = dC · GELU'(V) (gelu.wgsl's gelu_backward) and uses dV for dC above.
 *
 * Mixed precision (shader-f16): an operand or the output whose Storage is f16 selects the kernel
 * variant that reads (writes) f16; products accumulate in f32. `halfB` is an f16 copy of B (the
 * weight copy AdamW writes) read by the forward and by dA in B's place, so the backward uses what
 * the forward used; B's gradient is still formed in f32. An f16 A is read as f16 by dB too.
 *
 * Kernel choice (encodeMatmul): the vec4 kernel (8×8 per thread, 64×64 or 128×128 tiles) when
 * N and each operand's contiguous dimension are multiples of 4, the scalar 4×4 kernel otherwise.
 */
import { type Gpu, type Storage } from '../../gpu/gpu.ts';
import { gradInto, passGradInto, record, zeroedGrad } from '../tape.ts';
import { tempTensor, type Tensor } from '../tensor.ts';
import { axpy } from './elementwise.ts';
import { columnSum, columnSumSplit } from './reduce.ts';
import { ELEMENTWISE_WG, MATMUL_TILE, elementwiseGrid } from './workgroups.ts';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  bias?: Tensor;
  alpha?: number;
  /** Fused into the epilogue: GELU (exact erf form, as the gelu op) of alpha·op(A)·op(B) + bias. */
  activation?: 'gelu';
  /** Added in the epilogue: a tensor of the output's size (not with an activation). */
  residual?: Tensor;
  /** An f16 copy of b (same shape), read instead of b by the products; b receives the gradient. */
  halfB?: Tensor;
  /** Store the output in f16 (an activation only read by another product); its gradient stays f32. */
  halfOutput?: boolean;
  /**
   * Forces a kernel for every product of this op, forward and backward, where it applies (tests;
   * a vec4 kernel falls back to the scalar one for shapes it cannot take). Default: matmulKernel.
   */
  kernel?: MatmulKernel;
}

/** Vec4 kernel tiles: 64×64 (BK 16, 64 threads), and 128×128 (BK 8, 256 threads) for large outputs. */
export const MATMUL_VEC4_TILES = {
  small: { BM: 64, BN: 64, BK: 16 },
  large: { BM: 128, BN: 128, BK: 8 },
} as const;
/** The large tile is used when it still gives at least this many workgroups. */
export const MATMUL_LARGE_TILE_MIN_GROUPS = 128;

export type MatmulKernel = 'scalar' | 'vec4-64' | 'vec4-128';

/**
 * Split-K for the weight gradients. dW = dCᵀ·X has a small output (out × in features) and a long K
 * (batch × tokens rows: 8,320 for `small` at batch 128). One workgroup per output tile would leave
 * 4–12 workgroups for a GPU that has over 100 compute units. Instead the rows are cut into S equal
 * slices, the partial products are made as one batched product (a slice is a batch entry, since both
 * operands are K-major: A stored K×M, B stored K×N), and a column sum over the S partials adds
 * them into C. Only where K ≥ `minK` (below it a dispatch more costs more than it gives), S is the
 * largest divisor of K that keeps slices at least `minSlice` rows long and the workgroups at most
 * `targetGroups` (a few per compute unit of a large GPU). Not yet measured on a GPU: starting values.
 * `npm run bench` times the presets' weight gradients at every slice count of a sweep: the data to tune them.
 */
export const MATMUL_SPLIT_K = { minK: 2048, minSlice: 128, targetGroups: 1024 } as const;

/** Slices of K for this product (1: no split). Depends only on the shapes, like the kernel choice. */
export function matmulSplitK(d: Dims, transA: boolean, transB: boolean): number {
  if (d.batch !== 1 || !transA || transB || d.K < MATMUL_SPLIT_K.minK) return 1;
  const { BM, BN } = matmulVec4Ok(d, transA, transB) ? MATMUL_VEC4_TILES.small : MATMUL_TILE;
  const groups = Math.ceil(d.M / BM) * Math.ceil(d.N / BN);
  let slices = 1;
  for (let s = 2; s <= d.K / MATMUL_SPLIT_K.minSlice && groups * s <= MATMUL_SPLIT_K.targetGroups; s++) if (d.K % s === 0) slices = s;
  return slices;
}

/**
 * Batch, sizes, and which operand (if any) is shared by every batch entry: a 2-D operand beside a
 * 3-D one is broadcast (batch stride 0 in the kernel).
 */
export interface Dims { batch: number; M: number; N: number; K: number; sharedA?: boolean; sharedB?: boolean }

/** Shape bookkeeping shared by the op and by callers that want the raw kernel. */
export function matmulDims(a: readonly number[], b: readonly number[], transA: boolean, transB: boolean): Dims {
  if ((a.length !== 2 && a.length !== 3) || (b.length !== 2 && b.length !== 3)) {
    throw new Error(`matmul: operands must be 2-D or 3-D, got [${a}] and [${b}]`);
  }
  const batch = a.length === 3 ? a[0] : b.length === 3 ? b[0] : 1;
  if (a.length === 3 && b.length === 3 && b[0] !== batch) throw new Error(`matmul: batch sizes ${a[0]} and ${b[0]} differ`);
  const [ar, ac] = a.slice(-2);
  const [br, bc] = b.slice(-2);
  const [M, K] = transA ? [ac, ar] : [ar, ac];
  const [K2, N] = transB ? [bc, br] : [br, bc];
  if (K !== K2) throw new Error(`matmul: inner dimensions differ: [${a}]${transA ? 'ᵀ' : ''} · [${b}]${transB ? 'ᵀ' : ''}`);
  return { batch, M, N, K, sharedA: a.length === 2 && b.length === 3, sharedB: b.length === 2 && a.length === 3 };
}

/** Whether the vec4 kernel applies: N and each operand's contiguous dimension are multiples of 4. */
export function matmulVec4Ok(d: Dims, transA: boolean, transB: boolean): boolean {
  return d.N % 4 === 0 && (transA ? d.M : d.K) % 4 === 0 && (transB ? d.K : d.N) % 4 === 0;
}

/** The kernel encodeMatmul picks for these dimensions (depends only on the shapes, never on the adapter). */
export function matmulKernel(d: Dims, transA: boolean, transB: boolean): MatmulKernel {
  if (!matmulVec4Ok(d, transA, transB)) return 'scalar';
  const { BM, BN } = MATMUL_VEC4_TILES.large;
  const large = Math.ceil(d.M / BM) * Math.ceil(d.N / BN) * d.batch >= MATMUL_LARGE_TILE_MIN_GROUPS;
  return large ? 'vec4-128' : 'vec4-64';
}

export interface EncodeMatmulOptions {
  transA: boolean;
  transB: boolean;
  bias?: Storage;
  accumulate: boolean;
  alpha: number;
  /** With 'gelu', c receives GELU(v) and `pre` receives v (required then; accumulate is not allowed). */
  activation?: 'gelu';
  pre?: Storage;
  /** Added to the output in the epilogue (same layout as c). */
  residual?: Storage;
  /** Forces a kernel (tests and benchmarks); the vec4 ones only where matmulVec4Ok. */
  kernel?: MatmulKernel;
  /** Forces the number of K slices (tests); it must divide K, and needs transA && !transB. Default: matmulSplitK. */
  splitK?: number;
  /**
   * Also dst[m] (+)= Σ_k op(A)[m, k], unscaled (transA only; batch 1): with A = dC stored K×M that
   * is a bias gradient. Under split-K with the vec4 kernel it comes from the product's own A tiles
   * and the one column sum (no pass of its own); otherwise a column sum of A.
   */
  rowSums?: { dst: Storage; accumulate: boolean };
}

/** Records the kernel: c = alpha·op(a)·op(b) (+ bias) (+ c), or GELU of it. `bias` may be absent. */
export function encodeMatmul(gpu: Gpu, a: Storage, b: Storage, c: Storage, d: Dims, o: EncodeMatmulOptions): void {
  const gelu = o.activation === 'gelu';
  if (gelu && (!o.pre || o.accumulate || o.residual)) throw new Error('matmul: a GELU epilogue needs a pre-activation buffer, and no accumulate or residual');
  if (o.rowSums && (!o.transA || d.batch !== 1 || a.dtype)) throw new Error('matmul: rowSums needs one product with an f32 A stored K×M (transA)');
  const slices = o.splitK ?? (o.bias || gelu || o.residual || c.dtype ? 1 : matmulSplitK(d, o.transA, o.transB));
  if (slices > 1) {
    if (d.batch !== 1 || !o.transA || o.transB || d.K % slices !== 0 || o.bias || gelu || o.residual || c.dtype) {
      throw new Error(`matmul: split-K needs one product with K-major operands (transA, not transB), an f32 output, no epilogue, and ${slices} dividing K=${d.K}`);
    }
    const k = d.K / slices;
    const slice: Dims = { batch: slices, M: d.M, N: d.N, K: k };
    const rowSums = (o.kernel ?? matmulKernel(slice, true, false)) !== 'scalar' ? o.rowSums : undefined;
    // each slice's partial product, then (rowSums) its M row sums: [slices, M·N (+ M)]
    const stride = d.M * d.N + (rowSums ? d.M : 0);
    const partials = gpu.temp(slices * stride);
    encodeSlices(gpu, a, b, partials, slice, { ...o, accumulate: false, splitK: 1 }, k * d.M, k * d.N, rowSums ? stride : undefined);
    if (rowSums) columnSumSplit(gpu, partials, c, rowSums.dst, stride, d.M * d.N, o.accumulate, rowSums.accumulate);
    else columnSum(gpu, partials, c, d.M * d.N, o.accumulate);
    gpu.release(partials);
    if (rowSums) return;
  } else {
    encodeSlices(gpu, a, b, c, d, o);
  }
  if (o.rowSums) columnSum(gpu, a, o.rowSums.dst, d.M, o.rowSums.accumulate);
}

/**
 * The kernel itself; for split-K, `strideA` / `strideB` step from one K slice to the next, and
 * `rowSumStride` (the vec4 kernel's row_sums) is C's slice stride with the M row sums after the M·N products.
 */
function encodeSlices(gpu: Gpu, a: Storage, b: Storage, c: Storage, d: Dims, o: EncodeMatmulOptions, strideA?: number, strideB?: number, rowSumStride?: number): void {
  const gelu = o.activation === 'gelu';
  const kernel = o.kernel ?? matmulKernel(d, o.transA, o.transB);
  if (kernel !== 'scalar' && !matmulVec4Ok(d, o.transA, o.transB)) throw new Error(`matmul: the vec4 kernel needs multiples of 4 (M=${d.M} N=${d.N} K=${d.K})`);
  const z = d.batch;
  const params = {
    M: d.M, N: d.N, K: d.K, trans_a: o.transA, trans_b: o.transB,
    batch_stride_a: strideA ?? (z > 1 && !d.sharedA ? d.M * d.K : 0), batch_stride_b: strideB ?? (z > 1 && !d.sharedB ? d.K * d.N : 0),
    batch_stride_c: rowSumStride ?? d.M * d.N,
    has_bias: !!o.bias, accumulate: o.accumulate, alpha: o.alpha, has_residual: !!o.residual, row_sums: rowSumStride !== undefined,
  };
  if (rowSumStride !== undefined && (kernel === 'scalar' || gelu)) throw new Error('matmul: row sums are written by the vec4 kernel without GELU only');
  // Absent operands are bound to A, never read.
  const bias = o.bias ?? a;
  const residual = o.residual ?? a;
  const half = [a.dtype && 'A_T', b.dtype && 'B_T', c.dtype && 'C_T'].filter((x): x is string => !!x);
  if (o.bias?.dtype || o.residual?.dtype || o.pre?.dtype) throw new Error('matmul: bias, residual and pre-activation must be f32');
  if (kernel === 'scalar') {
    const { BM, BN, BK } = MATMUL_TILE;
    const bindings: Record<string, Storage> = gelu ? { a, b, bias, c, pre: o.pre!, residual } : { a, b, bias, c, residual };
    gpu.run('matmul', gelu ? 'matmul_gelu' : 'matmul', params, bindings, [Math.ceil(d.N / BN), Math.ceil(d.M / BM), z], { BM, BN, BK }, half);
  } else {
    const { BM, BN, BK } = MATMUL_VEC4_TILES[kernel === 'vec4-128' ? 'large' : 'small'];
    const bindings: Record<string, Storage> = gelu ? { a4: a, b4: b, bias, c4: c, pre4: o.pre!, residual4: residual } : { a4: a, b4: b, bias, c4: c, residual4: residual };
    gpu.run('matmul', gelu ? 'matmul_vec4_gelu' : 'matmul_vec4', params, bindings, [Math.ceil(d.N / BN), Math.ceil(d.M / BM), z], { BM, BN, BK }, half);
  }
}

export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const { transA = false, transB = false, bias, alpha = 1, activation, residual, halfB, halfOutput, kernel: forced } = options;
  const gpu = a.gpu;
  const dims = matmulDims(a.shape, b.shape, transA, transB);
  if (bias && bias.size !== dims.N) throw new Error(`matmul: bias of ${bias.size} values for ${dims.N} output columns`);
  const shape = dims.batch > 1 || a.shape.length === 3 || b.shape.length === 3 ? [dims.batch, dims.M, dims.N] : [dims.M, dims.N];
  // A batch of row-major A against one shared B is a single 2-D product with batch·M rows.
  const d: Dims = dims.sharedB && !transA ? { batch: 1, M: dims.batch * dims.M, N: dims.N, K: dims.K } : dims;
  if (halfB && (halfB.storage.dtype !== 'f16' || halfB.size !== b.size)) throw new Error(`matmul: halfB must be an f16 copy of b [${b.shape}]`);
  const bRead = halfB?.storage ?? b.storage;
  const c = tempTensor(gpu, shape, activation ? `matmul_${activation}` : 'matmul', halfOutput ? 'f16' : undefined);
  const pre = activation ? gpu.temp(c.size) : undefined;
  const encode = (x: Storage, y: Storage, out: Storage, dd: Dims, o: EncodeMatmulOptions) =>
    encodeMatmul(gpu, x, y, out, dd, { ...o, kernel: forced && (forced === 'scalar' || matmulVec4Ok(dd, o.transA, o.transB)) ? forced : undefined });
  if (residual && residual.size !== c.size) throw new Error(`matmul: residual [${residual.shape}] for an output [${shape}]`);
  encode(a.storage, bRead, c.storage, d, { transA, transB, bias: bias?.storage, accumulate: false, alpha, activation, pre, residual: residual?.storage });

  const inputs = [a, b, ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  return record(activation ? `matmul_${activation}` : 'matmul', inputs, c, (dOut) => {
    let dC = dOut.storage;
    if (pre) {
      // dV = dC · GELU'(V), V the saved pre-activation
      dC = gpu.temp(c.size);
      gpu.run('gelu', 'gelu_backward', { n: c.size, accumulate: 0 }, { x: pre, dy: dOut.storage, y: dC }, elementwiseGrid(c.size), { WG: ELEMENTWISE_WG });
    }
    // A shared operand's gradient is the sum over the batch of per-entry gradients: formed batched
    // in a step buffer, then summed (a column sum over [batch, size]).
    const sharedGrad = (t: Tensor, shared: boolean | undefined, write: (dst: Storage, accumulate: boolean) => void) =>
      gradInto(t, (dst, accumulate) => {
        if (!shared || d.batch === 1) { write(dst.storage, accumulate); return; }
        const perBatch = gpu.temp(d.batch * t.size);
        write(perBatch, false);
        columnSum(gpu, perBatch, dst.storage, t.size, accumulate);
        gpu.release(perBatch);
      });
    const full = { batch: d.batch, sharedA: false, sharedB: false };
    sharedGrad(a, d.sharedA, (dA, accumulate) => {
      const g = { ...full, sharedA: d.sharedB };
      if (transA) encode(bRead, dC, dA, { ...g, M: d.K, N: d.M, K: d.N }, { transA: transB, transB: true, accumulate, alpha });
      else encode(dC, bRead, dA, { ...full, sharedB: d.sharedB, M: d.M, N: d.K, K: d.N }, { transA: false, transB: !transB, accumulate, alpha });
    });
    // A linear layer's bias gradient, the column sums of dC, comes with its weight gradient
    // (rowSums: under split-K from the product's own tiles and its one column sum)
    const biasWithB = !!bias?.requiresGrad && b.requiresGrad && transB && d.batch === 1;
    sharedGrad(b, d.sharedB, (dB, accumulate) => {
      const rowSums = biasWithB ? { dst: zeroedGrad(bias!).storage, accumulate: true } : undefined;
      if (transB) encode(dC, a.storage, dB, { ...full, sharedB: d.sharedA, M: d.N, N: d.K, K: d.M }, { transA: true, transB: transA, accumulate, alpha, rowSums });
      else encode(a.storage, dC, dB, { ...full, sharedA: d.sharedA, M: d.K, N: d.N, K: d.M }, { transA: !transA, transB: false, accumulate, alpha });
    });
    if (bias?.requiresGrad && !biasWithB) columnSum(gpu, dC, zeroedGrad(bias).storage, d.N, true);
    // dR = dC: the residual takes dC's buffer itself where it can (passGradInto); last, as it requires
    if (residual) passGradInto(residual, dOut, (dst, accumulate) => axpy(gpu, dC, dst.storage, 1, accumulate));
    if (pre) gpu.release(dC); // dV: read by nothing recorded from now on
  });
}
