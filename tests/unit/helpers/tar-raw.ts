/**
 * Tar headers written byte by byte, for the archive-path tests: any typeflag (links '1' and '2',
 * pax 'x', GNU long names 'L' and long link names 'K'), a link target, and ustar or GNU magic.
 * Unlike ./tar-writer.ts it never rewrites a path: what is given is what the header holds, so a
 * test can store `../x` or `/abs/x` exactly as a hostile archive would.
 */
import { gzipSync } from 'node:zlib';

export interface RawTarEntry {
  /** The header's name field (at most 100 bytes). */
  name: string;
  /** Typeflag: '0' file, '1' hard link, '2' symbolic link, '5' directory, 'x' pax, 'L' / 'K' GNU long name / link name. */
  type: string;
  data?: Uint8Array;
  /** The link target (linkname field). */
  linkname?: string;
  /** 'gnu': the old GNU magic "ustar  ", whose bytes 345… are not a prefix. Default 'ustar'. */
  magic?: 'ustar' | 'gnu';
  /** The ustar prefix field (joined before name with '/'). */
  prefix?: string;
}

const encoder = new TextEncoder();

function header(e: RawTarEntry, size: number): Uint8Array {
  const h = new Uint8Array(512);
  const put = (at: number, s: string, max: number) => {
    const bytes = encoder.encode(s);
    if (bytes.length > max) throw new Error(`tar-raw: "${s}" is longer than its ${max}-byte field`);
    h.set(bytes, at);
  };
  put(0, e.name, 100);
  put(100, '0000644\0', 8);
  put(108, '0000000\0', 8);
  put(116, '0000000\0', 8);
  put(124, size.toString(8).padStart(11, '0') + '\0', 12);
  put(136, '00000000000\0', 12);
  put(156, e.type, 1);
  put(157, e.linkname ?? '', 100);
  if (e.magic === 'gnu') put(257, 'ustar  \0', 8);
  else {
    put(257, 'ustar\0', 6);
    put(263, '00', 2);
    put(345, e.prefix ?? '', 155);
  }
  h.fill(32, 148, 156);
  const sum = h.reduce((a, b) => a + b, 0);
  put(148, sum.toString(8).padStart(6, '0') + '\0 ', 8);
  return h;
}

/** The entries as one tar, each data padded to 512 bytes, with the two zero end blocks. */
export function rawTar(entries: RawTarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const data = e.data ?? new Uint8Array(0);
    parts.push(header(e, data.length), data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  return Buffer.concat(parts);
}

export function rawTarGz(entries: RawTarEntry[]): Uint8Array {
  return gzipSync(rawTar(entries), { level: 1 });
}

/** A pax extended header's data: "LEN key=value\n" records, LEN counting the whole record. */
export function paxData(records: Record<string, string>): Uint8Array {
  let text = '';
  for (const [key, value] of Object.entries(records)) {
    const body = ` ${key}=${value}\n`;
    let len = encoder.encode(body).length;
    while (String(len).length + encoder.encode(body).length !== len) len = String(len).length + encoder.encode(body).length;
    text += `${len}${body}`;
  }
  return encoder.encode(text);
}

/** A GNU long name ('L') or long link name ('K') entry carrying `text`, NUL-terminated. */
export function gnuLong(type: 'L' | 'K', text: string): RawTarEntry {
  return { name: '././@LongLink', type, data: encoder.encode(`${text}\0`), magic: 'gnu' };
}
