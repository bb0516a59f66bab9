/**
 * LayerNorm over the last dimension (shaders/layernorm.wgsl), and LayerNorm fused with the
 * residual add before it: addLayerNorm(x, r, gamma, beta) → { sum: x + r, normed: LN(x + r) } in
 * one kernel. Both save mean and rstd per row; rows are normalised one workgroup per row, whose
 * sums combine through subgroup operations where the device has them (shaders/layernorm.wgsl).
 */
import { type Gpu, grid1d, type Storage } from '../../gpu/gpu.ts';
import { add, axpy } from './elementwise.ts';
import { gradInto, record, zeroedGrad } from '../tape.ts';
import { tempTensor, type Tensor } from '../tensor.ts';

/** timm's ViT LayerNorm epsilon (nn.LayerNorm(eps=1e-6)). */
export const LAYERNORM_EPS = 1e-6;

/** Threads per row: a power of two, about dim/4 (each thread handles ~4 features), 32..128. */
export function layerNormRowThreads(dim: number): number {
  let wg = 32;
  while (wg < 128 && wg * 4 < dim) wg *= 2;
  return wg;
}

/** Rows per chunk of the parameter-gradient reduction: about 64 chunks, at least 32 rows each. */
const PARAM_CHUNKS = 64;
const PARAM_MIN_CHUNK_ROWS = 32;
const PARAM_COLUMNS = 64; // layernorm.wgsl's PC

/** A grid of one workgroup per row, folded into y past the per-dimension limit. */
const rowsGrid = (rows: number) => grid1d(rows, 1);

type LnParams = { rows: number; dim: number; eps: number; write_x: number; write_r: number; has_dsum: number; chunk_rows: number; chunks: number };

function lnParams(rows: number, dim: number, eps: number): LnParams {
  return { rows, dim, eps, write_x: 0, write_r: 0, has_dsum: 0, chunk_rows: 0, chunks: 0 };
}

/** dgamma += Σ_r dy·x̂, dbeta += Σ_r dy, two passes over [rows, dim] (x is the normalised input). */
function paramGrads(gpu: Gpu, p: LnParams, x: Storage, dy: Storage, saved: Storage, gamma: Tensor, beta: Tensor): void {
  const chunkRows = Math.max(PARAM_MIN_CHUNK_ROWS, Math.ceil(p.rows / PARAM_CHUNKS));
  const chunks = Math.ceil(p.rows / chunkRows);
  const partial = gpu.temp(chunks * 2 * p.dim);
  const q = { ...p, chunk_rows: chunkRows, chunks };
  gpu.run('layernorm', 'layernorm_params_partial', q, { x, dy, saved, partial }, [Math.ceil(p.dim / PARAM_COLUMNS), chunks]);
  gpu.run('layernorm', 'layernorm_params_final', q,
    { partial, dgamma: zeroedGrad(gamma).storage, dbeta: zeroedGrad(beta).storage }, [Math.ceil(p.dim / 64)], { WG: 64 });
  gpu.release(partial);
}

function checkParams(op: string, dim: number, gamma: Tensor, beta: Tensor): void {
  if (gamma.size !== dim || beta.size !== dim) throw new Error(`${op}: gamma/beta of ${gamma.size}/${beta.size} for dim ${dim}`);
}

/** halfOutput: y stored in f16 (the f16 path, where y only feeds a product); its gradient stays f32. */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = LAYERNORM_EPS, o: { halfOutput?: boolean } = {}): Tensor {
  const gpu = x.gpu;
  const dim = x.shape[x.shape.length - 1];
  checkParams('layerNorm', dim, gamma, beta);
  const rows = x.size / dim;
  const WG = layerNormRowThreads(dim);
  const y = tempTensor(gpu, x.shape, 'layernorm', o.halfOutput ? 'f16' : undefined);
  const stats = gpu.temp(2 * rows);
  const p = lnParams(rows, dim, eps);
  gpu.run('layernorm', 'layernorm_forward', p,
    { x: x.storage, r: x.storage, gamma: gamma.storage, beta: beta.storage, y: y.storage, stats }, rowsGrid(rows), { WG }, o.halfOutput ? ['Y_T'] : []);
  return record('layernorm', [x, gamma, beta], y, (dy) => {
    gradInto(x, (dx, accumulate) =>
      gpu.run('layernorm', 'layernorm_backward_input', { ...p, write_x: accumulate ? 2 : 1 },
        { x: x.storage, gamma: gamma.storage, dy: dy.storage, saved: stats, dx: dx.storage }, rowsGrid(rows), { WG }));
    if (gamma.requiresGrad || beta.requiresGrad) paramGrads(gpu, p, x.storage, dy.storage, stats, gamma, beta);
  });
}

