/**
 * The CLI's --teacher: an ONNX model's dense maps of the training images, computed once with
 * onnxruntime-web's WASM provider (progress on stderr) and cached under .cache/teacher/.
 * onnxruntime-web is imported only here and only when a teacher is given, so a bundled CLI can
 * leave it out (scripts/gpu-kit.mjs).
 */
import { existsSync, readFileSync } from 'node:fs';
import { type ImageSet } from '../data/dataset.ts';
import { type VitConfig } from '../nn/presets.ts';
import { cachedTeacherMaps } from '../teacher/cache-node.ts';
import { type TeacherMaps } from '../train/trainer.ts';

export async function teacherMapsFor(path: string, train: ImageSet, vit: VitConfig, dataset: string): Promise<TeacherMaps> {
  if (!existsSync(path)) throw new Error(`--teacher ${path}: no such file`);
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const bytes = new Uint8Array(readFileSync(path));
  const r = await cachedTeacherMaps(ort, bytes, train, { student: vit, name: path, dataset });
  return { maps: r.maps, patch: vit.patch, classes: r.classes };
}
