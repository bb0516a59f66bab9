/**
 * A checkpoint describes its own model: a weights-only file is read here with a safetensors reader
 * written in this file (8-byte header size, JSON header, little-endian F32 data; not
 * src/interop/safetensors.ts), the ViT is built from its `timm_kwargs` and `architecture` metadata
 * alone, the way timm's VisionTransformer builds it (float64, on the CPU, written here too), and its
 * logits on a few images must match the engine's on the GPU to 1e-4, normwise relative
 * (max|a − b| / max|b|).
 * The model is no preset: 7 heads of 8 and an MLP of 115 for width 56, where 115 / 56 in float64
 * times 56 is 114.99999999999999, so timm's int(embed_dim · mlp_ratio) only gives 115 when the
 * ratio is written to the last bit (with the naive ratio the state dict's shapes would not
 * match). The same forward with the head count a preset would give must miss by far, or the
 * comparison could not tell heads apart.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { noGrad, tensorFrom } from '../../src/autograd/index.ts';
import { normalizeImages } from '../../src/data/dataset.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../../src/interop/safetensors.ts';
import { type Gpu } from '../../src/gpu/gpu.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';
import { type VitConfig } from '../../src/nn/presets.ts';
import { Rng } from '../../src/nn/random.ts';
import { headSpecs, VisionTransformer } from '../../src/nn/vit.ts';
import { exactMlpRatio, saveCheckpoint } from '../../src/train/checkpoint.ts';
import { AdamW } from '../../src/train/step.ts';
import { relative } from './helpers/compare.ts';

const CONFIG: VitConfig = { imageSize: 32, channels: 3, patch: 8, dim: 56, depth: 2, heads: 7, mlpDim: 115, classes: 10 };
const IMAGES = 4;
const SEED = 3;
const TOLERANCE = 1e-4;
/** timm's VisionTransformer defaults that the file may leave out (timm/models/vision_transformer.py, timm.layers.LayerNorm). */
const TIMM_DEFAULTS = { in_chans: 3, qkv_bias: true, class_token: true, global_pool: 'token', layer_norm_eps: 1e-6 };

let gpu: Gpu;
before(async () => { gpu = await openNodeGpu(); });
after(() => {
  assert.deepEqual(gpu.errors, []);
  gpu.device.destroy();
});

interface FileTensor { shape: number[]; data: Float64Array }

/** The safetensors format read from its specification: tensors as float64 and the string metadata. */
function readSafetensors(bytes: Uint8Array): { metadata: Record<string, string>; tensors: Map<string, FileTensor> } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerBytes = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerBytes))) as Record<string, unknown>;
  const start = 8 + headerBytes;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const tensors = new Map<string, FileTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: [begin, end] } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    assert.equal(dtype, 'F32', name);
    assert.equal(end - begin, 4 * shape.reduce((a, b) => a * b, 1), `${name}: bytes for its shape`);
    tensors.set(name, { shape, data: Float64Array.from({ length: (end - begin) / 4 }, (_, i) => view.getFloat32(start + begin + 4 * i, true)) });
  }
  return { metadata, tensors };
}

interface TimmKwargs {
  img_size: number; patch_size: number; in_chans?: number; num_classes: number; embed_dim: number; depth: number; num_heads: number;
  mlp_ratio: number; qkv_bias?: boolean; class_token?: boolean; global_pool?: string; norm_layer?: unknown;
}

