/**
 * AdamW over a Parameters arena (shaders/optimizer.wgsl): clipping + decoupled weight decay +
 * Adam moments in one dispatch, after one reduction for the squared gradient norm when clipping.
 * Defaults follow DeiT: betas (0.9, 0.999), eps 1e-8, weight decay 0.05.
 *
 * With parameters that keep an f16 copy (the f16 path) the step is adamw_mixed: dynamic loss
 * scaling (the backward is seeded with S, lossScaleSeed; see optimizer.wgsl), the f16 copy
 * written in the same dispatch, and the scale's state kept on the GPU so a step never waits for a
 * read-back. S starts at 2^15 and doubles after 2000 good steps (torch.cuda.amp.GradScaler:
 * 2^16 and 2000), both configurable.
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
  /** f16 path: the initial loss scale S and the good steps after which it doubles. */
  lossScale?: { initial?: number; growthInterval?: number };
}

export const DEFAULT_LOSS_SCALE = 2 ** 15;
export const DEFAULT_LOSS_SCALE_GROWTH_INTERVAL = 2000;

/** The loss scaler's state as last read back (f16 path). */
export interface LossScaleState {
  scale: number;
  /** Good steps since the last change of scale. */
  goodSteps: number;
  /** Steps skipped for inf/NaN gradients. */
  skipped: number;
  /** Steps applied (AdamW's t). */
  applied: number;
}

/** u32 words of optimizer.wgsl's struct LossScale. */
const LOSS_SCALE_FIELDS = 4;
const HALF = ['HALF_T'];

export class AdamW {
  step = 0;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly maxGradNorm: number;
  /** ‖g‖² of the latest step when clipping, on the GPU (read it only when you want it). */
  readonly gradNormSq: Storage;
  /** f16 path: optimizer.wgsl's LossScale { scale, good_steps, skipped, applied }. */
  readonly lossScaleState?: Storage;
  readonly lossScaleGrowthInterval: number;

  constructor(readonly params: Parameters, o: AdamWOptions = {}) {
    this.beta1 = o.beta1 ?? 0.9;
    this.beta2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0.05;
    this.maxGradNorm = o.maxGradNorm ?? 0;
    this.gradNormSq = params.gpu.persistent(1, 'grad_norm_sq');
    this.lossScaleGrowthInterval = o.lossScale?.growthInterval ?? DEFAULT_LOSS_SCALE_GROWTH_INTERVAL;
    if (params.halfValues) {
      const initial = o.lossScale?.initial ?? DEFAULT_LOSS_SCALE;
      const interval = this.lossScaleGrowthInterval;
      if (!(initial > 0) || !Number.isInteger(interval) || interval < 1) throw new Error(`loss scale: initial ${initial} must be > 0 and growth interval ${interval} a positive integer`);
      this.lossScaleState = params.gpu.persistent(LOSS_SCALE_FIELDS, 'adamw.loss_scale');
      this.resetLossScale(initial);
    }
  }

  /** Sets the scaler's state (f16 path): a fresh one, or one restored from a checkpoint. */
  resetLossScale(scale: number, applied = 0, goodSteps = 0, skipped = 0): void {
    if (!this.lossScaleState) throw new Error('resetLossScale: the parameters keep no f16 copy (precision f32)');
    const state = new Uint32Array(LOSS_SCALE_FIELDS);
    new Float32Array(state.buffer, 0, 1)[0] = scale;
    state.set([goodSteps, skipped, applied], 1);
    this.params.gpu.write(this.lossScaleState, state);
  }

  /** The backward's seed on the f16 path: S, on the GPU (backward copies it, no read-back). */
  get lossScaleSeed(): Storage | undefined {
    return this.lossScaleState && { ...this.lossScaleState, elements: 1 };
  }

  /** Schedules a read of the scaler's state with the next submit (undefined on the f32 path). */
  readLossScale(): Promise<LossScaleState> | undefined {
    if (!this.lossScaleState) return undefined;
    return this.params.gpu.readback(this.lossScaleState).then((raw) => {
      const u = new Uint32Array(raw.buffer, raw.byteOffset, LOSS_SCALE_FIELDS);
      return { scale: raw[0], goodSteps: u[1], skipped: u[2], applied: u[3] };
    });
  }

  /** Records one update with learning rate `lr` into the current step's encoder. */
  update(lr: number): void {
    const { gpu, values, grads, expAvg, expAvgSq, decayEnd, halfValues } = this.params;
    this.step++;
    if (halfValues && this.lossScaleState) {
      // The norm is needed every step here: an inf/NaN in it is the overflow test.
      encodeSum(gpu, grads, this.gradNormSq, { square: true });
      const params = {
        n: values.elements, decay_end: decayEnd, lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weight_decay: this.weightDecay,
        bias_correction1: 0, bias_correction2: 0, max_norm: this.maxGradNorm, // t, hence the corrections, comes from the GPU's count
        growth_interval: this.lossScaleGrowthInterval,
      };
      gpu.run('optimizer', 'adamw_mixed', params, {
        params: values, grads, exp_avg: expAvg, exp_avg_sq: expAvgSq, norm_sq: this.gradNormSq, params_half: halfValues, loss_scale: this.lossScaleState,
      }, elementwiseGrid(values.elements), { WG }, HALF);
      gpu.run('optimizer', 'loss_scale_update', params, { norm_sq: this.gradNormSq, loss_scale: this.lossScaleState }, [1], {}, HALF);
      return;
    }
    // Without clipping the update is one dispatch; the norm is needed only to clip.
    if (this.maxGradNorm > 0) encodeSum(gpu, grads, this.gradNormSq, { square: true });
    gpu.run('optimizer', 'adamw', {
      n: values.elements, decay_end: decayEnd, lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps,
      weight_decay: this.weightDecay,
      bias_correction1: 1 - this.beta1 ** this.step, bias_correction2: 1 - this.beta2 ** this.step,
      max_norm: this.maxGradNorm, growth_interval: 0,
    }, { params: values, grads, exp_avg: expAvg, exp_avg_sq: expAvgSq, norm_sq: this.gradNormSq }, elementwiseGrid(values.elements), { WG });
  }
}
