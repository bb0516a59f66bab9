/**
 * The official CIFAR-10 binary format (cifar-10-binary.tar.gz from the dataset's home page, or
 * its extracted cifar-10-batches-bin/ folder): `data_batch_1.bin` … `data_batch_5.bin` (train)
 * and `test_batch.bin` (test), each 10,000 records of 1 label byte + 3072 pixel bytes (the R, G
 * and B planes, each row-major 32×32), which is already the CHW layout of an ImageSet.
 *
 * Browser-safe: it reads any stream of {path, data} files (tar entries from ./tar-web.ts or
 * ./tar.ts, or files of a folder in ./load-node.ts), one batch in memory at a time. Every check
 * names the file: empty, not whole 3073-byte records (with a hint when they are CIFAR-100's
 * 3074-byte ones), a label ≥ 10, an official batch with other than 10,000 records, class names
 * in batches.meta.txt that are not CIFAR-10's, no batch file at all, a wanted split missing.
 */
import { CIFAR10_CLASSES, emptyImageSet, type ImageSet, type Split } from './dataset.ts';

export const CIFAR10_RECORD_BYTES = 1 + 3 * 32 * 32;
export const CIFAR10_BATCH_RECORDS = 10000;
const PIXELS = 3 * 32 * 32;

export interface NamedFile { path: string; data: Uint8Array }

/** The split and position of an official batch file name (any folder), e.g. data_batch_3.bin → train, 3. */
export function cifarBatchFile(path: string): { split: Split; order: number } | undefined {
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (base === 'test_batch.bin') return { split: 'test', order: 0 };
  const m = /^data_batch_([1-5])\.bin$/.exec(base);
  return m ? { split: 'train', order: Number(m[1]) } : undefined;
}

/** Whether an archive path is one of the official binary release's files (a batch or batches.meta.txt). */
export function isCifarBinaryPath(path: string): boolean {
  return cifarBatchFile(path) !== undefined || path.endsWith('batches.meta.txt');
}

export interface CifarBatch { labels: Uint8Array; images: Uint8Array; count: number }

/**
 * Checks and splits one batch file into labels and CHW images. `official`: the file has an
 * official name, so it must hold exactly 10,000 records. `where` names the file in errors.
 */
export function parseCifarBatch(bytes: Uint8Array, where: string, official: boolean): CifarBatch {
  const n = bytes.length;
  if (n === 0) throw new Error(`${where}: empty file (0 bytes); a CIFAR-10 batch holds ${CIFAR10_RECORD_BYTES}-byte records`);
  if (n % CIFAR10_RECORD_BYTES !== 0) {
    if (n % (CIFAR10_RECORD_BYTES + 1) === 0) {
      throw new Error(`${where}: ${n} bytes are not whole ${CIFAR10_RECORD_BYTES}-byte CIFAR-10 records but ${n / (CIFAR10_RECORD_BYTES + 1)} records of ${CIFAR10_RECORD_BYTES + 1} bytes: this looks like CIFAR-100 (2 label bytes per record), not CIFAR-10`);
    }
    const whole = Math.floor(n / CIFAR10_RECORD_BYTES);
    throw new Error(`${where}: ${n} bytes are not whole ${CIFAR10_RECORD_BYTES}-byte CIFAR-10 records (${whole} records and ${n % CIFAR10_RECORD_BYTES} bytes over); the file is truncated or not a CIFAR-10 batch`);
  }
  const count = n / CIFAR10_RECORD_BYTES;
  if (official && count !== CIFAR10_BATCH_RECORDS) {
    throw new Error(`${where}: ${count} records where an official CIFAR-10 batch has ${CIFAR10_BATCH_RECORDS}; the file is ${count < CIFAR10_BATCH_RECORDS ? 'truncated' : 'not the official one'}`);
  }
  const labels = new Uint8Array(count);
  const images = new Uint8Array(count * PIXELS);
  for (let i = 0; i < count; i++) {
    const at = i * CIFAR10_RECORD_BYTES;
    const label = bytes[at];
    if (label >= CIFAR10_CLASSES.length) throw new Error(`${where}: record ${i} has label ${label}; CIFAR-10 labels are 0–9`);
    labels[i] = label;
    images.set(bytes.subarray(at + 1, at + CIFAR10_RECORD_BYTES), i * PIXELS);
  }
  return { labels, images, count };
}

