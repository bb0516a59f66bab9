/** GELU, exact erf form (shaders/gelu.wgsl). */
import { gradInto, record } from '../tape.ts';
import { tempTensor, type Tensor } from '../tensor.ts';
import { ELEMENTWISE_WG as WG, elementwiseGrid } from './workgroups.ts';

export function gelu(x: Tensor): Tensor {
  const gpu = x.gpu;
  const y = tempTensor(gpu, x.shape, 'gelu');
  const n = x.size;
  gpu.run('gelu', 'gelu_forward', { n, accumulate: 0 }, { x: x.storage, y: y.storage }, elementwiseGrid(n), { WG });
  return record('gelu', [x], y, (dy) =>
    gradInto(x, (dx, accumulate) =>
      gpu.run('gelu', 'gelu_backward', { n, accumulate }, { x: x.storage, dy: dy.storage, y: dx.storage }, elementwiseGrid(n), { WG })));
}
