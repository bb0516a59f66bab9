/**
 * The engine's ViT (src/nn/vit.ts) as an ONNX model (ModelProto, IR version 8, opset 17), written
 * with our own protobuf writer. Browser-safe: no Node imports.
 *
 *   input   images        float32 [batch, C, S, S], already normalised as the engine's batches are:
 *                         (pixel/255 − CIFAR10_MEAN[c]) / CIFAR10_STD[c], CHW (recorded in the
 *                         model's metadata_props as labelflow.normalization)
 *   output  logits        float32 [batch, K]
 *   output  dense_logits  float32 [batch, K, G, G] (with `dense`): the classifier applied to every
 *                         final (post-norm) patch token, G = S/P, token t = gy·G + gx
 *
 * The graph, standard opset-17 operators only:
 *   patch stem   Conv(kernel = stride = P) → Reshape [B, D, T] → Transpose [B, T, D]
 *   tokens       Concat(Expand(cls_token), patches) + pos_embed
 *   per block    LayerNormalization(ε = LAYERNORM_EPS); qkv MatMul/Add → Reshape [B, N, 3, H, E] →
 *                Transpose [3, B, H, N, E] → Gather q, k, v; Softmax(q·kᵀ · 1/√E) · v → Transpose/Reshape
 *                [B, N, D]; proj; residual; LayerNormalization; fc1; GELU as 0.5·x·(1 + Erf(x/√2)); fc2; residual
 *   head         final LayerNormalization; Gather token 0; MatMul/Add
 * Initializers carry timm's names and shapes (Linear weights [out, in], transposed in the graph,
 * which runtimes fold at load), so the file maps one to one onto a checkpoint.
 *
 * Token Labeling: when the weights include `aux_head.weight` [K, D] and `aux_head.bias` [K], the
 * classifier is LV-ViT's inference rule, logits = head(CLS) + 0.5 · max over patch tokens of
 * aux_head(token) (per class, ReduceMax), and dense_logits use aux_head. Other extra weights
 * (mix_head.*, optimizer state) are ignored.
 */
import { LAYERNORM_EPS } from '../autograd/ops/layernorm.ts';
import { CIFAR10_MEAN, CIFAR10_STD } from '../data/dataset.ts';
import { tokensOf, type VitConfig } from '../nn/presets.ts';
import { vitParamSpecs } from '../nn/vit.ts';
import { ProtoWriter } from './protobuf.ts';

export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 17;
export const ONNX_PRODUCER = 'labelflow';
export const ONNX_INPUT = 'images';
export const ONNX_LOGITS = 'logits';
export const ONNX_DENSE_LOGITS = 'dense_logits';
/** The symbolic batch dimension of the input and outputs. */
export const ONNX_BATCH_DIM = 'batch';
/** The weight of the Token Labeling head's max-pooled scores in the exported classifier (LV-ViT). */
export const AUX_HEAD_WEIGHT = 0.5;

export interface OnnxExportOptions {
  /** Add the per-token output dense_logits [batch, K, G, G]. */
  dense?: boolean;
  /** The graph's name (default "labelflow_vit"). */
  name?: string;
  /** Extra metadata_props entries (strings). */
  metadata?: Record<string, string>;
}

export interface OnnxOutput {
  name: string;
  shape: (number | string)[];
}

/** What an export holds, without writing it: which weights it uses and ignores, and its outputs. */
export interface OnnxExportPlan {
  /** Weights written as initializers, in graph order. */
  used: string[];
  /** The shape each used weight has in the model (timm's). */
  shapes: Map<string, number[]>;
  /** Weights given but not part of the exported model. */
  ignored: string[];
  /** Number of values in the used weights. */
  parameters: number;
  auxHead: boolean;
  input: OnnxOutput;
  outputs: OnnxOutput[];
}

const AUX_WEIGHT = 'aux_head.weight';
const AUX_BIAS = 'aux_head.bias';

// ONNX enums (onnx.proto).
const FLOAT = 1;
const INT64 = 7;
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_INTS = 7;

