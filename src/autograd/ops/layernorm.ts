/** LayerNorm over the last dimension (shaders/layernorm.wgsl); saves mean and rstd per row. */
import { gradInto, record, zeroedGrad } from '../tape.ts';
import { tempTensor, type Tensor } from '../tensor.ts';
import { ROW_WG as WG, rowGrid } from './workgroups.ts';

/** timm's ViT LayerNorm epsilon (nn.LayerNorm(eps=1e-6)). */
export const LAYERNORM_EPS = 1e-6;

export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = LAYERNORM_EPS): Tensor {
  const gpu = x.gpu;
  const dim = x.shape[x.shape.length - 1];
  if (gamma.size !== dim || beta.size !== dim) throw new Error(`layerNorm: gamma/beta of ${gamma.size}/${beta.size} for dim ${dim}`);
  const rows = x.size / dim;
  const y = tempTensor(gpu, x.shape, 'layernorm');
  const stats = gpu.temp(2 * rows);
  const p = { rows, dim, eps, accumulate: 0 };
  gpu.run('layernorm', 'layernorm_forward', p, { x: x.storage, gamma: gamma.storage, beta: beta.storage, y: y.storage, stats }, rowGrid(rows), { WG });
  return record('layernorm', [x, gamma, beta], y, (dy) => {
    gradInto(x, (dx, accumulate) =>
      gpu.run('layernorm', 'layernorm_backward_input', { ...p, accumulate },
        { x: x.storage, gamma: gamma.storage, dy: dy.storage, saved: stats, dx: dx.storage }, rowGrid(rows), { WG }));
    if (gamma.requiresGrad || beta.requiresGrad) {
      gpu.run('layernorm', 'layernorm_backward_params', p,
        { x: x.storage, dy: dy.storage, saved: stats, dgamma: zeroedGrad(gamma).storage, dbeta: zeroedGrad(beta).storage }, rowGrid(dim), { WG });
    }
  });
}
