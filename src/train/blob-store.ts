/**
 * Large binary entries (decoded datasets, teacher maps, checkpoints) in the Origin Private File
 * System, so that no single stored value grows with the dataset into a browser limit (Chromium
 * refuses IndexedDB values above ~133 MB; a file has no such limit, only the origin's quota).
 *
 * Layout under the OPFS root:
 *   labelflow/<folder>/<encoded name>   complete entries ('datasets/cifar10', 'teacher-maps/…', 'checkpoints/…')
 *   labelflow/incomplete/<random>       entries being written
 *
 * An entry is written under incomplete/ in chunks (a sync access handle in a worker, a writable
 * stream elsewhere) and moved to its name only once every byte is written and the file closed, so
 * a reader never sees half an entry. What is left in incomplete/ (a tab closed mid-write, a crash)
 * is removed when the store is opened. The store works over any directory with the few OPFS
 * methods it uses (OpfsDirectory), so Node tests run it over an in-memory one.
 */

/** One complete entry: its name ('<folder>/<name>') and size. */
export interface BlobEntry {
  name: string;
  bytes: number;
}

export interface BlobStore {
  /** The entry's bytes in one buffer of their own, or undefined when there is no complete entry of that name. */
  read(name: string): Promise<Uint8Array | undefined>;
  /** Writes `parts`, in order, as the entry `name`, replacing any entry of that name once complete. Returns the bytes written. */
  write(name: string, parts: readonly Uint8Array[]): Promise<number>;
  /** Removes the entry; false when there was none. */
  remove(name: string): Promise<boolean>;
  /** The complete entries of `folder` (all folders when absent), by name. */
  list(folder?: string): Promise<BlobEntry[]>;
  /** Removes what half-written entries are left in incomplete/ (and not being written now); returns how many. */
  removeIncomplete(): Promise<number>;
}

// ------------------------------------------------------------------ the OPFS subset used

