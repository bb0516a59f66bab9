/**
 * Playground state (zustand): WebGPU on this page, the run configuration (mirrored in the URL),
 * the teacher file picked for a teacher method, what the training worker reports, the views on
 * screen, and the runs kept in browser storage (with their exports: JSON, CSV, safetensors, ONNX).
 * The worker is owned here; components only read state and call actions.
 */
import { create } from 'zustand';
import { type DatasetSummary } from '../data/dataset.ts';
import { HUB_CIFAR10_BASE_URL } from '../data/hub-parquet.ts';
import { type AdapterReport, NoWebGPUError, openDevice } from '../gpu/device.ts';
import { exportVitOnnx } from '../interop/onnx.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../interop/safetensors.ts';
import { methodByName } from '../methods/index.ts';
import { type BrowserStore, newRunId, openStore, type RunRecord, runToCsv, runToJson } from '../train/browser-store.ts';
import {
  type CurvePoint, type DatasetKind, type EpochReport, type FromWorker, type RunConfig, type RunInfo, type RunState, type Snapshot,
  type TeacherReport, type ToWorker, type ViewRequest,
} from '../train/protocol.ts';
import { DEFAULT_TRAIN_CONFIG, type EpochResult, vitConfigOf } from '../train/trainer.ts';
import { configFromQuery, configToQuery } from './url-config.ts';

export type Probe =
  | { state: 'probing' }
  | { state: 'ok'; report: AdapterReport }
  | { state: 'none'; reason: string }
  | { state: 'failed'; reason: string };

export type DatasetCacheReport = Omit<Extract<FromWorker, { type: 'dataset-cache' }>, 'type' | 'key'>;

export type ViewName = 'batch' | 'fluctuation' | 'attention' | 'smoothing';

export type RunExport = 'json' | 'csv' | 'checkpoint' | 'weights' | 'onnx' | 'onnx-dense';

/** The control a teacher method needs, as every message names it. */
export const TEACHER_CONTROL = '"teacher (.onnx)" under Training';

/** Whether `method` needs a teacher (false for a name that is not a method: the configuration check reports that). */
export function needsTeacher(method: string): boolean {
  try {
    return !!methodByName(method).teacher;
  } catch {
    return false;
  }
}

export const DEFAULT_RUN_CONFIG: RunConfig = { ...DEFAULT_TRAIN_CONFIG, dataset: 'synthetic', epochs: 5 };
/** Software adapters are about a thousand times slower than a GPU: the tiny model and a small batch. */
const SOFTWARE_ADAPTER_CONFIG: Partial<RunConfig> = { model: 'test', batch: 32, evalBatch: 250 };

interface Store {
  probe: Probe;
  config: RunConfig;
  /** Problems with the configuration in the URL (the defaults were kept for those fields). */
  urlErrors: string[];
  state: RunState;
  stateMessage?: string;
  /** When the last Pause was clicked (performance.now()), and how long it took to take effect. */
  pauseClickedAt?: number;
  pauseLatencyMs?: number;
  info?: RunInfo;
  points: CurvePoint[];
  epochs: EpochResult[];
  report?: EpochReport;
  snapshot?: Snapshot;
  smoothingHistory: Float32Array[];
  datasetProgress?: { done: number; total: number; what: string };
  /** The file whose dataset the worker is reading (Train waits until it is read). */
  datasetLoading?: string;
  datasets: Partial<Record<DatasetKind, DatasetSummary>>;
  datasetError?: string;
  /** What the worker said about each dataset's browser-storage cache (read from it, written, or why not written). */
  datasetCache: Partial<Record<DatasetKind, DatasetCacheReport>>;
  /** Why the last checkpoint could not be saved (cleared by the next one saved). */
  checkpointError?: string;
  /** The ONNX teacher picked for a teacher method (sent with Train and Resume). */
  teacherFile?: File;
  /** The teacher maps of the current run: where they came from (computed and by which provider, or cached). */
  teacher?: TeacherReport;
  teacherProgress?: { done: number; total: number; what: string };
  preparedAvailable?: boolean;
  error?: string;
  deviceLost?: string;
  runs: RunRecord[];
  /** Stored runs whose curves are overlaid. */
  compare: string[];
  views: ViewRequest;
  attentionHead: number | 'mean';

