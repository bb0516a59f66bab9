/**
 * ONNX export and teachers. The `test` ViT runs on the GPU and its weights, exported, run in ONNX
 * Runtime Web's WASM backend in Node (one thread): the classifier logits, the dense per-token
 * logits and the Token Labeling aux_head rule must match the engine (or a float64 CPU forward)
 * to 1e-4, normwise relative (max|a − b| / max|b|). Then the teacher's checks and maps, the map
 * cache, and `npm run export` end to end on a checkpoint written by saveCheckpoint.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-web';
import { noGrad, tensorFrom } from '../../src/autograd/index.ts';
import { referenceForward } from '../../src/check/vit-reference.ts';
import { type Gpu } from '../../src/gpu/gpu.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';
import { exportVitOnnx } from '../../src/interop/onnx.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../../src/interop/safetensors.ts';
import { preset, type VitConfig } from '../../src/nn/presets.ts';
import { Rng } from '../../src/nn/random.ts';
import { VisionTransformer, vitParamSpecs } from '../../src/nn/vit.ts';
import { cachedTeacherMaps, teacherCacheEntry } from '../../src/teacher/cache-node.ts';
import { checkTeacherSignature, loadTeacher, normalizeLikeEngine, type TeacherImages, teacherMaps } from '../../src/teacher/teacher.ts';
import { saveCheckpoint } from '../../src/train/checkpoint.ts';
import { AdamW } from '../../src/train/step.ts';
import { relative } from './helpers/compare.ts';

ort.env.wasm.numThreads = 1;

const C = preset('test');
const SEED = 11;
const B = 3;
const N = (C.imageSize / C.patch) ** 2 + 1;
const T = N - 1;
const G = C.imageSize / C.patch;
const D = C.dim;
const K = C.classes;
const TOLERANCE = 1e-4;
const dir = mkdtempSync(join(tmpdir(), 'labelflow-onnx-'));

let gpu: Gpu;
let model: VisionTransformer;
let weights: Map<string, Float32Array>;
let pixels: TeacherImages;
let images: Float32Array;
let engine: { logits: Float32Array; tokens: Float32Array };

/** Random uint8 images [count, C, S, S]. */
function randomImages(count: number, seed: number): TeacherImages {
  const rng = new Rng(seed);
  const bytes = new Uint8Array(count * C.channels * C.imageSize * C.imageSize);
  for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
  return { images: bytes, count, size: C.imageSize, channels: C.channels };
}

before(async () => {
  gpu = await openNodeGpu();
  model = new VisionTransformer(gpu, C, SEED);
  pixels = randomImages(B, 5);
  images = normalizeLikeEngine(pixels.images, C.channels, C.imageSize * C.imageSize);
  const out = noGrad(() => model.forward(tensorFrom(gpu, [B, C.channels, C.imageSize, C.imageSize], images, false, 'images')));
  engine = { logits: await out.logits.read(), tokens: await out.tokens.read() };
  gpu.endStep();
  weights = await model.params.read('values');
});
after(() => {
  assert.deepEqual(gpu.errors, []);
  gpu.device.destroy();
  rmSync(dir, { recursive: true, force: true });
});


async function runOnnx(bytes: Uint8Array, input: Float32Array, batch: number): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  try {
    const out = await session.run({ images: new ort.Tensor('float32', input, [batch, C.channels, C.imageSize, C.imageSize]) });
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await session.release();
  }
}

/** A Linear head [K, D] + [K] on tokens 1..T of `tokens` [B, N, D] → class-major [B, K, T], in float64. */
function headOnPatches(tokens: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(B * K * T);
  for (let i = 0; i < B; i++) {
    for (let k = 0; k < K; k++) {
      for (let t = 0; t < T; t++) {
        let z = b[k];
        for (let d = 0; d < D; d++) z += w[k * D + d] * tokens[(i * N + 1 + t) * D + d];
        out[(i * K + k) * T + t] = z;
      }
    }
  }
  return out;
}

test('classifier export: ONNX Runtime reproduces the engine\'s logits', async () => {
  const bytes = exportVitOnnx(C, weights, {});
  const out = await runOnnx(bytes, images, B);
  assert.deepEqual(Object.keys(out), ['logits']);
  const err = relative(out.logits, engine.logits);
  console.log(`logits vs engine: max relative error ${err.toExponential(2)}`);
  assert.ok(err < TOLERANCE, `logits differ from the engine by ${err}`);
});

