/**
 * Reads a (gzipped) tar archive from disk in Node: the file is streamed through zlib into the
 * tar parser of ./tar-web.ts, so entries come out while the file is still being read and the
 * archive is never held in memory, compressed or not. The browser uses ./tar-web.ts directly.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { type TarEntry, TarError, type TarReadOptions, tarEntries } from './tar-web.ts';

export { readTarGzStream, type TarEntry, TarError, type TarReadOptions, tarEntries } from './tar-web.ts';

/** Reads `file` (a .tar.gz / .tgz) and yields its regular files in archive order; links go to `o.onLink`. */
export function readTarGz(file: string, o: TarReadOptions = {}): AsyncGenerator<TarEntry> {
  return tarEntries(gunzipFile(file), file, o);
}

/** The file's gunzipped bytes; tarEntries ends this generator (closing the file) when it stops. */
async function* gunzipFile(file: string): AsyncGenerator<Uint8Array> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (e) {
    throw new TarError(`${file}: cannot open archive (${(e as Error).message})`);
  }
  if (size === 0) throw new TarError(`${file}: empty file (0 bytes), not a gzipped tar archive`);
  const source = createReadStream(file, { highWaterMark: 1 << 20 });
  const gunzip = createGunzip({ chunkSize: 1 << 16 });
  source.on('error', (e) => gunzip.destroy(e));
  source.pipe(gunzip);
  try {
    for await (const chunk of gunzip) yield chunk;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'Z_BUF_ERROR') throw new TarError(`${file}: truncated gzip stream (${err.message}); the archive is incomplete`);
    if (err.code === 'Z_DATA_ERROR') throw new TarError(`${file}: corrupt or not gzip data (${err.message})`);
    throw new TarError(`${file}: read failed (${err.message})`);
  } finally {
    source.destroy();
    gunzip.destroy();
  }
}
