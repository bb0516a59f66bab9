/**
 * A tensor is a shape over a range of a GPU buffer, plus its place in autograd: whether it needs
 * a gradient, and the gradient once backward has produced one. A view (reshape) shares its
 * base's storage and sends its gradient to the base.
 */
import { type Gpu, type Storage } from '../gpu/gpu.ts';
import { packHalf } from '../gpu/half.ts';

export class Tensor {
  private ownGrad?: Tensor;

  constructor(
    readonly gpu: Gpu,
    readonly shape: readonly number[],
    readonly storage: Storage,
    public requiresGrad = false,
    readonly name = '',
    readonly base?: Tensor,
  ) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== storage.elements) throw new Error(`tensor ${name || ''} of shape [${shape}] does not fill its ${storage.elements} elements`);
  }

  get size(): number {
    return this.storage.elements;
  }

  /** The gradient; for a view, the matching view of the base's gradient. */
  get grad(): Tensor | undefined {
    if (!this.base) return this.ownGrad;
    const g = this.base.grad;
    return g && new Tensor(this.gpu, this.shape, g.storage, false, `${this.name}.grad`);
  }

  set grad(g: Tensor | undefined) {
    if (this.base) throw new Error(`cannot assign the gradient of view ${this.name}; it belongs to its base`);
    this.ownGrad = g;
  }

  /** The tensor that owns this storage (itself unless a view). */
  get root(): Tensor {
    return this.base ? this.base.root : this;
  }

  /** Same storage, new shape; gradients flow to the base. */
  reshape(shape: readonly number[]): Tensor {
    return new Tensor(this.gpu, shape, this.storage, this.requiresGrad, this.name, this.root);
  }

  async read(): Promise<Float32Array> {
    return this.gpu.read(this.storage);
  }
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A step-scoped tensor from the buffer pool (returned at gpu.endStep()); f16 with dtype 'f16' (its gradient is f32). */
export function tempTensor(gpu: Gpu, shape: readonly number[], name = '', dtype?: 'f16'): Tensor {
  return new Tensor(gpu, shape, gpu.temp(sizeOf(shape), dtype), false, name);
}

/** A tensor holding the given values, in a persistent buffer. */
export function tensorFrom(gpu: Gpu, shape: readonly number[], data: Float32Array, requiresGrad = false, name = ''): Tensor {
  if (data.length !== sizeOf(shape)) throw new Error(`tensorFrom ${name}: ${data.length} values for shape [${shape}]`);
  const t = new Tensor(gpu, shape, gpu.persistent(data.length, name), requiresGrad, name);
  gpu.write(t.storage, data);
  return t;
}

/** A tensor holding the given values rounded to f16, in a persistent f16 buffer (its gradient is f32). */
export function tensorFromHalf(gpu: Gpu, shape: readonly number[], data: Float32Array, requiresGrad = false, name = ''): Tensor {
  if (data.length !== sizeOf(shape)) throw new Error(`tensorFromHalf ${name}: ${data.length} values for shape [${shape}]`);
  const t = new Tensor(gpu, shape, gpu.persistent(data.length, name, 'f16'), requiresGrad, name);
  gpu.write(t.storage, packHalf(data));
  return t;
}