/** The model timm builds from the keyword arguments: sizes, and the state dict it expects (names and shapes). */
function timmModel(kw: TimmKwargs, layerNormEps: number) {
  const inChans = kw.in_chans ?? TIMM_DEFAULTS.in_chans;
  assert.equal(kw.qkv_bias ?? TIMM_DEFAULTS.qkv_bias, true, 'qkv_bias');
  assert.equal(kw.class_token ?? TIMM_DEFAULTS.class_token, true, 'class_token');
  assert.equal(kw.global_pool ?? TIMM_DEFAULTS.global_pool, 'token', 'global_pool');
  assert.equal(kw.norm_layer, undefined, 'norm_layer: timm\'s default');
  assert.equal(layerNormEps, TIMM_DEFAULTS.layer_norm_eps, 'the architecture\'s ε is timm\'s default, as timm_kwargs leave norm_layer out');
  const D = kw.embed_dim;
  const grid = kw.img_size / kw.patch_size;
  const m = {
    S: kw.img_size, P: kw.patch_size, C: inChans, D, L: kw.depth, H: kw.num_heads, K: kw.num_classes,
    F: Math.trunc(D * kw.mlp_ratio), // timm's Block: hidden_features=int(dim * mlp_ratio)
    G: grid, N: grid * grid + 1, eps: layerNormEps,
  };
  const shapes = new Map<string, number[]>([
    ['cls_token', [1, 1, D]], ['pos_embed', [1, m.N, D]], ['patch_embed.proj.weight', [D, m.C, m.P, m.P]], ['patch_embed.proj.bias', [D]],
  ]);
  const linear = (name: string, out: number, inp: number) => { shapes.set(`${name}.weight`, [out, inp]); shapes.set(`${name}.bias`, [out]); };
  const norm = (name: string) => { shapes.set(`${name}.weight`, [D]); shapes.set(`${name}.bias`, [D]); };
  for (let i = 0; i < m.L; i++) {
    norm(`blocks.${i}.norm1`);
    linear(`blocks.${i}.attn.qkv`, 3 * D, D);
    linear(`blocks.${i}.attn.proj`, D, D);
    norm(`blocks.${i}.norm2`);
    linear(`blocks.${i}.mlp.fc1`, m.F, D);
    linear(`blocks.${i}.mlp.fc2`, D, m.F);
  }
  norm('norm');
  linear('head', m.K, D);
  return { ...m, shapes };
}

type Model = ReturnType<typeof timmModel>;

/** erf in float64: its Maclaurin series near 0, erfc's continued fraction beyond. */
function erf(z: number): number {
  const a = Math.abs(z);
  if (a < 3) {
    let term = a;
    let sum = a;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(z) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  let fraction = a;
  for (let n = 80; n >= 1; n--) fraction = a + n / 2 / fraction;
  return Math.sign(z) * (1 - Math.exp(-a * a) / (Math.sqrt(Math.PI) * fraction));
}

/** PyTorch's nn.GELU() (approximate='none'). */
const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));

