/**
 * A teacher for Token Labeling: an ONNX model that scores every patch token, run by ONNX Runtime
 * Web. Browser-safe: no Node imports, and no import of onnxruntime-web itself (types only) — the
 * caller passes the module in, so the page can hand over `onnxruntime-web/webgpu` with the
 * WebGPU execution provider and Node the default build with the WASM provider.
 *
 * A teacher model has
 *   one input   float32 images [batch, C, S, S], normalised as the engine normalises its batches
 *   one output  float32 scores [batch, K, G, G] (`npm run export -- --dense` writes `dense_logits`;
 *               a model that also has a classifier output [batch, K] is fine, that one is ignored)
 * and `teacherMaps` turns its scores into per-token class distributions [count, T, K] (T = G²,
 * token t = gy·G + gx, classes innermost): the softmax over classes of each token's scores.
 */
import type * as Ort from 'onnxruntime-web';
import { CIFAR10_MEAN, CIFAR10_STD } from '../data/dataset.ts';
import { WEIGHT_ONE } from '../data/gpu-batcher.ts';

/** The parts of onnxruntime-web a teacher uses (`import * as ort from 'onnxruntime-web'` or '.../webgpu'). */
export type OrtModule = Pick<typeof Ort, 'InferenceSession' | 'Tensor'>;

/** What the student needs from a teacher: its images and its token grid and classes (a VitConfig fits). */
export interface TeacherStudent {
  channels: number;
  imageSize: number;
  patch: number;
  classes: number;
}

/** uint8 images [count, C, S, S], CHW per image (an ImageSet fits). */
export interface TeacherImages {
  images: Uint8Array;
  count: number;
  size: number;
  channels: number;
}

export interface LoadTeacherOptions {
  /** Default ['wasm']; the page can pass ['webgpu', 'wasm']. */
  executionProviders?: readonly Ort.InferenceSession.ExecutionProviderConfig[];
  /** More session options (executionProviders above wins). */
  sessionOptions?: Ort.InferenceSession.SessionOptions;
  /** When given, the teacher must fit it: same image channels and side, K classes, G = S/P. */
  student?: TeacherStudent;
  /** Names the model in errors (a file name). Default "teacher". */
  name?: string;
}

/** What the model's signature says; undefined where a dimension is symbolic or unknown. */
export interface TeacherSignature {
  input: string;
  output: string;
  /** The input's batch dimension when it is fixed. */
  batch?: number;
  channels?: number;
  size?: number;
  classes?: number;
  grid?: number;
}

export interface Teacher extends TeacherSignature {
  readonly name: string;
  readonly ort: OrtModule;
  readonly session: Ort.InferenceSession;
  readonly student?: TeacherStudent;
}

