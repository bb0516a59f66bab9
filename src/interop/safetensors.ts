/**
 * The safetensors format (Hugging Face), written and read in memory. No Node imports: the browser
 * bundle uses it to save and open checkpoints.
 *
 *   8 bytes   N, an unsigned little-endian 64-bit integer: the header's length in bytes
 *   N bytes   the header, UTF-8 JSON starting with "{", padded with spaces (0x20):
 *             {"__metadata__": {string: string}, NAME: {"dtype": "F32", "shape": [...], "data_offsets": [BEGIN, END]}, ...}
 *   the rest  the byte buffer: each tensor's elements, little-endian, row-major. Offsets are relative
 *             to the buffer's start, END is one past the last byte, and the tensors cover the buffer
 *             exactly: contiguous, no holes, no overlaps.
 *
 * Writing follows the reference implementation (huggingface/safetensors, `prepare` in tensor.rs):
 * tensors in the file sorted by descending element size, then by name; "__metadata__" first in the
 * header; the header padded to a multiple of 8 bytes. Every tensor then starts at a multiple of its
 * element size in the file.
 * Reading accepts any order and checks what the reference checks, naming the file and the tensor in
 * each error: the header size against the file and the reference's 100 MB limit, UTF-8, the leading
 * "{", JSON, string-only metadata, each entry's dtype, shape and offsets, shape × element size against
 * the byte range, and full coverage of the buffer. Duplicate names cannot be seen (JSON.parse keeps
 * the last), but the dropped entry's bytes then show up as a hole. Tensors are copied out of the
 * file, so their data may sit at any alignment and the result never aliases the input.
 * The host is assumed little-endian (every WebGPU platform is).
 */

/** Bytes per element of every byte-sized dtype the format defines. */
const DTYPE_BYTES = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  F64: 8, I64: 8, U64: 8,
} as const;

export type Dtype = keyof typeof DTYPE_BYTES;

/** The dtypes written here, each with its typed array; reading returns the same arrays for them. */
export type TypedTensor =
  | { dtype: 'F32'; shape: number[]; data: Float32Array }
  | { dtype: 'I32'; shape: number[]; data: Int32Array }
  | { dtype: 'U8'; shape: number[]; data: Uint8Array }
  | { dtype: 'I64'; shape: number[]; data: BigInt64Array };

/** A tensor to write. */
export type NamedTensor = TypedTensor & { name: string };

/** A tensor read: typed data for the dtypes above, the raw little-endian bytes for every other dtype. */
export type DecodedTensor = TypedTensor | { dtype: Exclude<Dtype, TypedTensor['dtype']>; shape: number[]; data: Uint8Array };

export interface Safetensors {
  /** By name, in file (offset) order. */
  tensors: Map<string, DecodedTensor>;
  /** "__metadata__", or {} when the file has none. */
  metadata: Record<string, string>;
}

/** The reference implementation refuses larger headers (MAX_HEADER_SIZE in tensor.rs). */
export const MAX_HEADER_BYTES = 100_000_000;

const HEADER_ALIGN = 8;
const METADATA_KEY = '__metadata__';
const ENTRY_FIELDS = ['dtype', 'shape', 'data_offsets'];
const TYPED_ARRAYS = { F32: Float32Array, I32: Int32Array, U8: Uint8Array, I64: BigInt64Array } as const;

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const elementsOf = (shape: readonly number[]) => shape.reduce((n, d) => n * d, 1);

