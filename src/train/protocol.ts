/**
 * Messages between the playground page (src/ui/) and its training worker (src/train/worker.ts),
 * and the read-outs the worker sends for the live views. Structured-cloneable data only.
 *
 * Page → worker: load a dataset, start or resume a run (with the teacher file of a teacher method),
 * pause, resume, one step, reset, which views are on screen. Worker → page: dataset progress, teacher
 * maps progress and where they came from, the run's state, loss/lr/throughput points, epoch results
 * with test predictions, view snapshots (with TokenMix's mask parts and the teacher's maps),
 * checkpoints saved, device loss and recovery, errors.
 */
import { type DatasetSummary } from '../data/dataset.ts';
import { type AdapterReport } from '../gpu/device.ts';
import { type MixKind } from '../methods/mixing.ts';
import { type EpochResult, type TrainConfig } from './trainer.ts';

export type DatasetKind = 'synthetic' | 'cifar10' | 'file' | 'hub';

/** Everything that defines a playground run; it is what the URL holds. */
export interface RunConfig extends TrainConfig {
  /**
   * synthetic: generated in the worker; cifar10: prepared by `npm run data` under the page's data/cifar10/; file: the archive last
   * picked in the page; hub: CIFAR-10's parquet files from the Hugging Face Hub (or a mirror, `hubUrl`), downloaded by the page.
   */
  dataset: DatasetKind;
  /** Base URL of the parquet files of dataset `hub` (src/data/hub-parquet.ts); absent: the Hub's own, HUB_CIFAR10_BASE_URL. */
  hubUrl?: string;
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
  /**
   * Starts run `runId`; with resume, from its latest checkpoint in browser storage. `teacher`: the
   * ONNX file picked for a teacher method (on resume it may be left out when its maps are cached).
   */
  | { type: 'start'; runId: string; config: RunConfig; resume: boolean; dataUrl: string; teacher?: File }
  | { type: 'pause' }
  | { type: 'resume' }
  /** One training step, then paused. */
  | { type: 'step' }
  /** Stops the run and frees the GPU (the run's stored record stays). */
  | { type: 'reset' }
  | { type: 'views'; views: ViewRequest }
  /** Reads a CIFAR-10 archive the user picked (official binary tarball or ImageFolder .tar.gz) and caches it as dataset `file`. */
  | { type: 'load-file'; file: File }
  /** Downloads CIFAR-10's parquet pair from `baseUrl` (dataset `hub`), even when a copy is cached, and caches it as dataset `hub`. */
  | { type: 'load-hub'; baseUrl: string }
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

/** TokenMix's token mask, the same for the whole batch: the connected parts of the partner's tokens. */
export interface TokenMixView {
  /** [G²]: the part (0 … count − 1, in row-major order of first token) of each partner token; −1 for the own image's tokens. */
  parts: Int32Array;
  /** Number of connected parts (4-neighbourhood). */
  count: number;
  /** Partner tokens, and their share of the G² tokens (1 − λ). */
  tokens: number;
  share: number;
}

/** The teacher's dense maps of the sent samples' own (augmented, unmixed) images. */
export interface TeacherView {
  tokens: number;
  classes: number;
  /** [samples × T]: the class the teacher ranks first at each token, and its probability. */
  argmax: Uint8Array;
  confidence: Float32Array;
  /** [samples × T]: the teacher's probability of the sample's own (ground-truth) class at each token. */
  groundTruth: Float32Array;
  /**
   * [samples] TokenMix with a teacher: ρ_own, the share of the own image's ground-truth-class map
   * (normalised to sum 1) on the tokens the mask leaves to it; what its CLS target weights it by.
   */
  kept?: Float32Array;
}

export interface Snapshot {
  step: number;
  epoch: number;
  mix: MixKind;
  /** Where the mix happened: 'pixels' (the images are mixed) or 'embeddings' (MixToken: the images are not; patch embeddings are swapped in the model). */
  at: 'pixels' | 'embeddings';
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
  /** TokenMix: the mask's connected parts. */
  tokenMix?: TokenMixView;
  /** Teacher methods: the teacher's maps of the sent samples. */
  teacher?: TeacherView;
}

/** Which ONNX Runtime execution provider ran a teacher. */
export type TeacherProvider = 'webgpu' | 'wasm';

/** A teacher's maps, ready for a run: where they came from. */
export interface TeacherReport {
  /** The file name, and the SHA-256 (hex) of its bytes. */
  name: string;
  sha256: string;
  /** The execution provider that computed the maps (absent when they came from browser storage). */
  provider?: TeacherProvider;
  /** Why WebGPU was not used, when the maps were computed with the WASM provider. */
  fallback?: string;
  /** True when the maps were read from browser storage. */
  cached: boolean;
  /** Computed maps: whether they were written to browser storage, and why not (the run uses them from memory). */
  stored?: boolean;
  storeError?: string;
  /** Bytes of the maps in browser storage (read or written). */
  bytes?: number;
  images: number;
  tokens: number;
  classes: number;
  seconds: number;
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
  /**
   * The browser-storage cache of dataset `key`: read from it (`fromCache`), or written to it
   * (`stored`), or not written (`stored` false: `message` says why; the run trains from memory).
   */
  | { type: 'dataset-cache'; key: DatasetKind; fromCache: boolean; stored: boolean; bytes?: number; seconds?: number; message?: string }
  /** A checkpoint could not be saved (the run goes on; a reload resumes from the last one saved). */
  | { type: 'checkpoint-error'; runId: string; message: string }
  /** Computing a teacher's maps of the training split (done, total images). */
  | { type: 'teacher-progress'; done: number; total: number; what: string }
  | { type: 'teacher-ready'; teacher: TeacherReport }
  | { type: 'started'; info: RunInfo }
  | { type: 'curve'; point: CurvePoint }
  | { type: 'epoch'; report: EpochReport }
  | { type: 'snapshot'; snapshot: Snapshot }
  | { type: 'checkpoint'; runId: string; step: number; epoch: number }
  /** The device was lost; the worker opens a new one and resumes from the checkpoint at `step`. */
  | { type: 'device-lost'; message: string }
  | { type: 'error'; message: string; noWebGPU?: boolean };
