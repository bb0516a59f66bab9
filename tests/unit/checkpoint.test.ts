/**
 * Checkpoints are safetensors files that timm can load and that resume training bit-exactly.
 * The format is checked three ways: a round trip through our own encoder and decoder, a reader
 * written here from the specification (8-byte size, JSON header, contiguous offsets), and, where
 * python3 is on PATH, a stdlib-only Python reader. Corrupt files and checkpoints of another model
 * must each fail with their own error, naming the file and the offending tensor.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Gpu } from '../../src/gpu/gpu.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../../src/interop/safetensors.ts';
import { type ArenaBuffer } from '../../src/nn/parameters.ts';
import { PRESETS, type VitConfig } from '../../src/nn/presets.ts';
import { VisionTransformer } from '../../src/nn/vit.ts';
import { type CheckpointMeta, loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.ts';
import { syntheticBatch } from '../../src/train/fixed-run.ts';
import { AdamW, Trainer } from '../../src/train/step.ts';

const BATCH = 8;
const TRAIN_STEPS = 3;
const LR = 1e-3;
const SEED = 7;
const META: CheckpointMeta = {
  config: { preset: 'test', model: PRESETS.test, batch: BATCH, lr: LR },
  epoch: 1,
  step: TRAIN_STEPS,
  seed: SEED,
  note: 'written by checkpoint.test.ts',
};
const ARENA_BUFFERS: ArenaBuffer[] = ['values', 'expAvg', 'expAvgSq'];

let gpu: Gpu;
before(async () => { gpu = await openNodeGpu(); });
after(() => {
  assert.deepEqual(gpu.errors, []);
  gpu.device.destroy();
});

/** A `test` ViT with AdamW, trained TRAIN_STEPS steps on a synthetic batch (so its moments are not zero). */
async function trainedModel(seed: number) {
  const model = new VisionTransformer(gpu, PRESETS.test, seed);
  const optimizer = new AdamW(model.params, { maxGradNorm: 1 });
  const trainer = new Trainer(model, optimizer);
  const batch = syntheticBatch(gpu, PRESETS.test, seed, BATCH);
  for (let s = 0; s < TRAIN_STEPS; s++) await trainer.step(batch.images, batch.targets, LR);
  return { model, optimizer, trainer, batch };
}

/** timm's VisionTransformer state dict for this config (class token, no register tokens, token pooling), written from timm's layout. */
function timmShapes(c: VitConfig): Map<string, number[]> {
  const D = c.dim;
  const shapes = new Map<string, number[]>([
    ['cls_token', [1, 1, D]],
    ['pos_embed', [1, (c.imageSize / c.patch) ** 2 + 1, D]],
    ['patch_embed.proj.weight', [D, c.channels, c.patch, c.patch]],
    ['patch_embed.proj.bias', [D]],
  ]);
  const linear = (name: string, out: number, inp: number) => { shapes.set(`${name}.weight`, [out, inp]); shapes.set(`${name}.bias`, [out]); };
  const norm = (name: string) => { shapes.set(`${name}.weight`, [D]); shapes.set(`${name}.bias`, [D]); };
  for (let i = 0; i < c.depth; i++) {
    norm(`blocks.${i}.norm1`);
    linear(`blocks.${i}.attn.qkv`, 3 * D, D);
    linear(`blocks.${i}.attn.proj`, D, D);
    norm(`blocks.${i}.norm2`);
    linear(`blocks.${i}.mlp.fc1`, c.mlpDim, D);
    linear(`blocks.${i}.mlp.fc2`, D, c.mlpDim);
  }
  norm('norm');
  linear('head', c.classes, D);
  return shapes;
}

/** Index of the first element whose bits differ, or -1. */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.findIndex((v, i) => v !== y[i]);
}

function assertSameArrays(got: Map<string, Float32Array>, want: Map<string, Float32Array>, what: string): void {
  assert.deepEqual([...got.keys()], [...want.keys()]);
  for (const [name, w] of want) {
    const i = firstBitDifference(got.get(name)!, w);
    assert.equal(i, -1, `${what} ${name}[${i}]: ${got.get(name)![i]} vs ${w[i]}`);
  }
}

/** A safetensors file from a header string and a byte buffer, written here without the encoder. */
function rawFile(header: string | Uint8Array, buffer: Uint8Array): Uint8Array {
  const json = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + json.length + buffer.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(buffer, 8 + json.length);
  return out;
}