/** timm's VisionTransformer.forward in float64: images [B, C, S, S] (normalised) → logits [B, K]. */
function timmForward(m: Model, w: Map<string, FileTensor>, images: Float64Array, batch: number): Float64Array {
  const { S, P, C, D, H, F, G, N, K } = m;
  const E = D / H;
  const get = (name: string) => w.get(name)!.data;
  const linear = (x: Float64Array, rows: number, name: string, out: number, inp: number) => {
    const W = get(`${name}.weight`);
    const b = get(`${name}.bias`);
    const y = new Float64Array(rows * out);
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < out; o++) {
        let s = b[o];
        for (let i = 0; i < inp; i++) s += x[r * inp + i] * W[o * inp + i];
        y[r * out + o] = s;
      }
    }
    return y;
  };
  const layerNorm = (x: Float64Array, rows: number, name: string) => {
    const gamma = get(`${name}.weight`);
    const beta = get(`${name}.bias`);
    const y = new Float64Array(x.length);
    for (let r = 0; r < rows; r++) {
      const row = x.subarray(r * D, (r + 1) * D);
      const mean = row.reduce((a, v) => a + v, 0) / D;
      const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / D; // biased, as F.layer_norm
      const inv = 1 / Math.sqrt(variance + m.eps);
      for (let d = 0; d < D; d++) y[r * D + d] = (row[d] - mean) * inv * gamma[d] + beta[d];
    }
    return y;
  };

  const logits = new Float64Array(batch * K);
  const convW = get('patch_embed.proj.weight');
  const convB = get('patch_embed.proj.bias');
  const cls = get('cls_token');
  const pos = get('pos_embed');
  for (let b = 0; b < batch; b++) {
    // patch_embed: Conv2d(kernel = stride = P), flatten(2).transpose(1, 2): token t = gy·G + gx; class token first; + pos_embed
    let x = new Float64Array(N * D);
    for (let d = 0; d < D; d++) x[d] = cls[d] + pos[d];
    for (let gy = 0; gy < G; gy++) {
      for (let gx = 0; gx < G; gx++) {
        const t = 1 + gy * G + gx;
        for (let d = 0; d < D; d++) {
          let s = convB[d];
          for (let c = 0; c < C; c++) {
            for (let i = 0; i < P; i++) {
              for (let j = 0; j < P; j++) s += convW[((d * C + c) * P + i) * P + j] * images[((b * C + c) * S + gy * P + i) * S + gx * P + j];
            }
          }
          x[t * D + d] = s + pos[t * D + d];
        }
      }
    }
    for (let l = 0; l < m.L; l++) {
      const blk = `blocks.${l}`;
      // Attention: qkv.reshape(N, 3, H, E); softmax(q·kᵀ · E^-½)·v; heads concatenated; proj
      const qkv = linear(layerNorm(x, N, `${blk}.norm1`), N, `${blk}.attn.qkv`, 3 * D, D);
      const mixed = new Float64Array(N * D);
      const scores = new Float64Array(N);
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < N; i++) {
          let max = -Infinity;
          for (let j = 0; j < N; j++) {
            let s = 0;
            for (let e = 0; e < E; e++) s += qkv[i * 3 * D + h * E + e] * qkv[j * 3 * D + D + h * E + e];
            scores[j] = s / Math.sqrt(E);
            max = Math.max(max, scores[j]);
          }
          let total = 0;
          for (let j = 0; j < N; j++) total += (scores[j] = Math.exp(scores[j] - max));
          for (let e = 0; e < E; e++) {
            let s = 0;
            for (let j = 0; j < N; j++) s += scores[j] * qkv[j * 3 * D + 2 * D + h * E + e];
            mixed[i * D + h * E + e] = s / total;
          }
        }
      }
      const attn = linear(mixed, N, `${blk}.attn.proj`, D, D);
      x = x.map((v, i) => v + attn[i]);
      const hidden = linear(layerNorm(x, N, `${blk}.norm2`), N, `${blk}.mlp.fc1`, F, D).map(gelu);
      const mlp = linear(hidden, N, `${blk}.mlp.fc2`, D, F);
      x = x.map((v, i) => v + mlp[i]);
    }
    // final norm, global_pool 'token': the class token, head
    const token = layerNorm(x, N, 'norm').subarray(0, D);
    logits.set(linear(token, 1, 'head', K, D), b * K);
  }
  return logits;
}


/** Weights far from the initialisation (norm gains and biases too), so that every part of the forward moves the logits. */
function spreadWeights(model: VisionTransformer, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const values = new Map<string, Float32Array>();
  for (const s of model.params.specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const fanIn = s.shape.length > 1 ? n / s.shape[0] : 1;
    let draw: () => number;
    if (/norm\d?\.weight$/.test(s.name)) draw = () => 1 + rng.uniform(-0.3, 0.3);
    else if (s.name.endsWith('.bias')) draw = () => rng.uniform(-0.2, 0.2);
    else if (s.name === 'cls_token' || s.name === 'pos_embed') draw = () => rng.uniform(-0.5, 0.5);
    else draw = () => rng.uniform(-1, 1) * Math.sqrt(3 / fanIn) * 1.5;
    values.set(s.name, rng.fill(n, draw));
  }
  return values;
}

/** CIFAR-sized uint8 images [count, C, S, S]: a colour gradient per image with a bright square and noise. */
function fixedImages(count: number, c: VitConfig): Uint8Array {
  const rng = new Rng(99);
  const S = c.imageSize;
  const out = new Uint8Array(count * c.channels * S * S);
  for (let b = 0; b < count; b++) {
    const square = { x: rng.int(S - 8), y: rng.int(S - 8) };
    for (let ch = 0; ch < c.channels; ch++) {
      const slope = rng.uniform(-4, 4);
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) {
          const inSquare = x >= square.x && x < square.x + 8 && y >= square.y && y < square.y + 8;
          const v = 128 + slope * (x - y) + (inSquare ? 90 : 0) + rng.uniform(-20, 20);
          out[((b * c.channels + ch) * S + y) * S + x] = Math.max(0, Math.min(255, Math.round(v)));
        }
      }
    }
  }
  return out;
}

