/** Softmax over the last dimension (shaders/softmax.wgsl). */
import { gradInto, record } from '../tape.ts';
import { tempTensor, type Tensor } from '../tensor.ts';
import { ROW_WG as WG, rowGrid } from './workgroups.ts';

export function softmax(x: Tensor): Tensor {
  const gpu = x.gpu;
  const n = x.shape[x.shape.length - 1];
  const rows = x.size / n;
  const y = tempTensor(gpu, x.shape, 'softmax');
  gpu.run('softmax', 'softmax_forward', { rows, n, accumulate: 0 }, { x: x.storage, dst: y.storage }, rowGrid(rows), { WG });
  return record('softmax', [x], y, (dy) =>
    gradInto(x, (dx, accumulate) =>
      gpu.run('softmax', 'softmax_backward', { rows, n, accumulate }, { probs: y.storage, dy: dy.storage, dst: dx.storage }, rowGrid(rows), { WG })));
}