/** Decodes a file of F32 tensors and encodes it again, with `edit` applied to its tensors and the given metadata. */
function reencoded(bytes: Uint8Array, edit: (tensors: NamedTensor[]) => NamedTensor[], metadata?: Record<string, string>): Uint8Array {
  const tensors = [...decodeSafetensors(bytes).tensors].map(([name, t]): NamedTensor => {
    assert.equal(t.dtype, 'F32');
    return { name, dtype: 'F32', shape: t.shape, data: t.data as Float32Array };
  });
  return encodeSafetensors(edit(tensors), metadata);
}

test('encode → decode is bit-exact for every writable dtype, keeps metadata, and orders tensors as the reference does', () => {
  const floatBits = [0x7fc00001, 0x80000000, 0x7f800000, 0x00000001, 0x3f800000, 0xc0490fdb]; // NaN payload, -0, ∞, subnormal, 1, -π
  const tensors: NamedTensor[] = [
    { name: 'weights', dtype: 'F32', shape: [2, 3], data: new Float32Array(new Uint32Array(floatBits).buffer) },
    { name: 'mask', dtype: 'U8', shape: [5], data: new Uint8Array([0, 1, 255, 7, 128]) },
    { name: 'labels', dtype: 'I32', shape: [2, 2], data: new Int32Array([-1, 0, 2 ** 31 - 1, -(2 ** 31)]) },
    { name: 'ids', dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]) },
    { name: 'empty', dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
    { name: 'scalar', dtype: 'F32', shape: [], data: new Float32Array([3.5]) },
    { name: '10', dtype: 'U8', shape: [1], data: new Uint8Array([42]) }, // integer-like: JS objects would list it first
  ];
  const metadata = { format: 'pt', text: 'ünïcödé ✓ "quoted"', json: '{"a":[1,2]}' };
  const file = decodeSafetensors(encodeSafetensors(tensors, metadata), 'round-trip.safetensors');

  assert.deepEqual(file.metadata, metadata);
  // Descending element size, then name: I64; F32 and I32 together; U8.
  assert.deepEqual([...file.tensors.keys()], ['ids', 'empty', 'labels', 'scalar', 'weights', '10', 'mask']);
  for (const t of tensors) {
    const got = file.tensors.get(t.name)!;
    assert.equal(got.dtype, t.dtype, t.name);
    assert.deepEqual(got.shape, t.shape, t.name);
    assert.equal(got.data.constructor, t.data.constructor, t.name);
    const bytesOf = (a: NamedTensor['data']) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    assert.deepEqual(bytesOf(got.data), bytesOf(t.data), `${t.name} bytes`);
  }
  assert.equal(new Uint32Array((file.tensors.get('weights')!.data as Float32Array).buffer)[0], 0x7fc00001, 'NaN payload kept');
  assert.deepEqual(decodeSafetensors(encodeSafetensors([])).metadata, {}, 'no metadata, no tensors');

  assert.throws(() => encodeSafetensors([{ name: 'x', dtype: 'F32', shape: [3], data: new Float32Array(2) }]), /shape \[3\] holds 3 elements, data has 2/);
  assert.throws(() => encodeSafetensors([{ name: 'x', dtype: 'F32', shape: [1], data: new Int32Array(1) as unknown as Float32Array }]), /F32 data must be a Float32Array/);
  assert.throws(() => encodeSafetensors([tensors[1], tensors[1]]), /"mask": name given twice/);
});

test('decoding copies tensors out: F32 data at an odd offset in the file, and a file at an odd offset in memory', () => {
  const values = new Float32Array([1.25, -7.5e-39, 3e38]);
  const buffer = new Uint8Array(3 + values.byteLength);
  buffer.set([9, 8, 7]);
  buffer.set(new Uint8Array(values.buffer), 3);
  // An unpadded 95-byte header (valid: padding is optional), so nothing lines up.
  const header = '{"u":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"f":{"dtype":"F32","shape":[3],"data_offsets":[3,15]}}';
  const file = rawFile(header, buffer);
  const shifted = new Uint8Array(file.length + 1);
  shifted.set(file, 1);
  for (const bytes of [file, shifted.subarray(1)]) {
    const decoded = decodeSafetensors(bytes, 'unaligned.safetensors');
    assert.deepEqual(decoded.tensors.get('f')!.data, values);
    assert.deepEqual(decoded.tensors.get('u')!.data, new Uint8Array([9, 8, 7]));
  }
});