type Attr = { float: number } | { int: number } | { ints: number[] };
const int = (v: number): Attr => ({ int: v });
const ints = (v: number[]): Attr => ({ ints: v });
const float = (v: number): Attr => ({ float: v });

const shapeText = (s: readonly (number | string)[]) => `[${s.join(', ')}]`;

function checkConfig(c: VitConfig): void {
  for (const k of ['imageSize', 'channels', 'patch', 'dim', 'depth', 'heads', 'mlpDim', 'classes'] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) throw new Error(`exportVitOnnx: config ${k} must be a positive integer, got ${JSON.stringify(c[k])}`);
  }
  if (c.imageSize % c.patch !== 0) throw new Error(`exportVitOnnx: image side ${c.imageSize} is not a multiple of patch ${c.patch}`);
  if (c.dim % c.heads !== 0) throw new Error(`exportVitOnnx: dim ${c.dim} does not split into ${c.heads} heads`);
}

/** Checks the weights against the config and says what an export of them would hold. */
export function planVitOnnx(config: VitConfig, weights: ReadonlyMap<string, Float32Array>, o: OnnxExportOptions = {}): OnnxExportPlan {
  checkConfig(config);
  const expected = vitParamSpecs(config, 0).map((s) => ({ name: s.name, shape: s.shape }));
  const hasAux = weights.has(AUX_WEIGHT) || weights.has(AUX_BIAS);
  if (hasAux) expected.push({ name: AUX_WEIGHT, shape: [config.classes, config.dim] }, { name: AUX_BIAS, shape: [config.classes] });
  const config_ = `(config ${JSON.stringify(config)})`;
  let parameters = 0;
  for (const { name, shape } of expected) {
    const w = weights.get(name);
    const n = shape.reduce((a, b) => a * b, 1);
    if (!w) {
      const pair = name === AUX_WEIGHT ? ` (${AUX_BIAS} is there; the Token Labeling head needs both)` : name === AUX_BIAS ? ` (${AUX_WEIGHT} is there; the Token Labeling head needs both)` : '';
      throw new Error(`exportVitOnnx: weight "${name}" ${shapeText(shape)} is missing${pair} ${config_}`);
    }
    if (!(w instanceof Float32Array)) throw new Error(`exportVitOnnx: weight "${name}" must be a Float32Array`);
    if (w.length !== n) throw new Error(`exportVitOnnx: weight "${name}" has ${w.length} values, expected ${shapeText(shape)} = ${n} ${config_}`);
    parameters += n;
  }
  const usedSet = new Set(expected.map((e) => e.name));
  const G = config.imageSize / config.patch;
  const outputs: OnnxOutput[] = [{ name: ONNX_LOGITS, shape: [ONNX_BATCH_DIM, config.classes] }];
  if (o.dense) outputs.push({ name: ONNX_DENSE_LOGITS, shape: [ONNX_BATCH_DIM, config.classes, G, G] });
  return {
    used: expected.map((e) => e.name),
    shapes: new Map(expected.map((e) => [e.name, e.shape])),
    ignored: [...weights.keys()].filter((k) => !usedSet.has(k)),
    parameters,
    auxHead: hasAux,
    input: { name: ONNX_INPUT, shape: [ONNX_BATCH_DIM, config.channels, config.imageSize, config.imageSize] },
    outputs,
  };
}

/** The names and shapes of the model's parameters, in the order the graph uses them. */
function shapesOf(config: VitConfig, auxHead: boolean): Map<string, number[]> {
  const m = new Map(vitParamSpecs(config, 0).map((s) => [s.name, s.shape]));
  if (auxHead) {
    m.set(AUX_WEIGHT, [config.classes, config.dim]);
    m.set(AUX_BIAS, [config.classes]);
  }
  return m;
}

