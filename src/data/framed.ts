/**
 * labelflow's framed files: a magic line, the header's length (uint32 LE), the header (UTF-8 JSON),
 * then the payload. Used by the web-format dataset files (LFDS1, ./webformat.ts) and by browser
 * storage's dataset (LFDC1) and teacher-maps (LFTM1) entries (src/train/browser-store.ts).
 */

const lengthAt = (magic: string) => magic.length;
const preamble = (magic: string) => magic.length + 4;

/**
 * The magic, length and header of a framed file, to be followed by its payload. With `align`, the
 * JSON is padded with spaces so that the payload starts at a multiple of `align` bytes.
 */
export function frameHeader(magic: string, header: unknown, align = 1): Uint8Array {
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (align - ((preamble(magic) + json.length) % align)) % align;
  if (pad) json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(preamble(magic) + json.length);
  out.set(new TextEncoder().encode(magic), 0);
  new DataView(out.buffer).setUint32(lengthAt(magic), json.length, true);
  out.set(json, preamble(magic));
  return out;
}

/**
 * The parsed (unchecked) header of a framed file and where its payload starts; `name` names the
 * file in errors and `what` says what it should have been ("labelflow dataset file").
 */
export function readFrameHeader(bytes: Uint8Array, magic: string, name: string, what: string): { header: unknown; payloadAt: number } {
  const fixed = preamble(magic);
  // Bytes that do not begin as the magic does are another file, however short; a prefix of the magic is a truncated one.
  const start = new TextDecoder().decode(bytes.subarray(0, magic.length));
  if (!magic.startsWith(start)) throw new Error(`${name}: not a ${what} (it starts with ${JSON.stringify(start)}, not ${JSON.stringify(magic)})`);
  if (bytes.length < fixed) throw new Error(`${name}: truncated: ${bytes.length} bytes, less than the ${fixed}-byte preamble of a ${what}`);
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(lengthAt(magic), true);
  if (fixed + length > bytes.length) throw new Error(`${name}: truncated: the header is ${length} bytes, only ${bytes.length - fixed} follow the preamble`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(fixed, fixed + length)));
  } catch (e) {
    throw new Error(`${name}: corrupt header (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null) throw new Error(`${name}: corrupt header (not a JSON object)`);
  return { header, payloadAt: fixed + length };
}