test('each kind of corruption gets its own error, naming the file', () => {
  const NAME = 'corrupt.safetensors';
  const entry = (dtype: string, shape: unknown, offsets: unknown) => `{"dtype":"${dtype}","shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(offsets)}}`;
  const twelve = new Uint8Array(12);
  const valid = rawFile(`{"a":${entry('F32', [2], [0, 8])},"b":${entry('U8', [4], [8, 12])}}`, twelve);
  assert.equal(decodeSafetensors(valid, NAME).tensors.size, 2);

  const withHeaderSize = (size: bigint) => {
    const copy = valid.slice();
    new DataView(copy.buffer).setBigUint64(0, size, true);
    return copy;
  };
  const notUtf8 = new TextEncoder().encode(`{"a":${entry('F32', [2], [0, 8])},"b":${entry('U8', [4], [8, 12])}}`);
  notUtf8[2] = 0xff; // inside the name "a"
  const appended = new Uint8Array(valid.length + 4);
  appended.set(valid);

  const cases: [string, Uint8Array, RegExp][] = [
    ['shorter than the size field', valid.slice(0, 5), /truncated: 5 bytes, too short for the 8-byte header size/],
    ['header size past the end', withHeaderSize(10_000n), /header size 10000 bytes runs past the end of the file \(\d+ bytes\)/],
    ['empty header', withHeaderSize(0n), /the header is empty/],
    ['header not UTF-8', rawFile(notUtf8, twelve), /not valid UTF-8/],
    ['header not starting with {', rawFile(` {"a":${entry('F32', [2], [0, 8])}}`, new Uint8Array(8)), /does not start with "\{" \(first byte 0x20\)/],
    ['bad JSON', rawFile(`{"a":${entry('F32', [2], [0, 8])}`, new Uint8Array(8)), /not valid JSON/],
    ['metadata not strings', rawFile(`{"__metadata__":{"epoch":3},"a":${entry('F32', [2], [0, 8])}}`, new Uint8Array(8)), /"__metadata__" value of "epoch" is 3, not a string/],
    ['entry not an object', rawFile('{"a":[0,8]}', new Uint8Array(8)), /tensor "a": entry \[0,8\] is not an object/],
    ['unknown field', rawFile('{"a":{"dtype":"F32","shape":[2],"offsets":[0,8]}}', new Uint8Array(8)), /tensor "a": unknown field "offsets"/],
    ['unknown dtype', rawFile(`{"a":${entry('F33', [2], [0, 8])}}`, new Uint8Array(8)), /tensor "a": unknown dtype "F33"/],
    ['negative dimension', rawFile(`{"a":${entry('F32', [-2], [0, 8])}}`, new Uint8Array(8)), /tensor "a": shape \[-2\] is not a list of non-negative integers/],
    ['offsets reversed', rawFile(`{"a":${entry('F32', [2], [8, 0])}}`, new Uint8Array(8)), /tensor "a": data_offsets \[8,0\] is not \[begin, end\]/],
    ['shape × dtype ≠ bytes', rawFile(`{"a":${entry('F32', [3], [0, 8])}}`, new Uint8Array(8)), /tensor "a": F32 \[3\] takes 12 bytes, but data_offsets \[0, 8\] hold 8/],
    ['data truncated', valid.slice(0, valid.length - 2), /tensor "b": data_offsets \[8, 12\] run past the end of the byte buffer \(10 bytes\): the file is truncated/],
    ['overlap', rawFile(`{"a":${entry('F32', [2], [0, 8])},"b":${entry('U8', [4], [4, 8])}}`, new Uint8Array(8)), /tensor "b" data_offsets \[4, 8\] overlap tensor "a", which ends at 8/],
    ['hole', rawFile(`{"a":${entry('F32', [2], [0, 8])},"b":${entry('U8', [4], [9, 13])}}`, new Uint8Array(13)), /hole in the byte buffer: bytes 8\.\.9 belong to no tensor \(next: "b"\)/],
    ['bytes after the last tensor', appended, /4 bytes at the end of the byte buffer belong to no tensor/],
  ];
  const messages = new Set<string>();
  for (const [what, bytes, expected] of cases) {
    assert.throws(() => decodeSafetensors(bytes, NAME), (e: Error) => {
      assert.ok(e.message.startsWith(`safetensors ${NAME}: `), `${what}: ${e.message}`);
      assert.match(e.message, expected, what);
      messages.add(e.message);
      return true;
    }, what);
  }
  assert.equal(messages.size, cases.length, 'every corruption has its own message');
});

