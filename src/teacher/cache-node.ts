/**
 * Teacher maps computed once per (teacher, image set) and kept as a file under .cache/teacher/.
 * Node only. The key is the SHA-256 of the teacher's ONNX bytes and the SHA-256 of the images'
 * pixels with their count and shape (so a different subset, order or dataset gets its own file),
 * plus the format version below.
 *
 * File layout (little-endian):
 *   0   8 bytes  magic "LFTMAPS1"
 *   8   u32      count, tokens T, classes K, 0
 *   24  64 bytes the key, hex
 *   88  f32      maps [count, T, K]
 * A file that is short, from another key, or otherwise off is recomputed and replaced; files are
 * written to a temporary name and renamed, so a reader never sees half a file.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTeacher, type LoadTeacherOptions, type OrtModule, runTeacher, type TeacherImages, type TeacherMapsOptions } from './teacher.ts';

export const TEACHER_CACHE_DIR = '.cache/teacher';
/** Changes whenever what a map file holds changes (normalisation, softmax, layout). */
const FORMAT = 'labelflow teacher maps v1: engine normalisation, softmax over classes, [count, T, K] f32';
const MAGIC = 'LFTMAPS1';
const HEADER_BYTES = 88;

export interface CachedTeacherMapsOptions extends LoadTeacherOptions, TeacherMapsOptions {
  /** Cache folder (default .cache/teacher, relative to the working directory). */
  dir?: string;
  /** A name for the image set in the messages, e.g. "cifar10 train". */
  dataset?: string;
  /** The progress line and the summary on stderr (default true). */
  log?: boolean;
}

export interface CachedTeacherMaps {
  /** [count, T, K] */
  maps: Float32Array;
  tokens: number;
  classes: number;
  path: string;
  /** True when read from the cache. */
  cached: boolean;
}

const sha256 = (...parts: (Uint8Array | string)[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/** The cache key of these teacher bytes and images, and the file it names under `dir`. */
export function teacherCacheEntry(teacherBytes: Uint8Array, images: TeacherImages, dir = TEACHER_CACHE_DIR): { key: string; path: string } {
  const teacher = sha256(teacherBytes);
  const data = sha256(`${images.count}×${images.channels}×${images.size}×${images.size} uint8\n`, images.images);
  const key = sha256(`${FORMAT}\n${teacher}\n${data}\n`);
  return { key, path: join(dir, `${teacher.slice(0, 16)}-${data.slice(0, 16)}.maps`) };
}

/** The maps in a cache file, or undefined (with the reason) when it is not a complete file of this key. */
export function readTeacherCache(path: string, key: string, count: number): { maps: Float32Array; tokens: number; classes: number } | string {
  if (!existsSync(path)) return 'not cached';
  const bytes = readFileSync(path);
  if (bytes.length < HEADER_BYTES) return `${path} is truncated`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.subarray(0, 8).toString('latin1') !== MAGIC) return `${path} is not a teacher-maps file`;
  const [n, tokens, classes] = [8, 12, 16].map((at) => view.getUint32(at, true));
  if (bytes.subarray(24, 88).toString('latin1') !== key) return `${path} belongs to another key`;
  if (n !== count || !(tokens > 0 && classes > 0)) return `${path} holds ${n} images of ${tokens}×${classes}, expected ${count}`;
  if (bytes.length !== HEADER_BYTES + 4 * n * tokens * classes) return `${path} has ${bytes.length} bytes, expected ${HEADER_BYTES + 4 * n * tokens * classes}`;
  const maps = new Float32Array(n * tokens * classes);
  new Uint8Array(maps.buffer).set(bytes.subarray(HEADER_BYTES));
  return { maps, tokens, classes };
}

function writeTeacherCache(path: string, key: string, maps: Float32Array, count: number, tokens: number, classes: number): void {
  const header = Buffer.alloc(HEADER_BYTES);
  header.write(MAGIC, 0, 'latin1');
  header.writeUInt32LE(count, 8);
  header.writeUInt32LE(tokens, 12);
  header.writeUInt32LE(classes, 16);
  header.write(key, 24, 'latin1');
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, Buffer.concat([header, new Uint8Array(maps.buffer, maps.byteOffset, maps.byteLength)]));
  renameSync(tmp, path);
}

