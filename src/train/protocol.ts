/**
 * Messages between the playground page (src/ui/) and its training worker (src/train/worker.ts),
 * and the read-outs the worker sends for the live views. Structured-cloneable data only.
 *
 * Page → worker: load a dataset, start or resume a run, pause, resume, one step, reset, which views
 * are on screen. Worker → page: dataset progress, the run's state, loss/lr/throughput points, epoch
 * results with test predictions, view snapshots, checkpoints saved, device loss and recovery, errors.
 */
import { type DatasetSummary } from '../data/dataset.ts';
import { type AdapterReport } from '../gpu/device.ts';
import { type MixKind } from '../methods/mixing.ts';
import { type EpochResult, type TrainConfig } from './trainer.ts';

export type DatasetKind = 'synthetic' | 'cifar10' | 'file';

/** Everything that defines a playground run; it is what the URL holds. */
export interface RunConfig extends TrainConfig {
  /** synthetic: generated in the worker; cifar10: prepared by `npm run data` under the page's data/cifar10/; file: the archive last picked in the page. */
  dataset: DatasetKind;
  /** Seeded class-balanced subsets (synthetic: the number generated). Absent = the whole split. */
  trainLimit?: number;
  testLimit?: number;
}

/** What the page asks to see; the worker reads back only these, only every `every` steps. */
export interface ViewRequest {
  batch: boolean;
  fluctuation: boolean;
  attention: boolean;
  smoothing: boolean;
  /** Index of the sample (in the batch) whose token strip and attention are shown. */
  sample: number;
  /** How many samples of the mixed batch to send (images, token maps, targets). */
  samples: number;
  /** Steps between snapshots (≥ 1). */
  every: number;
}

export type ToWorker =
  /** Starts run `runId`; with resume, from its latest checkpoint in browser storage. */
  | { type: 'start'; runId: string; config: RunConfig; resume: boolean; dataUrl: string }
  | { type: 'pause' }
  | { type: 'resume' }
  /** One training step, then paused. */
  | { type: 'step' }
  /** Stops the run and frees the GPU (the run's stored record stays). */
  | { type: 'reset' }
  | { type: 'views'; views: ViewRequest }
  /** Reads a CIFAR-10 archive the user picked (official binary tarball or ImageFolder .tar.gz) and caches it as dataset `file`. */
  | { type: 'load-file'; file: File }
  /** Test hook: destroys the device, as a driver reset would, to exercise recovery. */
  | { type: 'lose-device' };

export type RunState = 'idle' | 'loading' | 'starting' | 'running' | 'pausing' | 'paused' | 'done' | 'error' | 'recovering';

/** One point of the live curves, every read-back. */
export interface CurvePoint {
  step: number;
  /** Fractional epoch (step / steps per epoch). */
  epoch: number;
  /** Mean training loss over the steps since the previous point. */
  loss: number;
  lr: number;
  imgPerS: number;
}

/** Per-token own-image shares of the shown samples, and the batch's ρ_final − λ. */
export interface FluctuationView {
  /** [depth + 1] × [batch × N]: own-image share of every token (CLS first) of every sample, after the input and after each block. */
  layers: Float32Array[];
  /** ρ_final − λ for every sample of the batch (λ = the area ratio of its CLS target). */
  rhoMinusLambda: Float32Array;
}

export interface Snapshot {
  step: number;
  epoch: number;
  mix: MixKind;
  /** λ: share of the own image by area (1 when unmixed). */
  lambda: number;
  /** Half-open pixel box [y0, y1) × [x0, x1) pasted from the partner, when the mix has one. */
  box?: { y0: number; y1: number; x0: number; x1: number };
  /** G: the token grid is G×G (N = G² + 1 with CLS). */
  grid: number;
  imageSize: number;
  classes: readonly string[];
  /** Number of samples sent (≤ batch). */
  samples: number;
  batch: number;
  /** The mixed, augmented images as the model saw them, un-normalised to RGBA: [samples × S × S × 4]. */
  rgba: Uint8ClampedArray;
  /** Own and partner label of each sent sample. */
  labels: Uint8Array;
  partnerLabels: Uint8Array;
  /** Partner's share of each patch token's pixels (the input label map), [G²], the same for the batch. */
  partnerShare: Float32Array;
  /** The CLS target the loss used, [samples × K]. */
  targets: Float32Array;
  /** The model's softmax prediction on the mixed image, [samples × K]. */
  predictions: Float32Array;
  fluctuation?: FluctuationView;
  /** CLS attention of the chosen sample per layer: [depth] × [heads × N] (row 0 of each head's softmax). */
  attention?: { sample: number; heads: number; layers: Float32Array[] };
  /** Mean pairwise cosine similarity of patch tokens, [depth + 1]: after the embedding and after each block. */
  smoothing?: Float32Array;
}

/** After every epoch: the curves' epoch point and what the test split says. */
export interface EpochReport {
  result: EpochResult;
  /** confusion[true][predicted], counts over the test split. */
  confusion: number[][];
  /** A few test images with their softmax output. */
  examples: { rgba: Uint8ClampedArray; label: number; probs: Float32Array }[];
}

export interface RunInfo {
  runId: string;
  adapter: AdapterReport;
  parameters: number;
  stepsPerEpoch: number;
  totalSteps: number;
  step: number;
  epoch: number;
  dataset: DatasetSummary;
}

export type FromWorker =
  | { type: 'state'; state: RunState; message?: string }
  | { type: 'dataset-progress'; done: number; total: number; what: string }
  | { type: 'dataset-loaded'; kind: DatasetKind; summary: DatasetSummary }
  | { type: 'dataset-error'; message: string }
  | { type: 'started'; info: RunInfo }
  | { type: 'curve'; point: CurvePoint }
  | { type: 'epoch'; report: EpochReport }
  | { type: 'snapshot'; snapshot: Snapshot }
  | { type: 'checkpoint'; runId: string; step: number; epoch: number }
  /** The device was lost; the worker opens a new one and resumes from the checkpoint at `step`. */
  | { type: 'device-lost'; message: string }
  | { type: 'error'; message: string; noWebGPU?: boolean };
