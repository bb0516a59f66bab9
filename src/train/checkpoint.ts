/**
 * Checkpoints: a ViT (and its AdamW state) as one safetensors file that timm loads as it is.
 *
 * Every parameter is an F32 tensor under its timm name and shape (`cls_token` [1,1,D],
 * `patch_embed.proj.weight` [D,3,P,P], `blocks.0.attn.qkv.weight` [3D,D], ...), and the file
 * says which model it holds, so
 *
 *   with safe_open(path, 'pt') as f: meta = f.metadata()
 *   model = timm.models.vision_transformer.VisionTransformer(**json.loads(meta['timm_kwargs']))
 *   model.load_state_dict({k: v for k, v in load_file(path).items() if k in model.state_dict()})
 *
 * rebuilds it. AdamW's moments ride along as `optimizer.exp_avg.<name>` and
 * `optimizer.exp_avg_sq.<name>` (same shapes), so a run resumes bit-exactly. __metadata__ (strings only):
 *   format            "pt", the safetensors convention for torch tensors
 *   labelflow_format  "2": this layout with the two keys below (files without it are format 1 and still load)
 *   architecture      JSON of CheckpointArchitecture: the ViT's sizes and everything else its forward depends on
 *   timm_kwargs       JSON of timm VisionTransformer's keyword arguments that build the same model
 *   optimizer.step    AdamW's step counter (only with the moments)
 *   labelflow.KEY     JSON of each field of the caller's meta: config, epoch, step, seed and any other
 */
import { LAYERNORM_EPS } from '../autograd/ops/layernorm.ts';
import { CIFAR10_MEAN, CIFAR10_STD } from '../data/dataset.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../interop/safetensors.ts';
import { type AdamW } from '../nn/adamw.ts';
import { type ArenaBuffer } from '../nn/parameters.ts';
import { type VitConfig } from '../nn/presets.ts';
import { type VisionTransformer, vitParamSpecs } from '../nn/vit.ts';

export interface CheckpointMeta {
  /** The model/training configuration the checkpoint was made with (any JSON object). */
  config: object;
  epoch: number;
  step: number;
  seed: number;
  [key: string]: unknown;
}

export interface SaveOptions {
  /** Leave AdamW's moments and step out: a smaller file for inference or export. */
  weightsOnly?: boolean;
}

/**
 * What a checkpoint's ViT computes, written into its metadata as `architecture`. Names follow
 * timm where timm has one. The forward: patch conv (kernel = stride = patch_size, with bias) →
 * [class token; patches] + pos_embed (one learned row per token, class token included) → depth
 * pre-norm blocks (x += proj(attention(qkv(LN1(x)))), heads of embed_dim / num_heads with scale
 * head_dim^-0.5; x += fc2(GELU(fc1(LN2(x))))) → LayerNorm → head on the class token.
 */
export interface CheckpointArchitecture {
  image_size: number;
  patch_size: number;
  in_chans: number;
  embed_dim: number;
  depth: number;
  num_heads: number;
  mlp_dim: number;
  num_classes: number;
  qkv_bias: true;
  class_token: true;
  /** Learned, [1, 1 + (image_size / patch_size)², embed_dim], added after the class token is prepended. */
  pos_embed: 'learn';
  /** The classifier reads the class token. */
  global_pool: 'token';
  /** Every LayerNorm's ε (block norms and the final norm). */
  layer_norm_eps: number;
  /** GELU in its exact form x·Φ(x), Φ by erf (PyTorch's nn.GELU default, timm's). */
  act_layer: 'gelu_erf';
  /** How images become the input: (pixel · scale − mean[c]) / std[c], channels first. */
  input: { layout: 'NCHW'; scale: number; mean: number[]; std: number[] };
  /**
   * Tensors of the file that timm's VisionTransformer has no place for: heads a training method
   * added (Token Labeling's aux_head, DiversePatch's mix_head), with what they do at inference.
   */
  extra_heads: Record<string, string>;
}

/** Keyword arguments of timm.models.vision_transformer.VisionTransformer; the rest keep timm's defaults. */
export interface TimmKwargs {
  img_size: number;
  patch_size: number;
  in_chans: number;
  num_classes: number;
  embed_dim: number;
  depth: number;
  num_heads: number;
  /** timm makes the MLP int(embed_dim · mlp_ratio) wide; this ratio gives exactly mlp_dim in float64. */
  mlp_ratio: number;
  qkv_bias: true;
  class_token: true;
  global_pool: 'token';
}