/** A progress line on stderr: redrawn on a terminal, a line per quarter in a log. */
function progressLine(what: string): { update: (done: number, total: number) => void; end: () => void } {
  const tty = process.stderr.isTTY;
  const start = performance.now();
  let lastQuarter = -1;
  return {
    update(done, total) {
      const seconds = (performance.now() - start) / 1000;
      const rate = done / Math.max(seconds, 1e-9);
      const eta = done > 0 && done < total ? `  ETA ${Math.ceil((total - done) / rate)} s` : '';
      const line = `${what}: ${done}/${total} images (${total ? Math.floor((100 * done) / total) : 100}%)${done ? `  ${rate.toFixed(0)} img/s` : ''}${eta}`;
      if (tty) {
        process.stderr.write(`\r${line}\x1b[K`);
        return;
      }
      const quarter = total ? Math.floor((4 * done) / total) : 4;
      if (quarter !== lastQuarter) process.stderr.write(`${line}\n`);
      lastQuarter = quarter;
    },
    end() {
      if (tty) process.stderr.write('\r\x1b[K');
    },
  };
}

/**
 * The teacher's maps [count, T, K] for these images (see teacherMaps), from the cache when it has
 * them, else computed (with a progress line on stderr) and cached. The teacher is loaded and
 * checked against `o.student` only when the maps are computed, or when cached maps do not fit
 * the student (to report why).
 */
export async function cachedTeacherMaps(ort: OrtModule, teacherBytes: Uint8Array, images: TeacherImages, o: CachedTeacherMapsOptions = {}): Promise<CachedTeacherMaps> {
  const dir = o.dir ?? TEACHER_CACHE_DIR;
  const log = o.log ?? true;
  const name = o.name ?? 'teacher';
  const what = `teacher maps (${name}${o.dataset ? ` on ${o.dataset}` : ''})`;
  const { key, path } = teacherCacheEntry(teacherBytes, images, dir);
  const hit = readTeacherCache(path, key, images.count);
  const s = o.student;
  const fits = (tokens: number, classes: number) => !s || (tokens === (s.imageSize / s.patch) ** 2 && classes === s.classes);
  if (typeof hit !== 'string' && fits(hit.tokens, hit.classes)) {
    if (log) process.stderr.write(`${what}: ${images.count} images × ${hit.tokens} tokens × ${hit.classes} classes from ${path}\n`);
    return { ...hit, path, cached: true };
  }
  if (log && typeof hit === 'string' && hit !== 'not cached') process.stderr.write(`${what}: recomputing (${hit})\n`);

  const teacher = await loadTeacher(ort, teacherBytes, o);
  try {
    const progress = log ? progressLine(what) : undefined;
    const start = performance.now();
    let result: { maps: Float32Array; tokens: number; classes: number };
    try {
      result = await runTeacher(teacher, images, {
        batch: o.batch,
        onProgress: (done, total) => {
          progress?.update(done, total);
          o.onProgress?.(done, total);
        },
      });
    } finally {
      progress?.end();
    }
    const { maps, tokens, classes } = result;
    mkdirSync(dir, { recursive: true });
    writeTeacherCache(path, key, maps, images.count, tokens, classes);
    if (log) {
      process.stderr.write(`${what}: ${images.count} images × ${tokens} tokens × ${classes} classes in ${((performance.now() - start) / 1000).toFixed(1)} s → ${path}\n`);
    }
    return { maps, tokens, classes, path, cached: false };
  } finally {
    await teacher.session.release().catch(() => undefined);
  }
}