/** Serialises `tensors` (stored sorted by descending element size, then name) and optional string metadata. */
export function encodeSafetensors(tensors: NamedTensor[], metadata?: Record<string, string>): Uint8Array {
  const names = new Set<string>();
  for (const t of tensors) {
    const what = `encodeSafetensors: tensor "${t.name}"`;
    if (typeof t.name !== 'string' || t.name === '' || t.name === METADATA_KEY) throw new Error(`${what}: invalid name`);
    if (names.has(t.name)) throw new Error(`${what}: name given twice`);
    names.add(t.name);
    if (!Object.hasOwn(TYPED_ARRAYS, t.dtype)) throw new Error(`${what}: cannot write dtype ${t.dtype} (writable: ${Object.keys(TYPED_ARRAYS).join(', ')})`);
    if (!(t.data instanceof TYPED_ARRAYS[t.dtype])) throw new Error(`${what}: ${t.dtype} data must be a ${TYPED_ARRAYS[t.dtype].name}`);
    if (!Array.isArray(t.shape) || !t.shape.every(isCount)) throw new Error(`${what}: shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
    if (elementsOf(t.shape) !== t.data.length) throw new Error(`${what}: shape [${t.shape}] holds ${elementsOf(t.shape)} elements, data has ${t.data.length}`);
  }
  for (const [key, value] of Object.entries(metadata ?? {})) {
    if (typeof value !== 'string') throw new Error(`encodeSafetensors: metadata "${key}" is ${typeof value}, not a string`);
  }

  const ordered = [...tensors].sort((a, b) =>
    DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // Written entry by entry: JSON.stringify of one object would move integer-like names first.
  const entries = metadata ? [`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`] : [];
  let bufferBytes = 0;
  for (const t of ordered) {
    const end = bufferBytes + t.data.byteLength;
    entries.push(`${JSON.stringify(t.name)}:${JSON.stringify({ dtype: t.dtype, shape: t.shape, data_offsets: [bufferBytes, end] })}`);
    bufferBytes = end;
  }
  const json = new TextEncoder().encode(`{${entries.join(',')}}`);
  const headerBytes = Math.ceil(json.length / HEADER_ALIGN) * HEADER_ALIGN;

  const out = new Uint8Array(8 + headerBytes + bufferBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerBytes);
  let at = 8 + headerBytes;
  for (const t of ordered) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** Parses and validates a whole safetensors file; every error names `name` and what is wrong. */
export function decodeSafetensors(bytes: Uint8Array, name = 'file'): Safetensors {
  const problem = (what: string) => new Error(`safetensors ${name}: ${what}`);
  if (bytes.length < 8) throw problem(`truncated: ${bytes.length} bytes, too short for the 8-byte header size`);
  const headerSize = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (headerSize > BigInt(bytes.length - 8)) {
    throw problem(`header size ${headerSize} bytes runs past the end of the file (${bytes.length} bytes): truncated, or not a safetensors file`);
  }
  const headerBytes = Number(headerSize);
  if (headerBytes > MAX_HEADER_BYTES) throw problem(`header of ${headerBytes} bytes is over the ${MAX_HEADER_BYTES}-byte limit`);
  if (headerBytes === 0) throw problem('the header is empty');
  if (bytes[8] !== 0x7b) throw problem(`the header does not start with "{" (first byte 0x${bytes[8].toString(16).padStart(2, '0')})`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerBytes));
  } catch {
    throw problem('the header is not valid UTF-8');
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(text) as Record<string, unknown>; // an object: the text starts with "{"
  } catch (e) {
    throw problem(`the header is not valid JSON (${(e as Error).message})`);
  }

  const metadataEntries: [string, string][] = [];
  const rawMetadata = header[METADATA_KEY];
  if (rawMetadata !== undefined) {
    if (rawMetadata === null || typeof rawMetadata !== 'object' || Array.isArray(rawMetadata)) throw problem(`"${METADATA_KEY}" is not an object`);
    for (const [key, value] of Object.entries(rawMetadata)) {
      if (typeof value !== 'string') throw problem(`"${METADATA_KEY}" value of "${key}" is ${JSON.stringify(value)}, not a string`);
      metadataEntries.push([key, value]);
    }
  }

  const bufferStart = 8 + headerBytes;
  const bufferBytes = bytes.length - bufferStart;
  const entries: { name: string; dtype: Dtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [tensorName, entry] of Object.entries(header)) {
    if (tensorName === METADATA_KEY) continue;
    const tensorProblem = (what: string) => problem(`tensor "${tensorName}": ${what}`);
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw tensorProblem(`entry ${JSON.stringify(entry)} is not an object`);
    const fields = entry as Record<string, unknown>;
    const unknownField = Object.keys(fields).find((f) => !ENTRY_FIELDS.includes(f));
    if (unknownField !== undefined) throw tensorProblem(`unknown field "${unknownField}" (expected ${ENTRY_FIELDS.join(', ')})`);
    const { dtype, shape, data_offsets: offsets } = fields;
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
      throw tensorProblem(`unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_BYTES).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) throw tensorProblem(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[1] < offsets[0]) {
      throw tensorProblem(`data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 ≤ begin ≤ end`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > bufferBytes) {
      throw tensorProblem(`data_offsets [${begin}, ${end}] run past the end of the byte buffer (${bufferBytes} bytes): the file is truncated`);
    }
    const expectedBytes = elementsOf(shape) * DTYPE_BYTES[dtype as Dtype];
    if (!Number.isSafeInteger(expectedBytes)) throw tensorProblem(`shape [${shape}] is too large`);
    if (end - begin !== expectedBytes) {
      throw tensorProblem(`${dtype} [${shape}] takes ${expectedBytes} bytes, but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    entries.push({ name: tensorName, dtype: dtype as Dtype, shape, begin, end });
  }

  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous = '';
  for (const e of entries) {
    if (e.begin > covered) throw problem(`hole in the byte buffer: bytes ${covered}..${e.begin} belong to no tensor (next: "${e.name}")`);
    if (e.begin < covered) throw problem(`tensor "${e.name}" data_offsets [${e.begin}, ${e.end}] overlap tensor "${previous}", which ends at ${covered}`);
    covered = e.end;
    previous = e.name;
  }
  if (covered !== bufferBytes) throw problem(`${bufferBytes - covered} bytes at the end of the byte buffer belong to no tensor`);

  const tensors = new Map<string, DecodedTensor>();
  for (const e of entries) tensors.set(e.name, decoded(e.dtype, e.shape, bytes.slice(bufferStart + e.begin, bufferStart + e.end)));
  return { tensors, metadata: Object.fromEntries(metadataEntries) };
}

/** `raw` is a fresh copy starting at offset 0 of its own buffer, so typed views of it are aligned. */
function decoded(dtype: Dtype, shape: number[], raw: Uint8Array): DecodedTensor {
  switch (dtype) {
    case 'F32': return { dtype, shape, data: new Float32Array(raw.buffer) };
    case 'I32': return { dtype, shape, data: new Int32Array(raw.buffer) };
    case 'I64': return { dtype, shape, data: new BigInt64Array(raw.buffer) };
    default: return { dtype, shape, data: raw };
  }
}
