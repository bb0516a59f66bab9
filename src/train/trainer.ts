/**
 * A training run on a dataset: epochs over a seeded shuffle, a method's mix and targets, AdamW
 * with warmup + cosine, evaluation on the test split, checkpoints. Browser-safe: the CLI (Node)
 * and the page's worker drive the same class.
 *
 * One step = one command encoder, one submit: zero-grad → batch (gather, augment, mix; GPU) →
 * forward (carrying TL-Align's labels through its attention kernels) → the method's targets (no
 * gradient) → soft-target CE → backward → AdamW. The loss is summed on the GPU and read back
 * only every `readEvery` steps (for the progress line, which also keeps the CPU from running far
 * ahead of the GPU).
 *
 * Reproducibility: initialisation, every epoch's shuffle, every batch's mix and every image's
 * crop/flip are functions of (seed, epoch or step) only, and the kernels are deterministic, so
 * the same seed on the same adapter gives the same numbers, also across a checkpoint resume.
 */
import { axpy } from '../autograd/ops/elementwise.ts';
import { encodeSum } from '../autograd/ops/reduce.ts';
import { noGrad, softCrossEntropy, type Tensor } from '../autograd/index.ts';
import { type DatasetSplits, type ImageSet } from '../data/dataset.ts';
import { augmentHash, type DatasetOnGpu, GpuBatcher, type TeacherMapsOnGpu, uploadDataset, uploadTeacherMaps } from '../data/gpu-batcher.ts';
import { type AdapterReport } from '../gpu/device.ts';
import { type Gpu, type Storage } from '../gpu/gpu.ts';
import { attentionFusesLabels } from '../autograd/ops/attention.ts';
import { type BatchInputs, DEFAULT_METHOD_OPTIONS, type Method, methodByName, type MethodOptions, type TargetInputs } from '../methods/index.ts';
import { areaTargets, clsLoss, type LossInputs } from '../methods/method.ts';
import { initOwnShares, propagateThroughBlocks } from '../methods/labels.ts';
import { type BatchMix, gridOf, type MixGeometry, SPATIAL_KINDS } from '../methods/mixing.ts';
import { AdamW, DEFAULT_LOSS_SCALE_GROWTH_INTERVAL, type LossScaleState } from '../nn/adamw.ts';
import { preset, tokensOf, type VitConfig } from '../nn/presets.ts';
import { Rng } from '../nn/random.ts';
import { learningRate } from '../nn/schedule.ts';
import { type Precision, VisionTransformer, type VitOutput } from '../nn/vit.ts';
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
  /** 'f16': f16 products with f32 master weights and dynamic loss scaling (needs shader-f16; src/nn/vit.ts). */
  precision: Precision;
  /** f16: good steps after which the loss scale doubles. */
  lossScaleGrowth: number;
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  ...DEFAULT_METHOD_OPTIONS,
  model: 'small', method: 'tl-align', epochs: 10, batch: 128, lr: 1e-3, minLr: 1e-5, warmupEpochs: 1,
  weightDecay: 0.05, clip: 0, seed: 0, augment: true, evalBatch: 250, precision: 'f32', lossScaleGrowth: DEFAULT_LOSS_SCALE_GROWTH_INTERVAL,
};