/** Builds a GraphProto: nodes in topological order (the order they are added), initializers, inputs, outputs. */
class GraphBuilder {
  private readonly nodes: Uint8Array[] = [];
  private readonly initializers: Uint8Array[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  /** A fresh value name based on `hint`. */
  private fresh(hint: string): string {
    let name = hint;
    while (this.names.has(name)) name = `${hint}_${++this.counter}`;
    this.names.add(name);
    return name;
  }

  /** Adds a node; returns its output names (`outputs` gives their hints or exact names). */
  nodeN(op: string, inputs: string[], outputs: string[], attrs: Record<string, Attr> = {}): string[] {
    const outs = outputs.map((o) => this.fresh(o));
    const n = new ProtoWriter();
    for (const i of inputs) n.string(1, i);
    for (const o of outs) n.string(2, o);
    n.string(3, outs[0]);
    n.string(4, op);
    for (const [name, a] of Object.entries(attrs)) {
      const w = new ProtoWriter().string(1, name);
      if ('float' in a) w.float(2, a.float).varint(20, ATTR_FLOAT);
      else if ('int' in a) w.varint(3, a.int).varint(20, ATTR_INT);
      else w.varints(8, a.ints).varint(20, ATTR_INTS);
      n.message(5, w);
    }
    this.nodes.push(n.finish());
    return outs;
  }

  node(op: string, inputs: string[], output: string, attrs: Record<string, Attr> = {}): string {
    return this.nodeN(op, inputs, [output], attrs)[0];
  }

  private tensor(name: string, type: number, dims: readonly number[], raw: Uint8Array): void {
    const t = new ProtoWriter();
    t.varints(1, dims);
    t.varint(2, type);
    t.string(8, name);
    t.bytes(9, raw);
    this.initializers.push(t.finish());
  }

  /** A float32 initializer under exactly `name`. */
  floats(name: string, dims: readonly number[], data: Float32Array): string {
    if (this.names.has(name)) throw new Error(`exportVitOnnx: value "${name}" defined twice`);
    this.names.add(name);
    // Copied to little-endian bytes (every WebGPU host is little-endian, so a byte copy).
    this.tensor(name, FLOAT, dims, new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)));
    return name;
  }

  /** A constant float32 scalar. */
  scalar(hint: string, v: number): string {
    const name = this.fresh(hint);
    this.tensor(name, FLOAT, [], new Uint8Array(Float32Array.of(v).buffer));
    return name;
  }

  /** A constant int64 vector (or scalar, with `scalar`). */
  int64s(hint: string, values: readonly number[], scalar = false): string {
    const name = this.fresh(hint);
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.tensor(name, INT64, scalar ? [] : [values.length], new Uint8Array(data.buffer));
    return name;
  }

  finish(name: string, doc: string, inputs: Uint8Array[], outputs: Uint8Array[]): ProtoWriter {
    const g = new ProtoWriter();
    for (const n of this.nodes) g.message(1, n);
    g.string(2, name);
    for (const t of this.initializers) g.message(5, t);
    g.string(10, doc);
    for (const i of inputs) g.message(11, i);
    for (const o of outputs) g.message(12, o);
    return g;
  }
}

/** ValueInfoProto of a float32 tensor; string dims are symbolic (dim_param). */
function valueInfo(name: string, shape: readonly (number | string)[]): Uint8Array {
  const dims = new ProtoWriter();
  for (const d of shape) dims.message(1, typeof d === 'string' ? new ProtoWriter().string(2, d) : new ProtoWriter().varint(1, d));
  const tensorType = new ProtoWriter().varint(1, FLOAT).message(2, dims);
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, name).message(2, type).finish();
}

/**
 * The ViT with these weights (timm names; Float32Array each, row-major in the parameter's shape)
 * as ONNX ModelProto bytes. Errors name the missing or wrong-sized weight.
 */