/** The __metadata__ keys a checkpoint describes itself with. */
export const FORMAT_KEY = 'labelflow_format';
export const ARCHITECTURE_KEY = 'architecture';
export const TIMM_KWARGS_KEY = 'timm_kwargs';
/** Format 1: no FORMAT_KEY, no architecture (still read). Format 2: FORMAT_KEY, ARCHITECTURE_KEY and TIMM_KWARGS_KEY. */
export const CHECKPOINT_FORMAT = 2;
/** timm's LayerNorm default (timm.layers.LayerNorm, and partial(nn.LayerNorm, eps=1e-6) before it): no norm_layer argument needed. */
const TIMM_LAYERNORM_EPS = 1e-6;
/** What each head a method adds does once trained. */
const EXTRA_HEADS: Record<string, string> = {
  aux_head: 'Token Labeling: logits = head(CLS) + 0.5 · max over the patch tokens of aux_head(final normed token), per class',
  mix_head: 'DiversePatch: a training-only head on region means; not used at inference',
};

const EXP_AVG_PREFIX = 'optimizer.exp_avg.';
const EXP_AVG_SQ_PREFIX = 'optimizer.exp_avg_sq.';
const OPTIMIZER_PREFIX = 'optimizer.';
const OPTIMIZER_STEP_KEY = 'optimizer.step';
const META_PREFIX = 'labelflow.';
const REQUIRED_META = ['config', 'epoch', 'step', 'seed'] as const;

/** The model's parameters (and, unless weightsOnly, AdamW's moments and step) with `meta`, as safetensors bytes. */
export async function saveCheckpoint(model: VisionTransformer, optimizer: AdamW, meta: CheckpointMeta, options: SaveOptions = {}): Promise<Uint8Array> {
  if (optimizer.params !== model.params) throw new Error('saveCheckpoint: the optimizer does not belong to this model');
  const params = model.params;
  const tensors: NamedTensor[] = [];
  const add = (prefix: string, arrays: Map<string, Float32Array>) => {
    for (const s of params.specs) tensors.push({ name: prefix + s.name, dtype: 'F32', shape: s.shape, data: arrays.get(s.name)! });
  };
  const metadata: Record<string, string> = { format: 'pt', ...architectureMetadata(model) };
  add('', await params.read('values'));
  if (!options.weightsOnly) {
    add(EXP_AVG_PREFIX, await params.read('expAvg'));
    add(EXP_AVG_SQ_PREFIX, await params.read('expAvgSq'));
    metadata[OPTIMIZER_STEP_KEY] = String(optimizer.step);
  }
  for (const [key, value] of Object.entries(meta)) {
    const json = JSON.stringify(value);
    if (json === undefined) throw new Error(`saveCheckpoint: meta "${key}" (${typeof value}) cannot be written as JSON`);
    metadata[META_PREFIX + key] = json;
  }
  return encodeSafetensors(tensors, metadata);
}

/**
 * Restores the model's parameters from `bytes`, and the optimizer's moments and step when it is
 * given and the file has them (a weights-only file resets the optimizer instead). Everything is
 * checked before anything is written: every parameter present as F32 with its shape, the optimizer
 * state complete or absent, no tensor the model does not know, and (format 2) the architecture
 * the file names equal to the model's; errors name the first offender and the config the
 * checkpoint was made for. Format-1 files (no architecture) load on their shapes alone. Returns
 * the meta it was saved with.
 */
