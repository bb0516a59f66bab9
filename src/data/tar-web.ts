/**
 * The browser-safe half of the tar reader: the streaming tar parser (any chunked byte source) and
 * `readTarGzStream`, which gunzips a web stream with `DecompressionStream('gzip')`. Entries come
 * out one at a time while the archive is still being read, so a caller can stop early and never
 * holds the whole archive in memory. ./tar.ts reads files from disk in Node on top of this.
 *
 * Understands POSIX ustar (the 155-byte `prefix` before `name`), pax extended headers (`path`,
 * `size`) and GNU long names (`././@LongLink`). Yields regular files only; directories and other
 * special entries are skipped, and so are symbolic and hard links, which are reported through
 * `onLink` (a dataset is read from the archive's own files, never through a link). An entry whose
 * path is absolute or has a `..` component is refused: the archive is read only within its own
 * tree. Every error names the archive: a truncated or corrupt gzip stream, a header whose checksum
 * does not match, an entry cut off before its end, a missing end-of-archive marker, an archive
 * with no entries at all, an entry path outside the archive (naming the entry).
 */

export interface TarEntry {
  /** Path inside the archive, as stored (ustar prefix joined, pax/GNU long names applied). */
  path: string;
  data: Uint8Array;
}

const BLOCK = 512;

export class TarError extends Error {}

export interface TarReadOptions {
  /** Called for each symbolic link (typeflag '2') or hard link ('1'); the link itself is skipped. */
  onLink?: (path: string, kind: 'symbolic link' | 'hard link') => void;
}

/**
 * Gunzips `gzipped` (a fetch body, a File's stream(), or any async iterable of gzip bytes) and
 * yields the tar entries inside. `name` is used in errors.
 */
export function readTarGzStream(gzipped: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>, name: string, o: TarReadOptions = {}): AsyncGenerator<TarEntry> {
  return tarEntries(gunzipStream(gzipped, name), name, o);
}

/** The gunzipped bytes; tarEntries ends this generator (cancelling the stream) when it stops. */
async function* gunzipStream(gzipped: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>, name: string): AsyncGenerator<Uint8Array> {
  let compressedBytes = 0;
  const counted = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      compressedBytes += chunk.length;
      controller.enqueue(chunk);
    },
  });
  const source = gzipped instanceof ReadableStream ? gzipped : iterableStream(gzipped);
  // lib.dom types DecompressionStream's input as BufferSource, which Uint8Array chunks are.
  const gunzip = new DecompressionStream('gzip') as unknown as TransformStream<Uint8Array, Uint8Array>;
  const reader = source.pipeThrough(counted).pipeThrough(gunzip).getReader();
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        if (compressedBytes === 0) throw new TarError(`${name}: empty file (0 bytes), not a gzipped tar archive`);
        throw gunzipError(e, name);
      }
      if (r.done) return;
      yield r.value;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** DecompressionStream's errors differ between engines; Node's carry zlib codes. */
function gunzipError(e: unknown, name: string): TarError {
  const err = e as Error & { code?: string };
  if (err.code === 'Z_BUF_ERROR' || /end of (file|stream|input)|truncat|incomplete/i.test(err.message)) {
    return new TarError(`${name}: truncated gzip stream (${err.message}); the archive is incomplete`);
  }
  return new TarError(`${name}: corrupt or not gzip data (${err.message})`);
}

function iterableStream(chunks: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = chunks[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const r = await it.next();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    async cancel() {
      await it.return?.();
    },
  });
}

/**
 * Parses an uncompressed tar stream given as chunks of any sizes. `name` is used in errors.
 * Throws when the stream ends inside a header or an entry, without the end-of-archive blocks,
 * or before any entry, and at the first entry whose path is absolute or has a `..` component.
 */
export async function* tarEntries(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, name: string, o: TarReadOptions = {}): AsyncGenerator<TarEntry> {
  const input = new ByteQueue(chunks);
  try {
    let offset = 0; // bytes consumed, for error messages
    let entries = 0;
    let longName: string | undefined;
    let pax: Record<string, string> = {};
    for (;;) {
      const header = input.takeBuffered(BLOCK) ?? (await input.take(BLOCK));
      if (header.length === 0) {
        if (entries === 0) throw new TarError(`${name}: empty archive (no entries)`);
        throw new TarError(`${name}: truncated tar archive: it ends after ${entries} entries (${offset} bytes) without the end-of-archive blocks`);
      }
      if (header.length < BLOCK) {
        throw new TarError(`${name}: truncated tar archive: ${header.length} stray bytes at offset ${offset} where a 512-byte header should be`);
      }
      if (isZero(header)) {
        if (entries === 0) throw new TarError(`${name}: empty archive (no entries)`);
        return; // end-of-archive; whatever follows (the second zero block, padding) is ignored
      }
      const h = parseHeader(header, name, offset);
      offset += BLOCK;
      entries++;
      const size = pax.size !== undefined ? Number(pax.size) : h.size;
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      const data = input.takeBuffered(size) ?? (await input.take(size));
      if (data.length < size) {
        throw new TarError(`${name}: truncated tar archive: entry "${h.path}" at offset ${offset - BLOCK} has ${size} bytes, only ${data.length} remain`);
      }
      if (!input.skipBuffered(padded - size) && (await input.skip(padded - size)) < padded - size) {
        throw new TarError(`${name}: truncated tar archive: entry "${h.path}" is missing its padding`);
      }
      offset += padded;

      if (h.type === 'x') {
        pax = { ...pax, ...parsePax(data, name, h.path) };
        continue;
      }
      if (h.type === 'g') continue; // pax global header: nothing labelflow needs
      if (h.type === 'L') {
        longName = cString(data, 0, data.length);
        continue;
      }
      if (h.type === 'K') continue; // GNU long link target: it belongs to the next header, a link, which is skipped
      const path = pax.path ?? longName ?? h.path;
      longName = undefined;
      pax = {};
      checkInsideArchive(path, name);
      if (h.type === '1' || h.type === '2') o.onLink?.(path, h.type === '2' ? 'symbolic link' : 'hard link');
      else if (h.type === '0' || h.type === '\0' || h.type === '7') yield { path, data };
    }
  } finally {
    await input.close(); // the source stops too when the caller stops early
  }
}

