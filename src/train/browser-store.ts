/**
 * The playground's browser storage, used by the page and by the training worker. Small records in
 * IndexedDB (database `labelflow`); large binary data in the Origin Private File System through
 * ./blob-store.ts (an entry appears only once completely written), so no stored value grows into a
 * browser limit with the dataset:
 *
 *   IndexedDB    runs         RunRecord, keyed by its id
 *   OPFS         checkpoints/<run id>        safetensors bytes (./checkpoint.ts)
 *                datasets/<'file'|'cifar10'> the train split's web-format file, then the test split's (src/data/webformat.ts)
 *                teacher-maps/<key>          teacherMapsKey(teacher SHA-256, training images' SHA-256) → a teacher's dense
 *                                            maps of a training split, computed once (encodeTeacherMaps)
 *
 * Checkpoints, datasets and teacher maps that earlier versions kept in IndexedDB (stores
 * `checkpoints`, `datasets`, `teacherMaps`) are still read when OPFS has no entry of that name,
 * and removed when the entry is written anew or deleted. Without OPFS checkpoints go to IndexedDB
 * as before, and a dataset or teacher maps cannot be stored (the error says why).
 *
 * Also the run exports behind the page's download buttons (JSON, CSV) and newRunId().
 */
import { type DatasetSummary } from '../data/dataset.ts';
import { frameHeader, readFrameHeader } from '../data/framed.ts';
import { type BlobStore, openOpfsBlobStore } from './blob-store.ts';
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

export type DatasetKey = 'file' | 'cifar10' | 'hub';

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

/** Folders of the blob store (OPFS). */
const BLOB_CHECKPOINTS = 'checkpoints';
const BLOB_DATASETS = 'datasets';
const BLOB_TEACHER_MAPS = 'teacher-maps';

/** What the page's Storage panel lists: each large entry, where it is kept, and its size (unknown for older IndexedDB entries, which are not read to be measured). */
export interface StoredEntry {
  kind: 'dataset' | 'teacher-maps' | 'checkpoint';
  key: string;
  bytes?: number;
  where: 'opfs' | 'indexeddb';
}

export interface BrowserStore {
  /** Why large data cannot be stored in this browser (no OPFS), or undefined when it can. */
  readonly largeDataUnavailable?: string;
  /** Newest first (by createdAt). */
  listRuns(): Promise<RunRecord[]>;
  getRun(id: string): Promise<RunRecord | undefined>;
  putRun(r: RunRecord): Promise<void>;
  /** The run and its checkpoint. */
  deleteRun(id: string): Promise<void>;
  getCheckpoint(id: string): Promise<Uint8Array | undefined>;
  putCheckpoint(id: string, bytes: Uint8Array): Promise<void>;
  getDataset(key: DatasetKey): Promise<StoredDataset | undefined>;
  /** Returns the bytes stored. */
  putDataset(key: DatasetKey, value: StoredDataset): Promise<number>;
  clearDataset(key: DatasetKey): Promise<void>;
  getTeacherMaps(key: string): Promise<StoredTeacherMaps | undefined>;
  /** Returns the bytes stored. */
  putTeacherMaps(key: string, value: StoredTeacherMaps): Promise<number>;
  removeTeacherMaps(key: string): Promise<void>;
  /** Datasets, teacher maps and checkpoints stored, in OPFS and (from earlier versions) in IndexedDB. */
  listStored(): Promise<StoredEntry[]>;
  close(): void;
}

/**
 * Opens the IndexedDB database and the blob store for large data: `blobs` undefined opens this
 * context's OPFS (removing half-written entries), null means none (large data then cannot be stored).
 */