test('a checkpoint holds timm names and shapes, AdamW state and metadata, readable from the bytes alone (and by python3)', async (t) => {
  const { model, optimizer } = await trainedModel(SEED);
  const bytes = await saveCheckpoint(model, optimizer, META);
  const values = await model.params.read('values');
  const expAvgSq = await model.params.read('expAvgSq');

  // The bytes, read here by the specification.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerBytes = Number(view.getBigUint64(0, true));
  assert.equal(headerBytes % 8, 0, 'header padded to a multiple of 8');
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + headerBytes));
  assert.match(text, /^\{.*\} *$/s, 'starts with {, padded with spaces only');
  const header = JSON.parse(text) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> & { __metadata__: Record<string, string> };
  const { __metadata__: metadata, ...entries } = header;
  assert.equal(metadata.format, 'pt');
  assert.equal(metadata['optimizer.step'], String(TRAIN_STEPS));
  assert.deepEqual(JSON.parse(metadata['labelflow.config']), META.config);
  assert.equal(metadata['labelflow.epoch'], '1');
  assert.equal(metadata['labelflow.seed'], String(SEED));

  const timm = timmShapes(PRESETS.test);
  const expected = new Map<string, number[]>();
  for (const prefix of ['', 'optimizer.exp_avg.', 'optimizer.exp_avg_sq.']) for (const [k, s] of timm) expected.set(prefix + k, s);
  assert.deepEqual(new Map(Object.entries(entries).map(([k, e]) => [k, e.shape])), expected);
  assert.ok(Object.values(entries).every((e) => e.dtype === 'F32'));

  const bufferStart = 8 + headerBytes;
  const spans = Object.values(entries).map((e) => e.data_offsets).sort((a, b) => a[0] - b[0]);
  let end = 0;
  for (const [b, e] of spans) {
    assert.equal(b, end, 'contiguous');
    assert.equal((bufferStart + b) % 4, 0, 'F32 data aligned in the file');
    end = e;
  }
  assert.equal(end, bytes.length - bufferStart, 'the tensors cover the buffer');
  const floatsAt = (name: string) => {
    const [b, e] = entries[name].data_offsets;
    return Float32Array.from({ length: (e - b) / 4 }, (_, i) => view.getFloat32(bufferStart + b + 4 * i, true));
  };
  assert.equal(firstBitDifference(floatsAt('pos_embed'), values.get('pos_embed')!), -1);
  assert.equal(firstBitDifference(floatsAt('optimizer.exp_avg_sq.head.weight'), expAvgSq.get('head.weight')!), -1);

  const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
  const noPython = python.error || python.status !== 0 ? `python3 is not on PATH (${python.error?.message ?? python.stderr.trim()})` : undefined;
  if (noPython) console.log(`skipping the python3 reader: ${noPython}`);
  await t.test('python3 with struct and json only reads the same', { skip: noPython }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'labelflow-checkpoint-'));
    try {
      const path = join(dir, 'test.safetensors');
      writeFileSync(path, bytes);
      const script = String.raw`
import json, struct, sys
path, names = sys.argv[1], sys.argv[2:]
data = open(path, 'rb').read()
(n,) = struct.unpack('<Q', data[:8])
header = json.loads(data[8:8 + n].decode('utf-8'))
metadata = header.pop('__metadata__')
start = 8 + n
spans = sorted(tuple(e['data_offsets']) for e in header.values())
contiguous = spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:])) and spans[-1][1] == len(data) - start
def floats(name):
    b, e = header[name]['data_offsets']
    return list(struct.unpack('<%df' % ((e - b) // 4), data[start + b:start + e]))
print(json.dumps({'header_bytes': n, 'metadata': metadata, 'contiguous': contiguous,
                  'shapes': {k: e['shape'] for k, e in header.items()}, 'values': {k: floats(k) for k in names}}))
`;
      const names = ['pos_embed', 'blocks.1.mlp.fc2.weight', 'optimizer.exp_avg_sq.head.weight'];
      const run = spawnSync('python3', ['-c', script, path, ...names], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      const seen = JSON.parse(run.stdout) as { header_bytes: number; metadata: Record<string, string>; contiguous: boolean; shapes: Record<string, number[]>; values: Record<string, number[]> };
      assert.equal(seen.header_bytes, headerBytes);
      assert.equal(seen.contiguous, true);
      assert.deepEqual(seen.metadata, metadata);
      assert.deepEqual(new Map(Object.entries(seen.shapes)), expected);
      assert.deepEqual(seen.values['pos_embed'], [...values.get('pos_embed')!]);
      assert.deepEqual(seen.values['blocks.1.mlp.fc2.weight'], [...values.get('blocks.1.mlp.fc2.weight')!]);
      assert.deepEqual(seen.values['optimizer.exp_avg_sq.head.weight'], [...expAvgSq.get('head.weight')!]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('saved after training and loaded into a fresh model and optimizer, training resumes bit-exactly', async () => {
  const a = await trainedModel(SEED);
  const bytes = await saveCheckpoint(a.model, a.optimizer, META);

  const model = new VisionTransformer(gpu, PRESETS.test, SEED + 1);
  const optimizer = new AdamW(model.params, { maxGradNorm: 1 });
  assert.notEqual(firstBitDifference((await model.params.read()).get('head.weight')!, (await a.model.params.read()).get('head.weight')!), -1, 'fresh model differs before loading');
  assert.deepEqual(loadCheckpoint(bytes, model, optimizer, 'resume.safetensors'), META);
  assert.equal(optimizer.step, TRAIN_STEPS);
  for (const which of ARENA_BUFFERS) assertSameArrays(await model.params.read(which), await a.model.params.read(which), `after loading, ${which}`);
  assert.ok((await model.params.read('expAvg')).get('head.weight')!.some((v) => v !== 0), 'moments were trained');

  const next = await a.trainer.step(a.batch.images, a.batch.targets, LR);
  const resumed = await new Trainer(model, optimizer).step(a.batch.images, a.batch.targets, LR);
  assert.ok(Object.is(resumed!.loss, next!.loss), `loss ${resumed!.loss} vs ${next!.loss}`);
  assert.ok(Object.is(resumed!.accuracy, next!.accuracy));
  assert.equal(optimizer.step, a.optimizer.step);
  for (const which of ARENA_BUFFERS) assertSameArrays(await model.params.read(which), await a.model.params.read(which), `after the next step, ${which}`);
});

test('a weights-only checkpoint has no optimizer state; loading it resets the optimizer', async () => {
  const a = await trainedModel(SEED);
  const full = await saveCheckpoint(a.model, a.optimizer, META);
  const weightsOnly = await saveCheckpoint(a.model, a.optimizer, META, { weightsOnly: true });
  const file = decodeSafetensors(weightsOnly);
  assert.equal([...file.tensors.keys()].filter((k) => k.startsWith('optimizer.')).length, 0);
  assert.equal(file.metadata['optimizer.step'], undefined);
  assert.equal(file.tensors.size, timmShapes(PRESETS.test).size);
  assert.ok(weightsOnly.length < full.length / 2.5, `${weightsOnly.length} vs ${full.length} bytes`);

  const b = await trainedModel(SEED + 1); // moments and step to be reset
  assert.deepEqual(loadCheckpoint(weightsOnly, b.model, b.optimizer, 'weights.safetensors'), META);
  assert.equal(b.optimizer.step, 0);
  assertSameArrays(await b.model.params.read(), await a.model.params.read(), 'values');
  for (const which of ['expAvg', 'expAvgSq'] as const) assert.ok([...(await b.model.params.read(which)).values()].every((m) => m.every((v) => v === 0)), `${which} reset`);

  const model = new VisionTransformer(gpu, PRESETS.test, SEED + 2);
  loadCheckpoint(full, model); // no optimizer given: values only
  assertSameArrays(await model.params.read(), await a.model.params.read(), 'values without optimizer');
});

test('a checkpoint of another model, or with a tensor missing, extra or of another dtype, is refused before anything is loaded', async () => {
  const peer = new VisionTransformer(gpu, PRESETS.peer, 1);
  const peerBytes = await saveCheckpoint(peer, new AdamW(peer.params), { config: { preset: 'peer', model: PRESETS.peer }, epoch: 0, step: 0, seed: 1 });
  const { model, optimizer } = await trainedModel(SEED);
  const own = await saveCheckpoint(model, optimizer, META);
  const ownMetadata = decodeSafetensors(own).metadata;
  const before = await model.params.read();

  const cases: [string, Uint8Array, RegExp][] = [
    ['peer preset', peerBytes, /"patch_embed\.proj\.weight" has shape \[64,3,4,4\] in the checkpoint, the model expects \[32,3,8,8\].*config \{"preset":"peer"/],
    ['missing parameter', reencoded(own, (ts) => ts.filter((x) => x.name !== 'head.bias'), ownMetadata), /"head\.bias" is missing/],
    ['extra tensor', reencoded(own, (ts) => [...ts, { name: 'blocks.2.norm1.weight', dtype: 'F32', shape: [32], data: new Float32Array(32) }], ownMetadata),
      /tensor "blocks\.2\.norm1\.weight" is not a parameter of this model/],
    ['partial optimizer state', reencoded(own, (ts) => ts.filter((x) => x.name !== 'optimizer.exp_avg_sq.norm.weight'), ownMetadata), /"optimizer\.exp_avg_sq\.norm\.weight" is missing/],
    ['another dtype', reencoded(own, (ts) => ts.map((x) => (x.name === 'cls_token' ? { name: x.name, dtype: 'I32', shape: x.shape, data: new Int32Array(32) } : x)), ownMetadata),
      /"cls_token" is I32, expected F32/],
    ['no labelflow metadata', reencoded(own, (ts) => ts, { format: 'pt' }), /no "labelflow\.config" in __metadata__, so not a labelflow checkpoint/],
  ];
  for (const [what, bytes, expected] of cases) {
    assert.throws(() => loadCheckpoint(bytes, model, optimizer, 'other.safetensors'), (e: Error) => {
      assert.match(e.message, /^(checkpoint|safetensors) other\.safetensors/, what);
      assert.match(e.message, expected, what);
      return true;
    }, what);
  }
  assertSameArrays(await model.params.read(), before, 'values after refused loads');
  assert.equal(optimizer.step, TRAIN_STEPS);
});

test('format 2 names its architecture: a checkpoint of another head count is refused, a newer format too, and a format-1 file (no architecture) still loads', async () => {
  const { model, optimizer } = await trainedModel(SEED);
  const own = await saveCheckpoint(model, optimizer, META);
  const ownMetadata = decodeSafetensors(own).metadata;
  assert.equal(ownMetadata.labelflow_format, '2');
  assert.equal(JSON.parse(ownMetadata.architecture).num_heads, PRESETS.test.heads);

  // Same shapes, other heads: only the architecture can tell.
  const fourHeads = { ...PRESETS.test, heads: 4 };
  const other = new VisionTransformer(gpu, fourHeads, SEED);
  const otherBytes = await saveCheckpoint(other, new AdamW(other.params), { ...META, config: { model: fourHeads } });
  const before = await model.params.read();
  assert.throws(() => loadCheckpoint(otherBytes, model, optimizer, 'heads.safetensors'),
    /checkpoint heads\.safetensors does not fit this model: heads 4 in the checkpoint's architecture, 2 in the model/);
  const newer = reencoded(own, (ts) => ts, { ...ownMetadata, labelflow_format: '3' });
  assert.throws(() => loadCheckpoint(newer, model, optimizer, 'newer.safetensors'), /newer\.safetensors has format 3, newer than this labelflow reads \(up to 2\)/);
  assertSameArrays(await model.params.read(), before, 'values after refused loads');

  const formatOne = Object.fromEntries(Object.entries(ownMetadata).filter(([k]) => !['labelflow_format', 'architecture', 'timm_kwargs'].includes(k)));
  const fresh = new VisionTransformer(gpu, PRESETS.test, SEED + 3);
  const freshOptimizer = new AdamW(fresh.params, { maxGradNorm: 1 });
  assert.deepEqual(loadCheckpoint(reencoded(own, (ts) => ts, formatOne), fresh, freshOptimizer, 'format1.safetensors'), META);
  assertSameArrays(await fresh.params.read(), before, 'format-1 values');
  assert.equal(freshOptimizer.step, TRAIN_STEPS);
});
