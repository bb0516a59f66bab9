/**
 * A pool of decode workers (./decode-worker.ts) behind the ImageDecoder signature, for the page:
 * `pool.decode` queues one image and resolves with its pixels; queued images go to the workers in
 * batches (one message of up to `batch` images each way, the bytes packed into one transferred
 * buffer), so 60,000 small JPEGs cost a few hundred messages, not 120,000. Give
 * decodeImageEntries `concurrency: pool.concurrency` so enough images are in flight to fill every
 * worker; it still takes the results in archive order.
 *
 * A worker that cannot start or fails rejects the images it holds with the reason; an image that
 * does not decode rejects with the decoder's message (naming the archive and entry).
 */
import type { DecodedImage, ImageKind } from './imagefolder-web.ts';

/** Page → decode worker: `items` are slices of `bytes`. */
export interface DecodeBatch {
  id: number;
  bytes: ArrayBuffer;
  items: { kind: ImageKind; where: string; offset: number; length: number }[];
}

/** Decode worker → page: the CHW planes of the decoded items, packed in `chw`, in item order. */
export interface DecodedBatch {
  id: number;
  chw: ArrayBuffer;
  results: ({ width: number; height: number; offset: number; length: number } | { error: string })[];
}

export interface DecodePoolOptions {
  /** Workers (default: navigator.hardwareConcurrency, at most 8). */
  workers?: number;
  /** Images per message (default 256). */
  batch?: number;
  /** Makes one worker (default: ./decode-worker.ts as a module worker). */
  createWorker?: () => Worker;
}

interface Request { bytes: Uint8Array; kind: ImageKind; where: string; resolve: (d: DecodedImage) => void; reject: (e: Error) => void }

interface PoolWorker { worker: Worker; batches: Map<number, Request[]>; failed?: string }

/** Batches a worker may hold at once: one decoding, one waiting, so it never idles between messages. */
const BATCHES_PER_WORKER = 2;

export class DecodePool {
  readonly size: number;
  readonly batch: number;
  private readonly workers: PoolWorker[];
  private queue: Request[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private nextId = 0;
  private closed = false;

  constructor(o: DecodePoolOptions = {}) {
    const cores = typeof navigator !== 'undefined' && navigator.hardwareConcurrency ? navigator.hardwareConcurrency : 2;
    this.size = Math.max(1, Math.floor(o.workers ?? Math.min(8, cores)));
    this.batch = Math.max(1, Math.floor(o.batch ?? 256));
    const create = o.createWorker ?? (() => new Worker(new URL('./decode-worker.ts', import.meta.url), { type: 'module' }));
    this.workers = Array.from({ length: this.size }, () => this.start(create));
  }

  /** Decodes in flight that keep every worker busy (give it to decodeImageEntries as `concurrency`). */
  get concurrency(): number {
    return this.size * this.batch * (BATCHES_PER_WORKER + 1);
  }

  /** An ImageDecoder: queues one image for the workers. */
  readonly decode = (bytes: Uint8Array, kind: ImageKind, where: string): Promise<DecodedImage> => new Promise<DecodedImage>((resolve, reject) => {
    if (this.closed) return reject(new Error(`${where}: the decode pool was closed`));
    this.queue.push({ bytes, kind, where, resolve, reject });
    if (this.queue.length >= this.batch) this.dispatch(false);
    // A partial batch goes out once the entries that arrive together (one chunk of the archive) are queued.
    else this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      this.dispatch(true);
    }, 0);
  });

  /** Ends the workers; images still queued or decoding are rejected. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    for (const w of this.workers) {
      w.worker.terminate();
      this.fail(w, 'the decode pool was closed');
    }
    for (const r of this.queue.splice(0)) r.reject(new Error(`${r.where}: the decode pool was closed`));
  }

  private start(create: () => Worker): PoolWorker {
    let worker: Worker;
    const w: PoolWorker = { worker: undefined as unknown as Worker, batches: new Map() };
    try {
      worker = create();
    } catch (e) {
      w.failed = `the image decode worker could not be started (${(e as Error).message})`;
      return w;
    }
    w.worker = worker;
    worker.onmessage = (ev: MessageEvent<DecodedBatch>) => this.received(w, ev.data);
    worker.onerror = (ev) => {
      ev.preventDefault();
      this.fail(w, `the image decode worker failed (${ev.message || 'it could not be loaded'})`);
      this.dispatch(true);
    };
    return w;
  }

  /** Sends queued images to workers with room; a partial batch only when `partial`. */
  private dispatch(partial: boolean): void {
    for (;;) {
      if (this.queue.length === 0 || (!partial && this.queue.length < this.batch)) return;
      const live = this.workers.filter((w) => !w.failed);
      if (live.length === 0) {
        const reason = this.workers[0]?.failed ?? 'no decode workers';
        for (const r of this.queue.splice(0)) r.reject(new Error(`${r.where}: ${reason}`));
        return;
      }
      const w = live.reduce((a, b) => (b.batches.size < a.batches.size ? b : a));
      if (w.batches.size >= BATCHES_PER_WORKER) return;
      this.send(w, this.queue.splice(0, this.batch));
    }
  }

  private send(w: PoolWorker, requests: Request[]): void {
    const bytes = new Uint8Array(requests.reduce((n, r) => n + r.bytes.length, 0));
    let at = 0;
    const items = requests.map((r) => {
      bytes.set(r.bytes, at);
      at += r.bytes.length;
      return { kind: r.kind, where: r.where, offset: at - r.bytes.length, length: r.bytes.length };
    });
    const id = this.nextId++;
    w.batches.set(id, requests);
    w.worker.postMessage({ id, bytes: bytes.buffer, items } satisfies DecodeBatch, [bytes.buffer]);
  }

  private received(w: PoolWorker, m: DecodedBatch): void {
    const requests = w.batches.get(m.id);
    if (!requests) return;
    w.batches.delete(m.id);
    m.results.forEach((r, i) => {
      if ('error' in r) requests[i].reject(new Error(r.error));
      else requests[i].resolve({ width: r.width, height: r.height, chw: new Uint8Array(m.chw, r.offset, r.length) });
    });
    this.dispatch(false);
    if (this.queue.length && this.flushTimer === undefined) this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.dispatch(true);
    }, 0);
  }

  private fail(w: PoolWorker, reason: string): void {
    w.failed ??= reason;
    for (const requests of w.batches.values()) for (const r of requests) r.reject(new Error(`${r.where}: ${reason}`));
    w.batches.clear();
  }
}