export function resolveConfig(partial: Partial<TrainConfig>): TrainConfig {
  const c = { ...DEFAULT_TRAIN_CONFIG, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) } as TrainConfig;
  methodByName(c.method);
  vitConfigOf(c);
  const positive = ['epochs', 'batch', 'evalBatch'] as const;
  for (const k of positive) if (!Number.isInteger(c[k]) || c[k] <= 0) throw new Error(`${k} must be a positive integer, got ${c[k]}`);
  if (!(c.lr > 0)) throw new Error(`lr must be > 0, got ${c.lr}`);
  if (c.precision !== 'f32' && c.precision !== 'f16') throw new Error(`precision must be "f32" or "f16", got "${c.precision}"`);
  if (!Number.isInteger(c.lossScaleGrowth) || c.lossScaleGrowth <= 0) throw new Error(`lossScaleGrowth must be a positive integer, got ${c.lossScaleGrowth}`);
  if (!(c.smoothing >= 0 && c.smoothing < 1)) throw new Error(`label smoothing must be in [0, 1), got ${c.smoothing}`);
  if (!(c.mixupAlpha > 0) || !(c.cutmixAlpha > 0)) throw new Error(`mixing α must be > 0 (mixup ${c.mixupAlpha}, cutmix ${c.cutmixAlpha})`);
  if (!(c.mixupSwitchProb >= 0 && c.mixupSwitchProb <= 1)) throw new Error(`mixup switch probability must be in [0, 1], got ${c.mixupSwitchProb}`);
  if (!(c.warmupEpochs >= 0)) throw new Error(`warmup epochs must be ≥ 0, got ${c.warmupEpochs}`);
  if (c.tokenmixMask !== 'blocks' && c.tokenmixMask !== 'random') throw new Error(`TokenMix mask must be "blocks" or "random", got "${c.tokenmixMask}"`);
  if (c.tokenmixLoss !== 'bce' && c.tokenmixLoss !== 'ce') throw new Error(`TokenMix loss must be "bce" or "ce", got "${c.tokenmixLoss}"`);
  if (!(c.tokenmixShare > 0 && c.tokenmixShare < 1)) throw new Error(`TokenMix share must be in (0, 1), got ${c.tokenmixShare}`);
  if (!(c.tokenLabelGtWeight >= 0 && c.tokenLabelGtWeight <= 1)) throw new Error(`Token Labeling ground-truth weight must be in [0, 1], got ${c.tokenLabelGtWeight}`);
  for (const k of ['tokenLabelWeight', 'diversityCosine', 'diversityContrastive', 'diversityMixing'] as const) {
    if (!(c[k] >= 0)) throw new Error(`${k} must be ≥ 0, got ${c[k]}`);
  }
  if (!(Number.isInteger(c.diversityWindow) && c.diversityWindow >= 0 && (c.diversityWindow === 0 || c.diversityWindow % 2 === 1))) {
    throw new Error(`the DiversePatch window must be an odd number of tokens (or 0 for the default), got ${c.diversityWindow}`);
  }
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
  /** Accuracy and mean cross-entropy on RunOptions.trainEval training images, clean (no augmentation, no mixing). */
  train_acc?: number;
  train_eval_loss?: number;
  /**
   * Mean over this epoch's spatially mixed batches of mean_b |ρ_b − λ|: ρ_b the CLS token's own-image
   * share after the last block (attention-propagated), λ the area share the mix gives it (RunOptions.measureShareGap).
   */
  cls_share_gap?: number;
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

/** What the next step should copy out for the live views (only what is asked for is read back). */
export interface SnapshotRequest {
  /** The first `samples` of the batch: their images, labels, targets and logits. */
  samples: number;
  /** The sample whose attention is read. */
  sample: number;
  fluctuation: boolean;
  attention: boolean;
  /** The residual stream of the first `hiddenSamples` samples after the embedding and each block. */
  hiddenSamples: number;
}

/** One step's read-outs, as the GPU had them (images normalised, logits raw). */
export interface StepSnapshot {
  step: number;
  epoch: number;
  mix: BatchMix;
  batch: number;
  /** The first `samples` of the batch. */
  samples: number;
  /** [samples, C, S, S], normalised, as the model saw them. */
  images: Float32Array;
  /** Class of each sample of the whole batch [B]; the partner of b is B − 1 − b. */
  labels: Uint32Array;
  /** The CLS targets the loss used, [samples, K]. */
  targets: Float32Array;
  logits: Float32Array;
  /** [depth + 1] × [B, N] own-image share of each token (spatial mixes only). */
  fluctuation?: Float32Array[];
  /** [depth] × [H, N, N]: the softmax attention of sample `sample`. */
  attention?: { sample: number; layers: Float32Array[] };
  /** [depth + 1] × [hiddenSamples, N, D]. */
  hidden?: Float32Array[];
  /** The teacher's maps of the first `samples` (own images, augmented), [samples, T, K] (teacher methods). */
  teacher?: Float32Array;
}

