/**
 * The playground's browser storage (IndexedDB, database `labelflow`), used by the page and by the
 * training worker: past runs with their curves, each run's latest checkpoint, and the datasets
 * the page has loaded (web-format bytes, so a reload does not re-read a 160 MB archive).
 *
 *   runs         RunRecord, keyed by its id
 *   checkpoints  run id → safetensors bytes (./checkpoint.ts)
 *   datasets     'file' | 'cifar10' → StoredDataset
 *   teacherMaps  teacherMapsKey(teacher SHA-256, training images' SHA-256) → StoredTeacherMaps: a
 *                teacher's dense maps of a training split, computed once (version 2)
 *
 * Also the run exports behind the page's download buttons (JSON, CSV) and newRunId().
 */
import { type DatasetSummary } from '../data/dataset.ts';
import { type CurvePoint, type RunConfig } from './protocol.ts';
import { type EpochResult } from './trainer.ts';

export const DATABASE = 'labelflow';
const VERSION = 2;
const RUNS = 'runs';
const CHECKPOINTS = 'checkpoints';
const DATASETS = 'datasets';
const TEACHER_MAPS = 'teacherMaps';

export interface RunRecord {
  id: string;
  name: string;
  config: RunConfig;
  createdAt: number;
  updatedAt: number;
  state: 'running' | 'paused' | 'done' | 'error';
  step: number;
  epoch: number;
  totalSteps: number;
  /** The adapter the run trained on, as the page shows it. */
  adapter?: string;
  points: CurvePoint[];
  epochs: EpochResult[];
  final?: { test_acc: number; test_loss: number; train_loss: number };
  /** Step of the checkpoint in the checkpoints store, when there is one. */
  checkpointStep?: number;
  error?: string;
  /** The teacher a teacher method trained with: its file name and the SHA-256 of its bytes (its maps are cached under it). */
  teacher?: { name: string; sha256: string };
}

/** A dataset as loaded, in the web format (src/data/webformat.ts; an empty split is a valid file of 0 images). */
export interface StoredDataset {
  summary: DatasetSummary;
  train: Uint8Array;
  test: Uint8Array;
}

export type DatasetKey = 'file' | 'cifar10';

/** A teacher's per-token class probabilities of every image of a training split, [images, tokens, classes]. */
export interface StoredTeacherMaps {
  maps: Float32Array;
  images: number;
  tokens: number;
  classes: number;
  /** The teacher's file name when the maps were computed, and the provider that computed them. */
  name: string;
  provider: string;
  createdAt: number;
}

/** Changes whenever what stored maps hold changes (normalisation, softmax, layout): old entries are then never read. */
const TEACHER_MAPS_FORMAT = 'maps-v1';

/** The key of a teacher's maps of a set of images: the teacher's bytes and the images' pixels (with their shape), each by SHA-256. */
export function teacherMapsKey(teacherSha256: string, imagesSha256: string): string {
  return `${TEACHER_MAPS_FORMAT}:${teacherSha256}:${imagesSha256}`;
}

export interface BrowserStore {
  /** Newest first (by createdAt). */
  listRuns(): Promise<RunRecord[]>;
  getRun(id: string): Promise<RunRecord | undefined>;
  putRun(r: RunRecord): Promise<void>;
  /** The run and its checkpoint. */
  deleteRun(id: string): Promise<void>;
  getCheckpoint(id: string): Promise<Uint8Array | undefined>;
  putCheckpoint(id: string, bytes: Uint8Array): Promise<void>;
  getDataset(key: DatasetKey): Promise<StoredDataset | undefined>;
  putDataset(key: DatasetKey, value: StoredDataset): Promise<void>;
  clearDataset(key: DatasetKey): Promise<void>;
  getTeacherMaps(key: string): Promise<StoredTeacherMaps | undefined>;
  putTeacherMaps(key: string, value: StoredTeacherMaps): Promise<void>;
  close(): void;
}

