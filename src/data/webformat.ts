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
import { sha256Hex } from './sha256.ts';

export const WEB_MAGIC = 'LFDS1\n';
const PREAMBLE = WEB_MAGIC.length + 4;

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

export function encodeWebSplit(set: ImageSet, split: Split, source: string, name = 'cifar10'): Uint8Array {
  const pixels = set.channels * set.size * set.size;
  if (set.images.length !== set.count * pixels || set.labels.length !== set.count) {
    throw new Error(`encodeWebSplit: ${set.count} images need ${set.count * pixels} pixel bytes and ${set.count} labels, got ${set.images.length} and ${set.labels.length}`);
  }
  const header: WebSplitHeader = {
    name, split, source, count: set.count, channels: set.channels, size: set.size, classes: [...set.classes],
    sha256: sha256Hex(set.labels, set.images),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(PREAMBLE + json.length + set.count + set.images.length);
  out.set(new TextEncoder().encode(WEB_MAGIC), 0);
  new DataView(out.buffer).setUint32(WEB_MAGIC.length, json.length, true);
  out.set(json, PREAMBLE);
  out.set(set.labels, PREAMBLE + json.length);
  out.set(set.images, PREAMBLE + json.length + set.count);
  return out;
}

/** Checks the preamble and header of a web-format file (`name` is used in errors) and returns the header. */
export function readWebSplitHeader(bytes: Uint8Array, name: string): { header: WebSplitHeader; payloadAt: number } {
  if (bytes.length < PREAMBLE) throw new Error(`${name}: truncated: ${bytes.length} bytes, less than the ${PREAMBLE}-byte preamble of a labelflow dataset file`);
  const magic = new TextDecoder().decode(bytes.subarray(0, WEB_MAGIC.length));
  if (magic !== WEB_MAGIC) throw new Error(`${name}: not a labelflow dataset file (it starts with ${JSON.stringify(magic)}, not ${JSON.stringify(WEB_MAGIC)})`);
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(WEB_MAGIC.length, true);
  if (PREAMBLE + length > bytes.length) throw new Error(`${name}: truncated: the header is ${length} bytes, only ${bytes.length - PREAMBLE} follow the preamble`);
  let h: WebSplitHeader;
  try {
    h = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREAMBLE, PREAMBLE + length)));
  } catch (e) {
    throw new Error(`${name}: corrupt header (${(e as Error).message})`);
  }
  const bad = (field: string, want: string) => new Error(`${name}: corrupt header: "${field}" is ${JSON.stringify((h as unknown as Record<string, unknown>)?.[field])}, expected ${want}`);
  if (typeof h !== 'object' || h === null) throw new Error(`${name}: corrupt header (not a JSON object)`);
  if (h.split !== 'train' && h.split !== 'test') throw bad('split', '"train" or "test"');
  if (!Number.isInteger(h.count) || h.count < 0) throw bad('count', 'a whole number');
  if (h.channels !== 3) throw bad('channels', '3');
  if (!Number.isInteger(h.size) || h.size < 1) throw bad('size', 'a positive whole number');
  if (!Array.isArray(h.classes) || h.classes.length === 0 || h.classes.length > 256 || !h.classes.every((c) => typeof c === 'string')) throw bad('classes', 'a list of 1 to 256 names');
  if (typeof h.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(h.sha256)) throw bad('sha256', '64 hex digits');
  if (typeof h.name !== 'string' || typeof h.source !== 'string') throw bad(typeof h.name !== 'string' ? 'name' : 'source', 'a string');
  return { header: h, payloadAt: PREAMBLE + length };
}

/**
 * Reads a web-format file back into an ImageSet whose images and labels are views into `bytes`
 * (no copy). Checks sizes, labels and, unless `verifyChecksum` is false, the payload's SHA-256.
 */
export function decodeWebSplit(bytes: Uint8Array, name: string, o: { verifyChecksum?: boolean } = {}): ImageSet {
  const { header: h, payloadAt } = readWebSplitHeader(bytes, name);
  const pixelBytes = h.count * h.channels * h.size * h.size;
  const expected = h.count + pixelBytes;
  const present = bytes.length - payloadAt;
  if (present < expected) throw new Error(`${name}: truncated: the header promises ${h.count} images (${expected} payload bytes), only ${present} bytes follow it`);
  if (present > expected) throw new Error(`${name}: ${present - expected} unexpected bytes after the ${h.count} images the header promises`);
  const labels = bytes.subarray(payloadAt, payloadAt + h.count);
  const images = bytes.subarray(payloadAt + h.count);
  if (o.verifyChecksum !== false) {
    const sum = sha256Hex(labels, images);
    if (sum !== h.sha256) throw new Error(`${name}: corrupted: the payload's sha256 is ${sum}, the header says ${h.sha256}`);
  }
  for (let i = 0; i < h.count; i++) {
    if (labels[i] >= h.classes.length) throw new Error(`${name}: image ${i} has label ${labels[i]}, but there are ${h.classes.length} classes`);
  }
  return { images, labels, count: h.count, channels: 3, size: h.size, classes: h.classes };
}
