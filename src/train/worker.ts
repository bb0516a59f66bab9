/**
 * The playground's training worker. It owns the WebGPU device and one TrainingRun (the same class
 * the CLI drives), and talks to the page only through src/train/protocol.ts.
 *
 * The loop keeps at most one step queued on the GPU beyond the one it is recording, and handles
 * the page's messages between steps, so a pause takes effect within a step: the page is told at
 * once, then the queued step finishes and the checkpoint is written. The loss is read every `readEvery` steps;
 * view data only every `views.every` steps and only for the views on screen. Checkpoints go to
 * browser storage on pause, at every epoch's end, at the end of the run, and every two minutes
 * of training, so a reload or a lost device resumes from the latest one.
 *
 * Teacher methods (Token Labeling, TokenMix with a teacher): the page sends the picked ONNX file;
 * the worker runs it once over the training split with ONNX Runtime Web (the WebGPU execution
 * provider, the WASM one when WebGPU fails or the adapter is a software one; it says which ran),
 * keeps the maps in browser storage (OPFS, ./browser-store.ts) under the teacher's SHA-256 and the
 * training images' SHA-256, and hands them to TrainingRun. A
 * resumed run finds its teacher's maps there by the SHA-256 in its record, without the file.
 */
import { type DatasetSplits, type ImageSet, limitImageSet, summarize } from '../data/dataset.ts';
import { HUB_CIFAR10_BASE_URL, loadHubParquet } from '../data/hub-parquet.ts';
import { DecodePool } from '../data/decode-pool.ts';
import { browserImageDecoder } from '../data/imagefolder-web.ts';
import { loadArchive, loadPrepared } from '../data/load-web.ts';
import { withPngDecoder } from '../data/png-decode.ts';
import { syntheticDataset } from '../data/synthetic.ts';
import { sha256HexAsync } from '../data/sha256.ts';
import { adapterName, NoWebGPUError, openDevice } from '../gpu/device.ts';
import { Gpu } from '../gpu/gpu.ts';
import { methodByName } from '../methods/index.ts';
import { type VitConfig } from '../nn/presets.ts';
import { loadTeacher, runTeacher, type Teacher } from '../teacher/teacher.ts';
import { type BrowserStore, type DatasetKey, openStore, type RunRecord, type StoredTeacherMaps, teacherMapsKey } from './browser-store.ts';
import { fromStoredDataset, toStoredDataset } from './dataset-cache.ts';
import { checkFits, planMemory } from './memory.ts';
import {
  type CurvePoint, type DatasetKind, type FromWorker, type RunConfig, type RunState, type TeacherProvider, type TeacherReport, type ToWorker,
  type ViewRequest,
} from './protocol.ts';
import { epochReport, toViewSnapshot } from './snapshot.ts';
import { type TeacherMaps, TrainingRun, vitConfigOf } from './trainer.ts';

const CHECKPOINT_EVERY_MS = 120_000;
const MAX_IN_FLIGHT = 1;
const MAX_RECOVERIES = 3;

interface Session {
  runId: string;
  config: RunConfig;
  dataUrl: string;
  /** The picked teacher file, kept for a restart after a lost device. */
  teacherFile?: File;
  gpu: Gpu;
  run: TrainingRun;
  data: DatasetSplits;
  record: RunRecord;
  /** Last loss read: global step, the epoch it was read in, and that epoch's loss sum then. */
  lastRead: { step: number; epoch: number; sum: number };
  /** Active training time and steps of the current epoch (pauses excluded). */
  epochClock: { seconds: number; steps: number };
  lastCheckpointAt: number;
  recoveries: number;
}

let session: Session | undefined;
/** What the page asked for: keep training, take one step, or stay paused. */
let want: 'run' | 'step' | 'pause' = 'pause';
let looping = false;
let views: ViewRequest = { batch: false, fluctuation: false, attention: false, smoothing: false, sample: 0, samples: 8, every: 10 };
let storePromise: Promise<BrowserStore> | undefined;
const datasets = new Map<string, DatasetSplits>();

