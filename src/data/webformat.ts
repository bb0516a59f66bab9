/**
 * The compact dataset format the page loads (written by `npm run data`), one file per split:
 *
 *   "LFDS1\n" (6 bytes) | header length (uint32 LE) | header (UTF-8 JSON) | labels (count bytes) | pixels (count × 3·size·size bytes, CHW)
 *
 * The header is {name, split, source, count, channels, size, classes, sha256}, sha256 being the
 * checksum of the payload (labels and pixels). No compression: the pixels are what the GPU
 * batcher uploads, and HTTP compresses on the wire. Browser-safe.
 */
import type { ImageSet, Split } from './dataset.ts';
import { frameHeader, readFrameHeader } from './framed.ts';
import { sha256Hex, sha256HexAsync } from './sha256.ts';

export const WEB_MAGIC = 'LFDS1\n';

export interface WebSplitHeader {
  /** Dataset name ("cifar10", "synthetic"). */
  name: string;
  split: Split;
  /** Where the images came from (an archive's file name, "synthetic seed 0"). */
  source: string;
  count: number;
  channels: 3;
  size: number;
  classes: string[];
  /** Hex SHA-256 of the payload: labels then pixels. */
  sha256: string;
}

/** The manifest.json beside the split files. */
export interface WebManifest {
  format: 'LFDS1';
  name: string;
  source: string;
  classes: string[];
  files: { split: Split; file: string; count: number; bytes: number; sha256: string }[];
}

/** Throws unless `set` holds `count` labels and `count` images of channels × size × size bytes. */
function checkImageSet(set: ImageSet): void {
  const pixels = set.channels * set.size * set.size;
  if (set.images.length !== set.count * pixels || set.labels.length !== set.count) {
    throw new Error(`encodeWebSplit: ${set.count} images need ${set.count * pixels} pixel bytes and ${set.count} labels, got ${set.images.length} and ${set.labels.length}`);
  }
}

/** The whole file: its header, with `sha256` as its last field, then labels and pixels. */
function layoutWebSplit(set: ImageSet, split: Split, source: string, name: string, sha256: string): Uint8Array {
  const header: WebSplitHeader = { name, split, source, count: set.count, channels: set.channels, size: set.size, classes: [...set.classes], sha256 };
  const head = frameHeader(WEB_MAGIC, header);
  const out = new Uint8Array(head.length + set.count + set.images.length);
  out.set(head, 0);
  out.set(set.labels, head.length);
  out.set(set.images, head.length + set.count);
  return out;
}

export function encodeWebSplit(set: ImageSet, split: Split, source: string, name = 'cifar10'): Uint8Array {
  checkImageSet(set);
  return layoutWebSplit(set, split, source, name, sha256Hex(set.labels, set.images));
}

const SHA256_PLACEHOLDER = '0'.repeat(64);

/**
 * encodeWebSplit with the checksum from WebCrypto where there is one (sha256HexAsync): the same
 * bytes. The file is laid out with a placeholder checksum, which the payload's is written over.
 */
export async function encodeWebSplitAsync(set: ImageSet, split: Split, source: string, name = 'cifar10'): Promise<Uint8Array> {
  checkImageSet(set);
  const out = layoutWebSplit(set, split, source, name, SHA256_PLACEHOLDER);
  const { payloadAt } = readFrameHeader(out, WEB_MAGIC, 'encodeWebSplitAsync', 'labelflow dataset file');
  // sha256 is the header's last field: the JSON ends with "<64 hex digits>"}
  const at = payloadAt - 2 - SHA256_PLACEHOLDER.length;
  if (new TextDecoder().decode(out.subarray(at, at + SHA256_PLACEHOLDER.length)) !== SHA256_PLACEHOLDER) throw new Error('encodeWebSplitAsync: the header does not end with its sha256');
  out.set(new TextEncoder().encode(await sha256HexAsync(out.subarray(payloadAt))), at);
  return out;
}

/** Checks the preamble and header of a web-format file (`name` is used in errors) and returns the header. */
export function readWebSplitHeader(bytes: Uint8Array, name: string): { header: WebSplitHeader; payloadAt: number } {
  const { header, payloadAt } = readFrameHeader(bytes, WEB_MAGIC, name, 'labelflow dataset file');
  const h = header as WebSplitHeader;
  const bad = (field: string, want: string) => new Error(`${name}: corrupt header: "${field}" is ${JSON.stringify((h as unknown as Record<string, unknown>)?.[field])}, expected ${want}`);
  if (h.split !== 'train' && h.split !== 'test') throw bad('split', '"train" or "test"');
  if (!Number.isInteger(h.count) || h.count < 0) throw bad('count', 'a whole number');
  if (h.channels !== 3) throw bad('channels', '3');
  if (!Number.isInteger(h.size) || h.size < 1) throw bad('size', 'a positive whole number');
  if (!Array.isArray(h.classes) || h.classes.length === 0 || h.classes.length > 256 || !h.classes.every((c) => typeof c === 'string')) throw bad('classes', 'a list of 1 to 256 names');
  if (typeof h.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(h.sha256)) throw bad('sha256', '64 hex digits');
  if (typeof h.name !== 'string' || typeof h.source !== 'string') throw bad(typeof h.name !== 'string' ? 'name' : 'source', 'a string');
  return { header: h, payloadAt };
}

/** The file's ImageSet (views into `bytes`), its header and payload, with sizes and labels checked (not the checksum). */
function parseWebSplit(bytes: Uint8Array, name: string): { set: ImageSet; header: WebSplitHeader; payload: Uint8Array } {
  const { header: h, payloadAt } = readWebSplitHeader(bytes, name);
  const pixelBytes = h.count * h.channels * h.size * h.size;
  const expected = h.count + pixelBytes;
  const present = bytes.length - payloadAt;
  if (present < expected) throw new Error(`${name}: truncated: the header promises ${h.count} images (${expected} payload bytes), only ${present} bytes follow it`);
  if (present > expected) throw new Error(`${name}: ${present - expected} unexpected bytes after the ${h.count} images the header promises`);
  const labels = bytes.subarray(payloadAt, payloadAt + h.count);
  const images = bytes.subarray(payloadAt + h.count);
  for (let i = 0; i < h.count; i++) {
    if (labels[i] >= h.classes.length) throw new Error(`${name}: image ${i} has label ${labels[i]}, but there are ${h.classes.length} classes`);
  }
  return { set: { images, labels, count: h.count, channels: 3, size: h.size, classes: h.classes }, header: h, payload: bytes.subarray(payloadAt) };
}

function checkChecksum(sum: string, header: WebSplitHeader, name: string): void {
  if (sum !== header.sha256) throw new Error(`${name}: corrupted: the payload's sha256 is ${sum}, the header says ${header.sha256}`);
}

/**
 * Reads a web-format file back into an ImageSet whose images and labels are views into `bytes`
 * (no copy). Checks sizes, labels and, unless `verifyChecksum` is false, the payload's SHA-256.
 */
export function decodeWebSplit(bytes: Uint8Array, name: string, o: { verifyChecksum?: boolean } = {}): ImageSet {
  const { set, header, payload } = parseWebSplit(bytes, name);
  if (o.verifyChecksum !== false) checkChecksum(sha256Hex(payload), header, name);
  return set;
}

/** decodeWebSplit with the checksum from WebCrypto where there is one (sha256HexAsync). */
export async function decodeWebSplitAsync(bytes: Uint8Array, name: string): Promise<ImageSet> {
  const { set, header, payload } = parseWebSplit(bytes, name);
  checkChecksum(await sha256HexAsync(payload), header, name);
  return set;
}
