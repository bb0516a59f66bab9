/**
 * Playground state (zustand): WebGPU on this page, the run configuration (mirrored in the URL),
 * what the training worker reports, the views on screen, and the runs kept in browser storage.
 * The worker is owned here; components only read state and call actions.
 */
import { create } from 'zustand';
import { type DatasetSummary } from '../data/dataset.ts';
import { type AdapterReport, NoWebGPUError, openDevice } from '../gpu/device.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../interop/safetensors.ts';
import { type BrowserStore, newRunId, openStore, type RunRecord, runToCsv, runToJson } from '../train/browser-store.ts';
import {
  type CurvePoint, type DatasetKind, type EpochReport, type FromWorker, type RunConfig, type RunInfo, type RunState, type Snapshot,
  type ToWorker, type ViewRequest,
} from '../train/protocol.ts';
import { DEFAULT_TRAIN_CONFIG, type EpochResult } from '../train/trainer.ts';
import { configFromQuery, configToQuery } from './url-config.ts';

export type Probe =
  | { state: 'probing' }
  | { state: 'ok'; report: AdapterReport }
  | { state: 'none'; reason: string }
  | { state: 'failed'; reason: string };

export type ViewName = 'batch' | 'fluctuation' | 'attention' | 'smoothing';

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
  datasets: Partial<Record<DatasetKind, DatasetSummary>>;
  datasetError?: string;
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
  refreshRuns(): Promise<void>;
  toggleCompare(id: string): void;
  deleteRun(id: string): Promise<void>;
  exportRun(id: string, what: 'json' | 'csv' | 'checkpoint' | 'weights'): Promise<void>;
  /** Destroys the worker's device, as a driver reset would (for tests and for trying recovery). */
  loseDevice(): void;
}

let worker: Worker | undefined;
let probing: Promise<void> | undefined;
let storePromise: Promise<BrowserStore> | undefined;
const db = () => (storePromise ??= openStore());

function send(m: ToWorker) {
  if (!worker) {
    worker = new Worker(new URL('../train/worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (ev: MessageEvent<FromWorker>) => onWorker(ev.data);
    worker.onerror = (ev) => useStore.setState({ state: 'error', error: `the training worker failed: ${ev.message || 'it could not be loaded'}` });
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
    case 'dataset-loaded': return set((s) => ({ datasets: { ...s.datasets, [m.kind]: m.summary }, datasetProgress: undefined, datasetError: undefined }));
    case 'dataset-error': return set({ datasetError: m.message, datasetProgress: undefined });
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
    case 'checkpoint': return void get().refreshRuns();
    case 'device-lost': return set({ deviceLost: m.message });
    case 'error': return set({ error: m.message, datasetProgress: undefined });
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
    set({ state: 'loading', points: [], epochs: [], report: undefined, snapshot: undefined, smoothingHistory: [], error: undefined, info: undefined, deviceLost: undefined });
    send({ type: 'start', runId: newRunId(), config: get().config, resume: false, dataUrl: dataUrl() });
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
      points: record.points.filter((p) => p.step <= (record.checkpointStep ?? 0)), epochs: record.epochs,
    });
    history.replaceState(null, '', `?${configToQuery(record.config)}`);
    send({ type: 'start', runId: record.id, config: record.config, resume: true, dataUrl: dataUrl() });
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
    set({ datasetError: undefined, datasetProgress: { done: 0, total: file.size, what: `reading ${file.name}` } });
    send({ type: 'load-file', file });
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
    const out = what === 'weights' ? weightsOnly(bytes, base) : bytes;
    download(`${base}${what === 'weights' ? '' : '.checkpoint'}.safetensors`, out as Uint8Array<ArrayBuffer>, 'application/octet-stream');
  },
}));
