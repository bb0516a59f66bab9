/**
 * The page's two ways to a dataset, browser-safe (no Node imports; runs in a Web Worker):
 *   loadArchive   a .tar.gz the user picked: the official CIFAR-10 binary release or an ImageFolder
 *                 archive, told apart by its first entry that is either, read in one streaming pass;
 *   loadPrepared  the web format `npm run data` writes (manifest.json, train.bin, test.bin), fetched.
 * A split absent from the archive or the manifest comes back empty (count 0), so the test-only
 * tarball loads as 0 training and 10,000 test images.
 */
import { cifarBatchFile, isCifarBinaryPath, readCifarBinary } from './cifar-binary.ts';
import { CIFAR10_CLASSES, type DatasetSplits, emptyImageSet, type ImageSet, type Split } from './dataset.ts';
import { decodeImageEntries, type ImageDecoder, type ImageEntry, imageEntries, isImageFolderPath } from './imagefolder-web.ts';
import { readTarGzStream, type TarEntry } from './tar-web.ts';
import { decodeWebSplitAsync, type WebManifest } from './webformat.ts';

export type Progress = (done: number, total: number, what: string) => void;

export interface LoadArchiveOptions {
  decode: ImageDecoder;
  /** How many images may be decoding at once (decodeImageEntries' `concurrency`; a DecodePool's `concurrency`). Default 1. */
  decodeConcurrency?: number;
  /** Size of the compressed file, for progress in bytes read (File.size). */
  totalBytes?: number;
  /** 'bytes read' of totalBytes; then '<split> records' or '<split> images' (total 0 when not known in advance). */
  onProgress?: Progress;
}

export async function loadArchive(stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>, name: string, o: LoadArchiveOptions): Promise<DatasetSplits> {
  const gzipped = o.totalBytes ? countBytes(stream, (n) => o.onProgress?.(n, o.totalBytes!, 'bytes read')) : stream;
  let skippedLinks = 0;
  const entries = readTarGzStream(gzipped, name, { onLink: () => { skippedLinks++; } });
  const first = await firstDatasetEntry(entries, name);
  const all = continueWith(first, entries);
  const sets = isCifarBinaryPath(first.path) ? await readCifarSplits(all, name, o.onProgress) : await readImageFolderSplits(all, name, o);
  return { name: 'cifar10', source: name, ...sets, skippedLinks };
}

/** The first entry that is a CIFAR-10 batch (or its meta file) or an ImageFolder image; the entries before it are dropped. */
async function firstDatasetEntry(entries: AsyncGenerator<TarEntry>, name: string): Promise<TarEntry> {
  const skipped: string[] = [];
  for (;;) {
    const r = await entries.next();
    if (r.done) break;
    if (isCifarBinaryPath(r.value.path) || isImageFolderPath(r.value.path)) return r.value;
    skipped.push(r.value.path);
  }
  const examples = skipped.slice(0, 3).join(', ') + (skipped.length > 3 ? ', …' : '');
  throw new Error(`${name}: neither the CIFAR-10 binary release (data_batch_*.bin, test_batch.bin) nor an ImageFolder archive (train|test/<class>/*.jpg|png); its ${skipped.length} files: ${examples}`);
}

// ------------------------------------------------------------------ one reader per split, in step

/*
 * readCifarBinary and decodeImageEntries fail when a split they were asked for is absent, and
 * which splits an archive holds is known only at its end. So each split gets its own reader,
 * both fed the same entries in step (inStep below), and a reader that failed because its
 * split never appeared gives an empty set instead.
 */

type SplitSets = Record<Split, ImageSet>;

async function readCifarSplits(entries: AsyncIterable<TarEntry>, name: string, onProgress?: Progress): Promise<SplitSets> {
  const tally = new SplitTally();
  const [forTrain, forTest] = inStep(tally.count(entries, (e) => cifarBatchFile(e.path)?.split), 2);
  const read = async (files: AsyncIterable<TarEntry>, split: Split) => {
    // A reader whose split is absent still reports 0 of 0 at the end; that is not progress.
    const sets = await readCifarBinary(files, name, { splits: [split], onProgress: (done, total) => { if (done > 0) onProgress?.(done, total, `${split} records`); } });
    return sets[split];
  };
  return tally.settle(await Promise.allSettled([read(forTrain, 'train'), read(forTest, 'test')]));
}