const store = () => (storePromise ??= openStore());
const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as DedicatedWorkerGlobalScope).postMessage(m, transfer);
const setState = (state: RunState, message?: string) => post({ type: 'state', state, message });
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  switch (m.type) {
    case 'start': return void start(m.runId, m.config, m.resume, m.dataUrl, m.teacher);
    case 'pause':
      // From here on the loop submits no further step (it checks `want` before each), so the run is
      // paused now; the step already on the GPU still finishes, is counted, and is checkpointed.
      want = 'pause';
      if (session) setState(session.run.complete ? 'done' : 'paused');
      return;
    case 'resume': want = 'run'; return void loop();
    case 'step': want = 'step'; return void loop();
    case 'reset': return void reset();
    case 'views': views = m.views; return;
    case 'load-file': return void loadFile(m.file);
    case 'load-hub': return void loadHub(m.baseUrl);
    case 'lose-device': session?.gpu.device.destroy(); return;
  }
};

// ------------------------------------------------------------------ datasets

/**
 * Dataset `key` from memory, from browser storage, or from `load` (then stored in the background).
 * Storage is a cache, never a gate: when it cannot be read or written the dataset is used from
 * memory and the page is told why in a 'dataset-cache' message.
 */
async function cachedOrLoad(key: DatasetKey, load: () => Promise<DatasetSplits>): Promise<DatasetSplits> {
  const inMemory = datasets.get(key);
  if (inMemory) return inMemory;
  await cacheWrites.get(key);
  const t0 = performance.now();
  let unusable: string | undefined;
  try {
    const db = await store();
    const cached = await db.getDataset(key);
    if (cached) {
      const data = await fromStoredDataset(cached, `${key} (browser storage)`);
      post({ type: 'dataset-cache', key, fromCache: true, stored: true, bytes: cached.train.length + cached.test.length, seconds: (performance.now() - t0) / 1000 });
      datasets.set(key, data);
      return data;
    }
  } catch (e) {
    unusable = messageOf(e);
  }
  const data = await load();
  keepDataset(key, data, unusable);
  return data;
}

/** The cache write of each dataset in progress: a later write or read of the same key waits for it. */
const cacheWrites = new Map<DatasetKey, Promise<void>>();

/**
 * Keeps `data` as dataset `key` in memory at once and writes it to browser storage in the
 * background, replacing the stored copy (entries become visible only when complete), so a
 * 180 MB write never delays training. A write that fails removes the stored copy, so an older
 * dataset cannot come back on the next visit in place of this one.
 */
function keepDataset(key: DatasetKey, data: DatasetSplits, unusable?: string) {
  datasets.set(key, data);
  const write = async () => {
    const t0 = performance.now();
    let db: BrowserStore | undefined;
    try {
      db = await store();
      const bytes = await db.putDataset(key, await toStoredDataset(data));
      post({ type: 'dataset-cache', key, fromCache: false, stored: true, bytes, seconds: (performance.now() - t0) / 1000 });
    } catch (e) {
      await db?.clearDataset(key).catch(() => undefined);
      post({ type: 'dataset-cache', key, fromCache: false, stored: false, message: unusable ? `${messageOf(e)} (the stored copy could not be read: ${unusable})` : messageOf(e) });
    }
  };
  const previous = cacheWrites.get(key) ?? Promise.resolve();
  const done = previous.then(write);
  cacheWrites.set(key, done);
  void done.finally(() => { if (cacheWrites.get(key) === done) cacheWrites.delete(key); });
}

const progress = (done: number, total: number, what: string) => post({ type: 'dataset-progress', done, total, what });