test('--dense: dense_logits [B, K, G, G] = the head on every final patch token, token t = gy·G + gx', async () => {
  const bytes = exportVitOnnx(C, weights, { dense: true });
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  assert.deepEqual(session.outputMetadata.map((m) => m.isTensor && m.shape), [['batch', K], ['batch', K, G, G]]);
  assert.deepEqual(session.inputMetadata.map((m) => m.isTensor && [m.name, m.type, m.shape]), [['images', 'float32', ['batch', C.channels, C.imageSize, C.imageSize]]]);
  await session.release();
  const out = await runOnnx(bytes, images, B);
  const want = headOnPatches(engine.tokens, weights.get('head.weight')!, weights.get('head.bias')!);
  const err = relative(out.dense_logits, want);
  const logitsErr = relative(out.logits, engine.logits);
  console.log(`dense_logits vs engine tokens + CPU head: max relative error ${err.toExponential(2)} (logits ${logitsErr.toExponential(2)})`);
  assert.ok(err < TOLERANCE, `dense_logits differ by ${err}`);
  assert.ok(logitsErr < TOLERANCE);
});

test('aux_head: logits = head(CLS) + 0.5 · max over tokens of aux_head, dense uses aux_head (float64 CPU reference)', async () => {
  const rng = new Rng(3);
  const withAux = new Map(weights);
  withAux.set('aux_head.weight', rng.fill(K * D, () => rng.normal()));
  withAux.set('aux_head.bias', rng.fill(K, () => rng.normal()));
  withAux.set('mix_head.weight', rng.fill(K * D, () => rng.normal())); // ignored
  withAux.set('mix_head.bias', new Float32Array(K));
  const out = await runOnnx(exportVitOnnx(C, withAux, { dense: true }), images, B);

  const ref = referenceForward(C, new Map([...weights].map(([k, v]) => [k, Float64Array.from(v)])), images, B);
  const aux = headOnPatches(ref.tokens, withAux.get('aux_head.weight')!, withAux.get('aux_head.bias')!);
  const logits = new Float64Array(B * K);
  for (let i = 0; i < B; i++) {
    for (let k = 0; k < K; k++) {
      let max = -Infinity;
      for (let t = 0; t < T; t++) max = Math.max(max, aux[(i * K + k) * T + t]);
      logits[i * K + k] = ref.logits[i * K + k] + 0.5 * max;
    }
  }
  const err = relative(out.logits, logits);
  const denseErr = relative(out.dense_logits, aux);
  console.log(`aux_head logits vs float64 reference: ${err.toExponential(2)}; dense ${denseErr.toExponential(2)}`);
  assert.ok(err < TOLERANCE, `aux logits differ by ${err}`);
  assert.ok(denseErr < TOLERANCE, `aux dense differ by ${denseErr}`);
  // The max term matters: without it the logits are far off.
  assert.ok(relative(out.logits, ref.logits) > 0.1);
});