/** A teacher's per-token class probabilities for every training image, [count, T, K] (src/teacher). */
export interface TeacherMaps {
  maps: Float32Array;
  /** Patch side of the maps' grid: it must be the student's. */
  patch: number;
  classes: number;
}

export interface RunOptions {
  /** Steps between loss read-backs. */
  readEvery?: number;
  /** The teacher's maps of the training split (teacher methods). */
  teacher?: TeacherMaps;
  /**
   * Carry labels (TL-Align's, or the own shares of a fluctuation read-out) through the attention
   * kernels (default); false propagates them after the forward with the separate kernel (the reference path).
   */
  fuseLabels?: boolean;
  /** Training images evaluated after every epoch for EpochResult.train_acc (a fixed subset when fewer than the split); 0: none (default). */
  trainEval?: number;
  /** Carry every spatially mixed step's own-image shares through the blocks and report EpochResult.cls_share_gap. */
  measureShareGap?: boolean;
}

/** The training part of an epoch's result, measured by whoever drove the steps. */
export interface EpochTraining { train_loss: number; img_per_s: number; seconds: number; lr: number }

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
  private readonly tokenMask: Storage;
  private readonly teacherMaps?: TeacherMapsOnGpu;
  private readonly lossSum: Storage;
  private readonly evalLossSum: Storage;
  private readonly evalCorrect: Storage;
  private readonly geometry: MixGeometry;
  private readonly trainCount: number;
  private readonly testCount: number;
  private fluctuationRequest?: (f: TokenFluctuation) => void;
  private snapshotRequest?: { request: SnapshotRequest; deliver: (s: StepSnapshot) => void };
  /** The epoch whose shuffle the training batcher holds (−1: none yet). */
  private orderEpoch = -1;
  private testLogits?: Storage;
  private readonly trainEval?: { batcher: GpuBatcher; count: number };
  /** measureShareGap: every step's last-block own shares [stepsPerEpoch, B, N], and each step's λ (NaN: not spatial). */
  private readonly shareGap?: { finalShares: Storage; lambdas: Float64Array };

  /** Steps between loss read-backs (at least four per epoch). */
  readonly readEvery: number;
  private readonly fuseLabels: boolean;

  constructor(readonly gpu: Gpu, data: DatasetSplits, config: Partial<TrainConfig>, options: RunOptions | number = {}) {
    const o: RunOptions = typeof options === 'number' ? { readEvery: options } : options;
    const readEvery = o.readEvery ?? 10;
    this.fuseLabels = o.fuseLabels ?? true;
    this.config = resolveConfig(config);
    const c = this.config;
    this.vit = vitConfigOf(c);
    this.method = methodByName(c.method);
    if (this.method.teacher && !o.teacher) {
      throw new Error(`method ${c.method} needs a teacher: dense maps from an ONNX model (CLI: --teacher <model.onnx>; export one with npm run export -- --dense)`);
    }
    if (o.teacher) checkTeacher(o.teacher, this.vit, data.train.count);
    checkCompatible(data.train, this.vit, 'train');
    checkCompatible(data.test, this.vit, 'test');
    if (data.train.count < c.batch) throw new Error(`the training set has ${data.train.count} images, fewer than one batch of ${c.batch}`);
    this.trainCount = data.train.count;
    this.testCount = data.test.count;
    this.stepsPerEpoch = Math.floor(data.train.count / c.batch);
    this.totalSteps = this.stepsPerEpoch * c.epochs;
    this.readEvery = Math.max(1, Math.min(readEvery, Math.floor(this.stepsPerEpoch / 4)));
    this.geometry = { imageSize: this.vit.imageSize, patch: this.vit.patch };

    this.model = new VisionTransformer(gpu, this.vit, c.seed, this.method.extraParams?.(this.vit, c.seed, c) ?? [], { precision: c.precision });
    this.optimizer = new AdamW(this.model.params, { weightDecay: c.weightDecay, maxGradNorm: c.clip, lossScale: { growthInterval: c.lossScaleGrowth } });
    this.trainer = new Trainer(this.model, this.optimizer);
    this.train = uploadDataset(gpu, data.train);
    this.test = uploadDataset(gpu, data.test);
    this.trainBatcher = new GpuBatcher(gpu, this.train);
    this.testBatcher = new GpuBatcher(gpu, this.test);
    this.testBatcher.setOrder(Uint32Array.from({ length: data.test.count }, (_, i) => i));
    const trainEval = Math.min(o.trainEval ?? 0, data.train.count);
    if (!(Number.isInteger(trainEval) && trainEval >= 0)) throw new Error(`trainEval must be a whole number of images ≥ 0, got ${o.trainEval}`);
    if (trainEval > 0) {
      const batcher = new GpuBatcher(gpu, this.train);
      batcher.setOrder(trainEvalOrder(data.train.count, trainEval));
      this.trainEval = { batcher, count: trainEval };
    }
    if (o.measureShareGap) {
      this.shareGap = {
        finalShares: gpu.persistent(this.stepsPerEpoch * c.batch * tokensOf(this.vit), 'train.final_own_shares'),
        lambdas: new Float64Array(this.stepsPerEpoch).fill(NaN),
      };
    }
    this.partnerShare = gpu.persistent(tokensOf(this.vit) - 1, 'mix.partner_share');
    this.tokenMask = gpu.persistent(tokensOf(this.vit) - 1, 'mix.token_mask');
    if (o.teacher && this.method.teacher) {
      this.teacherMaps = uploadTeacherMaps(gpu, o.teacher.maps, { count: data.train.count, size: this.vit.imageSize, patch: o.teacher.patch, classes: o.teacher.classes });
    }
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

  /** The next training step also copies out what `request` asks for; resolves once the GPU has run it. */
  nextSnapshot(request: SnapshotRequest): Promise<StepSnapshot> {
    return new Promise((deliver) => { this.snapshotRequest = { request, deliver }; });
  }

  /** Steps taken in the current epoch (0 … stepsPerEpoch). */
  get stepInEpoch(): number {
    return this.step - this.epoch * this.stepsPerEpoch;
  }

  /** Every step of the current epoch is taken; finishEpoch() evaluates it. */
  get epochTrained(): boolean {
    return this.stepInEpoch >= this.stepsPerEpoch;
  }

  get complete(): boolean {
    return this.epoch >= this.config.epochs;
  }

  /** Records and submits the next training step of the current epoch. */
  stepOnce(): void {
    if (this.complete) throw new Error(`the run is complete (${this.config.epochs} epochs)`);
    if (this.epochTrained) throw new Error(`epoch ${this.epoch + 1} is trained; finishEpoch() evaluates it before the next step`);
    if (this.orderEpoch !== this.epoch) {
      this.trainBatcher.setOrder(this.epochOrder(this.epoch));
      this.orderEpoch = this.epoch;
    }
    if (this.stepInEpoch === 0) {
      this.gpu.clear(this.lossSum);
      this.shareGap?.lambdas.fill(NaN);
    }
    this.trainStep(this.stepInEpoch);
  }

  /** f16 path: the loss scale, skipped and applied steps (waits for the GPU); undefined with f32. */
  async lossScale(): Promise<LossScaleState | undefined> {
    const state = this.optimizer.readLossScale();
    this.gpu.flush();
    return state;
  }

  /** Sum of this epoch's step losses so far (waits for the GPU). */
  async epochLossSum(): Promise<number> {
    return (await this.gpu.read(this.lossSum))[0];
  }

  /** Records and submits one training step (batch `index` of the current epoch's order). */
  private trainStep(index: number): void {
    const { gpu, config: c } = this;
    const mix = this.drawMix(this.step);
    gpu.write(this.partnerShare, mix.partnerShare);
    gpu.write(this.tokenMask, Uint32Array.from(mix.partnerShare, (m) => (m >= 0.5 ? 1 : 0)));
    const { images, labels } = this.trainBatcher.encode({
      batch: c.batch, first: index * c.batch, augment: c.augment, seed: c.seed, step: this.step, mix: mix.plan,
    });
    const teacher = this.teacherMaps ? this.trainBatcher.encodeTeacher(this.teacherMaps) : undefined;
    const batchInputs: BatchInputs = {
      gpu, mix, labels, partnerShare: this.partnerShare, batch: c.batch,
      tokens: tokensOf(this.vit), classes: this.vit.classes, smoothing: c.smoothing, teacher, options: c,
    };
    // Labels carried through the attention: the method's (TL-Align), or else the own shares when this step reads them.
    const methodLabels = this.method.initialLabels && noGrad(() => this.method.initialLabels!(batchInputs));
    const spatial = SPATIAL_KINDS.includes(mix.kind);
    const measureGap = !!this.shareGap && spatial;
    const wantShares = measureGap || !!this.fluctuationRequest || (!!this.snapshotRequest?.request.fluctuation && spatial);
    const sharesCarried = !methodLabels && wantShares && this.fuseLabels;
    const carried = methodLabels ?? (sharesCarried ? noGrad(() => initOwnShares(gpu, this.ownShareOptions(batchInputs))) : undefined);
    const fused = carried && this.fusesLabels(carried) ? carried : undefined;
    let inputs: LossInputs | undefined;
    const { loss, out } = this.trainer.recordLoss(images, (out) => {
      const propagated = methodLabels && (fused ? out.labels : noGrad(() => propagateThroughBlocks(methodLabels, out.attention)));
      inputs = { ...batchInputs, attention: out.attention, propagated, out, model: this.model, tokenMask: this.tokenMask };
      return this.method.loss ? this.method.loss(inputs) : clsLoss(this.method, inputs);
    }, this.learningRate(this.step), { ...(mix.at === 'embeddings' ? { swapPatches: this.tokenMask } : {}), labels: fused });
    axpy(gpu, loss.loss.storage, this.lossSum, 1, true);
    let shares: readonly Tensor[] | undefined = sharesCarried ? out.labels : this.method.labelsAreOwnShares ? inputs!.propagated : undefined;
    const ownShares = () => (shares ??= this.ownShares(inputs!));
    if (measureGap) {
      const final = ownShares()[ownShares().length - 1].storage;
      const perStep = c.batch * batchInputs.tokens;
      const at = this.stepInEpoch;
      gpu.copy(final, { ...this.shareGap!.finalShares, offset: this.shareGap!.finalShares.offset + 4 * at * perStep, elements: perStep }, perStep);
      this.shareGap!.lambdas[at] = mix.ownShare;
    }
    if (this.fluctuationRequest) this.readFluctuation(inputs!, ownShares(), this.fluctuationRequest);
    this.fluctuationRequest = undefined;
    if (this.snapshotRequest) this.readSnapshot(inputs!, images, labels, loss.targets, out, ownShares, this.snapshotRequest);
    this.snapshotRequest = undefined;
    gpu.endStep();
    this.step++;
  }

  /** Whether the attention kernels can carry `labels` [B, N, C] (fused propagation). */
  private fusesLabels(labels: Tensor): boolean {
    return this.fuseLabels && attentionFusesLabels(this.vit.dim / this.vit.heads, labels.shape[2]);
  }

  private ownShareOptions(t: BatchInputs) {
    return { batch: t.batch, tokens: t.tokens, clsOwnShare: t.mix.ownShare, partnerShare: t.partnerShare, perSample: false };
  }

  /** The own shares v⁰ … v^depth, propagated from the attention after the forward (the reference path). */
  private ownShares(t: TargetInputs): readonly Tensor[] {
    return noGrad(() => propagateThroughBlocks(initOwnShares(t.gpu, this.ownShareOptions(t)), t.attention));
  }

  private readSnapshot(t: TargetInputs, images: Tensor, labels: Storage, targets: Tensor, out: VitOutput, ownShares: () => readonly Tensor[],
    { request: r, deliver }: { request: SnapshotRequest; deliver: (s: StepSnapshot) => void }): void {
    const { gpu, vit } = this;
    const B = t.batch;
    const N = t.tokens;
    const n = Math.max(1, Math.min(r.samples, B));
    const K = vit.classes;
    const first = (s: Storage, elements: number): Storage => ({ ...s, elements });
    const at = (s: Storage, offsetElements: number, elements: number): Storage => ({ buffer: s.buffer, offset: s.offset + 4 * offsetElements, elements });
    const pixels = vit.channels * vit.imageSize * vit.imageSize;
    const spatial = SPATIAL_KINDS.includes(t.mix.kind);
    const T = N - 1;
    const sample = Math.max(0, Math.min(r.sample, B - 1));
    const hiddenSamples = Math.max(0, Math.min(r.hiddenSamples, B));
    const H = vit.heads;
    const reads = {
      images: gpu.readback(first(images.storage, n * pixels)),
      labels: gpu.readback(first(labels, B)),
      targets: gpu.readback(first(targets.storage, n * K)),
      logits: gpu.readback(first(out.logits.storage, n * K)),
      fluctuation: r.fluctuation && spatial ? Promise.all(ownShares().map((l) => gpu.readback(l.storage))) : undefined,
      attention: r.attention ? Promise.all(out.attention.map((a) => gpu.readback(at(a.storage, sample * H * N * N, H * N * N)))) : undefined,
      hidden: hiddenSamples ? Promise.all(out.hidden.map((h) => gpu.readback(first(h.storage, hiddenSamples * N * vit.dim)))) : undefined,
      teacher: t.teacher ? gpu.readback(first(t.teacher.storage, n * T * K)) : undefined,
    };
    // Each read gets a handler now: after a lost device they all reject, and the ones not yet awaited must not go unhandled.
    for (const r of Object.values(reads)) r?.catch(() => undefined);
    const step = this.step;
    const epoch = this.epoch;
    // A failed read (a lost device) delivers nothing: the step loop reports the failure itself.
    void (async () => {
      deliver({
        step, epoch, mix: t.mix, batch: B, samples: n,
        images: await reads.images,
        labels: new Uint32Array((await reads.labels).buffer),
        targets: await reads.targets,
        logits: await reads.logits,
        fluctuation: await reads.fluctuation,
        attention: reads.attention && { sample, layers: await reads.attention },
        hidden: await reads.hidden,
        teacher: await reads.teacher,
      });
    })().catch(() => undefined);
  }

  private readFluctuation(t: TargetInputs, layers: readonly Tensor[], deliver: (f: TokenFluctuation) => void): void {
    void Promise.all(layers.map((l: Tensor) => t.gpu.readback(l.storage)))
      .then((read) => deliver({ mix: t.mix, layers: read, batch: t.batch, tokens: t.tokens }), () => undefined);
  }

  /** The rest of the current epoch's training; resolves with its mean loss and throughput. */
  async trainEpoch(onProgress?: (p: StepProgress) => void): Promise<EpochTraining> {
    const { config: c } = this;
    if (this.complete) throw new Error(`the run is complete (${c.epochs} epochs)`);
    const start = performance.now();
    const firstStep = this.stepInEpoch;
    let lastLr = 0;
    let sum = 0;
    while (!this.epochTrained) {
      lastLr = this.learningRate(this.step);
      this.stepOnce();
      const done = this.stepInEpoch;
      if (done % this.readEvery === 0 || done === this.stepsPerEpoch) {
        sum = await this.epochLossSum();
        const seconds = (performance.now() - start) / 1000;
        const imgPerS = ((done - firstStep) * c.batch) / seconds;
        onProgress?.({
          epoch: this.epoch, step: done, steps: this.stepsPerEpoch, loss: sum / done, imgPerS,
          etaSeconds: ((this.stepsPerEpoch - done) * c.batch) / imgPerS,
        });
      }
    }
    const seconds = (performance.now() - start) / 1000;
    if (!Number.isFinite(sum)) throw new Error(`training diverged in epoch ${this.epoch + 1}: loss is ${sum} (lower --lr?)`);
    return { train_loss: sum / this.stepsPerEpoch, img_per_s: ((this.stepsPerEpoch - firstStep) * c.batch) / seconds, seconds, lr: lastLr };
  }

  /**
   * Mean cross-entropy (hard labels, no smoothing) and accuracy on the whole test split; with
   * `logits`, also every test image's logits [count, K].
   */
  async evaluate(o: { logits?: boolean } = {}): Promise<{ loss: number; acc: number; logits?: Float32Array }> {
    return this.evaluateOn(this.testBatcher, this.testCount, o);
  }

  /** The same on the first `count` images of `batcher`'s order (clean: no augmentation, no mixing); logits only for the test split. */
  private async evaluateOn(batcher: GpuBatcher, count: number, o: { logits?: boolean } = {}): Promise<{ loss: number; acc: number; logits?: Float32Array }> {
    const { gpu, config: c } = this;
    const K = this.vit.classes;
    gpu.clear(this.evalLossSum);
    gpu.clear(this.evalCorrect);
    if (o.logits) this.testLogits ??= gpu.persistent(this.testCount * K, 'eval.logits');
    const mix: BatchMix = { kind: 'none', plan: { mode: 'none' }, ownShare: 1, partnerShare: new Float32Array(0) };
    for (let first = 0; first < count; first += c.evalBatch) {
      const batch = Math.min(c.evalBatch, count - first);
      noGrad(() => {
        const { images, labels } = batcher.encode({ batch, first, augment: false, seed: 0, step: 0, mix: mix.plan });
        const out = this.model.forward(images);
        const logits = this.method.evalLogits ? this.method.evalLogits(out, this.model) : out.logits;
        const targets = areaTargets({
          gpu, mix, labels, partnerShare: this.partnerShare, attention: [], batch, tokens: 1, classes: K, smoothing: 0, options: c,
        });
        const ce = softCrossEntropy(logits, targets);
        axpy(gpu, ce.loss.storage, this.evalLossSum, batch, true);
        encodeSum(gpu, ce.correct.storage, this.evalCorrect, { accumulate: true });
        if (o.logits) gpu.copy(logits.storage, { ...this.testLogits!, offset: this.testLogits!.offset + 4 * first * K, elements: batch * K });
      });
      gpu.endStep();
    }
    const lossSumRead = gpu.readback(this.evalLossSum);
    const logitsRead = o.logits ? gpu.readback(this.testLogits!) : undefined;
    const [correct] = await gpu.read(this.evalCorrect);
    const [lossSum] = await lossSumRead;
    return { loss: lossSum / count, acc: correct / count, logits: await logitsRead };
  }

  /** Evaluates the trained epoch and closes it (its result joins the history). */
  async finishEpoch(t: EpochTraining, o: { logits?: boolean } = {}): Promise<EpochResult & { logits?: Float32Array }> {
    if (!this.epochTrained) throw new Error(`epoch ${this.epoch + 1} has ${this.stepsPerEpoch - this.stepInEpoch} steps left to train`);
    const e = await this.evaluate(o);
    const onTrain = this.trainEval && (await this.evaluateOn(this.trainEval.batcher, this.trainEval.count));
    const gap = await this.readShareGap();
    this.epoch++;
    const result: EpochResult = {
      epoch: this.epoch, train_loss: t.train_loss, test_loss: e.loss, test_acc: e.acc, img_per_s: t.img_per_s, seconds: t.seconds, lr: t.lr,
      ...(onTrain ? { train_acc: onTrain.acc, train_eval_loss: onTrain.loss } : {}),
      ...(gap !== undefined ? { cls_share_gap: gap } : {}),
    };
    this.history.push(result);
    return { ...result, logits: e.logits };
  }

  /** measureShareGap: mean over this epoch's recorded spatial steps of mean_b |ρ_b − λ| (undefined: none recorded). */
  private async readShareGap(): Promise<number | undefined> {
    if (!this.shareGap) return undefined;
    const { finalShares, lambdas } = this.shareGap;
    const steps = [...lambdas.keys()].filter((i) => Number.isFinite(lambdas[i]));
    if (!steps.length) return undefined;
    const shares = await this.gpu.read(finalShares);
    const B = this.config.batch;
    const N = tokensOf(this.vit);
    let total = 0;
    for (const i of steps) {
      let gap = 0;
      for (let b = 0; b < B; b++) gap += Math.abs(shares[(i * B + b) * N] - lambdas[i]);
      total += gap / B;
    }
    return total / steps.length;
  }

  /** Trains (the rest of) one epoch and evaluates. */
  async runEpoch(onProgress?: (p: StepProgress) => void): Promise<EpochResult> {
    const { logits: _, ...result } = await this.finishEpoch(await this.trainEpoch(onProgress));
    return result;
  }

  /** Weights (timm names), AdamW state and where the run stands, as safetensors. */
  async saveCheckpoint(): Promise<Uint8Array> {
    const epochLossSum = this.stepInEpoch > 0 ? await this.epochLossSum() : 0;
    const lossScale = await this.lossScale();
    return saveCheckpoint(this.model, this.optimizer, {
      config: this.config, epoch: this.epoch, step: this.step, seed: this.config.seed, history: this.history, epochLossSum,
      ...(lossScale ? { lossScale } : {}),
    });
  }

  /** Continues from a checkpoint of the same configuration, at the step after the saved one (mid-epoch too). */
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
    if (!(this.stepInEpoch >= 0 && this.stepInEpoch <= this.stepsPerEpoch)) {
      throw new Error(`${name}: saved at step ${this.step}, which does not lie in epoch ${this.epoch + 1} of this configuration (${this.stepsPerEpoch} steps per epoch)`);
    }
    if (this.optimizer.step !== this.step) {
      throw new Error(`${name}: holds no optimizer state for step ${this.step} (a weights-only file?), so training cannot resume from it`);
    }
    const history = meta.history as EpochResult[] | undefined;
    this.history.splice(0, this.history.length, ...(history ?? []));
    this.orderEpoch = -1;
    if (this.stepInEpoch > 0) this.gpu.write(this.lossSum, Float32Array.of(Number(meta.epochLossSum ?? NaN)));
    const lossScale = meta.lossScale as LossScaleState | undefined;
    if (this.optimizer.lossScaleState) {
      if (!lossScale) throw new Error(`${name}: holds no loss-scale state, so an f16 run cannot resume from it`);
      this.optimizer.resetLossScale(lossScale.scale, lossScale.applied, lossScale.goodSteps, lossScale.skipped);
    }
  }
}

