/**
 * CIFAR-10 from the Hugging Face Hub copy `uoft-cs/cifar10`: one parquet file per split, with the
 * columns the Hub's `datasets` library writes for an Image and a ClassLabel feature:
 *   img    struct<bytes: binary, path: string>  (bytes: the PNG file)
 *   label  int64, 0–9 in CIFAR-10's class order
 * Browser-safe (no Node imports): the page's worker fetches, parses and decodes here; Node tests
 * do the same with their own fetch and decoder.
 *
 * Each file is fetched whole (a parquet file's footer, which says where everything is, comes
 * last), checked (parquet magic at both ends, the schema, the row count, the codecs), then read
 * with hyparquet one row group at a time and decoded by an injected ImageDecoder with several
 * decodes in flight, so a pool of decoders can work on them in parallel. Both files download at
 * once; the first failure aborts the other.
 *
 * Counts: the Hub's copy holds 50,000 + 10,000 images and that is what the page requires, for the
 * default base URL and for a mirror alike. `counts` lets a test load smaller files of the same
 * schema; the page never passes it.
 */
import { type FileMetaData, parquetMetadata, parquetScan, parquetSchema, type SchemaTree } from 'hyparquet';
import { CIFAR10_CLASSES, type DatasetSplits, type ImageSet, type Split, SPLITS } from './dataset.ts';
import { describeStart, type ImageDecoder, sniffImageKind } from './imagefolder-web.ts';

export const HUB_CIFAR10_BASE_URL = 'https://huggingface.co/datasets/uoft-cs/cifar10/resolve/main/';
export const HUB_CIFAR10_FILES: Readonly<Record<Split, string>> = {
  train: 'plain_text/train-00000-of-00001.parquet',
  test: 'plain_text/test-00000-of-00001.parquet',
};
export const HUB_CIFAR10_COUNTS: Readonly<Record<Split, number>> = { train: 50_000, test: 10_000 };

const SIZE = 32;
const PIXELS = 3 * SIZE * SIZE;
const EXPECTED_SCHEMA = 'img struct<bytes: binary, path: string> and label int64 (the Hub\'s CIFAR-10 schema)';
/** Codecs hyparquet reads without extra packages. */
const READABLE_CODECS = new Set(['UNCOMPRESSED', 'SNAPPY']);
const PROGRESS_EVERY_MS = 100;

export type HubProgress = (done: number, total: number, what: string) => void;

export interface HubLoadOptions {
  /** The folder that holds plain_text/…parquet; HUB_CIFAR10_BASE_URL when absent. */
  baseUrl?: string;
  decode: ImageDecoder;
  fetchFn?: typeof fetch;
  /** loadHubSplit: '<split> bytes fetched' (of content-length, 0 when not announced), then '<split> images decoded'; loadHubParquet: see there. */
  onProgress?: HubProgress;
  /** Images each split must hold; the Hub's 50,000 / 10,000 when absent (see the header). */
  counts?: Readonly<Record<Split, number>>;
  /** Decodes in flight at once, per split. */
  concurrency?: number;
  signal?: AbortSignal;
}

