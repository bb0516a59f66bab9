/**
 * AdamW over a Parameters arena (shaders/optimizer.wgsl): clipping + decoupled weight decay +
 * Adam moments in one dispatch, after one reduction for the squared gradient norm when clipping.
 * Defaults follow DeiT: betas (0.9, 0.999), eps 1e-8, weight decay 0.05.
 */
import { encodeSum } from '../autograd/ops/reduce.ts';
import { ELEMENTWISE_WG as WG, elementwiseGrid } from '../autograd/ops/workgroups.ts';
import { type Storage } from '../gpu/gpu.ts';
import { type Parameters } from './parameters.ts';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Global gradient-norm clip; 0 turns clipping off. */
  maxGradNorm?: number;
}

export class AdamW {
  step = 0;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly maxGradNorm: number;
  /** ‖g‖² of the latest step when clipping, on the GPU (read it only when you want it). */
  readonly gradNormSq: Storage;

  constructor(readonly params: Parameters, o: AdamWOptions = {}) {
    this.beta1 = o.beta1 ?? 0.9;
    this.beta2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0.05;
    this.maxGradNorm = o.maxGradNorm ?? 0;
    this.gradNormSq = params.gpu.persistent(1, 'grad_norm_sq');
  }

  /** Records one update with learning rate `lr` into the current step's encoder. */
  update(lr: number): void {
    const { gpu, values, grads, expAvg, expAvgSq, decayEnd } = this.params;
    this.step++;
    // Without clipping the update is one dispatch; the norm is needed only to clip.
    if (this.maxGradNorm > 0) encodeSum(gpu, grads, this.gradNormSq, { square: true });
    gpu.run('optimizer', 'adamw', {
      n: values.elements, decay_end: decayEnd, lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps,
      weight_decay: this.weightDecay,
      bias_correction1: 1 - this.beta1 ** this.step, bias_correction2: 1 - this.beta2 ** this.step,
      max_norm: this.maxGradNorm,
    }, { params: values, grads, exp_avg: expAvg, exp_avg_sq: expAvgSq, norm_sq: this.gradNormSq }, elementwiseGrid(values.elements), { WG });
  }
}
