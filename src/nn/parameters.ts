/**
 * All parameters of a model in one arena: one GPU buffer for values, one for gradients, two for
 * AdamW's moments, so zero-grad is one clear, the gradient norm one reduction and the optimizer
 * step one dispatch. Parameters that take weight decay come first; `decayEnd` marks the boundary.
 * Each parameter is a Tensor viewing its range (offsets aligned for storage bindings).
 *
 * With `half` (the f16 path) a fifth buffer holds the values rounded to f16, written by AdamW's
 * mixed step (and by copy_to_half when values are loaded) and read by the f16 products; offsets are then aligned for that buffer too (twice
 * the elements, since an f16 element is half the bytes).
 */
import { type Gpu, STORAGE_ALIGN_BYTES, type Storage } from '../gpu/gpu.ts';
import { Tensor, sizeOf } from '../autograd/tensor.ts';
import { ELEMENTWISE_WG, elementwiseGrid } from '../autograd/ops/workgroups.ts';

/** The four arena buffers, by the name of their field. */
export type ArenaBuffer = 'values' | 'grads' | 'expAvg' | 'expAvgSq';

export interface ParamSpec {
  name: string;
  shape: number[];
  decay: boolean;
  init: () => Float32Array;
}

const ALIGN = STORAGE_ALIGN_BYTES / 4;

export class Parameters {
  readonly byName = new Map<string, Tensor>();
  /** In arena order (decayed first), as given within each group. */
  readonly specs: ParamSpec[];
  readonly offsets = new Map<string, number>();
  readonly values: Storage;
  readonly grads: Storage;
  readonly expAvg: Storage;
  readonly expAvgSq: Storage;
  readonly decayEnd: number;
  readonly count: number;
  /** The values rounded to f16 (only with `half`). */
  readonly halfValues?: Storage;
  private readonly halfByName = new Map<string, Tensor>();

  constructor(readonly gpu: Gpu, specs: ParamSpec[], o: { half?: boolean } = {}) {
    this.specs = [...specs.filter((s) => s.decay), ...specs.filter((s) => !s.decay)];
    const align = o.half ? 2 * ALIGN : ALIGN;
    let at = 0;
    let decayEnd = 0;
    for (const s of this.specs) {
      this.offsets.set(s.name, at);
      at = Math.ceil((at + sizeOf(s.shape)) / align) * align;
      if (s.decay) decayEnd = at;
    }
    this.decayEnd = decayEnd;
    this.count = specs.reduce((n, s) => n + sizeOf(s.shape), 0);
    this.values = gpu.persistent(at, 'parameters');
    this.grads = gpu.persistent(at, 'gradients');
    this.expAvg = gpu.persistent(at, 'adamw.exp_avg');
    this.expAvgSq = gpu.persistent(at, 'adamw.exp_avg_sq');
    for (const s of this.specs) {
      const offset = this.offsets.get(s.name)! * 4;
      const elements = sizeOf(s.shape);
      const t = new Tensor(gpu, s.shape, { buffer: this.values.buffer, offset, elements }, true, s.name);
      t.grad = new Tensor(gpu, s.shape, { buffer: this.grads.buffer, offset, elements }, false, `${s.name}.grad`);
      this.byName.set(s.name, t);
    }
    if (o.half) {
      const halfValues = this.halfValues = gpu.persistent(at, 'parameters.f16', 'f16');
      for (const s of this.specs) {
        const storage: Storage = { buffer: halfValues.buffer, offset: this.offsets.get(s.name)! * 2, elements: sizeOf(s.shape), dtype: 'f16' };
        this.halfByName.set(s.name, new Tensor(gpu, s.shape, storage, false, `${s.name}.f16`));
      }
    }
    const host = new Float32Array(at);
    for (const s of this.specs) host.set(s.init(), this.offsets.get(s.name)!);
    this.writeValues(host);
    this.resetOptimizer();
  }

  /** The f16 copy of a parameter (the f16 path), as written by the latest optimizer step. */
  half(name: string): Tensor {
    const t = this.halfByName.get(name);
    if (!t) throw new Error(this.halfValues ? `no parameter named "${name}"` : `parameter "${name}": these parameters keep no f16 copy (precision f32)`);
    return t;
  }

  /** Uploads values; the f16 copy is then rounded on the GPU (as AdamW's mixed step rounds it). */
  private writeValues(host: Float32Array): void {
    this.gpu.write(this.values, host);
    if (!this.halfValues) return;
    const n = this.values.elements;
    const unused = { decay_end: 0, lr: 0, beta1: 0, beta2: 0, eps: 0, weight_decay: 0, bias_correction1: 1, bias_correction2: 1, max_norm: 0, growth_interval: 0 };
    this.gpu.run('optimizer', 'copy_to_half', { n, ...unused }, { params: this.values, params_half: this.halfValues },
      elementwiseGrid(n), { WG: ELEMENTWISE_WG }, ['HALF_T']);
  }

  get(name: string): Tensor {
    const t = this.byName.get(name);
    if (!t) throw new Error(`no parameter named "${name}"`);
    return t;
  }

  zeroGrad(): void {
    this.gpu.clear(this.grads);
  }

  resetOptimizer(): void {
    this.gpu.clear(this.expAvg);
    this.gpu.clear(this.expAvgSq);
    this.gpu.clear(this.grads);
  }

  /** Every parameter's values (or gradients, or AdamW moments) as its own array, by name, from one read-back. */
  async read(which: ArenaBuffer = 'values'): Promise<Map<string, Float32Array>> {
    const all = await this.gpu.read(this[which]);
    const out = new Map<string, Float32Array>();
    for (const s of this.specs) {
      const o = this.offsets.get(s.name)!;
      out.set(s.name, all.slice(o, o + sizeOf(s.shape)));
    }
    return out;
  }

  /** Loads values (or gradients, or AdamW moments) by name; every parameter must be present with its exact size. */
  load(values: Map<string, Float32Array> | Record<string, Float32Array>, which: ArenaBuffer = 'values'): void {
    const get = (n: string) => (values instanceof Map ? values.get(n) : values[n]);
    const host = new Float32Array(this[which].elements);
    for (const s of this.specs) {
      const v = get(s.name);
      if (!v) throw new Error(`load: parameter "${s.name}" missing`);
      if (v.length !== sizeOf(s.shape)) throw new Error(`load: "${s.name}" has ${v.length} values, expected ${sizeOf(s.shape)} [${s.shape}]`);
      host.set(v, this.offsets.get(s.name)!);
    }
    if (which === 'values') this.writeValues(host);
    else this.gpu.write(this[which], host);
  }
}