test('export errors name the missing or wrong-sized weight', () => {
  const without = new Map(weights);
  without.delete('blocks.1.mlp.fc2.weight');
  assert.throws(() => exportVitOnnx(C, without), /weight "blocks\.1\.mlp\.fc2\.weight" \[32, 64\] is missing/);
  const short = new Map(weights).set('pos_embed', new Float32Array(5));
  assert.throws(() => exportVitOnnx(C, short), /weight "pos_embed" has 5 values, expected \[1, 17, 32\] = 544/);
  const half = new Map(weights).set('aux_head.weight', new Float32Array(K * D));
  assert.throws(() => exportVitOnnx(C, half), /weight "aux_head\.bias" \[10\] is missing \(aux_head\.weight is there/);
  assert.throws(() => exportVitOnnx({ ...C, heads: 3 }, weights), /dim 32 does not split into 3 heads/);
});

/** An exported model of another config with its own initial weights. */
function exportOf(c: VitConfig, dense: boolean): Uint8Array {
  return exportVitOnnx(c, new Map(vitParamSpecs(c, 1).map((s) => [s.name, s.init()])), { dense });
}

test('teacher checks: classifier-only, other K, other grid, not ONNX, wrong signature', async () => {
  const student = C;
  await assert.rejects(loadTeacher(ort, exportVitOnnx(C, weights), { student, name: 'cls.onnx' }),
    /cls\.onnx: its output "logits" is \[batch, 10\], one score per class .*a teacher needs dense maps \[batch, K, G, G\].*--dense/);
  await assert.rejects(loadTeacher(ort, exportOf({ ...C, classes: 7 }, true), { student }), /teacher: it scores 7 classes .*the student has 10/);
  await assert.rejects(loadTeacher(ort, exportOf({ ...C, patch: 4 }, true), { student }),
    /its maps are on a 8×8 token grid .*the student's is 4×4 \(32-pixel images in 8-pixel patches\)/);
  await assert.rejects(loadTeacher(ort, exportOf({ ...C, imageSize: 16 }, true), { student }), /it takes 16×16 images .*the student 32×32/);
  await assert.rejects(loadTeacher(ort, new Uint8Array([1, 2, 3]), { name: 'junk.onnx' }), /junk\.onnx: ONNX Runtime cannot load it as a model/);

  const img = (type: string, shape: (number | string)[]) => ({ name: 'x', isTensor: true as const, type: type as 'float32', shape });
  const maps = { name: 'y', isTensor: true as const, type: 'float32' as const, shape: ['b', 10, 4, 4] };
  assert.throws(() => checkTeacherSignature([img('float32', ['b', 3, 32, 32]), img('float32', ['b', 3, 32, 32])], [maps]), /takes one input.*has 2/);
  assert.throws(() => checkTeacherSignature([img('uint8', ['b', 3, 32, 32])], [maps]), /input "x" is uint8; a teacher takes float32/);
  assert.throws(() => checkTeacherSignature([img('float32', ['b', 32, 32])], [maps]), /input "x" is \[batch, 32, 32\], not images/);
  assert.throws(() => checkTeacherSignature([img('float32', ['b', 3, 32, 32])], [maps, { ...maps, name: 'z' }]), /one output of dense maps.*has 2/);
  assert.throws(() => checkTeacherSignature([img('float32', ['b', 1, 32, 32])], [maps], student), /1-channel images.*the student 3-channel/);
  const ok = checkTeacherSignature([img('float32', ['b', 3, 32, 32])], [{ ...maps, shape: ['b', 10] }, maps], student);
  assert.deepEqual(ok, { input: 'x', output: 'y', batch: undefined, channels: 3, size: 32, classes: 10, grid: 4 });
});

test('teacherMaps: per-token softmax of the dense scores [count, T, K], rows sum to 1, in batches with progress', async () => {
  const bytes = exportVitOnnx(C, weights, { dense: true });
  const teacher = await loadTeacher(ort, bytes, { student: C });
  const set = randomImages(5, 9);
  const progress: [number, number][] = [];
  const maps = await teacherMaps(teacher, set, { batch: 2, onProgress: (done, total) => progress.push([done, total]) });
  await teacher.session.release();
  assert.deepEqual(progress, [[0, 5], [2, 5], [4, 5], [5, 5]]);
  assert.equal(maps.length, 5 * T * K);
  let worst = 0;
  for (let r = 0; r < 5 * T; r++) {
    let sum = 0;
    for (let k = 0; k < K; k++) {
      assert.ok(maps[r * K + k] > 0);
      sum += maps[r * K + k];
    }
    worst = Math.max(worst, Math.abs(sum - 1));
  }
  assert.ok(worst < 1e-5, `a row sums to 1 ± ${worst}`);

  // The same as the softmax of the model's dense_logits on engine-normalised images, token-major.
  const scores = (await runOnnx(bytes, normalizeLikeEngine(set.images, 3, C.imageSize ** 2), 5)).dense_logits;
  const want = new Float64Array(5 * T * K);
  for (let i = 0; i < 5; i++) {
    for (let t = 0; t < T; t++) {
      const row = Array.from({ length: K }, (_, k) => scores[(i * K + k) * T + t]);
      const max = Math.max(...row);
      const e = row.map((z) => Math.exp(z - max));
      const s = e.reduce((a, b) => a + b, 0);
      e.forEach((v, k) => (want[(i * T + t) * K + k] = v / s));
    }
  }
  assert.ok(relative(maps, want) < 1e-5);
});

test('normalizeLikeEngine: (p/255 − mean)/std per channel, rounded as the GPU does', () => {
  const bytes = Uint8Array.from({ length: 3 * 4 }, (_, i) => (i * 37) % 256);
  const got = normalizeLikeEngine(bytes, 3, 4);
  const mean = [0.4914, 0.4822, 0.4465];
  const std = [0.2470, 0.2435, 0.2616];
  for (let i = 0; i < bytes.length; i++) {
    const c = Math.floor(i / 4);
    assert.ok(Math.abs(got[i] - (bytes[i] / 255 - mean[c]) / std[c]) < 1e-6);
  }
});

test('cachedTeacherMaps: computed once per (teacher, images), then read from .cache-style files', async () => {
  const cache = join(dir, 'cache');
  const bytes = exportVitOnnx(C, weights, { dense: true });
  const set = randomImages(4, 21);
  const first = await cachedTeacherMaps(ort, bytes, set, { student: C, dir: cache, log: false, batch: 3 });
  assert.equal(first.cached, false);
  assert.equal(first.tokens, T);
  assert.equal(first.classes, K);
  assert.ok(existsSync(first.path) && first.path.startsWith(cache));
  const again = await cachedTeacherMaps(ort, bytes, set, { student: C, dir: cache, log: false });
  assert.equal(again.cached, true);
  assert.deepEqual(again.maps, first.maps);
  // Other images, or another teacher: another file.
  const other = randomImages(4, 22);
  assert.notEqual(teacherCacheEntry(bytes, other, cache).path, first.path);
  assert.notEqual(teacherCacheEntry(exportOf(C, true), set, cache).path, first.path);
  // A damaged file is recomputed.
  writeFileSync(first.path, new Uint8Array(10));
  const repaired = await cachedTeacherMaps(ort, bytes, set, { student: C, dir: cache, log: false });
  assert.equal(repaired.cached, false);
  assert.deepEqual(repaired.maps, first.maps);
  assert.deepEqual(readdirSync(cache).filter((f) => f.endsWith('.tmp')), []);
  // Cached maps that do not fit the student: the teacher is loaded to say why.
  await assert.rejects(cachedTeacherMaps(ort, bytes, set, { student: { ...C, classes: 7 }, dir: cache, log: false }), /scores 10 classes .*student has 7/);
});

function exportCli(args: string[]) {
  const r = spawnSync(process.execPath, ['scripts/node-ts.mjs', 'src/cli/export.ts', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('npm run export: a saveCheckpoint file → ONNX that reproduces the engine; clear errors', async () => {
  const ckpt = join(dir, 'model.safetensors');
  const onnxPath = join(dir, 'model.onnx');
  const meta = { config: { model: 'test', method: 'none', batch: 8 }, epoch: 1, step: 3, seed: SEED };
  writeFileSync(ckpt, await saveCheckpoint(model, new AdamW(model.params), meta));
  const r = exportCli(['--checkpoint', ckpt, '--onnx', onnxPath, '--dense']);
  assert.equal(r.code, 0, r.err + r.out);
  const parameters = [...weights.values()].reduce((n, w) => n + w.length, 0);
  assert.match(r.out, new RegExp(`parameters: ${parameters.toLocaleString('en-US')} in ${weights.size} tensors\\n`));
  assert.match(r.out, /outputs: logits \[batch, 10\], dense_logits \[batch, 10, 4, 4\]/);
  const written = readFileSync(onnxPath);
  assert.match(r.out, new RegExp(`wrote .*model\\.onnx: ${written.length.toLocaleString('en-US')} bytes`));
  const out = await runOnnx(new Uint8Array(written), images, B);
  assert.ok(relative(out.logits, engine.logits) < TOLERANCE);
  assert.ok(relative(out.dense_logits, headOnPatches(engine.tokens, weights.get('head.weight')!, weights.get('head.bias')!)) < TOLERANCE);

  // A trainer-made Token Labeling checkpoint: aux_head used, mix_head left out.
  const file = decodeSafetensors(new Uint8Array(readFileSync(ckpt)));
  const tensors: NamedTensor[] = [...file.tensors].map(([name, t]) => ({ name, ...t }) as NamedTensor);
  tensors.push({ name: 'aux_head.weight', dtype: 'F32', shape: [K, D], data: new Float32Array(K * D) },
    { name: 'aux_head.bias', dtype: 'F32', shape: [K], data: new Float32Array(K) },
    { name: 'mix_head.weight', dtype: 'F32', shape: [K, D], data: new Float32Array(K * D) });
  const tl = join(dir, 'tl.safetensors');
  writeFileSync(tl, encodeSafetensors(tensors, file.metadata));
  const rt = exportCli(['--checkpoint', tl, '--onnx', join(dir, 'tl.onnx')]);
  assert.equal(rt.code, 0, rt.err);
  assert.match(rt.out, /Token Labeling aux_head/);
  assert.match(rt.out, /left out: mix_head\.weight\)/);
  assert.match(rt.out, /outputs: logits \[batch, 10\]\n/);

  const missing = exportCli(['--checkpoint', join(dir, 'nope.safetensors'), '--onnx', onnxPath]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /nope\.safetensors: no such file/);
  const plain = join(dir, 'plain.safetensors');
  writeFileSync(plain, encodeSafetensors([{ name: 'x', dtype: 'F32', shape: [1], data: new Float32Array(1) }], { format: 'pt' }));
  const notOurs = exportCli(['--checkpoint', plain, '--onnx', onnxPath]);
  assert.equal(notOurs.code, 1);
  assert.match(notOurs.err, /plain\.safetensors is a safetensors file but not a labelflow checkpoint: .*no "labelflow\.config"/);
  const junk = join(dir, 'junk.safetensors');
  writeFileSync(junk, 'hello, this is not a checkpoint');
  const garbage = exportCli(['--checkpoint', junk, '--onnx', onnxPath]);
  assert.equal(garbage.code, 1);
  assert.match(garbage.err, /not a labelflow checkpoint: safetensors .*junk\.safetensors/);
  const noOut = exportCli(['--checkpoint', ckpt]);
  assert.equal(noOut.code, 2);
  assert.match(noOut.err, /--onnx OUT\.onnx is required/);
});
