/**
 * `npm run export -- --checkpoint <file.safetensors> --onnx <out.onnx> [--dense]`
 * Writes a labelflow checkpoint's ViT as an ONNX model (src/interop/onnx.ts): input `images`
 * [batch, C, S, S] normalised as the engine's batches are, output `logits` [batch, K], and with
 * --dense also `dense_logits` [batch, K, G, G] (what a Token Labeling teacher needs). The model
 * is the one the checkpoint's `architecture` metadata names (or, in a file written before it
 * had one, its `labelflow.config`); a Token Labeling `aux_head` is used
 * when the checkpoint has one, other extra tensors (optimizer state, mix_head) are left out.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { decodeSafetensors } from '../interop/safetensors.ts';
import { exportVitOnnx, planVitOnnx } from '../interop/onnx.ts';
import { type VitConfig } from '../nn/presets.ts';
import { vitParamSpecs } from '../nn/vit.ts';
import { ARCHITECTURE_KEY, checkpointArchitecture } from '../train/checkpoint.ts';
import { vitConfigOf } from '../train/trainer.ts';
import { parseArgsOrExit } from './args.ts';

const COMMAND = 'npm run export --';
const args = parseArgsOrExit(COMMAND, process.argv.slice(2), {
  checkpoint: { type: 'string', value: 'FILE', help: 'a .safetensors checkpoint written by npm run train --checkpoint (or the page)' },
  onnx: { type: 'string', value: 'OUT.onnx', help: 'where to write the ONNX model' },
  dense: { type: 'boolean', help: 'also output dense_logits [batch, K, G, G], the classifier on every patch token (for a teacher)' },
});

const fail = (message: string, code = 1): never => {
  console.error(`export: ${message}`);
  process.exit(code);
};

if (!args.checkpoint) fail(`--checkpoint FILE.safetensors is required (see ${COMMAND} --help)`, 2);
if (!args.onnx) fail(`--onnx OUT.onnx is required (see ${COMMAND} --help)`, 2);
const path = args.checkpoint!;
const out = args.onnx!;
if (!existsSync(path)) fail(`${path}: no such file`);
if (statSync(path).isDirectory()) fail(`${path} is a folder, not a checkpoint file`);

function orFail<T>(action: () => T, context = ''): T {
  try {
    return action();
  } catch (e) {
    return fail(`${context}${(e as Error).message}`);
  }
}

const file = orFail(() => decodeSafetensors(new Uint8Array(readFileSync(path)), path), 'not a labelflow checkpoint: ');
const described = orFail(() => checkpointArchitecture(file.metadata, path));
const configText = file.metadata['labelflow.config'];
if (!described && configText === undefined) {
  fail(`${path} is a safetensors file but not a labelflow checkpoint: its __metadata__ has no "labelflow.config" and no "${ARCHITECTURE_KEY}"`);
}

/** The ViT a checkpoint's config describes: a training config ({model: preset name, modelOverrides}) or a VitConfig itself. */
function modelOf(config: unknown): VitConfig {
  if (config === null || typeof config !== 'object') throw new Error(`"labelflow.config" is ${JSON.stringify(config)}, not an object`);
  const c = config as Record<string, unknown>;
  if (typeof c.model === 'string') return vitConfigOf({ model: c.model, modelOverrides: c.modelOverrides as Partial<VitConfig> | undefined });
  const direct = (c.model !== null && typeof c.model === 'object' ? c.model : c) as Record<string, unknown>;
  const keys = ['imageSize', 'channels', 'patch', 'dim', 'depth', 'heads', 'mlpDim', 'classes'] as const;
  if (keys.every((k) => typeof direct[k] === 'number')) return Object.fromEntries(keys.map((k) => [k, direct[k]])) as unknown as VitConfig;
  throw new Error(`"labelflow.config" names no model (no preset "model" and no ${keys.join('/')})`);
}

// The architecture a format-2 file names; a format-1 file's model comes from its training config.
const config = described?.config ?? orFail(() => modelOf(JSON.parse(configText!)), `${path}: `);
const weights = new Map<string, Float32Array>();
for (const [name, t] of file.tensors) {
  if (name.startsWith('optimizer.')) continue;
  if (t.dtype === 'F32') weights.set(name, t.data);
}
const needed = [...vitParamSpecs(config, 0).map((s) => s.name), ...(file.tensors.has('aux_head.weight') ? ['aux_head.weight', 'aux_head.bias'] : [])];
for (const name of needed) {
  const t = file.tensors.get(name);
  if (t && t.dtype !== 'F32') fail(`${path}: tensor "${name}" is ${t.dtype}, expected F32`);
}
const plan = orFail(() => planVitOnnx(config, weights, { dense: args.dense }), `${path}: `);
for (const [name, expected] of plan.shapes) {
  const t = file.tensors.get(name)!;
  if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
    fail(`${path}: tensor "${name}" has shape [${t.shape}], the model ${JSON.stringify(config)} expects [${expected}]`);
  }
}
const bytes = orFail(() => exportVitOnnx(config, weights, { dense: args.dense, metadata: { 'labelflow.checkpoint': path } }), `${path}: `);
orFail(() => writeFileSync(out, bytes), `cannot write ${out}: `);

const shape = (s: (number | string)[]) => `[${s.join(', ')}]`;
const c = config;
console.log(`model: ViT ${c.imageSize}×${c.imageSize}×${c.channels}, patch ${c.patch}, dim ${c.dim}, depth ${c.depth}, heads ${c.heads}, MLP ${c.mlpDim}, ${c.classes} classes` +
  (plan.auxHead ? ', Token Labeling aux_head (logits = head(CLS) + 0.5 · max over tokens of aux_head)' : ''));
console.log(`parameters: ${plan.parameters.toLocaleString('en-US')} in ${plan.used.length} tensors` +
  (plan.ignored.length ? ` (left out: ${plan.ignored.join(', ')})` : ''));
console.log(`input: ${plan.input.name} ${shape(plan.input.shape)} float32, normalised (pixel/255 − mean) / std per channel`);
console.log(`outputs: ${plan.outputs.map((o) => `${o.name} ${shape(o.shape)}`).join(', ')}`);
console.log(`wrote ${out}: ${bytes.length.toLocaleString('en-US')} bytes (ONNX IR 8, opset 17)`);