async function datasetFor(c: RunConfig, dataUrl: string): Promise<DatasetSplits> {
  let data: DatasetSplits;
  if (c.dataset === 'synthetic') {
    const key = `synthetic:${c.trainLimit ?? 5000}:${c.testLimit ?? 1000}`;
    data = datasets.get(key) ?? syntheticDataset({ train: c.trainLimit ?? 5000, test: c.testLimit ?? 1000, seed: 0 });
    datasets.set(key, data);
    return data;
  }
  if (c.dataset === 'cifar10') data = await cachedOrLoad('cifar10', () => loadPrepared(dataUrl, fetch, progress));
  else if (c.dataset === 'hub') {
    const baseUrl = c.hubUrl ?? HUB_CIFAR10_BASE_URL;
    data = await cachedOrLoad('hub', () => {
      setState('loading', `downloading CIFAR-10 from ${baseUrl}`);
      return downloadHub(baseUrl);
    });
  }
  // The archive being read (a run asked for meanwhile waits for it) or read last in this worker, else the cached one.
  else if (pickedArchive) data = await pickedArchive;
  else {
    data = await cachedOrLoad('file', () => Promise.reject(new Error(
      'no CIFAR-10 archive has been picked yet: choose cifar-10-binary.tar.gz or an ImageFolder .tar.gz under Dataset')));
  }
  if (data.train.count === 0) {
    throw new Error(`${data.source} has no training images (only ${data.test.count.toLocaleString('en-US')} test images): ` +
      'training needs data_batch_1.bin … data_batch_5.bin (the full cifar-10-binary.tar.gz) or an ImageFolder archive with train/');
  }
  return {
    ...data,
    train: limitImageSet(data.train, c.trainLimit, 0, 'train', data.source),
    test: limitImageSet(data.test, c.testLimit, 0, 'test', data.source),
  };
}

/** The archive picked last in this worker: its load while it is read, then its data (a failed load is forgotten). */
let pickedArchive: Promise<DatasetSplits> | undefined;

/**
 * Reads the picked archive, with its images decoded by a pool of workers, and hands it to runs as
 * soon as it is read; the cache is written after that, so the write never delays training.
 */
async function loadFile(file: File) {
  const pool = new DecodePool();
  const loading = loadArchive(file.stream(), file.name, { decode: pool.decode, decodeConcurrency: pool.concurrency, totalBytes: file.size, onProgress: progress });
  pickedArchive = loading;
  let data: DatasetSplits;
  // The run state is left alone: the page shows the load's progress and keeps Train disabled until it ends.
  try {
    data = await loading;
    post({ type: 'dataset-loaded', kind: 'file', summary: summarize(data) });
  } catch (e) {
    if (pickedArchive === loading) pickedArchive = undefined;
    post({ type: 'dataset-error', message: messageOf(e) });
    return;
  } finally {
    pool.close();
  }
  if (pickedArchive !== loading) return; // another archive was picked meanwhile
  keepDataset('file', data);
}

/** CIFAR-10's parquet pair from the Hugging Face Hub, or the mirror at `baseUrl`: downloaded, checked, decoded. */
function downloadHub(baseUrl: string): Promise<DatasetSplits> {
  // The Hub's images are 8-bit PNGs: decoded in JS (much faster than createImageBitmap per image); any other variant by the browser.
  return loadHubParquet({ baseUrl, decode: withPngDecoder(browserImageDecoder), onProgress: progress });
}

/**
 * The page's Download / Retry: always fetches anew; the copy cached before is replaced only once the
 * new one has loaded. The run state is left alone: the page keeps Train disabled, with the progress, until it ends.
 */
async function loadHub(baseUrl: string) {
  try {
    const data = await downloadHub(baseUrl);
    keepDataset('hub', data);
    post({ type: 'dataset-loaded', kind: 'hub', summary: summarize(data) });
  } catch (e) {
    post({ type: 'dataset-error', message: messageOf(e) });
  }
}

// ------------------------------------------------------------------ teacher

/** The hint every "no teacher" message ends with: where the control is and where a teacher comes from. */
const PICK_TEACHER = 'pick its .onnx file with "teacher (.onnx)" under Training (export one from a trained run under Runs → "teacher (dense)")';
/** Images per ONNX Runtime run. */
const TEACHER_BATCH = 64;

/** The last teacher maps used, by their storage key (a restart after a lost device needs them again). */
let lastTeacher: { key: string; maps: TeacherMaps; report: TeacherReport } | undefined;
const imageDigests = new WeakMap<Uint8Array, string>();

/** The training images' identity: their shape and the SHA-256 of their pixels (another subset, order or dataset is another key). */
async function imagesIdentity(set: ImageSet): Promise<string> {
  let digest = imageDigests.get(set.images);
  if (!digest) imageDigests.set(set.images, (digest = await sha256HexAsync(set.images)));
  return `${set.count}x${set.channels}x${set.size}x${set.size}-${digest}`;
}

