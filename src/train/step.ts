/**
 * One training step, recorded into one command encoder and submitted once:
 * zero-grad → forward → soft-target CE → backward → gradient norm → AdamW.
 * Nothing is read back unless asked for; metrics come back asynchronously after the submit.
 */
import { backward, clearTape, noGrad, softCrossEntropy, sumOf, type Tensor } from '../autograd/index.ts';
import { AdamW, type LossScaleState } from '../nn/adamw.ts';
import { type ForwardOptions, type VisionTransformer, type VitOutput } from '../nn/vit.ts';
import { type MethodLoss } from '../methods/method.ts';

export interface StepMetrics {
  loss: number;
  accuracy: number;
  /** f16 path: the loss scaler after this step (scale, skipped steps), read with the metrics. */
  lossScale?: LossScaleState;
}

export class Trainer {
  constructor(readonly model: VisionTransformer, readonly optimizer: AdamW) {}

  /**
   * images [B, C, S, S] and targets [B, K] already on the GPU. With readMetrics, resolves to the
   * batch's mean loss and accuracy (argmax of targets) once the GPU has run the step.
   */
  step(images: Tensor, targets: Tensor, lr: number, readMetrics = true): Promise<StepMetrics> | undefined {
    const gpu = this.model.gpu;
    const { loss } = this.record(images, targets, lr);
    let metrics: Promise<StepMetrics> | undefined;
    if (readMetrics) {
      const scale = this.optimizer.readLossScale();
      const read = readLossAndAccuracy(loss.loss, loss.correct);
      metrics = scale ? Promise.all([read, scale]).then(([m, lossScale]) => ({ ...m, lossScale })) : read;
    }
    gpu.endStep();
    return metrics;
  }

  /**
   * Records zero-grad → forward → soft-target CE → backward → AdamW into the current encoder,
   * without submitting. `targets` may be computed from the forward's outputs (TL-Align reads the
   * attention); that function runs under noGrad.
   */
  record(images: Tensor, targets: Tensor | ((out: VitOutput) => Tensor), lr: number): { out: VitOutput; loss: MethodLoss } {
    return this.recordLoss(images, (out) => {
      const t = typeof targets === 'function' ? noGrad(() => targets(out)) : targets;
      const ce = softCrossEntropy(out.logits, t);
      return { loss: ce.loss, targets: t, correct: ce.correct };
    }, lr);
  }

  /** Like record, with any loss of the forward's outputs (a method's: extra heads, token losses). */
  recordLoss(images: Tensor, lossOf: (out: VitOutput) => MethodLoss, lr: number, forward: ForwardOptions = {}): { out: VitOutput; loss: MethodLoss } {
    this.model.params.zeroGrad();
    const out = this.model.forward(images, forward);
    const loss = lossOf(out);
    backward(loss.loss, this.optimizer.lossScaleSeed ?? 1);
    this.optimizer.update(lr);
    return { out, loss };
  }

  /** Loss and accuracy without training (no graph, no update). */
  evaluate(images: Tensor, targets: Tensor): Promise<StepMetrics> {
    const gpu = this.model.gpu;
    const metrics = noGrad(() => {
      const out = this.model.forward(images);
      const ce = softCrossEntropy(out.logits, targets);
      return readLossAndAccuracy(ce.loss, ce.correct);
    });
    clearTape();
    gpu.endStep();
    return metrics;
  }
}

function readLossAndAccuracy(loss: Tensor, correct: Tensor): Promise<StepMetrics> {
  const gpu = loss.gpu;
  const acc = sumOf(correct, { alpha: 1 / correct.size });
  const both = gpu.temp(2);
  gpu.copy(loss.storage, both, 1);
  gpu.copy(acc.storage, { ...both, offset: both.offset + 4, elements: 1 }, 1);
  return gpu.readback(both).then((v) => ({ loss: v[0], accuracy: v[1] }));
}

export { AdamW };