export function loadCheckpoint(bytes: Uint8Array, model: VisionTransformer, optimizer?: AdamW, name = 'checkpoint'): CheckpointMeta {
  if (optimizer && optimizer.params !== model.params) throw new Error('loadCheckpoint: the optimizer does not belong to this model');
  const file = decodeSafetensors(bytes, name);
  const meta = parseMeta(file.metadata, name);
  const misfit = (what: string) =>
    new Error(`checkpoint ${name} does not fit this model: ${what} (the checkpoint was made for config ${JSON.stringify(meta.config)})`);
  const specs = model.params.specs;

  const take = (key: string, shape: number[]): Float32Array => {
    const t = file.tensors.get(key);
    if (!t) throw misfit(`"${key}" is missing`);
    if (t.dtype !== 'F32') throw misfit(`"${key}" is ${t.dtype}, expected F32`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw misfit(`"${key}" has shape [${t.shape}] in the checkpoint, the model expects [${shape}]`);
    }
    return t.data;
  };
  const takeAll = (prefix: string) => new Map(specs.map((s) => [s.name, take(prefix + s.name, s.shape)]));

  const values = takeAll('');
  const known = new Set(specs.flatMap((s) => [s.name, EXP_AVG_PREFIX + s.name, EXP_AVG_SQ_PREFIX + s.name]));
  const unknown = [...file.tensors.keys()].find((k) => !known.has(k));
  if (unknown !== undefined) throw misfit(`tensor "${unknown}" is not a parameter of this model`);
  // The shapes match; the head count (and anything else a shape cannot show) is checked here.
  const described = checkpointArchitecture(file.metadata, name)?.config;
  if (described) {
    const differing = (Object.keys(described) as (keyof VitConfig)[]).filter((k) => described[k] !== model.config[k]);
    if (differing.length) throw misfit(differing.map((k) => `${k} ${described[k]} in the checkpoint's architecture, ${model.config[k]} in the model`).join(', '));
  }

  let optimizerState: { step: number; moments: [ArenaBuffer, Map<string, Float32Array>][] } | undefined;
  const hasOptimizerState = Object.hasOwn(file.metadata, OPTIMIZER_STEP_KEY) || [...file.tensors.keys()].some((k) => k.startsWith(OPTIMIZER_PREFIX));
  if (hasOptimizerState) {
    const stepText = file.metadata[OPTIMIZER_STEP_KEY];
    if (stepText === undefined) throw misfit(`optimizer moments without "${OPTIMIZER_STEP_KEY}" in __metadata__`);
    if (!/^\d+$/.test(stepText) || !Number.isSafeInteger(Number(stepText))) throw misfit(`"${OPTIMIZER_STEP_KEY}" is "${stepText}", not a step count`);
    optimizerState = { step: Number(stepText), moments: [['expAvg', takeAll(EXP_AVG_PREFIX)], ['expAvgSq', takeAll(EXP_AVG_SQ_PREFIX)]] };
  }

  model.params.load(values);
  if (optimizer && optimizerState) {
    for (const [buffer, arrays] of optimizerState.moments) model.params.load(arrays, buffer);
    optimizer.step = optimizerState.step;
  } else if (optimizer) {
    model.params.resetOptimizer();
    optimizer.step = 0;
  }
  return meta;
}

/** `labelflow_format`, `architecture` and `timm_kwargs`: the __metadata__ entries that describe `model`. */
export function architectureMetadata(model: VisionTransformer): Record<string, string> {
  const own = new Set(vitParamSpecs(model.config, 0).map((s) => s.name));
  const heads = [...new Set(model.params.specs.filter((s) => !own.has(s.name)).map((s) => s.name.slice(0, s.name.lastIndexOf('.'))))];
  const extraHeads = Object.fromEntries(heads.map((h) => [h, EXTRA_HEADS[h] ?? 'a head added by the training method']));
  return {
    [FORMAT_KEY]: String(CHECKPOINT_FORMAT),
    [ARCHITECTURE_KEY]: JSON.stringify(architectureOf(model.config, extraHeads)),
    [TIMM_KWARGS_KEY]: JSON.stringify(timmKwargsOf(model.config)),
  };
}

export function architectureOf(c: VitConfig, extraHeads: Record<string, string> = {}): CheckpointArchitecture {
  return {
    image_size: c.imageSize, patch_size: c.patch, in_chans: c.channels, embed_dim: c.dim, depth: c.depth, num_heads: c.heads,
    mlp_dim: c.mlpDim, num_classes: c.classes,
    qkv_bias: true, class_token: true, pos_embed: 'learn', global_pool: 'token', layer_norm_eps: LAYERNORM_EPS, act_layer: 'gelu_erf',
    input: { layout: 'NCHW', scale: 1 / 255, mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] },
    extra_heads: extraHeads,
  };
}

export function timmKwargsOf(c: VitConfig): TimmKwargs {
  if (LAYERNORM_EPS !== TIMM_LAYERNORM_EPS) throw new Error(`timmKwargsOf: LayerNorm ε ${LAYERNORM_EPS} is not timm's default; pass norm_layer`);
  return {
    img_size: c.imageSize, patch_size: c.patch, in_chans: c.channels, num_classes: c.classes, embed_dim: c.dim, depth: c.depth,
    num_heads: c.heads, mlp_ratio: exactMlpRatio(c.mlpDim, c.dim), qkv_bias: true, class_token: true, global_pool: 'token',
  };
}

