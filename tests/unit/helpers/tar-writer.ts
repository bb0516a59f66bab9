/**
 * A minimal ustar writer for tests that need archives of their own making (official-binary
 * tarballs, ImageFolder archives, broken ones): regular files and directories, long paths split
 * into the ustar prefix, optionally without the end-of-archive blocks.
 */
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';

export interface TarItem { path: string; data?: Uint8Array; type?: '0' | '5' }

function header(path: string, size: number, type: string): Uint8Array {
  const h = new Uint8Array(512);
  const put = (at: number, s: string) => h.set(new TextEncoder().encode(s), at);
  let name = path;
  let prefix = '';
  if (path.length > 100) {
    const cut = path.lastIndexOf('/', 155);
    prefix = path.slice(0, cut);
    name = path.slice(cut + 1);
    if (cut <= 0 || name.length > 100) throw new Error(`tar-writer cannot split ${path}`);
  }
  put(0, name);
  put(100, '0000644\0');
  put(108, '0000000\0');
  put(116, '0000000\0');
  put(124, size.toString(8).padStart(11, '0') + '\0');
  put(136, '00000000000\0');
  put(156, type);
  put(257, 'ustar\0');
  put(263, '00');
  put(345, prefix);
  put(148, '        ');
  const sum = h.reduce((a, b) => a + b, 0);
  put(148, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

export function makeTar(items: TarItem[], end = true): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const it of items) {
    const data = it.data ?? new Uint8Array(0);
    parts.push(header(it.path, data.length, it.type ?? '0'));
    parts.push(data);
    parts.push(new Uint8Array((512 - (data.length % 512)) % 512));
  }
  if (end) parts.push(new Uint8Array(1024));
  return Buffer.concat(parts);
}

/** Gzipped at level 1: the test archives are tens of MB of patterned bytes, and speed matters more than size. */
export function makeTarGz(items: TarItem[], end = true): Uint8Array {
  return gzipSync(makeTar(items, end), { level: 1 });
}

/** Whether this machine has a `tar` command (tests of archives the system tar writes are skipped without one). */
export const hasSystemTar = (() => {
  try {
    execFileSync('tar', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