/**
 * The teacher maps of this run's training split, or undefined when its method needs none: from
 * memory, from browser storage, or computed from the picked file (and then stored). A resumed run
 * without a file looks up the teacher its record names.
 */
async function teacherFor(config: RunConfig, vit: VitConfig, train: ImageSet, file: File | undefined, record: RunRecord | undefined): Promise<{ maps: TeacherMaps; report: TeacherReport } | undefined> {
  if (!methodByName(config.method).teacher) return undefined;
  let bytes: Uint8Array | undefined;
  let name: string;
  let digest: string;
  if (file) {
    bytes = new Uint8Array(await file.arrayBuffer());
    name = file.name;
    digest = await sha256HexAsync(bytes);
    if (record?.teacher && record.teacher.sha256 !== digest) {
      throw new Error(`this run was trained with the teacher ${record.teacher.name} (SHA-256 ${record.teacher.sha256.slice(0, 12)}…); ` +
        `${file.name} is a different file (${digest.slice(0, 12)}…): pick ${record.teacher.name} with "teacher (.onnx)" under Training to resume it`);
    }
  } else if (record?.teacher) {
    ({ name, sha256: digest } = record.teacher);
  } else {
    throw new Error(`method ${config.method} needs a teacher: ${PICK_TEACHER}`);
  }
  const key = teacherMapsKey(digest, await imagesIdentity(train));
  if (lastTeacher?.key === key) return { maps: lastTeacher.maps, report: { ...lastTeacher.report, cached: true, seconds: 0 } };

  const t0 = performance.now();
  const db = await store();
  // Unreadable stored maps are computed again (and replace them).
  const stored = await db.getTeacherMaps(key).catch(() => undefined);
  let entry: StoredTeacherMaps;
  let report: TeacherReport;
  if (stored && stored.images === train.count && stored.maps.length === stored.images * stored.tokens * stored.classes) {
    entry = stored;
    report = {
      name, sha256: digest, cached: true, images: stored.images, tokens: stored.tokens, classes: stored.classes, bytes: stored.maps.byteLength,
      seconds: (performance.now() - t0) / 1000,
    };
  } else {
    if (!bytes) {
      throw new Error(`this run was trained with the teacher ${name}, whose maps of this training split are not in browser storage: ` +
        `pick ${name} with "teacher (.onnx)" under Training to resume it`);
    }
    const computed = await computeTeacherMaps(bytes, name, vit, train);
    entry = { maps: computed.maps, images: train.count, tokens: computed.tokens, classes: computed.classes, name, provider: computed.provider, createdAt: Date.now() };
    const seconds = (performance.now() - t0) / 1000;
    // A cache, never a gate: maps that cannot be stored are used from memory, and the page says why.
    const saved = await db.putTeacherMaps(key, entry).then((bytes) => ({ stored: true, bytes }), (e) => ({ stored: false, storeError: messageOf(e) }));
    report = {
      name, sha256: digest, provider: computed.provider, fallback: computed.fallback, cached: false, images: train.count,
      tokens: computed.tokens, classes: computed.classes, seconds, ...saved,
    };
  }
  const maps: TeacherMaps = { maps: entry.maps, patch: vit.imageSize / Math.sqrt(entry.tokens), classes: entry.classes };
  lastTeacher = { key, maps, report };
  return { maps, report };
}

/**
 * Runs the teacher over the training images with ONNX Runtime Web: the WebGPU execution provider
 * first, the WASM one when WebGPU cannot load or run the model (and why is reported).
 */