test('a weights-only checkpoint rebuilds its model from its metadata alone: timm\'s forward in float64 gives the engine\'s logits', async () => {
  const model = new VisionTransformer(gpu, CONFIG, SEED);
  model.params.load(spreadWeights(model, SEED));
  const meta = { config: { note: 'no preset: the architecture is only in the metadata' }, epoch: 0, step: 0, seed: SEED };
  const bytes = await saveCheckpoint(model, new AdamW(model.params), meta, { weightsOnly: true });

  const file = readSafetensors(bytes);
  assert.equal(file.metadata.labelflow_format, '2');
  const architecture = JSON.parse(file.metadata.architecture) as Record<string, unknown> & { input: { layout: string; scale: number; mean: number[]; std: number[] } };
  const kwargs = JSON.parse(file.metadata.timm_kwargs) as TimmKwargs;
  console.log(`architecture: ${file.metadata.architecture}\ntimm_kwargs: ${file.metadata.timm_kwargs}`);
  assert.equal(115 / 56 * 56 < 115, true, 'the naive ratio would build a 114-wide MLP');

  const timm = timmModel(kwargs, architecture.layer_norm_eps as number);
  // The architecture's sizes and timm_kwargs say the same.
  assert.deepEqual(
    [architecture.image_size, architecture.patch_size, architecture.in_chans, architecture.embed_dim, architecture.depth, architecture.num_heads, architecture.mlp_dim, architecture.num_classes],
    [timm.S, timm.P, timm.C, timm.D, timm.L, timm.H, timm.F, timm.K]);
  assert.equal(timm.F, CONFIG.mlpDim, `int(${kwargs.embed_dim} · ${kwargs.mlp_ratio})`);
  assert.equal(architecture.act_layer, 'gelu_erf');
  assert.deepEqual(architecture.extra_heads, {});
  // load_state_dict(strict=True): the same names, each with timm's shape.
  assert.deepEqual(new Map([...file.tensors].map(([k, t]) => [k, t.shape])), timm.shapes);

  // The input as the metadata describes it, which must be what the engine's data pipeline feeds.
  const pixels = fixedImages(IMAGES, CONFIG);
  const plane = timm.S * timm.S;
  const { input } = architecture;
  assert.equal(input.layout, 'NCHW');
  const normalised = Float64Array.from(pixels, (p, i) => {
    const c = Math.floor(i / plane) % timm.C;
    return Math.fround((p * input.scale - input.mean[c]) / input.std[c]);
  });
  const pipeline = normalizeImages(pixels, plane);
  assert.ok(relative(pipeline, normalised) < 1e-6, `the engine's normalisation differs from the metadata's: ${relative(pipeline, normalised)}`);

  const out = noGrad(() => model.forward(tensorFrom(gpu, [IMAGES, CONFIG.channels, CONFIG.imageSize, CONFIG.imageSize], Float32Array.from(normalised), false, 'images')));
  const engine = await out.logits.read();
  gpu.endStep();
  const reference = timmForward(timm, file.tensors, normalised, IMAGES);
  const spread = Math.max(...reference) - Math.min(...reference);
  const err = relative(engine, reference);
  console.log(`engine vs timm-from-metadata (float64), ${IMAGES} images: logits max relative error ${err.toExponential(2)} (≤ ${TOLERANCE}); logit range ${spread.toFixed(2)}`);
  assert.ok(spread > 1, `the logits hardly vary (${spread}); the comparison would say little`);
  assert.ok(err <= TOLERANCE, `logits differ by ${err}`);

  // The comparison tells head counts apart: the same weights read as 4 heads (a preset's) miss by far.
  const miss = relative(engine, timmForward({ ...timm, H: 4 }, file.tensors, normalised, IMAGES));
  console.log(`read as 4 heads of 14: max relative error ${miss.toExponential(2)}`);
  assert.ok(miss > 100 * TOLERANCE, `4 heads give ${miss}, too close to tell`);
});

