/**
 * An in-memory Origin Private File System with the methods src/train/blob-store.ts uses, behaving
 * as Chromium's does where the store depends on it: names with '/' or '.'/'..' are refused, a
 * missing entry is a NotFoundError, a file with an open sync access handle cannot be opened again
 * nor removed (NoModificationAllowedError), move() replaces a file of the same name, and a write
 * past `quota` bytes (over all files) is a QuotaExceededError. `syncAccess: false` gives the
 * main thread's API (createWritable only).
 */
import type { OpfsDirectory, OpfsFileHandle, OpfsSyncAccessHandle, OpfsWritable } from '../../../src/train/blob-store.ts';

const domError = (name: string, message: string) => new DOMException(message, name);

interface Node {
  bytes: Uint8Array;
  locked: boolean;
}

export interface MemoryOpfs {
  root: OpfsDirectory;
  /** Bytes in all files. */
  used(): number;
  /** Every file as 'dir/dir/file' → size. */
  files(): Map<string, number>;
  /** Total bytes the files may hold. */
  quota: number;
  /** Counts of the calls that carried bytes (write calls), and the largest one. */
  writes: { calls: number; largest: number };
}

export function memoryOpfs(o: { syncAccess?: boolean; move?: boolean; quota?: number } = {}): MemoryOpfs {
  const all = new Set<Node>();
  const state: MemoryOpfs = {
    root: undefined as unknown as OpfsDirectory,
    quota: o.quota ?? Infinity,
    used: () => [...all].reduce((n, f) => n + f.bytes.length, 0),
    files: () => {
      const out = new Map<string, number>();
      const walk = (d: Map<string, Entry>, prefix: string) => {
        for (const [name, e] of d) {
          if (e.kind === 'file') out.set(prefix + name, e.node.bytes.length);
          else walk(e.children, `${prefix}${name}/`);
        }
      };
      walk(rootChildren, '');
      return out;
    },
    writes: { calls: 0, largest: 0 },
  };
  type Entry = { kind: 'file'; node: Node } | { kind: 'directory'; children: Map<string, Entry> };
  const rootChildren = new Map<string, Entry>();

  const checkName = (name: string) => {
    if (!name || name === '.' || name === '..' || name.includes('/') || name.includes('\\')) throw new TypeError(`Name is not allowed: ${JSON.stringify(name)}`);
  };
  const grow = (node: Node, at: number, data: Uint8Array) => {
    state.writes.calls++;
    state.writes.largest = Math.max(state.writes.largest, data.length);
    const end = at + data.length;
    const extra = Math.max(0, end - node.bytes.length);
    if (state.used() + extra > state.quota) throw domError('QuotaExceededError', 'The operation failed because it would cause the application to exceed its storage quota.');
    if (end > node.bytes.length) {
      const bigger = new Uint8Array(end);
      bigger.set(node.bytes);
      node.bytes = bigger;
    }
    node.bytes.set(data, at);
  };

  function fileHandle(name: string, node: Node, parent: Map<string, Entry>): OpfsFileHandle & { name: string } {
    let currentName = name;
    let currentParent = parent;
    const handle: OpfsFileHandle & { name: string } = {
      kind: 'file',
      get name() { return currentName; },
      async getFile() {
        if (!all.has(node)) throw domError('NotFoundError', 'A requested file or directory could not be found.');
        const copy = node.bytes.slice();
        return { size: copy.length, arrayBuffer: async () => copy.buffer };
      },
      async createWritable() {
        // Chromium writes into a swap file and replaces the file's contents on close().
        const swap: Node = { bytes: new Uint8Array(0), locked: false };
        let closed = false;
        const stream: OpfsWritable = {
          async write(data) {
            if (closed) throw new TypeError('the stream is closed');
            all.add(swap);
            try {
              grow(swap, swap.bytes.length, data);
            } catch (e) {
              all.delete(swap);
              throw e;
            }
            all.delete(swap);
          },
          async close() {
            closed = true;
            node.bytes = swap.bytes;
          },
          async abort() {
            closed = true;
          },
        };
        return stream;
      },
      ...(o.syncAccess === false ? {} : {
        async createSyncAccessHandle(): Promise<OpfsSyncAccessHandle> {
          if (node.locked) throw domError('NoModificationAllowedError', 'Access Handles cannot be created if there is another open Access Handle or Writable stream associated with the same file.');
          node.locked = true;
          return {
            write(data, { at }) {
              grow(node, at, data);
              return data.length;
            },
            flush() {},
            close() { node.locked = false; },
          };
        },
      }),
      ...(o.move === false ? {} : {
        async move(destination: OpfsDirectory, newName: string) {
          checkName(newName);
          const target = (destination as unknown as { children: Map<string, Entry> }).children;
          const existing = target.get(newName);
          if (existing?.kind === 'directory') throw domError('InvalidModificationError', 'a directory of that name exists');
          if (existing?.kind === 'file') {
            if (existing.node.locked) throw domError('NoModificationAllowedError', 'the target is locked');
            all.delete(existing.node);
          }
          currentParent.delete(currentName);
          target.set(newName, { kind: 'file', node });
          currentName = newName;
          currentParent = target;
        },
      }),
    };
    return handle;
  }

  function directory(name: string, children: Map<string, Entry>): OpfsDirectory & { name: string; children: Map<string, Entry> } {
    return {
      kind: 'directory',
      name,
      children,
      async getDirectoryHandle(n, opts) {
        checkName(n);
        let e = children.get(n);
        if (!e) {
          if (!opts?.create) throw domError('NotFoundError', 'A requested file or directory could not be found.');
          children.set(n, (e = { kind: 'directory', children: new Map() }));
        }
        if (e.kind !== 'directory') throw domError('TypeMismatchError', 'The path supplied exists, but was not an entry of requested type.');
        return directory(n, e.children);
      },
      async getFileHandle(n, opts) {
        checkName(n);
        let e = children.get(n);
        if (!e) {
          if (!opts?.create) throw domError('NotFoundError', 'A requested file or directory could not be found.');
          const node: Node = { bytes: new Uint8Array(0), locked: false };
          all.add(node);
          children.set(n, (e = { kind: 'file', node }));
        }
        if (e.kind !== 'file') throw domError('TypeMismatchError', 'The path supplied exists, but was not an entry of requested type.');
        return fileHandle(n, e.node, children);
      },
      async removeEntry(n, opts) {
        const e = children.get(n);
        if (!e) throw domError('NotFoundError', 'A requested file or directory could not be found.');
        if (e.kind === 'file' && e.node.locked) throw domError('NoModificationAllowedError', 'the file has an open access handle');
        if (e.kind === 'directory' && e.children.size && !opts?.recursive) throw domError('InvalidModificationError', 'the directory is not empty');
        children.delete(n);
        if (e.kind === 'file') all.delete(e.node);
      },
      values() {
        const snapshot = [...children.entries()];
        return (async function* () {
          for (const [n, e] of snapshot) yield e.kind === 'file' ? fileHandle(n, e.node, children) : directory(n, e.children);
        })();
      },
    } as OpfsDirectory & { name: string; children: Map<string, Entry> };
  }

  state.root = directory('', rootChildren);
  return state;
}