/** The training images behind train_acc: all of them, or a fixed random subset of `count` (the same for every run and seed). */
export function trainEvalOrder(total: number, count: number): Uint32Array {
  const order = Uint32Array.from({ length: total }, (_, i) => i);
  if (count >= total) return order;
  const rng = new Rng(0x7a1e7a1);
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(total - i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.slice(0, count);
}

function checkTeacher(t: TeacherMaps, vit: VitConfig, count: number): void {
  const G = gridOf({ imageSize: vit.imageSize, patch: vit.patch });
  if (t.classes !== vit.classes) throw new Error(`the teacher predicts ${t.classes} classes, the model ${vit.classes}`);
  if (t.patch !== vit.patch) {
    throw new Error(`the teacher's maps are on a ${vit.imageSize / t.patch}×${vit.imageSize / t.patch} token grid, the model's is ${G}×${G} (patch ${vit.patch}): use a teacher with the same patch size`);
  }
  if (t.maps.length !== count * G * G * t.classes) {
    throw new Error(`the teacher's maps cover ${t.maps.length / (G * G * t.classes)} images, the training split has ${count}`);
  }
}

function checkCompatible(set: ImageSet, vit: VitConfig, split: string): void {
  if (set.size !== vit.imageSize || set.channels !== vit.channels) {
    throw new Error(`the ${split} images are ${set.channels}×${set.size}×${set.size}, the model takes ${vit.channels}×${vit.imageSize}×${vit.imageSize}`);
  }
  if (set.classes.length !== vit.classes) throw new Error(`the ${split} split has ${set.classes.length} classes, the model predicts ${vit.classes}`);
  if (set.count === 0) throw new Error(`the ${split} split is empty`);
}