async function readImageFolderSplits(entries: AsyncIterable<TarEntry>, name: string, o: LoadArchiveOptions): Promise<SplitSets> {
  const tally = new SplitTally();
  const [forTrain, forTest] = inStep(tally.count(imageEntries(entries, name, CIFAR10_CLASSES), (e) => e.entry.split), 2);
  const read = (images: AsyncIterable<ImageEntry>, split: Split) =>
    decodeImageEntries(images, name, { select: { [split]: true }, decode: o.decode, concurrency: o.decodeConcurrency, onProgress: (done) => o.onProgress?.(done, 0, `${split} images`) }).then((s) => s[split]!);
  return tally.settle(await Promise.allSettled([read(forTrain, 'train'), read(forTest, 'test')]));
}

/** How many items of each split went by, and whether the whole stream did. */
class SplitTally {
  private seen: Record<Split, number> = { train: 0, test: 0 };
  private complete = false;

  async *count<T>(items: AsyncIterable<T>, splitOf: (item: T) => Split | undefined): AsyncGenerator<T> {
    for await (const item of items) {
      const split = splitOf(item);
      if (split) this.seen[split]++;
      yield item;
    }
    this.complete = true;
  }

  /** The train and test readers' outcomes → both sets; an absent split is empty, any other failure is thrown. */
  settle([train, test]: PromiseSettledResult<ImageSet>[]): SplitSets {
    const outcomes = { train, test };
    const failures = [train, test].filter((r) => r.status === 'rejected').map((r) => r.reason as Error);
    const cause = failures.find((e) => !(e instanceof ReaderStopped)) ?? failures[0];
    const absent = (split: Split) => this.complete && this.seen[split] === 0 && this.seen[split === 'train' ? 'test' : 'train'] > 0;
    const out = {} as SplitSets;
    for (const split of ['train', 'test'] as const) {
      const r = outcomes[split];
      if (r.status === 'fulfilled') out[split] = r.value;
      else if (absent(split)) out[split] = emptyImageSet(CIFAR10_CLASSES);
      else throw cause;
    }
    return out;
  }
}

/** What the other readers of an inStep source get once one of them stopped early (on an error). */
class ReaderStopped extends Error {}

/**
 * `count` iterables over the items of `source`, read once: item k is read from the source only
 * when every reader has taken item k − 1, so the readers move in step and at most two items are
 * held. A reader that stops before the end (a for-await left by an error) stops the source and
 * makes the others fail with ReaderStopped, so no reader goes on through the rest of the archive.
 */
export function inStep<T>(source: AsyncIterable<T>, count: number): AsyncIterable<T>[] {
  const it = source[Symbol.asyncIterator]();
  const items = new Map<number, Promise<IteratorResult<T>>>();
  const taken = new Array<number>(count).fill(0);
  let waiting: (() => void)[] = [];
  let stopped = false;
  const wakeAll = () => {
    const w = waiting;
    waiting = [];
    w.forEach((resume) => resume());
  };

  async function next(reader: number): Promise<IteratorResult<T>> {
    const k = taken[reader];
    while (!stopped && taken.some((t) => t < k)) await new Promise<void>((resume) => waiting.push(resume));
    if (stopped) throw new ReaderStopped('stopped: another reader of the same archive failed');
    if (!items.has(k)) items.set(k, it.next());
    const item = items.get(k)!;
    taken[reader] = k + 1;
    const slowest = Math.min(...taken);
    for (const key of items.keys()) if (key < slowest) items.delete(key);
    wakeAll();
    return item;
  }

  async function stop(): Promise<IteratorResult<T>> {
    if (!stopped) {
      stopped = true;
      wakeAll();
      await it.return?.();
    }
    return { done: true, value: undefined };
  }

  return Array.from({ length: count }, (_, reader) => ({
    [Symbol.asyncIterator]: () => ({ next: () => next(reader), return: stop }),
  }));
}

// ------------------------------------------------------------------ stream helpers

async function* continueWith<T>(first: T, rest: AsyncGenerator<T>): AsyncGenerator<T> {
  try {
    yield first;
    yield* rest;
  } finally {
    await rest.return(undefined);
  }
}

/** The chunks of `stream`, calling `onBytes` with the running total after each. */
async function* countBytes(stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>, onBytes: (bytes: number) => void): AsyncGenerator<Uint8Array> {
  let bytes = 0;
  for await (const chunk of chunksOf(stream)) {
    bytes += chunk.length;
    onBytes(bytes);
    yield chunk;
  }
}