export interface TeacherMapsOptions {
  /** Images per run (default 64). */
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

export class TeacherError extends Error {}

type Dims = readonly (number | string)[];
const fixed = (d: number | string | undefined): number | undefined => (typeof d === 'number' && d >= 0 ? d : undefined);
const dimsText = (dims: Dims) => `[${dims.map((d, i) => (typeof d === 'number' ? d : i === 0 ? 'batch' : d || '?')).join(', ')}]`;
const EXPORT_HINT = 'export it with --dense (npm run export -- --checkpoint FILE.safetensors --onnx FILE.onnx --dense)';

/**
 * Checks a model's inputs and outputs (ONNX Runtime's session.inputMetadata / outputMetadata) for
 * what a teacher needs, against the student when given; throws a TeacherError saying what is wrong.
 */
export function checkTeacherSignature(
  inputs: readonly Ort.InferenceSession.ValueMetadata[],
  outputs: readonly Ort.InferenceSession.ValueMetadata[],
  student?: TeacherStudent,
  name = 'teacher',
): TeacherSignature {
  const fail = (what: string): never => {
    throw new TeacherError(`${name}: ${what}`);
  };
  const listed = (vs: readonly Ort.InferenceSession.ValueMetadata[]) =>
    vs.map((v) => `"${v.name}" ${v.isTensor ? `${v.type} ${dimsText(v.shape)}` : '(not a tensor)'}`).join(', ');

  if (inputs.length !== 1) fail(`a teacher takes one input, images [batch, C, S, S]; this model has ${inputs.length}: ${listed(inputs) || 'none'}`);
  const input = inputs[0];
  if (!input.isTensor) fail(`its input "${input.name}" is not a tensor; a teacher takes images [batch, C, S, S]`);
  const inShape = input.isTensor ? input.shape : [];
  if (input.isTensor && input.type !== 'float32') fail(`its input "${input.name}" is ${input.type}; a teacher takes float32 images [batch, C, S, S] (normalised)`);
  if (inShape.length && inShape.length !== 4) fail(`its input "${input.name}" is ${dimsText(inShape)}, not images [batch, C, S, S]`);
  const batch = fixed(inShape[0]);
  const channels = fixed(inShape[1]);
  const height = fixed(inShape[2]);
  const width = fixed(inShape[3]);
  if (height !== undefined && width !== undefined && height !== width) fail(`its input "${input.name}" is ${dimsText(inShape)}: images must be square`);
  const size = height ?? width;

  const tensors = outputs.filter((o): o is Ort.InferenceSession.TensorValueMetadata => o.isTensor);
  const dense = tensors.filter((o) => o.shape.length === 4 || (o.shape.length === 0 && outputs.length === 1));
  if (dense.length === 0) {
    const classifier = tensors.find((o) => o.shape.length === 2);
    if (classifier) {
      fail(`its output "${classifier.name}" is ${dimsText(classifier.shape)}, one score per class for a whole image; ` +
        `a teacher needs dense maps [batch, K, G, G] (scores for every patch token): ${EXPORT_HINT}`);
    }
    fail(`a teacher needs one output of dense maps [batch, K, G, G]; this model has ${listed(outputs) || 'none'}`);
  }
  if (dense.length > 1) fail(`a teacher needs one output of dense maps [batch, K, G, G]; this model has ${dense.length}: ${listed(dense)}`);
  const output = dense[0];
  if (output.type !== 'float32') fail(`its output "${output.name}" is ${output.type}; a teacher's maps must be float32`);
  const classes = fixed(output.shape[1]);
  const gh = fixed(output.shape[2]);
  const gw = fixed(output.shape[3]);
  if (gh !== undefined && gw !== undefined && gh !== gw) fail(`its output "${output.name}" is ${dimsText(output.shape)}: the token grid must be square`);
  const grid = gh ?? gw;

  if (student) {
    const G = student.imageSize / student.patch;
    if (channels !== undefined && channels !== student.channels) {
      fail(`it takes ${channels}-channel images ${dimsText(inShape)}, the student ${student.channels}-channel ones`);
    }
    if (size !== undefined && size !== student.imageSize) {
      fail(`it takes ${size}×${size} images ${dimsText(inShape)}, the student ${student.imageSize}×${student.imageSize}`);
    }
    if (classes !== undefined && classes !== student.classes) {
      fail(`it scores ${classes} classes (output "${output.name}" ${dimsText(output.shape)}), the student has ${student.classes}`);
    }
    if (grid !== undefined && grid !== G) {
      fail(`its maps are on a ${grid}×${grid} token grid (output "${output.name}" ${dimsText(output.shape)}), the student's is ` +
        `${G}×${G} (${student.imageSize}-pixel images in ${student.patch}-pixel patches): the teacher needs the student's patch size`);
    }
  }
  return { input: input.name, output: output.name, batch, channels, size, classes, grid };
}

/** Loads and checks a teacher from ONNX bytes; errors say what does not fit. */
export async function loadTeacher(ort: OrtModule, bytes: Uint8Array, o: LoadTeacherOptions = {}): Promise<Teacher> {
  const name = o.name ?? 'teacher';
  let session: Ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { ...o.sessionOptions, executionProviders: o.executionProviders ?? o.sessionOptions?.executionProviders ?? ['wasm'] });
  } catch (e) {
    throw new TeacherError(`${name}: ONNX Runtime cannot load it as a model (${(e as Error).message})`);
  }
  try {
    const signature = checkTeacherSignature(session.inputMetadata, session.outputMetadata, o.student, name);
    return { ...signature, name, ort, session, student: o.student };
  } catch (e) {
    await session.release().catch(() => undefined);
    throw e;
  }
}

/**
 * uint8 [count, C, S, S] → float32, as the engine's batches (shaders/augment.wgsl mix_normalize,
 * unmixed): out = f32(f32(p·65536 − M_c) · R_c), M_c = f32(mean_c·255·65536), R_c = f32(1/(std_c·255·65536)),
 * i.e. (p/255 − mean_c)/std_c rounded the way the GPU rounds it.
 */
export function normalizeLikeEngine(images: Uint8Array, channels: number, plane: number,
  mean: readonly number[] = CIFAR10_MEAN, std: readonly number[] = CIFAR10_STD): Float32Array {
  if (mean.length !== channels || std.length !== channels) throw new Error(`normalizeLikeEngine: mean/std have ${mean.length}/${std.length} values for ${channels} channels`);
  if (images.length % (channels * plane) !== 0) throw new Error(`normalizeLikeEngine: ${images.length} bytes are not whole ${channels}×${plane}-pixel images`);
  const meanQ = Float32Array.from(mean, (m) => m * 255 * WEIGHT_ONE);
  const scaleQ = Float32Array.from(std, (s) => 1 / (s * 255 * WEIGHT_ONE));
  const out = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) {
    const c = Math.floor(i / plane) % channels;
    out[i] = Math.fround(images[i] * WEIGHT_ONE - meanQ[c]) * scaleQ[c];
  }
  return out;
}