async function computeTeacherMaps(bytes: Uint8Array, name: string, vit: VitConfig, train: ImageSet):
  Promise<{ maps: Float32Array; tokens: number; classes: number; provider: TeacherProvider; fallback?: string }> {
  const what = (provider: string) => `teacher ${name}: maps of ${train.count.toLocaleString('en-US')} training images (${provider})`;
  setState('loading', `loading ONNX Runtime for the teacher ${name}`);
  // Its own chunk: only teacher runs load ONNX Runtime (and its WebAssembly file).
  const ort = await import('onnxruntime-web/webgpu');
  // Threads need a cross-origin-isolated page; one thread also keeps ORT from spawning workers by its bundle's file name.
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  const images = { images: train.images, count: train.count, size: train.size, channels: train.channels };
  const attempt = async (provider: TeacherProvider) => {
    setState('loading', `computing the teacher's maps with ONNX Runtime's ${provider === 'webgpu' ? 'WebGPU' : 'WASM'} execution provider`);
    let teacher: Teacher | undefined;
    try {
      teacher = await loadTeacher(ort, bytes, { executionProviders: [provider], sessionOptions: { logSeverityLevel: 3 }, student: vit, name });
      return await runTeacher(teacher, images, {
        batch: TEACHER_BATCH,
        onProgress: (done, total) => post({ type: 'teacher-progress', done, total, what: what(provider === 'webgpu' ? 'WebGPU' : 'WASM') }),
      });
    } finally {
      await teacher?.session.release().catch(() => undefined);
    }
  };
  let fallback: string | undefined;
  const adapter = typeof navigator !== 'undefined' && navigator.gpu ? await navigator.gpu.requestAdapter().catch(() => null) : null;
  if (adapter && (adapter.info as unknown as { isFallbackAdapter?: boolean })?.isFallbackAdapter) {
    // A software adapter (SwiftShader) emulates the GPU on the CPU: there ONNX Runtime's WASM kernels
    // are far faster.
    fallback = `the WebGPU adapter is a software one (${adapter.info.description || adapter.info.vendor || 'fallback adapter'}), where the WASM execution provider is faster`;
  } else if (adapter) {
    try {
      return { ...(await attempt('webgpu')), provider: 'webgpu' };
    } catch (e) {
      fallback = messageOf(e);
    }
  } else fallback = typeof navigator !== 'undefined' && navigator.gpu ? 'no WebGPU adapter' : 'this worker has no navigator.gpu';
  try {
    return { ...(await attempt('wasm')), provider: 'wasm', fallback };
  } catch (e) {
    throw new Error(`${messageOf(e)}${fallback ? ` (WebGPU execution provider: ${fallback})` : ''}`);
  }
}

// ------------------------------------------------------------------ runs

async function stopSession() {
  const s = session;
  session = undefined;
  want = 'pause';
  while (looping) await new Promise((r) => setTimeout(r, 10));
  s?.gpu.device.destroy();
}

async function reset() {
  await stopSession();
  setState('idle');
}

function newRecord(runId: string, config: RunConfig, run: TrainingRun, teacher?: TeacherReport): RunRecord {
  const now = Date.now();
  return {
    id: runId, name: `${config.method} · ${config.model} · seed ${config.seed}${config.precision === 'f16' ? ' · f16' : ''}`, config, createdAt: now, updatedAt: now,
    state: 'paused', step: 0, epoch: 0, totalSteps: run.totalSteps, adapter: adapterName(run.adapter), points: [], epochs: [],
    ...(teacher ? { teacher: { name: teacher.name, sha256: teacher.sha256 } } : {}),
  };
}