/**
 * The smallest float64 r with trunc(dim · r) = mlpDim, as timm sizes its MLP (int(dim * mlp_ratio)).
 * mlpDim / dim alone can land one ulp low (7 · (61 / 7) = 60.99999999999999).
 */
export function exactMlpRatio(mlpDim: number, dim: number): number {
  let ratio = mlpDim / dim;
  const bits = new Float64Array(1);
  const word = new BigInt64Array(bits.buffer);
  while (Math.trunc(dim * ratio) < mlpDim) {
    bits[0] = ratio;
    word[0] += 1n; // the next double up (ratio > 0)
    ratio = bits[0];
  }
  if (Math.trunc(dim * ratio) !== mlpDim) throw new Error(`exactMlpRatio: no float64 ratio gives ${mlpDim} from ${dim}`);
  return ratio;
}

/**
 * The model a checkpoint's metadata describes, when it has the format-2 keys; undefined for a
 * format-1 file. Errors name the file and what is wrong.
 */
export function checkpointArchitecture(metadata: Record<string, string>, name = 'checkpoint'): { config: VitConfig; architecture: CheckpointArchitecture } | undefined {
  const format = metadata[FORMAT_KEY];
  if (format === undefined) return undefined;
  if (!/^\d+$/.test(format)) throw new Error(`checkpoint ${name}: "${FORMAT_KEY}" is "${format}", not a format number`);
  if (Number(format) > CHECKPOINT_FORMAT) {
    throw new Error(`checkpoint ${name} has format ${format}, newer than this labelflow reads (up to ${CHECKPOINT_FORMAT}): update labelflow`);
  }
  const text = metadata[ARCHITECTURE_KEY];
  if (text === undefined) throw new Error(`checkpoint ${name}: format ${format} but no "${ARCHITECTURE_KEY}" in __metadata__`);
  let architecture: CheckpointArchitecture;
  try {
    architecture = JSON.parse(text) as CheckpointArchitecture;
  } catch {
    throw new Error(`checkpoint ${name}: __metadata__ "${ARCHITECTURE_KEY}" is not JSON: ${text.slice(0, 80)}`);
  }
  const sizes = ['image_size', 'patch_size', 'in_chans', 'embed_dim', 'depth', 'num_heads', 'mlp_dim', 'num_classes'] as const;
  for (const key of sizes) {
    const v = (architecture as unknown as Record<string, unknown>)?.[key];
    if (!Number.isInteger(v) || (v as number) <= 0) throw new Error(`checkpoint ${name}: "${ARCHITECTURE_KEY}" ${key} is ${JSON.stringify(v)}, not a positive integer`);
  }
  const a = architecture;
  return {
    architecture,
    config: { imageSize: a.image_size, channels: a.in_chans, patch: a.patch_size, dim: a.embed_dim, depth: a.depth, heads: a.num_heads, mlpDim: a.mlp_dim, classes: a.num_classes },
  };
}

/** The `labelflow.*` entries of __metadata__, each parsed from JSON; config, epoch, step and seed are required. */
function parseMeta(metadata: Record<string, string>, name: string): CheckpointMeta {
  const fields = Object.fromEntries(Object.entries(metadata)
    .filter(([key]) => key.startsWith(META_PREFIX))
    .map(([key, text]) => {
      try {
        return [key.slice(META_PREFIX.length), JSON.parse(text) as unknown];
      } catch {
        throw new Error(`checkpoint ${name}: __metadata__ "${key}" is not JSON: ${text.slice(0, 80)}`);
      }
    })) as Record<string, unknown>;
  for (const key of REQUIRED_META) {
    if (!Object.hasOwn(fields, key)) throw new Error(`checkpoint ${name}: no "${META_PREFIX}${key}" in __metadata__, so not a labelflow checkpoint`);
  }
  if (fields.config === null || typeof fields.config !== 'object') throw new Error(`checkpoint ${name}: "${META_PREFIX}config" is not a JSON object`);
  for (const key of ['epoch', 'step', 'seed'] as const) {
    if (typeof fields[key] !== 'number') throw new Error(`checkpoint ${name}: "${META_PREFIX}${key}" is ${JSON.stringify(fields[key])}, not a number`);
  }
  return fields as CheckpointMeta;
}
