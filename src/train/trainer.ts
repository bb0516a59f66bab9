/**
 * A training run on a dataset: epochs over a seeded shuffle, a method's mix and targets, AdamW
 * with warmup + cosine, evaluation on the test split, checkpoints. Browser-safe: the CLI (Node)
 * and the page's worker drive the same class.
 *
 * One step = one command encoder, one submit: zero-grad → batch (gather, augment, mix; GPU) →
 * forward → the method's targets (no gradient) → soft-target CE → backward → AdamW. The loss is
 * summed on the GPU and read back only every `readEvery` steps (for the progress line, which
 * also keeps the CPU from running far ahead of the GPU).
 *
 * Reproducibility: initialisation, every epoch's shuffle, every batch's mix and every image's
 * crop/flip are functions of (seed, epoch or step) only, and the kernels are deterministic, so
 * the same seed on the same adapter gives the same numbers, also across a checkpoint resume.
 */
import { axpy } from '../autograd/ops/elementwise.ts';
import { encodeSum } from '../autograd/ops/reduce.ts';
import { noGrad, softCrossEntropy, type Tensor } from '../autograd/index.ts';
import { type DatasetSplits, type ImageSet } from '../data/dataset.ts';
import { augmentHash, type DatasetOnGpu, GpuBatcher, uploadDataset } from '../data/gpu-batcher.ts';
import { type AdapterReport } from '../gpu/device.ts';
import { type Gpu, type Storage } from '../gpu/gpu.ts';
import { DEFAULT_METHOD_OPTIONS, type Method, methodByName, type MethodOptions, type TargetInputs } from '../methods/index.ts';
import { areaTargets } from '../methods/method.ts';
import { initOwnShares, propagateThroughBlocks } from '../methods/labels.ts';
import { type BatchMix, type MixGeometry } from '../methods/mixing.ts';
import { AdamW } from '../nn/adamw.ts';
import { preset, tokensOf, type VitConfig } from '../nn/presets.ts';
import { Rng } from '../nn/random.ts';
import { learningRate } from '../nn/schedule.ts';
import { VisionTransformer } from '../nn/vit.ts';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { Trainer } from './step.ts';

export interface TrainConfig extends MethodOptions {
  /** Preset name (src/nn/presets.ts). */
  model: string;
  /** Overrides of the preset (custom width, depth, heads, patch, MLP). */
  modelOverrides?: Partial<VitConfig>;
  method: string;
  epochs: number;
  batch: number;
  /** Peak learning rate, reached after the warmup. */
  lr: number;
  minLr: number;
  /** Linear warmup length in epochs (fractions allowed). */
  warmupEpochs: number;
  weightDecay: number;
  /** Global gradient-norm clip; 0 is off. */
  clip: number;
  seed: number;
  /** Random crop (4 px zero padding) and horizontal flip of training images. */
  augment: boolean;
  evalBatch: number;
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  ...DEFAULT_METHOD_OPTIONS,
  model: 'small', method: 'tl-align', epochs: 10, batch: 128, lr: 1e-3, minLr: 1e-5, warmupEpochs: 1,
  weightDecay: 0.05, clip: 0, seed: 0, augment: true, evalBatch: 250,
};

export function resolveConfig(partial: Partial<TrainConfig>): TrainConfig {
  const c = { ...DEFAULT_TRAIN_CONFIG, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) } as TrainConfig;
  methodByName(c.method);
  vitConfigOf(c);
  const positive = ['epochs', 'batch', 'evalBatch'] as const;
  for (const k of positive) if (!Number.isInteger(c[k]) || c[k] <= 0) throw new Error(`${k} must be a positive integer, got ${c[k]}`);
  if (!(c.lr > 0)) throw new Error(`lr must be > 0, got ${c.lr}`);
  if (!(c.smoothing >= 0 && c.smoothing < 1)) throw new Error(`label smoothing must be in [0, 1), got ${c.smoothing}`);
  if (!(c.mixupAlpha > 0) || !(c.cutmixAlpha > 0)) throw new Error(`mixing α must be > 0 (mixup ${c.mixupAlpha}, cutmix ${c.cutmixAlpha})`);
  if (!(c.mixupSwitchProb >= 0 && c.mixupSwitchProb <= 1)) throw new Error(`mixup switch probability must be in [0, 1], got ${c.mixupSwitchProb}`);
  if (!(c.warmupEpochs >= 0)) throw new Error(`warmup epochs must be ≥ 0, got ${c.warmupEpochs}`);
  return c;
}