export async function openStore(factory: IDBFactory = indexedDB): Promise<BrowserStore> {
  const db = await openDatabase(factory);
  const read = async <T>(store: string, key: IDBValidKey): Promise<T | undefined> =>
    (await request(db.transaction(store).objectStore(store).get(key))) as T | undefined;
  const write = (stores: string[], what: string, bytes: number, body: (tx: IDBTransaction) => void): Promise<void> => {
    const tx = db.transaction(stores, 'readwrite');
    body(tx);
    return finished(tx, what, bytes);
  };
  return {
    async listRuns() {
      const runs = (await request(db.transaction(RUNS).objectStore(RUNS).getAll())) as RunRecord[];
      return runs.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
    },
    getRun: (id) => read<RunRecord>(RUNS, id),
    putRun: (r) => write([RUNS], `run "${r.name}"`, JSON.stringify(r).length, (tx) => tx.objectStore(RUNS).put(r)),
    deleteRun: (id) => write([RUNS, CHECKPOINTS], `the deletion of run ${id}`, 0, (tx) => {
      tx.objectStore(RUNS).delete(id);
      tx.objectStore(CHECKPOINTS).delete(id);
    }),
    getCheckpoint: (id) => read<Uint8Array>(CHECKPOINTS, id),
    putCheckpoint: (id, bytes) => write([CHECKPOINTS], `the checkpoint of run ${id}`, bytes.length, (tx) => tx.objectStore(CHECKPOINTS).put(ownBytes(bytes), id)),
    getDataset: (key) => read<StoredDataset>(DATASETS, key),
    putDataset: (key, value) => write([DATASETS], `dataset "${key}"`, value.train.length + value.test.length, (tx) =>
      tx.objectStore(DATASETS).put({ summary: value.summary, train: ownBytes(value.train), test: ownBytes(value.test) }, key)),
    clearDataset: (key) => write([DATASETS], `the removal of dataset "${key}"`, 0, (tx) => tx.objectStore(DATASETS).delete(key)),
    getTeacherMaps: (key) => read<StoredTeacherMaps>(TEACHER_MAPS, key),
    putTeacherMaps: (key, value) => write([TEACHER_MAPS], `the teacher maps of ${value.name}`, value.maps.byteLength, (tx) =>
      tx.objectStore(TEACHER_MAPS).put({ ...value, maps: ownFloats(value.maps) }, key)),
    close: () => db.close(),
  };
}

function openDatabase(factory: IDBFactory): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const open = factory.open(DATABASE, VERSION);
    open.onupgradeneeded = () => {
      const db = open.result;
      if (!db.objectStoreNames.contains(RUNS)) db.createObjectStore(RUNS, { keyPath: 'id' });
      if (!db.objectStoreNames.contains(CHECKPOINTS)) db.createObjectStore(CHECKPOINTS);
      if (!db.objectStoreNames.contains(DATASETS)) db.createObjectStore(DATASETS);
      if (!db.objectStoreNames.contains(TEACHER_MAPS)) db.createObjectStore(TEACHER_MAPS);
    };
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(new Error(`browser storage: cannot open the "${DATABASE}" database (${open.error?.message ?? 'unknown error'})`));
    open.onblocked = () => reject(new Error(`browser storage: the "${DATABASE}" database is held open at an older version by another tab; close the other labelflow tabs`));
  });
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** Resolves when `tx` commits, rejects with storageError when it fails. */
function finished(tx: IDBTransaction, what: string, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = tx.onabort = () => reject(storageError(tx.error, what, bytes));
  });
}

/** A failed write as a sentence; a full disk (QuotaExceededError) says so and how much was being written. */
export function storageError(e: DOMException | null, what: string, bytes: number): Error {
  if (e?.name === 'QuotaExceededError') {
    return new Error(`browser storage is full: could not save ${what} (${megabytes(bytes)} MB); delete old runs or stored datasets, or allow this site more storage`);
  }
  return new Error(`browser storage: could not save ${what} (${e?.message ?? 'the transaction was aborted'})`);
}

function megabytes(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/**
 * The bytes in a buffer of their own: storing a view stores its whole buffer (structured clone
 * keeps the ArrayBuffer), which for a subarray of a larger download would be far more than asked.
 */
function ownBytes(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
}

function ownFloats(values: Float32Array): Float32Array {
  return values.byteOffset === 0 && values.byteLength === values.buffer.byteLength ? values : values.slice();
}

// ------------------------------------------------------------------ ids and exports

/** A new run id: time (base 36, so ids sort by creation) and 8 random hex digits. */
export function newRunId(now = Date.now()): string {
  const random = [...crypto.getRandomValues(new Uint8Array(4))].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `run-${now.toString(36)}-${random}`;
}

export function runToJson(r: RunRecord): string {
  return JSON.stringify(r, null, 2) + '\n';
}

const CSV_COLUMNS = ['kind', 'step', 'epoch', 'loss', 'train_loss', 'test_loss', 'test_acc', 'lr', 'img_per_s', 'seconds'] as const;
type CsvRow = Partial<Record<(typeof CSV_COLUMNS)[number], string | number>>;

/**
 * One table with a `kind` column, so it loads in one read (pandas, a spreadsheet) and filters by
 * kind: `step` rows are the live curve points (fractional epoch, mean loss since the previous
 * point), `epoch` rows the per-epoch results; a column that does not apply to a kind is empty.
 */
export function runToCsv(r: RunRecord): string {
  const rows: CsvRow[] = [
    ...r.points.map((p): CsvRow => ({ kind: 'step', step: p.step, epoch: p.epoch, loss: p.loss, lr: p.lr, img_per_s: p.imgPerS })),
    ...r.epochs.map((e): CsvRow => ({ kind: 'epoch', epoch: e.epoch, train_loss: e.train_loss, test_loss: e.test_loss, test_acc: e.test_acc, lr: e.lr, img_per_s: e.img_per_s, seconds: e.seconds })),
  ];
  const lines = [CSV_COLUMNS.join(','), ...rows.map((row) => CSV_COLUMNS.map((c) => row[c] ?? '').join(','))];
  return lines.join('\n') + '\n';
}