const fmt = (n: number) => n.toLocaleString('en-US');
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The base URL as a folder URL (a trailing slash added), or an error saying it is not an http(s) URL. */
export function hubFolderUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new Error(`the CIFAR-10 base URL "${baseUrl}" is not a URL (expected e.g. ${HUB_CIFAR10_BASE_URL})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`the CIFAR-10 base URL "${baseUrl}" is not an http(s) URL`);
  return url.href.endsWith('/') ? url.href : `${url.href}/`;
}

/**
 * Both splits of CIFAR-10 from `baseUrl` (the Hub's copy by default), checked and decoded. Progress
 * is of both files together: 'bytes fetched' (of both content-lengths, 0 unless both are announced)
 * while either downloads, then 'images decoded' (of the counts required).
 */
export async function loadHubParquet(o: HubLoadOptions): Promise<DatasetSplits> {
  const base = hubFolderUrl(o.baseUrl ?? HUB_CIFAR10_BASE_URL);
  const counts = o.counts ?? HUB_CIFAR10_COUNTS;
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onOuterAbort);
  const fetched = { train: 0, test: 0 };
  const announced = { train: 0, test: 0 };
  const decoded = { train: 0, test: 0 };
  const downloading = new Set<Split>(SPLITS);
  const onSplitProgress = (split: Split) => (done: number, total: number, what: string) => {
    if (what.endsWith('bytes fetched')) {
      fetched[split] = done;
      announced[split] = total;
    } else {
      downloading.delete(split);
      decoded[split] = done;
    }
    if (downloading.size) o.onProgress?.(fetched.train + fetched.test, announced.train && announced.test ? announced.train + announced.test : 0, 'bytes fetched');
    else o.onProgress?.(decoded.train + decoded.test, counts.train + counts.test, 'images decoded');
  };
  try {
    const [train, test] = await Promise.all(SPLITS.map((split) =>
      loadHubSplit(`${base}${HUB_CIFAR10_FILES[split]}`, split, { ...o, counts, signal: abort.signal, onProgress: onSplitProgress(split) })));
    return { name: 'cifar10', source: base, train, test };
  } catch (e) {
    abort.abort(e);
    throw e;
  } finally {
    o.signal?.removeEventListener('abort', onOuterAbort);
  }
}

/** One split's parquet file at `url`: fetched, checked, decoded. */
export async function loadHubSplit(url: string, split: Split, o: HubLoadOptions): Promise<ImageSet> {
  const bytes = await fetchWhole(url, o.fetchFn ?? fetch, o.signal, (done, total) => o.onProgress?.(done, total, `${split} bytes fetched`));
  const expected = (o.counts ?? HUB_CIFAR10_COUNTS)[split];
  const metadata = readHubMetadata(bytes, url, split, expected);
  return decodeHubRows(bytes, metadata, url, split, o);
}

// ------------------------------------------------------------------ fetch

/** The whole body of `url`; a failed request, a bad status and a body cut short each get their own error. */
async function fetchWhole(url: string, fetchFn: typeof fetch, signal: AbortSignal | undefined, onBytes: (done: number, total: number) => void): Promise<ArrayBuffer> {
  let response: Response;
  try {
    response = await fetchFn(url, { signal });
  } catch (e) {
    if (signal?.aborted) throw signal.reason ?? e;
    throw new Error(`${url}: cannot fetch (${messageOf(e)}): the server did not answer, or it does not let this page read the file (CORS); check the base URL and try again`);
  }
  if (!response.ok) {
    const status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
    throw new Error(response.status === 404
      ? `${url}: ${status}: there is no such file under this base URL (the Hub's layout is <base>/${HUB_CIFAR10_FILES.train})`
      : `${url}: the server answered ${status}; try again later`);
  }
  const announced = Number(response.headers.get('content-length'));
  const total = Number.isSafeInteger(announced) && announced > 0 ? announced : 0;
  if (!response.body) {
    const whole = await response.arrayBuffer();
    onBytes(whole.byteLength, total);
    return whole;
  }
  // One buffer of the announced size (the training file is about 120 MB); chunks only when none is
  // announced, or when more bytes come than announced (a compressed transfer).
  const buffer = new Uint8Array(total);
  const overflow: Uint8Array[] = [];
  let received = 0;
  let reportedAt = 0;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!overflow.length && received + value.length <= buffer.length) buffer.set(value, received);
      else {
        if (!overflow.length && received) overflow.push(buffer.subarray(0, received));
        overflow.push(value);
      }
      received += value.length;
      const now = Date.now();
      if (now - reportedAt >= PROGRESS_EVERY_MS) {
        reportedAt = now;
        onBytes(received, total);
      }
    }
  } catch (e) {
    if (signal?.aborted) throw signal.reason ?? e;
    throw new Error(`${url}: the download broke off after ${fmt(received)}${total ? ` of ${fmt(total)}` : ''} bytes (${messageOf(e)}); try again`);
  } finally {
    reader.releaseLock();
  }
  onBytes(received, total);
  if (total && received < total) {
    throw new Error(`${url}: the download was cut short: ${fmt(received)} of the ${fmt(total)} bytes the server announced (content-length) arrived; try again`);
  }
  if (!overflow.length) return buffer.buffer;
  const whole = new Uint8Array(received);
  let at = 0;
  for (const chunk of overflow) {
    whole.set(chunk, at);
    at += chunk.length;
  }
  return whole.buffer;
}