export function vitConfigOf(c: Pick<TrainConfig, 'model' | 'modelOverrides'>): VitConfig {
  for (const [k, v] of Object.entries(c.modelOverrides ?? {})) {
    if (!Number.isInteger(v) || (v as number) <= 0) throw new Error(`model ${k} must be a positive integer, got ${v}`);
  }
  return { ...preset(c.model), ...(c.modelOverrides ?? {}) };
}

export interface EpochResult {
  epoch: number;
  train_loss: number;
  test_loss: number;
  test_acc: number;
  img_per_s: number;
  seconds: number;
  lr: number;
}

export interface StepProgress {
  epoch: number;
  step: number;
  steps: number;
  /** Mean training loss of this epoch so far (as of the latest read-back). */
  loss: number;
  imgPerS: number;
  etaSeconds: number;
}

/** Per-token own-image share after the input and after every block: [depth + 1] × [B, N]. */
export interface TokenFluctuation { mix: BatchMix; layers: Float32Array[]; batch: number; tokens: number }

/** 32-bit seed for stream `stream` (0 shuffle, 1 mix) at position `index`, from the run's seed. */
function streamSeed(seed: number, stream: number, index: number): number {
  return augmentHash(seed, 0x5eed0000 + stream, index);
}

export class TrainingRun {
  readonly config: TrainConfig;
  readonly vit: VitConfig;
  readonly method: Method;
  readonly model: VisionTransformer;
  readonly optimizer: AdamW;
  private readonly trainer: Trainer;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  /** Epochs finished. */
  epoch = 0;
  /** Training steps taken (global). */
  step = 0;
  readonly history: EpochResult[] = [];

  private readonly train: DatasetOnGpu;
  private readonly test: DatasetOnGpu;
  private readonly trainBatcher: GpuBatcher;
  private readonly testBatcher: GpuBatcher;
  private readonly partnerShare: Storage;
  private readonly lossSum: Storage;
  private readonly evalLossSum: Storage;
  private readonly evalCorrect: Storage;
  private readonly geometry: MixGeometry;
  private readonly trainCount: number;
  private readonly testCount: number;
  private fluctuationRequest?: (f: TokenFluctuation) => void;

  /** Steps between loss read-backs (at least four per epoch). */
  readonly readEvery: number;

  constructor(readonly gpu: Gpu, data: DatasetSplits, config: Partial<TrainConfig>, readEvery = 10) {
    this.config = resolveConfig(config);
    const c = this.config;
    this.vit = vitConfigOf(c);
    this.method = methodByName(c.method);
    checkCompatible(data.train, this.vit, 'train');
    checkCompatible(data.test, this.vit, 'test');
    if (data.train.count < c.batch) throw new Error(`the training set has ${data.train.count} images, fewer than one batch of ${c.batch}`);
    this.trainCount = data.train.count;
    this.testCount = data.test.count;
    this.stepsPerEpoch = Math.floor(data.train.count / c.batch);
    this.totalSteps = this.stepsPerEpoch * c.epochs;
    this.readEvery = Math.max(1, Math.min(readEvery, Math.floor(this.stepsPerEpoch / 4)));
    this.geometry = { imageSize: this.vit.imageSize, patch: this.vit.patch };

    this.model = new VisionTransformer(gpu, this.vit, c.seed);
    this.optimizer = new AdamW(this.model.params, { weightDecay: c.weightDecay, maxGradNorm: c.clip });
    this.trainer = new Trainer(this.model, this.optimizer);
    this.train = uploadDataset(gpu, data.train);
    this.test = uploadDataset(gpu, data.test);
    this.trainBatcher = new GpuBatcher(gpu, this.train);
    this.testBatcher = new GpuBatcher(gpu, this.test);
    this.testBatcher.setOrder(Uint32Array.from({ length: data.test.count }, (_, i) => i));
    this.partnerShare = gpu.persistent(tokensOf(this.vit) - 1, 'mix.partner_share');
    this.lossSum = gpu.persistent(1, 'train.loss_sum');
    this.evalLossSum = gpu.persistent(1, 'eval.loss_sum');
    this.evalCorrect = gpu.persistent(1, 'eval.correct');
  }