export interface AddLayerNorm {
  /** x + r: the residual stream. */
  sum: Tensor;
  /** LayerNorm(x + r). */
  normed: Tensor;
}

/** Where t's gradient goes: 0 nowhere (no gradient needed), 1 overwrite, 2 accumulate. */
function gradTarget(t: Tensor): { dst?: Tensor; mode: number } {
  let out: { dst?: Tensor; mode: number } = { mode: 0 };
  gradInto(t, (dst, accumulate) => { out = { dst, mode: accumulate ? 2 : 1 }; });
  return out;
}

/**
 * sum = x + r and normed = LayerNorm(sum) in one kernel.
 *
 * On the tape it is two nodes, as add then layerNorm would be: `sum` (inputs x, r) and then
 * `normed` (inputs sum, gamma, beta). Every consumer of either output comes later on the tape, so
 * when the `normed` node runs backward d(sum) is complete; it then does the whole backward in one
 * kernel — d(sum) + LN-backward(d normed) into both x's and r's gradients — and the `sum` node
 * (which runs next) has nothing left to do. Only when `normed` receives no gradient does the `sum`
 * node pass d(sum) on by itself.
 */
export function addLayerNorm(x: Tensor, r: Tensor, gamma: Tensor, beta: Tensor, eps = LAYERNORM_EPS): AddLayerNorm {
  if (x.size !== r.size) throw new Error(`addLayerNorm: shapes [${x.shape}] and [${r.shape}] differ`);
  const dim = x.shape[x.shape.length - 1];
  checkParams('addLayerNorm', dim, gamma, beta);
  if (x.root === r.root) {
    // One tensor on both sides: its two gradient contributions would land in one buffer at once.
    const sum = add(x, r);
    return { sum, normed: layerNorm(sum, gamma, beta, eps) };
  }
  const gpu = x.gpu;
  const rows = x.size / dim;
  const WG = layerNormRowThreads(dim);
  const sum = tempTensor(gpu, x.shape, 'add_layernorm.sum');
  const normed = tempTensor(gpu, x.shape, 'add_layernorm');
  const stats = gpu.temp(2 * rows);
  const p = lnParams(rows, dim, eps);
  gpu.run('layernorm', 'add_layernorm_forward', p,
    { x: x.storage, r: r.storage, gamma: gamma.storage, beta: beta.storage, y: normed.storage, stats, sum: sum.storage }, rowsGrid(rows), { WG });

  let fused = false; // set when the normed node did the whole backward
  record('add_layernorm.sum', [x, r], sum, (dSum) => {
    if (fused) return;
    for (const input of [x, r]) {
      gradInto(input, (dst, accumulate) => axpy(gpu, dSum.storage, dst.storage, 1, accumulate));
    }
  });
  record('add_layernorm', [sum, gamma, beta], normed, (dy) => {
    if (sum.requiresGrad) {
      fused = true;
      const tx = gradTarget(x);
      const tr = gradTarget(r);
      if (tx.mode || tr.mode) {
        const dSum = sum.grad;
        const dummy = tx.mode && tr.mode ? undefined : gpu.temp(1); // bound, never written
        gpu.run('layernorm', 'add_layernorm_backward_input', { ...p, write_x: tx.mode, write_r: tr.mode, has_dsum: dSum ? 1 : 0 },
          {
            x: sum.storage, gamma: gamma.storage, dy: dy.storage, saved: stats, dsum: dSum?.storage ?? dy.storage,
            dx: tx.dst?.storage ?? dummy!, dr: tr.dst?.storage ?? dummy!,
          }, rowsGrid(rows), { WG });
        if (dummy) gpu.release(dummy);
      }
    }
    if (gamma.requiresGrad || beta.requiresGrad) paramGrads(gpu, p, sum.storage, dy.storage, stats, gamma, beta);
  });
  return { sum, normed };
}
