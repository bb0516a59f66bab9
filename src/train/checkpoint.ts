/**
 * Checkpoints: a ViT (and its AdamW state) as one safetensors file that timm loads as it is.
 *
 * Every parameter is an F32 tensor under its timm name and shape (`cls_token` [1,1,D],
 * `patch_embed.proj.weight` [D,3,P,P], `blocks.0.attn.qkv.weight` [3D,D], ...), so
 *
 *   model = timm.create_model('vit_tiny_patch16_224', img_size=32, patch_size=P, embed_dim=D, depth=L,
 *                             num_heads=H, mlp_ratio=F/D, num_classes=K)
 *   model.load_state_dict({k: v for k, v in load_file(path).items() if not k.startswith('optimizer.')})
 *
 * works. AdamW's moments ride along as `optimizer.exp_avg.<name>` and `optimizer.exp_avg_sq.<name>`
 * (same shapes), so a run resumes bit-exactly. __metadata__ (strings only) holds
 *   format           "pt", the safetensors convention for torch tensors
 *   optimizer.step   AdamW's step counter (only with the moments)
 *   labelflow.KEY    JSON of each field of the caller's meta: config, epoch, step, seed and any other
 */
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../interop/safetensors.ts';
import { type AdamW } from '../nn/adamw.ts';
import { type ArenaBuffer } from '../nn/parameters.ts';
import { type VisionTransformer } from '../nn/vit.ts';

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
  const metadata: Record<string, string> = { format: 'pt' };
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
 * state complete or absent, and no tensor the model does not know; errors name the first offender
 * and the config the checkpoint was made for. Returns the meta it was saved with.
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