export async function openStore(factory: IDBFactory = indexedDB, blobs?: BlobStore | null): Promise<BrowserStore> {
  const db = await openDatabase(factory);
  let large: BlobStore | undefined;
  let largeDataUnavailable: string | undefined;
  if (blobs === undefined) {
    try {
      large = await openOpfsBlobStore();
    } catch (e) {
      largeDataUnavailable = e instanceof Error ? e.message : String(e);
    }
  } else if (blobs === null) largeDataUnavailable = 'this page has no Origin Private File System';
  else large = blobs;

  const read = async <T>(store: string, key: IDBValidKey): Promise<T | undefined> =>
    (await request(db.transaction(store).objectStore(store).get(key))) as T | undefined;
  const write = (stores: string[], what: string, bytes: number, body: (tx: IDBTransaction) => void): Promise<void> => {
    const tx = db.transaction(stores, 'readwrite');
    body(tx);
    return finished(tx, what, bytes);
  };
  /** Removes what an earlier version kept in IndexedDB under `key` once OPFS holds its replacement; failing to is harmless (OPFS is read first). */
  const dropOld = (store: string, key: string) => write([store], 'a removal', 0, (tx) => tx.objectStore(store).delete(key)).catch(() => undefined);
  const needLarge = (what: string): BlobStore => {
    if (!large) throw new Error(`browser storage: could not save ${what}: ${largeDataUnavailable}`);
    return large;
  };
  const oldKeys = async (store: string) => (await request(db.transaction(store).objectStore(store).getAllKeys())).map(String);

  return {
    largeDataUnavailable,
    async listRuns() {
      const runs = (await request(db.transaction(RUNS).objectStore(RUNS).getAll())) as RunRecord[];
      return runs.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
    },
    getRun: (id) => read<RunRecord>(RUNS, id),
    putRun: (r) => write([RUNS], `run "${r.name}"`, JSON.stringify(r).length, (tx) => tx.objectStore(RUNS).put(r)),
    async deleteRun(id) {
      await write([RUNS, CHECKPOINTS], `the deletion of run ${id}`, 0, (tx) => {
        tx.objectStore(RUNS).delete(id);
        tx.objectStore(CHECKPOINTS).delete(id);
      });
      await large?.remove(`${BLOB_CHECKPOINTS}/${id}`);
    },
    async getCheckpoint(id) {
      return (await large?.read(`${BLOB_CHECKPOINTS}/${id}`)) ?? read<Uint8Array>(CHECKPOINTS, id);
    },
    async putCheckpoint(id, bytes) {
      if (!large) return write([CHECKPOINTS], `the checkpoint of run ${id}`, bytes.length, (tx) => tx.objectStore(CHECKPOINTS).put(ownBytes(bytes), id));
      await large.write(`${BLOB_CHECKPOINTS}/${id}`, [bytes]);
      await dropOld(CHECKPOINTS, id);
    },
    async getDataset(key) {
      const bytes = await large?.read(`${BLOB_DATASETS}/${key}`);
      if (bytes) return decodeStoredDataset(bytes, `stored dataset "${key}"`);
      return read<StoredDataset>(DATASETS, key);
    },
    async putDataset(key, value) {
      const written = await needLarge(`dataset "${key}"`).write(`${BLOB_DATASETS}/${key}`, encodeStoredDataset(value));
      await dropOld(DATASETS, key);
      return written;
    },
    async clearDataset(key) {
      await large?.remove(`${BLOB_DATASETS}/${key}`);
      await write([DATASETS], `the removal of dataset "${key}"`, 0, (tx) => tx.objectStore(DATASETS).delete(key));
    },
    async getTeacherMaps(key) {
      const bytes = await large?.read(`${BLOB_TEACHER_MAPS}/${key}`);
      if (bytes) return decodeTeacherMaps(bytes, `stored teacher maps ${key}`);
      return read<StoredTeacherMaps>(TEACHER_MAPS, key);
    },
    async putTeacherMaps(key, value) {
      const written = await needLarge(`the teacher maps of ${value.name}`).write(`${BLOB_TEACHER_MAPS}/${key}`, encodeTeacherMaps(value));
      await dropOld(TEACHER_MAPS, key);
      return written;
    },
    async removeTeacherMaps(key) {
      await large?.remove(`${BLOB_TEACHER_MAPS}/${key}`);
      await write([TEACHER_MAPS], `the removal of teacher maps ${key}`, 0, (tx) => tx.objectStore(TEACHER_MAPS).delete(key));
    },
    async listStored() {
      const kinds: [StoredEntry['kind'], string, string][] = [['dataset', BLOB_DATASETS, DATASETS], ['teacher-maps', BLOB_TEACHER_MAPS, TEACHER_MAPS], ['checkpoint', BLOB_CHECKPOINTS, CHECKPOINTS]];
      const out: StoredEntry[] = [];
      for (const [kind, folder, store] of kinds) {
        const inOpfs = large ? await large.list(folder) : [];
        const keys = new Set<string>();
        for (const e of inOpfs) {
          const key = e.name.slice(folder.length + 1);
          keys.add(key);
          out.push({ kind, key, bytes: e.bytes, where: 'opfs' });
        }
        for (const key of await oldKeys(store)) if (!keys.has(key)) out.push({ kind, key, where: 'indexeddb' });
      }
      return out;
    },
    close: () => db.close(),
  };
}