/** A ReadableStream's chunks through its reader (Safari's streams are not async iterable). */
async function* chunksOf(stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (!(stream instanceof ReadableStream)) return yield* stream;
  const reader = stream.getReader();
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      yield r.value;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

// ------------------------------------------------------------------ the prepared web format

const RUN_DATA = 'run `npm run data` first to write it (public/data/cifar10/)';

/** The splits `npm run data` wrote under `baseUrl` (a folder URL), fetched, checksummed and checked against the manifest. */
export async function loadPrepared(baseUrl: string, fetchFn: typeof fetch = fetch, onProgress?: Progress): Promise<DatasetSplits> {
  const base = folderUrl(baseUrl);
  const manifest = await fetchManifest(base, fetchFn);
  const out: SplitSets = { train: emptyImageSet(manifest.classes), test: emptyImageSet(manifest.classes) };
  for (const entry of manifest.files) {
    const url = `${base}${entry.file}`;
    const bytes = await fetchBytes(url, fetchFn, entry.bytes, (done) => onProgress?.(done, entry.bytes, `${entry.split} bytes`));
    // WebCrypto's SHA-256 (native) checks the payload: the synchronous one takes seconds on a 150 MB split.
    const set = await decodeWebSplitAsync(bytes, url);
    if (set.count !== entry.count) throw new Error(`${url}: holds ${set.count} images, manifest.json says ${entry.count}; ${RUN_DATA} again`);
    out[entry.split] = set;
  }
  return { name: manifest.name, source: manifest.source, ...out };
}

/** Whether `baseUrl` has a readable manifest.json of the web format. */
export async function preparedAvailable(baseUrl: string, fetchFn: typeof fetch = fetch): Promise<boolean> {
  try {
    await fetchManifest(folderUrl(baseUrl), fetchFn);
    return true;
  } catch {
    return false;
  }
}

function folderUrl(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

async function fetchManifest(base: string, fetchFn: typeof fetch): Promise<WebManifest> {
  const url = `${base}manifest.json`;
  let response: Response;
  try {
    response = await fetchFn(url);
  } catch (e) {
    throw new Error(`${url}: cannot fetch (${(e as Error).message})`);
  }
  if (!response.ok) throw new Error(`${url}: no prepared dataset (HTTP ${response.status}); ${RUN_DATA}`);
  let manifest: WebManifest;
  try {
    manifest = await response.json();
  } catch {
    // A dev server answers a missing file with its index.html.
    throw new Error(`${url}: not a dataset manifest (not JSON); ${RUN_DATA}`);
  }
  if (manifest?.format !== 'LFDS1' || !Array.isArray(manifest.files)) throw new Error(`${url}: not a labelflow manifest (format "${manifest?.format}", expected "LFDS1" with a list of files)`);
  for (const f of manifest.files) {
    if (f.split !== 'train' && f.split !== 'test') throw new Error(`${url}: lists a file of split "${f.split}"; the splits are train and test`);
    if (!/^[\w.-]+$/.test(f.file)) throw new Error(`${url}: lists the file "${f.file}", which is not a plain file name`);
  }
  return manifest;
}

/** The whole body of `url`, which manifest.json says is `expected` bytes, reporting bytes received. */
async function fetchBytes(url: string, fetchFn: typeof fetch, expected: number, onBytes: (bytes: number) => void): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetchFn(url);
  } catch (e) {
    throw new Error(`${url}: cannot fetch (${(e as Error).message})`);
  }
  if (!response.ok) throw new Error(`${url}: listed in manifest.json but HTTP ${response.status}; ${RUN_DATA} again`);
  const sizeMismatch = (got: string) => new Error(`${url}: ${got} bytes where manifest.json says ${expected}; ${RUN_DATA} again`);
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (bytes.length !== expected) throw sizeMismatch(String(bytes.length));
    return bytes;
  }
  // One buffer of the announced size: train.bin is 150 MB, twice that would not fit everywhere.
  const out = new Uint8Array(expected);
  let received = 0;
  for await (const chunk of chunksOf(response.body)) {
    if (received + chunk.length > expected) throw sizeMismatch(`more than ${expected}`);
    out.set(chunk, received);
    received += chunk.length;
    onBytes(received);
  }
  if (received !== expected) throw sizeMismatch(String(received));
  return out;
}
