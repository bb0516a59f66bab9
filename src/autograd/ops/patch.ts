/** patchify: images [B, C, S, S] → patches [B·T, C·P·P] (shaders/patch.wgsl). */
import { gradInto, record } from '../tape.ts';
import { tempTensor, type Tensor } from '../tensor.ts';
import { ELEMENTWISE_WG as WG, elementwiseGrid } from './workgroups.ts';

export function patchify(images: Tensor, patch: number): Tensor {
  const gpu = images.gpu;
  const [batch, channels, side, side2] = images.shape;
  if (images.shape.length !== 4 || side !== side2 || side % patch !== 0) {
    throw new Error(`patchify: images [${images.shape}] are not square [B, C, S, S] with S divisible by ${patch}`);
  }
  const g = side / patch;
  const out = tempTensor(gpu, [batch * g * g, channels * patch * patch], 'patches');
  const p = { batch, channels, side, patch_size: patch, accumulate: 0 };
  gpu.run('patch', 'patchify', p, { src: images.storage, dst: out.storage }, elementwiseGrid(images.size), { WG });
  return record('patchify', [images], out, (dOut) =>
    gradInto(images, (dImages, accumulate) =>
      gpu.run('patch', 'patchify_backward', { ...p, accumulate }, { src: dOut.storage, dst: dImages.storage }, elementwiseGrid(images.size), { WG })));
}