/**
 * The teacher's per-token class distributions for every image: Float32Array [count, T, K], each
 * row the softmax over classes of one token's scores (token-major, classes innermost).
 */
export async function teacherMaps(teacher: Teacher, images: TeacherImages, o: TeacherMapsOptions = {}): Promise<Float32Array> {
  return (await runTeacher(teacher, images, o)).maps;
}

/** teacherMaps with the map's T and K (known before a run only where the model fixes them). */
export async function runTeacher(teacher: Teacher, images: TeacherImages, o: TeacherMapsOptions = {}): Promise<{ maps: Float32Array; tokens: number; classes: number }> {
  const { count, size, channels } = images;
  const fail = (what: string): never => {
    throw new TeacherError(`${teacher.name}: ${what}`);
  };
  const plane = size * size;
  if (!Number.isInteger(count) || count < 0 || images.images.length !== count * channels * plane) {
    fail(`${images.images.length} bytes are not ${count} images of ${channels}×${size}×${size}`);
  }
  if (teacher.channels !== undefined && teacher.channels !== channels) fail(`it takes ${teacher.channels}-channel images, these have ${channels}`);
  if (teacher.size !== undefined && teacher.size !== size) fail(`it takes ${teacher.size}×${teacher.size} images, these are ${size}×${size}`);
  const requested = o.batch ?? 64;
  if (!Number.isInteger(requested) || requested < 1) fail(`batch must be a positive integer, got ${requested}`);
  const batch = teacher.batch ?? requested; // a model with a fixed batch gets exactly that many, the last run padded
  const perImage = channels * plane;

  const s = teacher.student;
  const grid = teacher.grid ?? (s ? s.imageSize / s.patch : 0);
  let T = grid * grid;
  let K = teacher.classes ?? s?.classes ?? 0;
  let started = false;
  let maps = new Float32Array(0);
  o.onProgress?.(0, count);
  for (let first = 0; first < count; first += batch) {
    const n = Math.min(batch, count - first);
    const runs = teacher.batch ?? n;
    const pixels = new Uint8Array(runs * perImage);
    pixels.set(images.images.subarray(first * perImage, (first + n) * perImage));
    const input = new teacher.ort.Tensor('float32', normalizeLikeEngine(pixels, channels, plane), [runs, channels, size, size]);
    let result: Ort.InferenceSession.ReturnType;
    try {
      result = await teacher.session.run({ [teacher.input]: input }, [teacher.output]);
    } catch (e) {
      throw new TeacherError(`${teacher.name}: running it on images ${first}..${first + n - 1} failed (${(e as Error).message})`);
    } finally {
      input.dispose();
    }
    const out = result[teacher.output] as Ort.Tensor;
    try {
      const dims = out.dims;
      if (out.type !== 'float32' || dims.length !== 4 || dims[0] !== runs || dims[2] !== dims[3]) {
        fail(`output "${teacher.output}" came back ${out.type} [${dims.join(', ')}], expected float32 [${runs}, K, G, G]`);
      }
      if (!started) {
        started = true;
        K = dims[1];
        T = dims[2] * dims[3];
        if (s && K !== s.classes) fail(`it scores ${K} classes, the student has ${s.classes}`);
        if (s && dims[2] !== s.imageSize / s.patch) fail(`its maps are ${dims[2]}×${dims[3]} tokens, the student's grid is ${s.imageSize / s.patch}×${s.imageSize / s.patch}`);
        maps = new Float32Array(count * T * K);
      } else if (dims[1] * dims[2] * dims[3] !== T * K || dims[1] !== K) {
        fail(`output "${teacher.output}" changed shape between runs: [${dims.join(', ')}]`);
      }
      const scores = (await out.getData()) as Float32Array;
      if (!softmaxTokens(scores, maps, n, T, K, first)) fail(`its scores for images ${first}..${first + n - 1} are not all finite`);
    } finally {
      out.dispose();
    }
    o.onProgress?.(first + n, count);
  }
  return { maps, tokens: T, classes: K };
}

/** scores [n, K, T] (class-major) → maps[first + i] [T, K], softmax over K per token, in float64; false on a non-finite score. */
function softmaxTokens(scores: Float32Array, maps: Float32Array, n: number, T: number, K: number, first: number): boolean {
  const row = new Float64Array(K);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < T; t++) {
      let max = -Infinity;
      for (let k = 0; k < K; k++) {
        row[k] = scores[(i * K + k) * T + t];
        if (row[k] > max) max = row[k];
      }
      if (!Number.isFinite(max) || row.some(Number.isNaN)) return false;
      let sum = 0;
      for (let k = 0; k < K; k++) sum += (row[k] = Math.exp(row[k] - max));
      const at = ((first + i) * T + t) * K;
      for (let k = 0; k < K; k++) maps[at + k] = row[k] / sum;
    }
  }
  return true;
}