interface Header { path: string; size: number; type: string }

/**
 * Refuses an entry path that leaves the archive's own tree when joined to a folder: absolute
 * (`/x`, `C:/x`), or with a `..` component (either separator, since Windows treats `\` as one).
 */
function checkInsideArchive(path: string, name: string): void {
  if (/^([/\\]|[A-Za-z]:)/.test(path)) throw new TarError(`${name}: entry "${path}" has an absolute path; an archive is read only within its own tree, so the archive is refused`);
  if (/(^|[/\\])\.\.([/\\]|$)/.test(path)) throw new TarError(`${name}: entry "${path}" has a ".." component that leads outside the archive; an archive is read only within its own tree, so the archive is refused`);
}

function parseHeader(b: Uint8Array, name: string, offset: number): Header {
  const stored = octal(b, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : b[i];
  if (stored === undefined || stored !== sum) {
    throw new TarError(`${name}: corrupt tar header at offset ${offset} (checksum ${stored ?? 'unreadable'}, computed ${sum}); the archive is damaged or not a tar file`);
  }
  const size = sizeField(b, name, offset);
  const type = String.fromCharCode(b[156]);
  let path = cString(b, 0, 100);
  const magic = cString(b, 257, 6);
  if (magic === 'ustar' || magic === 'ustar ') {
    const prefix = cString(b, 345, 155);
    if (prefix && magic === 'ustar') path = `${prefix}/${path}`;
  }
  return { path, size, type };
}

/** The size field: octal text, or GNU base-256 (high bit of the first byte set) for ≥ 8 GiB. */
function sizeField(b: Uint8Array, name: string, offset: number): number {
  if (b[124] & 0x80) {
    let v = b[124] & 0x7f;
    for (let i = 125; i < 136; i++) v = v * 256 + b[i];
    return v;
  }
  const v = octal(b, 124, 12);
  if (v === undefined) throw new TarError(`${name}: corrupt tar header at offset ${offset} (unreadable size field)`);
  return v;
}

function octal(b: Uint8Array, at: number, len: number): number | undefined {
  const s = cString(b, at, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) return undefined;
  return parseInt(s, 8);
}

const utf8 = new TextDecoder();

function cString(b: Uint8Array, at: number, len: number): string {
  let end = at;
  while (end < at + len && b[end] !== 0) end++;
  return utf8.decode(b.subarray(at, end));
}

/** pax records: "LEN key=value\n", LEN counting the whole record. */
function parsePax(data: Uint8Array, name: string, path: string): Record<string, string> {
  const text = utf8.decode(data);
  const out: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const space = text.indexOf(' ', i);
    const len = Number(text.slice(i, space));
    if (space < 0 || !Number.isInteger(len) || len <= 0) throw new TarError(`${name}: corrupt pax header "${path}"`);
    const record = text.slice(space + 1, i + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    i += len;
  }
  return out;
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Takes exact byte counts from a stream of arbitrary chunks, copying only what it returns. */
class ByteQueue {
  private it: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;
  private chunk: Uint8Array = new Uint8Array(0);
  private at = 0;
  private done = false;

  constructor(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    this.it = Symbol.asyncIterator in chunks ? chunks[Symbol.asyncIterator]() : chunks[Symbol.iterator]();
  }

  /**
   * n bytes when the current chunk holds them, without a trip through the event loop (a tar of
   * small files makes hundreds of thousands of these calls); undefined otherwise.
   */
  takeBuffered(n: number): Uint8Array | undefined {
    if (this.chunk.length - this.at < n) return undefined;
    const out = new Uint8Array(n); // a copy, so an entry never pins the chunk (or is a Node Buffer view)
    out.set(this.chunk.subarray(this.at, this.at + n));
    this.at += n;
    return out;
  }

  /** Whether n bytes could be dropped from the current chunk (then they are). */
  skipBuffered(n: number): boolean {
    if (this.chunk.length - this.at < n) return false;
    this.at += n;
    return true;
  }

  /** Up to n bytes (fewer only at the end of the stream). */
  async take(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    const filled = await this.consume(n, out);
    return filled === n ? out : out.subarray(0, filled);
  }

  /** Drops up to n bytes; returns how many there were. */
  skip(n: number): Promise<number> {
    return this.consume(n);
  }

  /** Ends the source iterator (running its cleanup) unless it ended by itself. */
  async close(): Promise<void> {
    if (!this.done) await this.it.return?.();
    this.done = true;
  }

  private async consume(n: number, out?: Uint8Array): Promise<number> {
    let filled = 0;
    while (filled < n) {
      if (this.at === this.chunk.length) {
        if (this.done) break;
        const r = await this.it.next();
        if (r.done) {
          this.done = true;
          break;
        }
        this.chunk = r.value;
        this.at = 0;
        continue;
      }
      const k = Math.min(n - filled, this.chunk.length - this.at);
      out?.set(this.chunk.subarray(this.at, this.at + k), filled);
      this.at += k;
      filled += k;
    }
    return filled;
  }
}