test('a full checkpoint carries the same description; a method\'s extra head is named with what it does', async () => {
  const model = new VisionTransformer(gpu, CONFIG, SEED);
  const meta = { config: {}, epoch: 0, step: 0, seed: SEED };
  const weightsOnly = readSafetensors(await saveCheckpoint(model, new AdamW(model.params), meta, { weightsOnly: true })).metadata;
  const full = readSafetensors(await saveCheckpoint(model, new AdamW(model.params), meta)).metadata;
  for (const key of ['labelflow_format', 'architecture', 'timm_kwargs']) assert.equal(full[key], weightsOnly[key], key);

  const tokenLabeling = new VisionTransformer(gpu, CONFIG, SEED, headSpecs('aux_head', CONFIG.classes, CONFIG.dim, 1));
  const file = readSafetensors(await saveCheckpoint(tokenLabeling, new AdamW(tokenLabeling.params), meta, { weightsOnly: true }));
  const extra = (JSON.parse(file.metadata.architecture) as { extra_heads: Record<string, string> }).extra_heads;
  assert.deepEqual(Object.keys(extra), ['aux_head']);
  assert.match(extra.aux_head, /head\(CLS\) \+ 0\.5 · max over the patch tokens of aux_head/);
  assert.ok(file.tensors.has('aux_head.weight'));
  assert.equal(file.metadata.timm_kwargs, weightsOnly.timm_kwargs, 'the ViT itself is the same');
});

test('exactMlpRatio: timm\'s int(dim · ratio) gives the MLP width for every width up to 512 and MLP up to 4×', () => {
  let nudged = 0;
  for (let dim = 1; dim <= 512; dim++) {
    for (let mlp = 1; mlp <= 4 * dim; mlp++) {
      const ratio = exactMlpRatio(mlp, dim);
      if (Math.trunc(dim * ratio) !== mlp) assert.fail(`${mlp}/${dim}: ratio ${ratio} gives ${Math.trunc(dim * ratio)}`);
      assert.equal(Number(JSON.stringify(ratio)), ratio, 'survives JSON');
      if (ratio !== mlp / dim) nudged++;
    }
  }
  console.log(`${nudged} of the width pairs needed the ratio one ulp up`);
  assert.ok(nudged > 0);
  assert.equal(exactMlpRatio(128, 64), 2);
});

test('npm run export builds the model its checkpoint names: from the architecture alone, or from the config of a format-1 file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'labelflow-architecture-'));
  try {
    const model = new VisionTransformer(gpu, CONFIG, SEED);
    const bytes = await saveCheckpoint(model, new AdamW(model.params), { config: { note: 'names no model' }, epoch: 0, step: 0, seed: SEED }, { weightsOnly: true });
    const exportOf = (name: string, file: Uint8Array) => {
      const path = join(dir, name);
      writeFileSync(path, file);
      return spawnSync(process.execPath, ['scripts/node-ts.mjs', 'src/cli/export.ts', '--checkpoint', path, '--onnx', join(dir, 'out.onnx')], { encoding: 'utf8', timeout: 120_000 });
    };
    const described = exportOf('described.safetensors', bytes);
    assert.equal(described.status, 0, described.stderr);
    assert.match(described.stdout, /model: ViT 32×32×3, patch 8, dim 56, depth 2, heads 7, MLP 115, 10 classes/);

    const decoded = decodeSafetensors(bytes);
    const tensors = [...decoded.tensors].map(([name, t]) => ({ name, ...t }) as NamedTensor);
    const formatOne = (config: object) => encodeSafetensors(tensors, {
      ...Object.fromEntries(Object.entries(decoded.metadata).filter(([k]) => !['labelflow_format', 'architecture', 'timm_kwargs'].includes(k))),
      'labelflow.config': JSON.stringify(config),
    });
    const undescribed = exportOf('format1-no-model.safetensors', formatOne({ note: 'names no model' }));
    assert.equal(undescribed.status, 1);
    assert.match(undescribed.stderr, /"labelflow\.config" names no model/);
    const fromConfig = exportOf('format1.safetensors', formatOne({ model: CONFIG }));
    assert.equal(fromConfig.status, 0, fromConfig.stderr);
    assert.match(fromConfig.stdout, /heads 7, MLP 115/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
