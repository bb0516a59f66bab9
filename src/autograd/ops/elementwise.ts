/** add and scale (shaders/elementwise.wgsl), and axpy, the accumulation every backward uses. */
import { type Gpu, type Storage } from '../../gpu/gpu.ts';
import { gradInto, record } from '../tape.ts';
import { tempTensor, type Tensor } from '../tensor.ts';
import { ELEMENTWISE_WG as WG, elementwiseGrid } from './workgroups.ts';

const constants = { WG };

/** dst = alpha·a (+ dst when accumulate). */
export function axpy(gpu: Gpu, a: Storage, dst: Storage, alpha: number, accumulate: boolean): void {
  gpu.run('elementwise', 'axpy', { n: a.elements, alpha, accumulate }, { a, dst }, elementwiseGrid(a.elements), constants);
}

export function add(a: Tensor, b: Tensor): Tensor {
  if (a.size !== b.size) throw new Error(`add: shapes [${a.shape}] and [${b.shape}] differ`);
  const gpu = a.gpu;
  const out = tempTensor(gpu, a.shape, 'add');
  gpu.run('elementwise', 'add', { n: a.size, alpha: 1, accumulate: 0 }, { a: a.storage, b: b.storage, dst: out.storage }, elementwiseGrid(a.size), constants);
  return record('add', [a, b], out, (dOut) => {
    for (const input of [a, b]) gradInto(input, (dst, acc) => axpy(gpu, dOut.storage, dst.storage, 1, acc));
  });
}

export function scale(a: Tensor, alpha: number): Tensor {
  const gpu = a.gpu;
  const out = tempTensor(gpu, a.shape, 'scale');
  axpy(gpu, a.storage, out.storage, alpha, false);
  return record('scale', [a], out, (dOut) => gradInto(a, (dst, acc) => axpy(gpu, dOut.storage, dst.storage, alpha, acc)));
}