/** Opens a device and builds the run (from its checkpoint with `resume`), then trains. */
async function start(runId: string, config: RunConfig, resume: boolean, dataUrl: string, teacherFile?: File, recoveries = 0) {
  try {
    await stopSession();
    setState('loading');
    const data = await datasetFor(config, dataUrl);
    post({ type: 'dataset-loaded', kind: config.dataset as DatasetKind, summary: summarize(data) });
    const vit = vitConfigOf(config);
    const db = await store();
    let record = resume ? await db.getRun(runId) : undefined;
    const teacher = await teacherFor(config, vit, data.train, teacherFile, record);
    if (teacher) post({ type: 'teacher-ready', teacher: teacher.report });
    setState('starting');
    const { device, report } = await openDevice(navigator.gpu);
    try {
      checkFits(planMemory(vit, { batch: config.batch, evalBatch: config.evalBatch, trainImages: data.train.count, testImages: data.test.count,
        teacher: methodByName(config.method).teacher, precision: config.precision }), report.limits);
    } catch (e) {
      device.destroy();
      throw e;
    }
    const gpu = new Gpu(device, report);
    device.pushErrorScope('out-of-memory');
    // Train accuracy on as many clean training images as the test split has: the curves show overfitting at the cost of one more evaluation.
    const run = new TrainingRun(gpu, data, config, { readEvery: 5, teacher: teacher?.maps, trainEval: Math.min(data.train.count, data.test.count) });
    const oom = await device.popErrorScope();
    if (oom) {
      device.destroy();
      throw new Error(`the GPU ran out of memory while allocating this run (${oom.message}); use a smaller batch or model`);
    }
    if (resume) {
      const bytes = await db.getCheckpoint(runId);
      if (bytes) run.restore(bytes, 'the saved checkpoint');
    }
    if (record) {
      record.points = record.points.filter((p) => p.step <= run.step);
      record.epochs = [...run.history];
      record.step = run.step;
      record.epoch = run.epoch;
    } else record = newRecord(runId, config, run, teacher?.report);
    if (teacher && !record.teacher) record.teacher = { name: teacher.report.name, sha256: teacher.report.sha256 };
    record.adapter = adapterName(report);
    await db.putRun(record);
    const sum = run.stepInEpoch > 0 ? await run.epochLossSum() : 0;
    session = {
      runId, config, dataUrl, teacherFile, gpu, run, data, record, lastRead: { step: run.step, epoch: run.epoch, sum }, epochClock: { seconds: 0, steps: 0 },
      lastCheckpointAt: performance.now(), recoveries,
    };
    post({
      type: 'started',
      info: {
        runId, adapter: report, parameters: run.model.parameterCount, stepsPerEpoch: run.stepsPerEpoch, totalSteps: run.totalSteps,
        step: run.step, epoch: run.epoch, dataset: summarize(data),
      },
    });
    want = 'run';
    void loop();
  } catch (e) {
    post({ type: 'error', message: messageOf(e), noWebGPU: e instanceof NoWebGPUError });
    setState('error', messageOf(e));
  }
}

async function loop() {
  const s = session;
  if (looping || !s) return;
  looping = true;
  const { run, gpu } = s;
  const inFlight: Promise<unknown>[] = [];
  let clock = performance.now();
  let clockSteps = 0;
  const tick = () => {
    const now = performance.now();
    s.epochClock.seconds += (now - clock) / 1000;
    s.epochClock.steps += clockSteps;
    const rate = (clockSteps * run.config.batch) / ((now - clock) / 1000);
    clock = now;
    clockSteps = 0;
    return rate;
  };
  try {
    if (!run.complete && want !== 'pause') setState('running');
    while (s === session && want !== 'pause' && !run.complete) {
      if (run.epochTrained) {
        await Promise.all(inFlight.splice(0));
        await readCurve(s, tick());
        await closeEpoch(s);
        clock = performance.now();
        continue;
      }
      const lr = run.learningRate(run.step);
      const wanted = views.batch || views.fluctuation || views.attention || views.smoothing;
      if (wanted && (run.step % Math.max(1, views.every) === 0 || want === 'step')) requestSnapshot(s);
      run.stepOnce();
      clockSteps++;
      if (want === 'step') want = 'pause';
      inFlight.push(gpu.device.queue.onSubmittedWorkDone());
      if (inFlight.length > MAX_IN_FLIGHT) await inFlight.shift();
      if (gpu.lost || gpu.errors.length) throw new Error(gpu.lost ? `GPU device lost (${gpu.lost})` : `GPU error: ${gpu.errors[0]}`);
      if (run.stepInEpoch % run.readEvery === 0) await readCurve(s, tick(), lr);
      if (performance.now() - s.lastCheckpointAt > CHECKPOINT_EVERY_MS) {
        await Promise.all(inFlight.splice(0));
        await checkpoint(s);
      }
    }
    if (s !== session) return;
    if (run.complete) {
      s.record.state = 'done';
      const last = run.history.at(-1);
      if (last) s.record.final = { test_acc: last.test_acc, test_loss: last.test_loss, train_loss: last.train_loss };
      setState('done');
    } else setState('paused');
    await Promise.all(inFlight.splice(0));
    if (clockSteps) await readCurve(s, tick());
    await checkpoint(s);
  } catch (e) {
    await failed(s, e);
  } finally {
    looping = false;
  }
  if (session === s && want !== 'pause' && !s.run.complete) void loop();
}