// ------------------------------------------------------------------ checks before decoding

const MAGIC = [0x50, 0x41, 0x52, 0x31]; // "PAR1"

/** The footer of a parquet file of the Hub's CIFAR-10 schema with `expected` rows, or an error saying what differs. */
export function readHubMetadata(buffer: ArrayBuffer, url: string, split: Split, expected: number): FileMetaData {
  const bytes = new Uint8Array(buffer);
  const startsAsParquet = bytes.length >= 4 && MAGIC.every((b, i) => bytes[i] === b);
  if (!startsAsParquet) throw new Error(`${url}: not a parquet file: it starts with ${describeStart(bytes, 12)}${notParquetHint(bytes)}`);
  const endsAsParquet = bytes.length >= 12 && MAGIC.every((b, i) => bytes[bytes.length - 4 + i] === b);
  if (!endsAsParquet) {
    throw new Error(`${url}: truncated parquet file: it starts as one, but its last bytes are not the footer's "PAR1" (${fmt(bytes.length)} bytes arrived; the download may have been cut short); try again`);
  }
  let metadata: FileMetaData;
  try {
    metadata = parquetMetadata(buffer);
  } catch (e) {
    throw new Error(`${url}: cannot read the parquet footer (${messageOf(e)})`);
  }
  checkSchema(metadata, url);
  checkLabelNames(metadata, url);
  const rows = Number(metadata.num_rows);
  if (rows !== expected) {
    throw new Error(`${url}: holds ${fmt(rows)} images; CIFAR-10's ${split} split has ${fmt(expected)} (is this another dataset, or a part of one?)`);
  }
  for (const group of metadata.row_groups) {
    for (const column of group.columns) {
      const codec = column.meta_data?.codec;
      if (codec && !READABLE_CODECS.has(codec)) {
        throw new Error(`${url}: column ${column.meta_data!.path_in_schema.join('.')} is compressed with ${codec}; this page reads snappy-compressed and uncompressed parquet`);
      }
    }
  }
  return metadata;
}

function checkSchema(metadata: FileMetaData, url: string): void {
  const root = parquetSchema(metadata);
  const columns = root.children.map((c) => `${c.element.name} ${describeType(c)}`).join(', ');
  for (const name of ['img', 'label']) {
    if (!root.children.some((c) => c.element.name === name)) {
      throw new Error(`${url}: has no "${name}" column; its columns are ${columns || 'none'}; expected ${EXPECTED_SCHEMA}`);
    }
  }
  const img = root.children.find((c) => c.element.name === 'img')!;
  const label = root.children.find((c) => c.element.name === 'label')!;
  const bytes = img.children.find((c) => c.element.name === 'bytes');
  const imgOk = img.element.repetition_type !== 'REPEATED' && bytes !== undefined && bytes.children.length === 0 &&
    bytes.element.type === 'BYTE_ARRAY' && bytes.element.repetition_type !== 'REPEATED';
  if (!imgOk) throw new Error(`${url}: column img is ${describeType(img)}; expected struct<bytes: binary, path: string> (the Hub's Image feature)`);
  const labelOk = label.children.length === 0 && label.element.repetition_type !== 'REPEATED' && (label.element.type === 'INT64' || label.element.type === 'INT32');
  if (!labelOk) throw new Error(`${url}: column label is ${describeType(label)}; expected int64 class numbers 0–9`);
}

/** The Hub's `datasets` metadata names the label classes; when present they must be CIFAR-10's, in order. */
function checkLabelNames(metadata: FileMetaData, url: string): void {
  const entry = metadata.key_value_metadata?.find((kv) => kv.key === 'huggingface');
  if (!entry?.value) return;
  let names: unknown;
  try {
    names = JSON.parse(entry.value)?.info?.features?.label?.names;
  } catch {
    return;
  }
  if (!Array.isArray(names)) return;
  if (names.length !== CIFAR10_CLASSES.length || names.some((n, i) => n !== CIFAR10_CLASSES[i])) {
    throw new Error(`${url}: its label names are ${names.join(', ')}; CIFAR-10's are ${CIFAR10_CLASSES.join(', ')}`);
  }
}

