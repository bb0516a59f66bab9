/** Softmax over the last dimension (shaders/softmax.wgsl). */
import { type Gpu, grid1d } from '../../gpu/gpu.ts';
import { gradInto, record } from '../tape.ts';
import { tempTensor, type Tensor } from '../tensor.ts';
import { layerNormRowThreads } from './layernorm.ts';
import { ROW_WG, rowGrid } from './workgroups.ts';

export interface RowLaunch { suffix: '' | '_subgroups'; grid: [number, number]; WG: number }

/**
 * How a row kernel of softmax.wgsl or cross_entropy.wgsl runs over `rows` rows of n: with
 * subgroups, the `…_subgroups` entry point, one workgroup per row (threads as for LayerNorm's
 * rows, about n/4 values each); without, one thread per row.
 */
export function rowLaunch(gpu: Gpu, rows: number, n: number): RowLaunch {
  if (gpu.kernels.subgroups) return { suffix: '_subgroups', grid: grid1d(rows, 1), WG: layerNormRowThreads(n) };
  return { suffix: '', grid: rowGrid(rows), WG: ROW_WG };
}

export function softmax(x: Tensor): Tensor {
  const gpu = x.gpu;
  const n = x.shape[x.shape.length - 1];
  const rows = x.size / n;
  const y = tempTensor(gpu, x.shape, 'softmax');
  const { suffix, grid, WG } = rowLaunch(gpu, rows, n);
  gpu.run('softmax', `softmax_forward${suffix}`, { rows, n, accumulate: 0 }, { x: x.storage, dst: y.storage }, grid, { WG });
  return record('softmax', [x], y, (dy) =>
    gradInto(x, (dx, accumulate) =>
      gpu.run('softmax', `softmax_backward${suffix}`, { rows, n, accumulate }, { probs: y.storage, dy: dy.storage, dst: dx.storage }, grid, { WG })));
}