function requestSnapshot(s: Session) {
  const { run } = s;
  void run.nextSnapshot({
    samples: views.samples, sample: views.sample, fluctuation: views.fluctuation, attention: views.attention,
    hiddenSamples: views.smoothing ? Math.min(4, s.config.batch) : 0,
  }).then((raw) => {
    if (s !== session) return;
    const snapshot = toViewSnapshot(raw, run.vit, s.data.train.classes);
    post({ type: 'snapshot', snapshot }, [snapshot.rgba.buffer as ArrayBuffer]);
  }, () => undefined);
}

/** A curve point over the steps since the last read (the epoch's GPU loss sum, differenced). */
async function readCurve(s: Session, imgPerS: number, lr = s.run.learningRate(Math.max(0, s.run.step - 1))) {
  const { run } = s;
  const inEpoch = run.stepInEpoch;
  const sum = await run.epochLossSum();
  // The GPU sum restarts with every epoch.
  const previous = s.lastRead.epoch === run.epoch ? s.lastRead : { step: run.epoch * run.stepsPerEpoch, sum: 0 };
  const steps = run.step - previous.step;
  if (steps <= 0) return;
  const point: CurvePoint = {
    step: run.step, epoch: run.epoch + inEpoch / run.stepsPerEpoch, loss: (sum - previous.sum) / steps, lr,
    imgPerS: Number.isFinite(imgPerS) ? imgPerS : 0,
  };
  s.lastRead = { step: run.step, epoch: run.epoch, sum };
  if (!Number.isFinite(point.loss)) throw new Error(`training diverged at step ${run.step}: the loss is ${point.loss} (try a lower learning rate)`);
  s.record.points.push(point);
  post({ type: 'curve', point });
}

async function closeEpoch(s: Session) {
  const { run } = s;
  const sum = await run.epochLossSum();
  const clock = s.epochClock;
  const result = await run.finishEpoch({
    train_loss: sum / run.stepsPerEpoch, seconds: clock.seconds, lr: run.learningRate(run.step - 1),
    img_per_s: clock.seconds > 0 ? (clock.steps * run.config.batch) / clock.seconds : 0,
  }, { logits: true });
  s.epochClock = { seconds: 0, steps: 0 };
  const { logits, ...epoch } = result;
  s.record.epochs.push(epoch);
  post({ type: 'epoch', report: epochReport(epoch, logits!, s.data.test) });
  await checkpoint(s);
}

/** Saves the checkpoint and the run's record; storage that refuses them (quota) is reported and the run goes on. */
async function checkpoint(s: Session) {
  const bytes = await s.run.saveCheckpoint();
  s.lastCheckpointAt = performance.now();
  try {
    const db = await store();
    await db.putCheckpoint(s.runId, bytes);
    const r = s.record;
    r.step = s.run.step;
    r.epoch = s.run.epoch;
    r.checkpointStep = s.run.step;
    r.updatedAt = Date.now();
    if (r.state !== 'done') r.state = 'paused';
    await db.putRun(r);
  } catch (e) {
    post({ type: 'checkpoint-error', runId: s.runId, message: `the checkpoint at step ${s.run.step} could not be saved: ${messageOf(e)}` });
    return;
  }
  post({ type: 'checkpoint', runId: s.runId, step: s.run.step, epoch: s.run.epoch });
}

async function failed(s: Session, e: unknown) {
  if (s !== session) return;
  // A lost device rejects pending work first and resolves device.lost a moment later.
  await Promise.race([s.gpu.device.lost, new Promise((r) => setTimeout(r, 200))]);
  if (s.gpu.lost && s.recoveries < MAX_RECOVERIES) {
    post({ type: 'device-lost', message: s.gpu.lost });
    setState('recovering', `the GPU device was lost (${s.gpu.lost}); opening a new one and resuming from step ${s.record.checkpointStep ?? 0}`);
    session = undefined;
    void start(s.runId, s.config, true, s.dataUrl, s.teacherFile, s.recoveries + 1);
    return;
  }
  s.record.state = 'error';
  s.record.error = messageOf(e);
  await (await store()).putRun(s.record).catch(() => undefined);
  post({ type: 'error', message: messageOf(e) });
  setState('error', messageOf(e));
}