function describeType(node: SchemaTree): string {
  const e = node.element;
  let type: string;
  if (node.children.length) type = `struct<${node.children.map((c) => `${c.element.name}: ${describeType(c)}`).join(', ')}>`;
  else {
    const logical = e.logical_type?.type ?? e.converted_type;
    type = e.type === 'BYTE_ARRAY' ? (logical === 'STRING' || logical === 'UTF8' ? 'string' : 'binary') : `${(e.type ?? 'unknown').toLowerCase()}${logical ? ` (${logical})` : ''}`;
  }
  return e.repetition_type === 'REPEATED' ? `list<${type}>` : type;
}

function notParquetHint(bytes: Uint8Array): string {
  const text = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart().toLowerCase();
  if (text.startsWith('<')) return ' (an HTML page: the server answered with a page instead of the file)';
  if (text.startsWith('version https://git-lfs')) return ' (a Git LFS pointer, not the file it points to)';
  return '';
}

// ------------------------------------------------------------------ decoding

/** Every row of the file: labels checked, images decoded and checked, in file order. */
async function decodeHubRows(buffer: ArrayBuffer, metadata: FileMetaData, url: string, split: Split, o: HubLoadOptions): Promise<ImageSet> {
  const count = Number(metadata.num_rows);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  const scan = await parquetScan({ file: buffer, metadata, columns: ['img', 'label'], utf8: false });
  const concurrency = Math.max(1, o.concurrency ?? 32);
  const what = `${split} images decoded`;
  let decoded = 0;
  let reportedAt = 0;
  o.onProgress?.(0, count, what);
  for (const range of scan.ranges) {
    if (o.signal?.aborted) throw o.signal.reason;
    const [imgs, labelColumn] = await Promise.all([scan.readColumn({ column: 'img', ...range }), scan.readColumn({ column: 'label', ...range })]);
    if (imgs.length !== range.rowEnd - range.rowStart || labelColumn.length !== imgs.length) {
      throw new Error(`${url}: rows ${range.rowStart}–${range.rowEnd - 1}: read ${imgs.length} images and ${labelColumn.length} labels`);
    }
    await forEachInFlight(imgs.length, concurrency, async (k) => {
      const row = range.rowStart + k;
      const where = `${url}: row ${row}`;
      const label = Number(labelColumn[k]);
      if (!Number.isInteger(label) || label < 0 || label > 9) throw new Error(`${where}: label ${String(labelColumn[k])} is outside 0–9`);
      const file = (imgs[k] as { bytes?: unknown } | null)?.bytes;
      if (!(file instanceof Uint8Array) || file.length === 0) throw new Error(`${where}: img.bytes is empty (the Hub's copy holds each image's PNG file there)`);
      const kind = sniffImageKind(file);
      if (!kind) throw new Error(`${where}: img.bytes is not a PNG or JPEG file (it starts with ${describeStart(file, 12)})`);
      const img = await o.decode(file, kind, where);
      if (img.width !== SIZE || img.height !== SIZE) throw new Error(`${where}: the image is ${img.width}×${img.height}; CIFAR-10's are ${SIZE}×${SIZE}`);
      if (img.chw.length !== PIXELS) throw new Error(`${where}: the decoder returned ${img.chw.length} bytes for a ${SIZE}×${SIZE} RGB image (${PIXELS} expected)`);
      images.set(img.chw, row * PIXELS);
      labels[row] = label;
      decoded++;
      const now = Date.now();
      if (now - reportedAt >= PROGRESS_EVERY_MS) {
        reportedAt = now;
        o.onProgress?.(decoded, count, what);
      }
    }, o.signal);
  }
  if (decoded !== count) throw new Error(`${url}: decoded ${fmt(decoded)} images of the ${fmt(count)} rows its footer announces`);
  o.onProgress?.(decoded, count, what);
  return { images, labels, count, channels: 3, size: SIZE, classes: CIFAR10_CLASSES };
}

/** Runs `item(0 … count − 1)` with at most `concurrency` at once; the first failure stops new ones and is thrown. */
async function forEachInFlight(count: number, concurrency: number, item: (k: number) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (next < count && !failure) {
      if (signal?.aborted) {
        failure ??= { error: signal.reason };
        return;
      }
      const k = next++;
      try {
        await item(k);
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  if (failure) throw failure.error;
}
