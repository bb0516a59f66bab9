/**
 * Downloads a file once into a cache folder and checks it against a published MD5 before anyone
 * reads it (the CIFAR-10 home page publishes MD5s). The bytes go to `<file>.part` and are renamed
 * only once the whole body is in and the checksum matches; on any failure nothing is left behind.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type ReadableStream as NodeReadableStream } from 'node:stream/web';
import { basename, join } from 'node:path';

/** The official binary release and its MD5 as published on https://www.cs.toronto.edu/~kriz/cifar.html. */
export const CIFAR10_BINARY_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR10_BINARY_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';

export interface DownloadOptions {
  url: string;
  md5: string;
  /** Cache folder; the file keeps the URL's last path segment as its name. */
  dir: string;
  onProgress?: (bytes: number, total: number) => void;
}

/** The cached file's path: reused when its MD5 matches, downloaded (again) otherwise. */
export async function downloadVerified(o: DownloadOptions): Promise<string> {
  const want = o.md5.toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(want)) throw new Error(`"${o.md5}" is not an MD5 checksum (32 hex digits)`);
  let name: string;
  try {
    name = basename(new URL(o.url).pathname) || 'download';
  } catch {
    throw new Error(`"${o.url}" is not a URL`);
  }
  const file = join(o.dir, name);
  if ((await exists(file)) && (await md5File(file)) === want) return file;
  await rm(file, { force: true });
  await mkdir(o.dir, { recursive: true });
  const part = `${file}.part`;
  try {
    const got = await fetchTo(o.url, part, o.onProgress);
    if (got !== want) throw new Error(`checksum mismatch: ${o.url} has MD5 ${got}, expected ${want}; the download was deleted`);
    await rename(part, file);
    return file;
  } finally {
    await rm(part, { force: true });
  }
}

/** Streams the body of `url` into `path`; returns its MD5. */
async function fetchTo(url: string, path: string, onProgress?: (bytes: number, total: number) => void): Promise<string> {
  const failed = (e: unknown) => {
    const err = e as Error & { cause?: Error };
    return new Error(`download of ${url} failed: ${err.message}${err.cause?.message ? ` (${err.cause.message})` : ''}; nothing was kept`);
  };
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw failed(e);
  }
  if (!response.ok || !response.body) throw failed(new Error(`HTTP ${response.status} ${response.statusText}`));
  const total = Number(response.headers.get('content-length')) || 0;
  const hash = createHash('md5');
  let bytes = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      onProgress?.(bytes, total);
      done(null, chunk);
    },
  });
  try {
    // pipeline tears every stream down on the first error (a cut connection while a write to the
    // file is still pending included) and reports that error once.
    await pipeline(Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>), count, createWriteStream(path));
  } catch (e) {
    throw failed(e);
  }
  if (total && bytes !== total) throw failed(new Error(`the body ended after ${bytes} of ${total} bytes`));
  return hash.digest('hex');
}

async function md5File(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