  probeAdapter(): Promise<void>;
  setConfig(c: Partial<RunConfig>): void;
  train(): void;
  pause(): void;
  resume(runId?: string): void;
  step(): void;
  reset(): void;
  setView(name: ViewName, visible: boolean): void;
  setSample(sample: number): void;
  setAttentionHead(head: number | 'mean'): void;
  loadFile(file: File): void;
  /** Downloads CIFAR-10's parquet pair from the configured base URL (dataset `hub`), replacing any cached copy once it has loaded. */
  downloadHub(): void;
  setTeacherFile(file: File | undefined): void;
  refreshRuns(): Promise<void>;
  toggleCompare(id: string): void;
  deleteRun(id: string): Promise<void>;
  exportRun(id: string, what: RunExport): Promise<void>;
  /** Destroys the worker's device, as a driver reset would (for tests and for trying recovery). */
  loseDevice(): void;
}

let worker: Worker | undefined;
let probing: Promise<void> | undefined;
let storePromise: Promise<BrowserStore> | undefined;
const db = () => (storePromise ??= openStore());
/** The page's browser storage (IndexedDB and OPFS), opened once; the Storage panel lists and deletes through it. */
export const pageStore = db;

function send(m: ToWorker) {
  if (!worker) {
    worker = new Worker(new URL('../train/worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (ev: MessageEvent<FromWorker>) => onWorker(ev.data);
    worker.onerror = (ev) => useStore.setState({ state: 'error', error: `the training worker failed: ${ev.message || 'it could not be loaded'}`, datasetLoading: undefined });
    worker.postMessage({ type: 'views', views: useStore.getState().views } satisfies ToWorker);
  }
  worker.postMessage(m);
}

/** Where `npm run data` put the prepared CIFAR-10, relative to the page (works under any base path). */
const dataUrl = () => new URL('data/cifar10/', document.baseURI).href;

function onWorker(m: FromWorker) {
  const set = useStore.setState;
  const get = useStore.getState;
  switch (m.type) {
    case 'state': {
      const clicked = get().pauseClickedAt;
      const paused = m.state === 'paused' && clicked !== undefined;
      set({ state: m.state, stateMessage: m.message, ...(paused ? { pauseLatencyMs: performance.now() - clicked, pauseClickedAt: undefined } : {}) });
      if (m.state === 'paused' || m.state === 'done' || m.state === 'error') void get().refreshRuns();
      return;
    }
    case 'dataset-progress': return set({ datasetProgress: { done: m.done, total: m.total, what: m.what } });
    case 'dataset-loaded':
      return set((s) => ({ datasets: { ...s.datasets, [m.kind]: m.summary }, datasetProgress: undefined, datasetError: undefined, datasetLoading: undefined }));
    case 'dataset-error': return set({ datasetError: m.message, datasetProgress: undefined, datasetLoading: undefined });
    case 'dataset-cache': {
      const { type: _type, key, ...report } = m;
      return set((s) => ({ datasetCache: { ...s.datasetCache, [key]: report } }));
    }
    case 'checkpoint-error': return set({ checkpointError: m.message });
    case 'teacher-progress': return set({ teacherProgress: { done: m.done, total: m.total, what: m.what } });
    case 'teacher-ready': return set({ teacher: m.teacher, teacherProgress: undefined });
    // A run resumed from its checkpoint (after a reload or a lost device) drops what came after it.
    case 'started':
      return set((s) => ({
        info: m.info, error: undefined,
        points: s.points.filter((p) => p.step <= m.info.step), epochs: s.epochs.filter((e) => e.epoch <= m.info.epoch),
      }));
    case 'curve': return set((s) => ({ points: [...s.points, m.point] }));
    case 'epoch': return set((s) => ({ report: m.report, epochs: [...s.epochs, m.report.result] }));
    case 'snapshot':
      return set((s) => ({
        snapshot: m.snapshot,
        smoothingHistory: m.snapshot.smoothing ? [...s.smoothingHistory, m.snapshot.smoothing].slice(-20) : s.smoothingHistory,
      }));
    case 'checkpoint':
      if (get().checkpointError) set({ checkpointError: undefined });
      return void get().refreshRuns();
    case 'device-lost': return set({ deviceLost: m.message });
    case 'error': return set({ error: m.message, datasetProgress: undefined, teacherProgress: undefined });
  }
}

async function probe() {
  const set = useStore.setState;
  const get = useStore.getState;
  try {
    // A device of its own, closed again: the worker opens the one it trains on.
    const { device, report } = await openDevice(navigator.gpu);
    device.destroy();
    set({ probe: { state: 'ok', report } });
    if (report.isFallbackAdapter && !location.search) get().setConfig(SOFTWARE_ADAPTER_CONFIG);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    set({ probe: e instanceof NoWebGPUError ? { state: 'none', reason } : { state: 'failed', reason } });
  }
}

function download(name: string, data: BlobPart, type: string) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([data], { type }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** The checkpoint's model weights by timm name (AdamW's moments left out), as exportVitOnnx takes them. */
function weightMap(bytes: Uint8Array, name: string): Map<string, Float32Array> {
  const weights = new Map<string, Float32Array>();
  for (const [key, t] of decodeSafetensors(bytes, name).tensors) {
    if (!key.startsWith('optimizer.') && t.dtype === 'F32') weights.set(key, t.data);
  }
  return weights;
}

/** The checkpoint without AdamW's moments: the model's weights under timm names. */
function weightsOnly(bytes: Uint8Array, name: string): Uint8Array {
  const file = decodeSafetensors(bytes, name);
  const tensors = [...file.tensors].filter(([name]) => !name.startsWith('optimizer.')).map(([name, t]) => ({ name, ...t }) as NamedTensor);
  const metadata = Object.fromEntries(Object.entries(file.metadata).filter(([k]) => !k.startsWith('optimizer.')));
  return encodeSafetensors(tensors, metadata);
}

const initial = typeof location === 'undefined'
  ? { config: DEFAULT_RUN_CONFIG, errors: [] as string[] }
  : location.search ? configFromQuery(location.search, DEFAULT_RUN_CONFIG) : { config: DEFAULT_RUN_CONFIG, errors: [] as string[] };

export const useStore = create<Store>()((set, get) => ({
  probe: { state: 'probing' },
  config: initial.config,
  urlErrors: initial.errors,
  state: 'idle',
  points: [],
  epochs: [],
  smoothingHistory: [],
  datasets: {},
  datasetCache: {},
  runs: [],
  compare: [],
  views: { batch: true, fluctuation: true, attention: true, smoothing: true, sample: 0, samples: 8, every: 10 },
  attentionHead: 'mean',

  probeAdapter() {
    return (probing ??= probe());
  },

  setConfig(c) {
    const config = { ...get().config, ...c };
    set({ config });
    history.replaceState(null, '', `?${configToQuery(config)}`);
  },

  train() {
    const { config, teacherFile } = get();
    if (needsTeacher(config.method) && !teacherFile) {
      set({ error: `method ${config.method} needs a teacher: pick its .onnx file with ${TEACHER_CONTROL} (export one from a trained run under Runs → "teacher (dense)")` });
      return;
    }
    set({
      state: 'loading', points: [], epochs: [], report: undefined, snapshot: undefined, smoothingHistory: [], error: undefined, info: undefined,
      deviceLost: undefined, teacher: undefined, teacherProgress: undefined,
    });
    send({ type: 'start', runId: newRunId(), config, resume: false, dataUrl: dataUrl(), teacher: needsTeacher(config.method) ? teacherFile : undefined });
  },

  pause() {
    set({ pauseClickedAt: performance.now(), state: 'pausing' });
    send({ type: 'pause' });
  },

  resume(runId) {
    const current = get().info?.runId;
    if (!runId || runId === current) {
      if (get().info && get().state === 'paused') {
        set({ state: 'running' });
        send({ type: 'resume' });
        return;
      }
    }
    const id = runId ?? current;
    const record = get().runs.find((r) => r.id === id);
    if (!record) return;
    set({
      state: 'loading', config: record.config, error: undefined, report: undefined, snapshot: undefined, smoothingHistory: [],
      points: record.points.filter((p) => p.step <= (record.checkpointStep ?? 0)), epochs: record.epochs, teacher: undefined, teacherProgress: undefined,
    });
    history.replaceState(null, '', `?${configToQuery(record.config)}`);
    // Without a picked file the worker looks for the maps of the teacher the record names.
    const teacher = needsTeacher(record.config.method) ? get().teacherFile : undefined;
    send({ type: 'start', runId: record.id, config: record.config, resume: true, dataUrl: dataUrl(), teacher });
  },

  step() {
    send({ type: 'step' });
  },

  reset() {
    send({ type: 'reset' });
    set({ info: undefined, points: [], epochs: [], report: undefined, snapshot: undefined, smoothingHistory: [], error: undefined });
  },

  setView(name, visible) {
    const views = { ...get().views, [name]: visible };
    if (views[name] === get().views[name]) return;
    set({ views });
    if (worker) send({ type: 'views', views });
  },

  setSample(sample) {
    const views = { ...get().views, sample };
    set({ views });
    if (worker) send({ type: 'views', views });
  },

  setAttentionHead(head) {
    set({ attentionHead: head });
  },

  loadFile(file) {
    set({ datasetError: undefined, datasetLoading: file.name, datasetProgress: { done: 0, total: file.size, what: 'bytes read' } });
    send({ type: 'load-file', file });
  },

  downloadHub() {
    const baseUrl = get().config.hubUrl ?? HUB_CIFAR10_BASE_URL;
    set({ datasetError: undefined, error: undefined, datasetLoading: 'CIFAR-10 from the Hugging Face Hub', datasetProgress: { done: 0, total: 0, what: `downloading from ${baseUrl}` } });
    send({ type: 'load-hub', baseUrl });
  },

  setTeacherFile(file) {
    set({ teacherFile: file, teacher: undefined });
  },

  async refreshRuns() {
    try {
      set({ runs: await (await db()).listRuns() });
    } catch (e) {
      set({ error: `browser storage: ${e instanceof Error ? e.message : String(e)}` });
    }
  },

  toggleCompare(id) {
    const c = get().compare;
    set({ compare: c.includes(id) ? c.filter((x) => x !== id) : [...c, id] });
  },

  async deleteRun(id) {
    await (await db()).deleteRun(id);
    set({ compare: get().compare.filter((x) => x !== id) });
    await get().refreshRuns();
  },

  loseDevice() {
    send({ type: 'lose-device' });
  },

  async exportRun(id, what) {
    const store = await db();
    const record = await store.getRun(id);
    if (!record) return;
    const base = `labelflow-${record.config.method}-${record.config.model}-seed${record.config.seed}-${id.slice(0, 8)}`;
    if (what === 'json') return download(`${base}.json`, runToJson(record), 'application/json');
    if (what === 'csv') return download(`${base}.csv`, runToCsv(record), 'text/csv');
    const bytes = await store.getCheckpoint(id);
    if (!bytes) return set({ error: `run ${record.name} has no checkpoint yet` });
    if (what === 'onnx' || what === 'onnx-dense') {
      try {
        const dense = what === 'onnx-dense';
        const onnx = exportVitOnnx(vitConfigOf(record.config), weightMap(bytes, base), {
          dense, name: 'labelflow_vit', metadata: { 'labelflow.run': record.id, 'labelflow.method': record.config.method, 'labelflow.step': String(record.checkpointStep ?? 0) },
        });
        return download(`${base}${dense ? '.teacher-dense' : ''}.onnx`, onnx as Uint8Array<ArrayBuffer>, 'application/octet-stream');
      } catch (e) {
        return set({ error: `ONNX export of run ${record.name}: ${e instanceof Error ? e.message : String(e)}` });
      }
    }
    const out = what === 'weights' ? weightsOnly(bytes, base) : bytes;
    download(`${base}${what === 'weights' ? '' : '.checkpoint'}.safetensors`, out as Uint8Array<ArrayBuffer>, 'application/octet-stream');
  },
}));