const DATASET_MAGIC = 'LFDC1\n';

/**
 * A dataset entry (src/data/framed.ts): "LFDC1\n" | header length | header JSON ({summary,
 * trainBytes, testBytes}) | the train split's web-format file | the test split's. The splits are
 * parts of their own (written as they are, never copied together).
 */
export function encodeStoredDataset(value: StoredDataset): Uint8Array[] {
  return [frameHeader(DATASET_MAGIC, { summary: value.summary, trainBytes: value.train.length, testBytes: value.test.length }), value.train, value.test];
}

/** A dataset entry read back: its summary, and the splits as views of `bytes` (no copy). */
export function decodeStoredDataset(bytes: Uint8Array, name: string): StoredDataset {
  const { header: h, payloadAt: at } = readFrameHeader(bytes, DATASET_MAGIC, name, 'labelflow dataset entry');
  const header = h as { summary: DatasetSummary; trainBytes: number; testBytes: number };
  if (typeof header.summary !== 'object' || !Number.isInteger(header.trainBytes) || !Number.isInteger(header.testBytes)) {
    throw new Error(`${name}: corrupt header (it needs a summary and the byte sizes of both splits)`);
  }
  if (bytes.length - at !== header.trainBytes + header.testBytes) {
    throw new Error(`${name}: ${bytes.length - at} bytes of splits, the header promises ${header.trainBytes} + ${header.testBytes}`);
  }
  return {
    summary: header.summary,
    train: bytes.subarray(at, at + header.trainBytes),
    test: bytes.subarray(at + header.trainBytes),
  };
}

const MAPS_MAGIC = 'LFTM1\n';

/**
 * A teacher-maps entry (src/data/framed.ts): "LFTM1\n" | header length | header JSON (images,
 * tokens, classes, name, provider, createdAt), padded so the floats start 4-byte aligned | the maps
 * (float32 LE). The maps are a part of their own (no copy of 128 MB to prepend a header).
 */
export function encodeTeacherMaps(value: StoredTeacherMaps): Uint8Array[] {
  const { maps, ...meta } = value;
  if (maps.length !== meta.images * meta.tokens * meta.classes) {
    throw new Error(`teacher maps of ${meta.name}: ${maps.length} values, but ${meta.images} images × ${meta.tokens} tokens × ${meta.classes} classes = ${meta.images * meta.tokens * meta.classes}`);
  }
  return [frameHeader(MAPS_MAGIC, meta, 4), new Uint8Array(maps.buffer, maps.byteOffset, maps.byteLength)];
}

/** Reads a teacher-maps entry; the maps are a view of `bytes` (which must be 4-byte aligned: a buffer of its own). */
export function decodeTeacherMaps(bytes: Uint8Array, name: string): StoredTeacherMaps {
  const { header, payloadAt: at } = readFrameHeader(bytes, MAPS_MAGIC, name, 'labelflow teacher-maps entry');
  const meta = header as Omit<StoredTeacherMaps, 'maps'>;
  const values = meta.images * meta.tokens * meta.classes;
  if (!Number.isInteger(values) || bytes.length - at !== values * 4) {
    throw new Error(`${name}: ${bytes.length - at} bytes of maps, but ${meta.images} images × ${meta.tokens} tokens × ${meta.classes} classes need ${values * 4}`);
  }
  if ((bytes.byteOffset + at) % 4 !== 0) throw new Error(`${name}: the maps do not start 4-byte aligned`);
  return { ...meta, maps: new Float32Array(bytes.buffer, bytes.byteOffset + at, values) };
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