  get adapter(): AdapterReport {
    return this.gpu.adapter;
  }

  learningRate(step: number): number {
    const c = this.config;
    return learningRate({ lr: c.lr, minLr: c.minLr, totalSteps: this.totalSteps, warmupSteps: Math.round(c.warmupEpochs * this.stepsPerEpoch) }, step);
  }

  /** The permutation of the training set for epoch `epoch` (0-based). */
  epochOrder(epoch: number): Uint32Array {
    const rng = new Rng(streamSeed(this.config.seed, 0, epoch));
    const order = Uint32Array.from({ length: this.trainCount }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  }

  /** The mix of global step `step`. */
  drawMix(step: number): BatchMix {
    return this.method.drawMix(new Rng(streamSeed(this.config.seed, 1, step)), this.geometry, this.config);
  }

  /** The next training step copies every layer's per-token own-image shares for reading. */
  nextFluctuation(): Promise<TokenFluctuation> {
    return new Promise((resolve) => { this.fluctuationRequest = resolve; });
  }

  /** Records and submits one training step (batch `index` of the current epoch's order). */
  private trainStep(index: number): void {
    const { gpu, config: c } = this;
    const mix = this.drawMix(this.step);
    gpu.write(this.partnerShare, mix.partnerShare);
    const { images, labels } = this.trainBatcher.encode({
      batch: c.batch, first: index * c.batch, augment: c.augment, seed: c.seed, step: this.step, mix: mix.plan,
    });
    let inputs: TargetInputs | undefined;
    const { ce } = this.trainer.record(images, (out) => {
      inputs = {
        gpu, mix, labels, partnerShare: this.partnerShare, attention: out.attention, batch: c.batch,
        tokens: tokensOf(this.vit), classes: this.vit.classes, smoothing: c.smoothing,
      };
      return this.method.targets(inputs);
    }, this.learningRate(this.step));
    axpy(gpu, ce.loss.storage, this.lossSum, 1, true);
    if (this.fluctuationRequest) this.readFluctuation(inputs!, this.fluctuationRequest);
    this.fluctuationRequest = undefined;
    gpu.endStep();
    this.step++;
  }

  private readFluctuation(t: TargetInputs, deliver: (f: TokenFluctuation) => void): void {
    const layers = noGrad(() => propagateThroughBlocks(initOwnShares(t.gpu, {
      batch: t.batch, tokens: t.tokens, clsOwnShare: t.mix.ownShare, partnerShare: t.partnerShare, perSample: false,
    }), t.attention));
    void Promise.all(layers.map((l: Tensor) => t.gpu.readback(l.storage)))
      .then((read) => deliver({ mix: t.mix, layers: read, batch: t.batch, tokens: t.tokens }));
  }

  /** One epoch of training; resolves with its mean loss and throughput. */
  async trainEpoch(onProgress?: (p: StepProgress) => void): Promise<{ train_loss: number; img_per_s: number; seconds: number; lr: number }> {
    const { gpu, config: c } = this;
    if (this.epoch >= c.epochs) throw new Error(`the run is complete (${c.epochs} epochs)`);
    this.trainBatcher.setOrder(this.epochOrder(this.epoch));
    gpu.clear(this.lossSum);
    const start = performance.now();
    let lastLr = 0;
    let sum = 0;
    for (let s = 0; s < this.stepsPerEpoch; s++) {
      lastLr = this.learningRate(this.step);
      this.trainStep(s);
      const done = s + 1;
      if (done % this.readEvery === 0 || done === this.stepsPerEpoch) {
        [sum] = await gpu.read(this.lossSum);
        const seconds = (performance.now() - start) / 1000;
        const imgPerS = (done * c.batch) / seconds;
        onProgress?.({
          epoch: this.epoch, step: done, steps: this.stepsPerEpoch, loss: sum / done, imgPerS,
          etaSeconds: ((this.stepsPerEpoch - done) * c.batch) / imgPerS,
        });
      }
    }
    const seconds = (performance.now() - start) / 1000;
    if (!Number.isFinite(sum)) throw new Error(`training diverged in epoch ${this.epoch + 1}: loss is ${sum} (lower --lr?)`);
    return { train_loss: sum / this.stepsPerEpoch, img_per_s: (this.stepsPerEpoch * c.batch) / seconds, seconds, lr: lastLr };
  }

  /** Mean cross-entropy (hard labels, no smoothing) and accuracy on the whole test split. */
  async evaluate(): Promise<{ loss: number; acc: number }> {
    const { gpu, config: c } = this;
    gpu.clear(this.evalLossSum);
    gpu.clear(this.evalCorrect);
    const mix: BatchMix = { kind: 'none', plan: { mode: 'none' }, ownShare: 1, partnerShare: new Float32Array(0) };
    for (let first = 0; first < this.testCount; first += c.evalBatch) {
      const batch = Math.min(c.evalBatch, this.testCount - first);
      noGrad(() => {
        const { images, labels } = this.testBatcher.encode({ batch, first, augment: false, seed: 0, step: 0, mix: mix.plan });
        const out = this.model.forward(images);
        const targets = areaTargets({
          gpu, mix, labels, partnerShare: this.partnerShare, attention: [], batch, tokens: 1, classes: this.vit.classes, smoothing: 0,
        });
        const ce = softCrossEntropy(out.logits, targets);
        axpy(gpu, ce.loss.storage, this.evalLossSum, batch, true);
        encodeSum(gpu, ce.correct.storage, this.evalCorrect, { accumulate: true });
      });
      gpu.endStep();
    }
    const lossSumRead = gpu.readback(this.evalLossSum);
    const [correct] = await gpu.read(this.evalCorrect);
    const [lossSum] = await lossSumRead;
    return { loss: lossSum / this.testCount, acc: correct / this.testCount };
  }

  /** Trains one epoch and evaluates. */
  async runEpoch(onProgress?: (p: StepProgress) => void): Promise<EpochResult> {
    const t = await this.trainEpoch(onProgress);
    const e = await this.evaluate();
    this.epoch++;
    const result: EpochResult = {
      epoch: this.epoch, train_loss: t.train_loss, test_loss: e.loss, test_acc: e.acc, img_per_s: t.img_per_s, seconds: t.seconds, lr: t.lr,
    };
    this.history.push(result);
    return result;
  }

  /** Weights (timm names), AdamW state and where the run stands, as safetensors. */
  saveCheckpoint(): Promise<Uint8Array> {
    return saveCheckpoint(this.model, this.optimizer, {
      config: this.config, epoch: this.epoch, step: this.step, seed: this.config.seed, history: this.history,
    });
  }

  /** Continues from a checkpoint of the same configuration, at the epoch after the saved one. */
  restore(bytes: Uint8Array, name = 'checkpoint'): void {
    const meta = loadCheckpoint(bytes, this.model, this.optimizer, name);
    const saved = meta.config as Record<string, unknown>;
    const differing = Object.keys({ ...saved, ...this.config })
      .filter((k) => JSON.stringify(saved[k]) !== JSON.stringify((this.config as unknown as Record<string, unknown>)[k]));
    if (differing.length) {
      throw new Error(`${name}: made with another configuration, so the run cannot continue from it: ` +
        differing.map((k) => `${k} ${JSON.stringify(saved[k])} there, ${JSON.stringify((this.config as unknown as Record<string, unknown>)[k])} here`).join('; '));
    }
    this.epoch = Number(meta.epoch);
    this.step = Number(meta.step);
    if (this.step !== this.epoch * this.stepsPerEpoch) {
      throw new Error(`${name}: saved at step ${this.step}, which is not the end of epoch ${this.epoch} of this configuration (${this.stepsPerEpoch} steps per epoch)`);
    }
    if (this.optimizer.step !== this.step) {
      throw new Error(`${name}: holds no optimizer state for step ${this.step} (a weights-only file?), so training cannot resume from it`);
    }
    const history = meta.history as EpochResult[] | undefined;
    this.history.splice(0, this.history.length, ...(history ?? []));
  }
}

function checkCompatible(set: ImageSet, vit: VitConfig, split: string): void {
  if (set.size !== vit.imageSize || set.channels !== vit.channels) {
    throw new Error(`the ${split} images are ${set.channels}×${set.size}×${set.size}, the model takes ${vit.channels}×${vit.imageSize}×${vit.imageSize}`);
  }
  if (set.classes.length !== vit.classes) throw new Error(`the ${split} split has ${set.classes.length} classes, the model predicts ${vit.classes}`);
  if (set.count === 0) throw new Error(`the ${split} split is empty`);
}