/** batches.meta.txt: the class names, one a line, which must be CIFAR-10's in CIFAR-10's order. */
export function checkCifarMeta(data: Uint8Array, where: string): void {
  const names = new TextDecoder().decode(data).split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
  if (names.join(',') !== CIFAR10_CLASSES.join(',')) {
    throw new Error(`${where}: lists the classes ${names.join(', ') || '(none)'}, not CIFAR-10's ${CIFAR10_CLASSES.join(', ')} in that order`);
  }
}

export interface ReadCifarBinaryOptions {
  /** Splits to read (default both); the other comes back empty, its batches unparsed. */
  splits?: readonly Split[];
  onProgress?: (done: number, total: number, what: string) => void;
}

/**
 * Reads the batch files among `files` (tar entries, or a folder's files) into one ImageSet per
 * split, training batches in the order 1…5 whatever the order of the files. `name` (the archive
 * or folder) is used in errors.
 */
export async function readCifarBinary(files: AsyncIterable<NamedFile> | Iterable<NamedFile>, name: string, o: ReadCifarBinaryOptions = {}): Promise<Record<Split, ImageSet>> {
  const wanted = o.splits ?? ['train', 'test'];
  const total = (wanted.includes('train') ? 5 : 0) * CIFAR10_BATCH_RECORDS + (wanted.includes('test') ? CIFAR10_BATCH_RECORDS : 0);
  const batches: Record<Split, Map<number, CifarBatch>> = { train: new Map(), test: new Map() };
  const found: Record<Split, number> = { train: 0, test: 0 };
  let done = 0;
  for await (const f of files) {
    const where = `${name}: ${f.path}`;
    if (f.path.endsWith('batches.meta.txt')) {
      checkCifarMeta(f.data, where);
      continue;
    }
    const batch = cifarBatchFile(f.path);
    if (!batch) continue;
    found[batch.split]++;
    if (!wanted.includes(batch.split)) continue;
    if (batches[batch.split].has(batch.order)) throw new Error(`${where}: a second ${f.path.slice(f.path.lastIndexOf('/') + 1)} in the same dataset`);
    const parsed = parseCifarBatch(f.data, where, true);
    batches[batch.split].set(batch.order, parsed);
    done += parsed.count;
    o.onProgress?.(done, total, 'records');
  }
  if (done !== total) o.onProgress?.(done, done, 'records'); // fewer batches than the full release: done all the same
  if (found.train + found.test === 0) throw new Error(`${name}: no CIFAR-10 batch files (data_batch_1.bin … data_batch_5.bin, test_batch.bin)`);
  const out: Record<Split, ImageSet> = { train: emptyImageSet(CIFAR10_CLASSES), test: emptyImageSet(CIFAR10_CLASSES) };
  for (const split of wanted) {
    if (found[split] === 0) {
      throw new Error(split === 'train'
        ? `no data_batch_*.bin in ${name} (it has only the test split; read it with splits ['test'])`
        : `no test_batch.bin in ${name} (it has only the train split; read it with splits ['train'])`);
    }
    out[split] = concatBatches([...batches[split].entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b));
  }
  return out;
}

function concatBatches(batches: CifarBatch[]): ImageSet {
  const count = batches.reduce((n, b) => n + b.count, 0);
  if (batches.length === 1) return { images: batches[0].images, labels: batches[0].labels, count, channels: 3, size: 32, classes: CIFAR10_CLASSES };
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const b of batches) {
    images.set(b.images, at * PIXELS);
    labels.set(b.labels, at);
    at += b.count;
  }
  return { images, labels, count, channels: 3, size: 32, classes: CIFAR10_CLASSES };
}