export interface OpfsWritable {
  write(data: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort?(reason?: unknown): Promise<void>;
}

export interface OpfsSyncAccessHandle {
  write(data: Uint8Array, options: { at: number }): number;
  flush(): void;
  close(): void;
}

export interface OpfsFileHandle {
  readonly kind: 'file';
  getFile(): Promise<{ size: number; arrayBuffer(): Promise<ArrayBuffer> }>;
  createWritable?(options?: { keepExistingData?: boolean }): Promise<OpfsWritable>;
  createSyncAccessHandle?(): Promise<OpfsSyncAccessHandle>;
  /** FileSystemHandle.move (Chromium 110+ for OPFS files). */
  move?(destination: OpfsDirectory, name: string): Promise<void>;
}

export interface OpfsDirectory {
  readonly kind: 'directory';
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<OpfsDirectory>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<OpfsFileHandle>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
  values(): AsyncIterable<OpfsFileHandle | OpfsDirectory> & { [Symbol.asyncIterator](): AsyncIterator<(OpfsFileHandle | OpfsDirectory) & { name: string }> };
}

const ROOT_FOLDER = 'labelflow';
const INCOMPLETE = 'incomplete';
/** Bytes per write call: large enough to be fast, small enough that no call's buffer grows with the dataset. */
export const WRITE_CHUNK = 8 << 20;

/**
 * The OPFS of this page or worker, or why there is none (an old browser, a context without
 * storage access). `root` replaces navigator.storage.getDirectory() (tests).
 */
export async function openOpfsBlobStore(root?: OpfsDirectory): Promise<BlobStore> {
  let base: OpfsDirectory;
  if (root) base = root;
  else {
    const storage = typeof navigator === 'undefined' ? undefined : navigator.storage;
    if (!storage || typeof storage.getDirectory !== 'function') {
      throw new Error('this browser gives the page no Origin Private File System (navigator.storage.getDirectory is missing)');
    }
    try {
      base = (await storage.getDirectory()) as unknown as OpfsDirectory;
    } catch (e) {
      throw new Error(`the Origin Private File System cannot be opened (${describe(e)})`);
    }
  }
  const store = blobStoreIn(await base.getDirectoryHandle(ROOT_FOLDER, { create: true }));
  await store.removeIncomplete();
  return store;
}

/** Splits '<folder>/<name>' into the folder and a file name OPFS accepts (no '/', '\\', '.' or '..'). */
function place(name: string): { folder: string; file: string } {
  const slash = name.indexOf('/');
  const folder = name.slice(0, slash);
  const key = name.slice(slash + 1);
  if (slash <= 0 || !/^[a-z][a-z0-9-]*$/.test(folder) || folder === INCOMPLETE || key === '') {
    throw new Error(`blob store: "${name}" is not a valid entry name (expected "<folder>/<name>", the folder in lower-case letters, digits and "-", not "${INCOMPLETE}")`);
  }
  return { folder, file: encodeURIComponent(key).replace(/\./g, '%2E') };
}

const isNotFound = (e: unknown) => (e as { name?: string } | null)?.name === 'NotFoundError';

function describe(e: unknown): string {
  if (e && typeof e === 'object' && 'name' in e && 'message' in e) {
    const { name, message } = e as { name: string; message: string };
    return message ? (name && name !== 'Error' && !message.includes(name) ? `${name}: ${message}` : message) : name;
  }
  return String(e);
}

/** A write that failed, as a sentence: a full quota says so and how much was being written. */
export function blobWriteError(e: unknown, name: string, bytes: number): Error {
  if ((e as { name?: string } | null)?.name === 'QuotaExceededError') {
    return new Error(`browser storage is full: ${(bytes / 1e6).toFixed(1)} MB for ${name} do not fit in this site's quota (${describe(e)}); ` +
      'delete stored datasets or old runs under Storage, or allow this site more storage');
  }
  return new Error(`could not write ${name} (${(bytes / 1e6).toFixed(1)} MB) to the Origin Private File System: ${describe(e)}`);
}

export function blobStoreIn(dir: OpfsDirectory): BlobStore {
  const folders = new Map<string, Promise<OpfsDirectory>>();
  const folder = (name: string) => {
    let f = folders.get(name);
    if (!f) {
      f = dir.getDirectoryHandle(name, { create: true });
      f.catch(() => folders.delete(name));
      folders.set(name, f);
    }
    return f;
  };

  async function fileIn(name: string): Promise<OpfsFileHandle | undefined> {
    const { folder: f, file } = place(name);
    try {
      return await (await folder(f)).getFileHandle(file);
    } catch (e) {
      if (isNotFound(e) || (e as { name?: string } | null)?.name === 'TypeMismatchError') return undefined;
      throw e;
    }
  }

  async function writeInto(handle: OpfsFileHandle, parts: readonly Uint8Array[]): Promise<number> {
    let at = 0;
    if (handle.createSyncAccessHandle) {
      const access = await handle.createSyncAccessHandle();
      try {
        for (const part of parts) {
          for (let i = 0; i < part.length; i += WRITE_CHUNK) {
            const chunk = part.subarray(i, Math.min(part.length, i + WRITE_CHUNK));
            const written = access.write(chunk, { at });
            if (written !== chunk.length) throw new Error(`only ${written} of ${chunk.length} bytes were written at offset ${at}`);
            at += written;
          }
        }
        access.flush();
      } finally {
        access.close();
      }
      return at;
    }
    if (!handle.createWritable) throw new Error('this browser can neither write OPFS files from this context (no createSyncAccessHandle) nor stream into them (no createWritable)');
    const stream = await handle.createWritable({ keepExistingData: false });
    try {
      for (const part of parts) {
        for (let i = 0; i < part.length; i += WRITE_CHUNK) {
          const chunk = part.subarray(i, Math.min(part.length, i + WRITE_CHUNK));
          await stream.write(chunk);
          at += chunk.length;
        }
      }
    } catch (e) {
      await stream.abort?.(e).catch(() => undefined);
      throw e;
    }
    await stream.close();
    return at;
  }

  return {
    async read(name) {
      const handle = await fileIn(name);
      if (!handle) return undefined;
      return new Uint8Array(await (await handle.getFile()).arrayBuffer());
    },

    async write(name, parts) {
      const { folder: f, file } = place(name);
      const total = parts.reduce((n, p) => n + p.length, 0);
      const incomplete = await folder(INCOMPLETE);
      const temp = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
      let handle: OpfsFileHandle;
      try {
        handle = await incomplete.getFileHandle(temp, { create: true });
        if (!handle.move) throw new Error('this browser cannot move OPFS files (FileSystemHandle.move is missing), so an entry cannot be written atomically');
        const written = await writeInto(handle, parts);
        if (written !== total) throw new Error(`${written} of ${total} bytes were written`);
        const target = await folder(f);
        try {
          await handle.move(target, file);
        } catch (e) {
          // Where a move does not replace an existing file: remove the old entry, then move.
          if ((e as { name?: string } | null)?.name !== 'InvalidModificationError' && (e as { name?: string } | null)?.name !== 'NoModificationAllowedError') throw e;
          await target.removeEntry(file).catch((r) => { if (!isNotFound(r)) throw r; });
          await handle.move(target, file);
        }
        return written;
      } catch (e) {
        await incomplete.removeEntry(temp).catch(() => undefined);
        throw blobWriteError(e, name, total);
      }
    },

    async remove(name) {
      const { folder: f, file } = place(name);
      try {
        await (await folder(f)).removeEntry(file);
        return true;
      } catch (e) {
        if (isNotFound(e)) return false;
        throw new Error(`could not remove ${name} from the Origin Private File System: ${describe(e)}`);
      }
    },

    async list(only) {
      const out: BlobEntry[] = [];
      const names: string[] = [];
      if (only !== undefined) names.push(only);
      else for await (const h of dir.values()) if (h.kind === 'directory' && h.name !== INCOMPLETE) names.push(h.name);
      for (const f of names) {
        const d = await folder(f);
        for await (const h of d.values()) {
          if (h.kind !== 'file') continue;
          out.push({ name: `${f}/${decodeURIComponent(h.name)}`, bytes: (await (h as OpfsFileHandle).getFile()).size });
        }
      }
      return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },

    async removeIncomplete() {
      const incomplete = await folder(INCOMPLETE);
      const names: string[] = [];
      for await (const h of incomplete.values()) names.push(h.name);
      let removed = 0;
      for (const n of names) {
        // One being written (a sync access handle open in another tab's worker) refuses removal: leave it.
        if (await incomplete.removeEntry(n, { recursive: true }).then(() => true, () => false)) removed++;
      }
      return removed;
    },
  };
}