export function exportVitOnnx(config: VitConfig, weights: ReadonlyMap<string, Float32Array>, o: OnnxExportOptions = {}): Uint8Array {
  const plan = planVitOnnx(config, weights, o);
  const c = config;
  const D = c.dim;
  const H = c.heads;
  const E = D / H;
  const K = c.classes;
  const N = tokensOf(c);
  const T = N - 1;
  const G = c.imageSize / c.patch;
  const shapes = shapesOf(c, plan.auxHead);
  const g = new GraphBuilder();
  const w = (name: string) => g.floats(name, shapes.get(name)!, weights.get(name)!);
  // Initializers in the graph's order, each defined once.
  const weight = new Map<string, string>();
  const param = (name: string) => {
    let v = weight.get(name);
    if (v === undefined) weight.set(name, (v = w(name)));
    return v;
  };

  const linear = (x: string, name: string, out: string) => {
    const wt = g.node('Transpose', [param(`${name}.weight`)], `${name}.weight_t`, { perm: ints([1, 0]) });
    return g.node('Add', [g.node('MatMul', [x, wt], `${out}_matmul`), param(`${name}.bias`)], out);
  };
  const layerNorm = (x: string, name: string) =>
    g.node('LayerNormalization', [x, param(`${name}.weight`), param(`${name}.bias`)], name, { axis: int(-1), epsilon: float(LAYERNORM_EPS) });

  // Patch stem: [B, C, S, S] → [B, D, G, G] → [B, T, D].
  const stem = g.node('Conv', [ONNX_INPUT, param('patch_embed.proj.weight'), param('patch_embed.proj.bias')], 'patch_embed.proj',
    { kernel_shape: ints([c.patch, c.patch]), strides: ints([c.patch, c.patch]) });
  const flat = g.node('Reshape', [stem, g.int64s('patch_embed.shape', [0, D, T])], 'patch_embed.flat');
  const patches = g.node('Transpose', [flat], 'patch_embed.tokens', { perm: ints([0, 2, 1]) });

  // [CLS; patches] + pos_embed: [B, N, D].
  const batch = g.node('Shape', [ONNX_INPUT], 'batch_size', { start: int(0), end: int(1) });
  const clsShape = g.node('Concat', [batch, g.int64s('cls_token.tail', [1, D])], 'cls_token.shape', { axis: int(0) });
  const cls = g.node('Expand', [param('cls_token'), clsShape], 'cls_token.expanded');
  let x = g.node('Concat', [cls, patches], 'tokens', { axis: int(1) });
  x = g.node('Add', [x, param('pos_embed')], 'embedded');

  const zero = g.int64s('index0', [0], true);
  const one = g.int64s('index1', [1], true);
  const two = g.int64s('index2', [2], true);
  const qkvShape = g.int64s('qkv.shape', [0, 0, 3, H, E]);
  const mergeShape = g.int64s('heads.merged_shape', [0, 0, D]);
  const scale = g.scalar('attn.scale', 1 / Math.sqrt(E));
  const half = g.scalar('half', 0.5);
  const oneF = g.scalar('one', 1);
  const sqrt2 = g.scalar('sqrt2', Math.SQRT2);

  for (let i = 0; i < c.depth; i++) {
    const blk = `blocks.${i}`;
    const h = layerNorm(x, `${blk}.norm1`);
    const qkv = linear(h, `${blk}.attn.qkv`, `${blk}.attn.qkv`);
    const split = g.node('Transpose', [g.node('Reshape', [qkv, qkvShape], `${blk}.attn.qkv_heads`)], `${blk}.attn.qkv_split`, { perm: ints([2, 0, 3, 1, 4]) });
    const q = g.node('Gather', [split, zero], `${blk}.attn.q`, { axis: int(0) });
    const k = g.node('Gather', [split, one], `${blk}.attn.k`, { axis: int(0) });
    const v = g.node('Gather', [split, two], `${blk}.attn.v`, { axis: int(0) });
    const kt = g.node('Transpose', [k], `${blk}.attn.k_t`, { perm: ints([0, 1, 3, 2]) });
    const scores = g.node('Mul', [g.node('MatMul', [q, kt], `${blk}.attn.dots`), scale], `${blk}.attn.scores`);
    const probs = g.node('Softmax', [scores], `${blk}.attn.probs`, { axis: int(-1) });
    const heads = g.node('MatMul', [probs, v], `${blk}.attn.heads`);
    const merged = g.node('Reshape', [g.node('Transpose', [heads], `${blk}.attn.heads_t`, { perm: ints([0, 2, 1, 3]) }), mergeShape], `${blk}.attn.out`);
    x = g.node('Add', [x, linear(merged, `${blk}.attn.proj`, `${blk}.attn.proj`)], `${blk}.residual1`);
    const m = layerNorm(x, `${blk}.norm2`);
    const f = linear(m, `${blk}.mlp.fc1`, `${blk}.mlp.fc1`);
    const erf = g.node('Erf', [g.node('Div', [f, sqrt2], `${blk}.mlp.gelu_scaled`)], `${blk}.mlp.gelu_erf`);
    const gelu = g.node('Mul', [g.node('Mul', [f, half], `${blk}.mlp.gelu_half`), g.node('Add', [erf, oneF], `${blk}.mlp.gelu_cdf2`)], `${blk}.mlp.gelu`);
    x = g.node('Add', [x, linear(gelu, `${blk}.mlp.fc2`, `${blk}.mlp.fc2`)], `${blk}.residual2`);
  }
  const tokens = layerNorm(x, 'norm');
  const clsToken = g.node('Gather', [tokens, zero], 'cls', { axis: int(1) });
  const needPatchTokens = plan.auxHead || o.dense;
  const patchTokens = needPatchTokens
    ? g.node('Slice', [tokens, g.int64s('patch_tokens.starts', [1]), g.int64s('patch_tokens.ends', [N]), g.int64s('patch_tokens.axes', [1])], 'patch_tokens')
    : '';
  const aux = plan.auxHead ? linear(patchTokens, 'aux_head', 'aux_head') : '';
  if (plan.auxHead) {
    const head = linear(clsToken, 'head', 'head');
    const pooled = g.node('ReduceMax', [aux], 'aux_head.max', { axes: ints([1]), keepdims: int(0) });
    g.node('Add', [head, g.node('Mul', [pooled, g.scalar('aux_head.weight_in_logits', AUX_HEAD_WEIGHT)], 'aux_head.scaled')], ONNX_LOGITS);
  } else {
    linear(clsToken, 'head', ONNX_LOGITS);
  }
  if (o.dense) {
    const perToken = plan.auxHead ? aux : linear(patchTokens, 'head', 'head.per_token');
    const classMajor = g.node('Transpose', [perToken], 'dense.class_major', { perm: ints([0, 2, 1]) });
    g.node('Reshape', [classMajor, g.int64s('dense.shape', [0, K, G, G])], ONNX_DENSE_LOGITS);
  }

  const doc = `labelflow ViT: ${c.imageSize}×${c.imageSize}×${c.channels} images, patch ${c.patch}, dim ${D}, depth ${c.depth}, heads ${H}, ` +
    `MLP ${c.mlpDim}, ${K} classes${plan.auxHead ? ', Token Labeling aux_head' : ''}. Input: (pixel/255 − mean[c]) / std[c], ` +
    `mean ${JSON.stringify(CIFAR10_MEAN)}, std ${JSON.stringify(CIFAR10_STD)}.`;
  const graph = g.finish(o.name ?? 'labelflow_vit', doc,
    [valueInfo(ONNX_INPUT, plan.input.shape)],
    plan.outputs.map((out) => valueInfo(out.name, out.shape)));

  const model = new ProtoWriter();
  model.varint(1, ONNX_IR_VERSION);
  model.string(2, ONNX_PRODUCER);
  model.string(6, doc);
  model.message(7, graph);
  model.message(8, new ProtoWriter().string(1, '').varint(2, ONNX_OPSET));
  const metadata: Record<string, string> = {
    'labelflow.config': JSON.stringify(c),
    'labelflow.normalization': JSON.stringify({ scale: 1 / 255, mean: CIFAR10_MEAN, std: CIFAR10_STD, layout: 'NCHW' }),
    'labelflow.aux_head': String(plan.auxHead),
    'labelflow.outputs': JSON.stringify(plan.outputs),
    ...o.metadata,
  };
  for (const [key, value] of Object.entries(metadata)) model.message(14, new ProtoWriter().string(1, key).string(2, value));
  return model.finish();
}
