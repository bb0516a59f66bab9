/**
 * A loaded dataset to and from its browser-storage form (./browser-store.ts StoredDataset: each
 * split's web-format file, src/data/webformat.ts), fast at full size: the payload checksum is
 * WebCrypto's native SHA-256 where there is one (a 150 MB split in a fraction of a second, the
 * synchronous one takes about a second), each split is built with one copy of its pixels, and a
 * split read back is a view of the bytes read (no copy).
 */
import { type DatasetSplits, type ImageSet, type Split, summarize } from '../data/dataset.ts';
import { decodeWebSplit, encodeWebSplit, readWebSplitHeader, WEB_MAGIC } from '../data/webformat.ts';
import { type StoredDataset } from './browser-store.ts';

const subtle = (): SubtleCrypto | undefined => globalThis.crypto?.subtle;

async function sha256Native(s: SubtleCrypto, bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await s.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}

/** The same bytes as encodeWebSplit, with the checksum from WebCrypto (falls back to encodeWebSplit without it). */
export async function encodeWebSplitNative(set: ImageSet, split: Split, source: string, name: string): Promise<Uint8Array> {
  const s = subtle();
  const pixels = set.channels * set.size * set.size;
  if (!s || set.images.length !== set.count * pixels || set.labels.length !== set.count) return encodeWebSplit(set, split, source, name);
  // The header with a placeholder checksum of the right length, filled in once the payload is in place.
  const placeholder = '0'.repeat(64);
  const header = { name, split, source, count: set.count, channels: set.channels, size: set.size, classes: [...set.classes], sha256: placeholder };
  const text = JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const preamble = WEB_MAGIC.length + 4;
  const payloadAt = preamble + json.length;
  const out = new Uint8Array(payloadAt + set.count + set.images.length);
  out.set(new TextEncoder().encode(WEB_MAGIC), 0);
  new DataView(out.buffer).setUint32(WEB_MAGIC.length, json.length, true);
  out.set(json, preamble);
  out.set(set.labels, payloadAt);
  out.set(set.images, payloadAt + set.count);
  const sum = await sha256Native(s, out.subarray(payloadAt));
  // sha256 is the header's last field, so the last run of 64 zeros is its placeholder.
  const at = preamble + new TextEncoder().encode(text.slice(0, text.lastIndexOf(placeholder))).length;
  out.set(new TextEncoder().encode(sum), at);
  return out;
}

/** decodeWebSplit with the checksum from WebCrypto (the split is a view of `bytes`). */
export async function decodeWebSplitNative(bytes: Uint8Array, name: string): Promise<ImageSet> {
  const s = subtle();
  if (!s) return decodeWebSplit(bytes, name);
  const set = decodeWebSplit(bytes, name, { verifyChecksum: false });
  const { header, payloadAt } = readWebSplitHeader(bytes, name);
  const sum = await sha256Native(s, bytes.subarray(payloadAt));
  if (sum !== header.sha256) throw new Error(`${name}: corrupted: the payload's sha256 is ${sum}, the header says ${header.sha256}`);
  return set;
}

export async function toStoredDataset(data: DatasetSplits): Promise<StoredDataset> {
  return {
    summary: summarize(data),
    train: await encodeWebSplitNative(data.train, 'train', data.source, data.name),
    test: await encodeWebSplitNative(data.test, 'test', data.source, data.name),
  };
}

/** `what` names the entry in errors ('cifar10 (browser storage)'). */
export async function fromStoredDataset(stored: StoredDataset, what: string): Promise<DatasetSplits> {
  const [train, test] = await Promise.all([decodeWebSplitNative(stored.train, `${what}, train split`), decodeWebSplitNative(stored.test, `${what}, test split`)]);
  return { name: stored.summary.name, source: stored.summary.source, train, test, ...(stored.summary.skippedLinks ? { skippedLinks: stored.summary.skippedLinks } : {}) };
}
