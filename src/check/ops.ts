/**
 * Every GPU op/kernel against its float64 CPU reference (src/autograd/reference), forward and
 * backward, and every reference backward against central finite differences of its forward.
 *
 * Per op: seeded random f32 inputs at shapes that are not multiples of the tile/workgroup sizes;
 * GPU forward vs reference forward; then loss = Σ out·R for a random R (flatten out to [1, n]
 * and matmul with R [n, 1], so d out = R exactly) and backward() — the GPU input gradients vs the
 * reference backward given the same R. Backward runs twice without clearing the gradients, so
 * the second pass exercises every kernel's `accumulate` path: (grad₂ − grad₁) must match too.
 *
 * Error metric everywhere: normwise relative error max_i |got_i − ref_i| / max_i |ref_i| (one
 * scale per tensor, so entries near zero do not dominate); an op with several outputs or inputs
 * reports its worst tensor.
 */
import { add, backward, binaryCrossEntropy, clearTape, contextScores, embedTokens, gatherToken, gelu, layerNorm, matmul, maxTokens,
  meanPairwiseCosine, meanTokens, patchify, patchTokens, poolRegions, scale, softCrossEntropy, softmax, sumOf, swapTokens, attention,
  type Tensor, tempTensor, tensorFrom, tensorFromHalf } from '../autograd/index.ts';
import { addLayerNorm, LAYERNORM_EPS } from '../autograd/ops/layernorm.ts';
import { type MatmulKernel, matmulKernel } from '../autograd/ops/matmul.ts';
import { columnSum } from '../autograd/ops/reduce.ts';
import { ELEMENTWISE_WG, elementwiseGrid } from '../autograd/ops/workgroups.ts';
import * as ref from '../autograd/reference/index.ts';
import { type Gpu, type Storage } from '../gpu/gpu.ts';
import { roundHalfArray } from '../gpu/half.ts';
import { initLabelsRef, propagateRef } from '../methods/labels-reference.ts';
import { initLabels, propagateLabels } from '../methods/labels.ts';
import { diversepatch, diversepatchPaper } from '../methods/diversepatch.ts';
import { diversepatchLossRef, diversepatchPaperLossRef, type LossDims, tokenLabelingLossRef, tokenmixLossRef } from '../methods/losses-reference.ts';
import { DEFAULT_METHOD_OPTIONS, type LossInputs } from '../methods/method.ts';
import { type BatchMix } from '../methods/mixing.ts';
import { tokenLabeling } from '../methods/token-labeling.ts';
import { tokenmix, tokenmixTeacher } from '../methods/tokenmix.ts';
import { type VisionTransformer, type VitOutput } from '../nn/vit.ts';
import { Rng } from '../nn/random.ts';

export interface OpCheck {
  name: string;
  shapes: string;
  fwd_max_rel: number;
  bwd_max_rel: number | null;
  fd_max_rel: number | null;
  tolerance: number;
  ok: boolean;
  /** The worst comparison: its first entry past tolerance (or its largest error), ref vs got. */
  detail?: string;
}

/**
 * f32 tolerance of every op, forward and backward (normwise); none is loosened. Measured errors
 * are ≤ 5e-7: f32 rounding (2^-24 ≈ 6e-8) grown by sums of at most ~100 terms, plus GELU's A&S
 * erf (1.5e-7 absolute). adamw measures ~2e-5 because it compares the step θ' − θ, whose size is
 * ~lr while θ' is rounded to f32 at |θ| ≤ 2 (ulp 2.4e-7, i.e. 2.4e-5 of a 0.01 step).
 */
const F32_TOL = 1e-4;
/**
 * A product stored in f16 (the GELU epilogue's output of the f16 path): its inputs are already
 * f16 values in the reference too, so the only f16 error is the output's rounding, at most half
 * an ulp, 2^-11 of |value| (normwise ≤ 2^-11), on top of the f32 accumulation's.
 */
const F16_OUTPUT_TOL = 2 ** -11 + F32_TOL;
/** Reference backward vs central differences of the reference forward, in float64. */
const FD_TOL = 1e-6;
const FD_STEP = 1e-6;
const FD_SAMPLES = 20;

type Vec = Float64Array;

/** half: uploaded as f16 (its data already rounded to f16 values, so the reference sees what the GPU reads). */
interface Input { name: string; shape: number[]; data: Float32Array; grad?: boolean; half?: boolean }

interface Case {
  name: string;
  inputs: Input[];
  /** GPU forward on the uploaded inputs; outputs[0] is the one differentiated. */
  gpu(t: Tensor[]): Tensor[];
  /** Reference outputs in the order of gpu's. */
  forward(x: Vec[]): Vec[];
  /** Reference gradients of the inputs marked `grad`, in order, given d outputs[0] = r. */
  backward?(x: Vec[], r: Vec): Vec[];
  /**
   * No hand-written reference backward (a whole method loss, composed of checked ops): the GPU
   * gradients are compared with central differences of the float64 reference forward at every entry.
   */
  finiteDifferenceBackward?: boolean;
  /** Maps the GPU outputs before comparison (adamw compares the step θ' − θ). */
  post?(got: Vec[], x: Vec[]): Vec[];
  shapes?: string;
  tolerance?: number;
}

interface Compared { err: number; detail: string }

/** Normwise relative error of got vs want over `indices` (default all), scaled by max |want| over all of want. */
function compare(label: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number, indices?: number[]): Compared {
  let scaleOf = 0;
  for (let i = 0; i < want.length; i++) scaleOf = Math.max(scaleOf, Math.abs(want[i]));
  const scaled = scaleOf || 1; // an all-zero reference compares absolutely
  let err = 0, worst = -1, firstBad = -1;
  for (const i of indices ?? Array.from(want, (_, i) => i)) {
    const e = Math.abs(got[i] - want[i]) / scaled;
    if (!(e <= err)) { err = Number.isNaN(e) ? Infinity : e; worst = i; }
    if (firstBad < 0 && !(e <= tol)) firstBad = i;
  }
  const at = firstBad >= 0 ? firstBad : worst;
  return { err, detail: at < 0 ? `${label}: empty` : `${label}[${at}]: ref ${want[at]} got ${got[at]}` };
}

const worstOf = (cs: Compared[]): Compared => cs.reduce((a, b) => (b.err > a.err ? b : a), { err: 0, detail: '' });

async function readAll(gpu: Gpu, storages: Storage[]): Promise<Vec[]> {
  const reads = storages.map((s) => gpu.readback(s));
  gpu.flush();
  return (await Promise.all(reads)).map((a) => Float64Array.from(a));
}

/** Σ_i out_i · r_i of the reference's first output. */
function lossOf(c: Case, x: Vec[], r: Vec): number {
  const out = c.forward(x)[0];
  let s = 0;
  for (let i = 0; i < out.length; i++) s += out[i] * r[i];
  return s;
}

/** Reference backward vs central differences (L(x + h) − L(x − h)) / 2h on a sample of each input. */
function finiteDifferences(c: Case, x: Vec[], r: Vec, grads: Vec[], rng: Rng): Compared {
  const results: Compared[] = [];
  let g = 0;
  c.inputs.forEach((input, k) => {
    if (!input.grad) return;
    const want = grads[g++], xk = x[k];
    let big = 0;
    for (let i = 1; i < want.length; i++) if (Math.abs(want[i]) > Math.abs(want[big])) big = i;
    const sample = [big, ...Array.from({ length: FD_SAMPLES - 1 }, () => rng.int(xk.length))];
    const fd = new Float64Array(xk.length);
    for (const i of sample) {
      const orig = xk[i];
      xk[i] = orig + FD_STEP;
      const plus = lossOf(c, x, r);
      xk[i] = orig - FD_STEP;
      const minus = lossOf(c, x, r);
      xk[i] = orig;
      fd[i] = (plus - minus) / (2 * FD_STEP);
    }
    results.push(compare(`d${input.name} (ref backward vs finite differences)`, fd, want, FD_TOL, sample));
  });
  return worstOf(results);
}

async function runCase(gpu: Gpu, c: Case, rng: Rng): Promise<OpCheck> {
  const tolerance = c.tolerance ?? F32_TOL;
  const shapes = c.shapes ?? c.inputs.map((i) => `${i.name}[${i.shape.join(',')}]`).join(' ');
  const x = c.inputs.map((i) => Float64Array.from(i.data));
  const tensors = c.inputs.map((i) => (i.half ? tensorFromHalf : tensorFrom)(gpu, i.shape, i.data, !!i.grad, i.name));
  const owned = [...tensors];
  try {
    const outs = c.gpu(tensors);
    let got = await readAll(gpu, outs.map((o) => o.storage));
    if (c.post) got = c.post(got, x);
    const want = c.forward(x);
    const fwd = worstOf(want.map((w, i) => compare(`out${i}`, got[i], w, tolerance)));
    let bwd: Compared | null = null, fd: Compared | null = null;
    if (c.finiteDifferenceBackward) {
      backward(outs[0]);
      const withGrad = tensors.filter((t) => t.requiresGrad);
      const got = await readAll(gpu, withGrad.map((t) => t.grad!.storage));
      const one = Float64Array.of(1);
      const results: Compared[] = [];
      let g = 0;
      c.inputs.forEach((inp, k) => {
        if (!inp.grad) return;
        const xk = x[k], want = new Float64Array(xk.length);
        for (let i = 0; i < xk.length; i++) {
          const orig = xk[i];
          xk[i] = orig + FD_STEP;
          const plus = lossOf(c, x, one);
          xk[i] = orig - FD_STEP;
          const minus = lossOf(c, x, one);
          xk[i] = orig;
          want[i] = (plus - minus) / (2 * FD_STEP);
        }
        results.push(compare(`d${inp.name} (GPU vs float64 finite differences)`, got[g++], want, tolerance));
      });
      bwd = worstOf(results);
    } else if (c.backward) {
      const n = outs[0].size;
      const r = rng.fill(n, () => rng.uniform(-1, 1));
      const R = tensorFrom(gpu, [n, 1], r, false, 'R');
      owned.push(R);
      const withGrad = tensors.filter((t) => t.requiresGrad);
      const names = c.inputs.filter((i) => i.grad).map((i) => i.name);
      const gradsAfter = async (out: Tensor) => {
        backward(matmul(out.reshape([1, n]), R));
        return readAll(gpu, withGrad.map((t) => t.grad!.storage));
      };
      const first = await gradsAfter(outs[0]);
      const second = await gradsAfter(c.gpu(tensors)[0]); // accumulates onto `first`
      const r64 = Float64Array.from(r);
      const grads = c.backward(x, r64);
      bwd = worstOf(grads.flatMap((g, k) => [
        compare(`d${names[k]}`, first[k], g, tolerance),
        compare(`d${names[k]} (accumulated)`, second[k].map((v, i) => v - first[k][i]), g, tolerance),
      ]));
      fd = finiteDifferences(c, x, r64, grads, rng);
    }
    const ok = fwd.err <= tolerance && (!bwd || bwd.err <= tolerance) && (!fd || fd.err <= FD_TOL);
    const failed = [fwd.err > tolerance && fwd, bwd && bwd.err > tolerance && bwd, fd && fd.err > FD_TOL && fd].find(Boolean);
    const detail = (failed || worstOf([fwd, ...(bwd ? [bwd] : [])])).detail;
    return { name: c.name, shapes, fwd_max_rel: fwd.err, bwd_max_rel: bwd?.err ?? null, fd_max_rel: fd?.err ?? null, tolerance, ok, detail };
  } catch (e) {
    return { name: c.name, shapes, fwd_max_rel: Infinity, bwd_max_rel: null, fd_max_rel: null, tolerance, ok: false, detail: `threw: ${(e as Error).message}` };
  } finally {
    clearTape();
    try { gpu.endStep(); } catch { /* a GPU error is already reported by the op that caused it */ }
    for (const t of owned) t.storage.buffer.destroy();
  }
}

// ------------------------------------------------------------------------------- the cases

const normal = (rng: Rng, n: number, std = 1, mean = 0) => rng.fill(n, () => mean + std * rng.normal());
const input = (name: string, shape: number[], data: Float32Array, grad = true): Input => ({ name, shape, data, grad });

function matmulCase(rng: Rng, name: string, d: ref.MatmulDims, withBias = false, o: MatmulCaseOptions = {}): Case {
  const { batch, M, N, K, transA = false, transB = false, alpha = 1, sharedA = false, sharedB = false } = d;
  const { gelu: withGelu = false, std = 1, kernel, residual: withResidual = false, half = {} } = o;
  const lead = batch > 1 ? [batch] : [];
  const rounded = (on: boolean | undefined, x: Float32Array) => (on ? roundHalfArray(x) : x);
  const aData = rounded(half.a, normal(rng, (sharedA ? 1 : batch) * M * K, std));
  const bData = rounded(half.b, normal(rng, (sharedB ? 1 : batch) * K * N));
  const bShape = [...(sharedB ? [] : lead), ...(transB ? [N, K] : [K, N])];
  let halfB: Tensor | undefined;
  const inputs = [
    { ...input('A', [...(sharedA ? [] : lead), ...(transA ? [K, M] : [M, K])], aData), half: half.a },
    input('B', bShape, bData),
    ...(withBias ? [input('bias', [N], normal(rng, N))] : []),
    ...(withResidual ? [input('R', [...lead, M, N], normal(rng, batch * M * N))] : []),
  ];
  const split = <T>(xs: T[]) => ({ a: xs[0], b: xs[1], bias: withBias ? xs[2] : undefined, residual: withResidual ? xs[withBias ? 3 : 2] : undefined });
  return {
    name, inputs, tolerance: half.out ? F16_OUTPUT_TOL : F32_TOL,
    shapes: `${batch > 1 ? `${batch}×` : ''}${M}×${K}·${K}×${N}${transA ? ' transA' : ''}${transB ? ' transB' : ''}${sharedA ? ' A shared' : ''}` +
      `${sharedB ? ' B shared' : ''}${withBias ? ' +bias' : ''}${withResidual ? ' +residual' : ''}${alpha !== 1 ? ` alpha=${alpha}` : ''}${withGelu ? ' →GELU' : ''}` +
      ` (${kernel ? `${kernel} kernel` : `${matmulKernel(d, transA, transB)} kernel`})` +
      `${half.a || half.b || half.out ? `; f16: ${[half.a && 'A', half.b && 'B (copy of the f32 B)', half.out && 'output'].filter(Boolean).join(', ')}` : ''}`,
    gpu: (xs) => {
      const { a, b, bias, residual } = split(xs);
      if (half.b) halfB ??= tensorFromHalf(b.gpu, bShape, bData, false, 'B.f16');
      return [matmul(a, b, { transA, transB, alpha, bias, residual, activation: withGelu ? 'gelu' : undefined, kernel, halfB, halfOutput: half.out })];
    },
    forward: (xs) => {
      const { a, b, bias, residual } = split(xs);
      const y = withGelu ? ref.matmulGelu(a, b, d, bias) : ref.matmul(a, b, d, bias);
      return [residual ? y.map((v, i) => v + residual[i]) : y];
    },
    backward: (xs, r) => {
      const { a, b, bias } = split(xs);
      const g = withGelu ? ref.matmulGeluBackward(a, b, r, d, bias) : ref.matmulBackward(a, b, r, d);
      return [g.da, g.db, ...(withBias ? [g.dbias] : []), ...(withResidual ? [r] : [])];
    },
  };
}

interface MatmulCaseOptions {
  /** activation: 'gelu' (the fused epilogue). */
  gelu?: boolean;
  /** Standard deviation of A (B is N(0, 1)); small values keep GELU's inputs where it bends. */
  std?: number;
  /** Forces the kernel where it applies. */
  kernel?: MatmulKernel;
  /** residual: an input R of the output's shape added in the epilogue (dR = dC). */
  residual?: boolean;
  /** f16 operands (A uploaded as f16; B read through an f16 copy, as the f16 weight copy) and f16 output (C_T). */
  half?: { a?: boolean; b?: boolean; out?: boolean };
}

/**
 * The fused residual add + LayerNorm: out0 = wn·normed + ws·sum, so d(sum) also arrives from
 * outside the op (ws ≠ 0) or not (ws = 0), and normed may receive no gradient at all (wn = 0).
 */
function addLayerNormCase(rng: Rng, name: string, rows: number, dim: number, wn: number, ws: number, rGrad = true): Case {
  const pGrad = wn !== 0; // gamma and beta get no gradient when normed is unused
  const terms = [wn && `${wn === 1 ? '' : `${wn}·`}LN(x + r)`, ws && `${ws === 1 ? '' : `${ws}·`}(x + r)`].filter(Boolean).join(' + ');
  return {
    name, shapes: `x[${rows},${dim}] ~ N(3, 2²) r${rGrad ? '' : ' (no grad)'} gamma beta; out0 = ${terms}; outputs out0, sum, normed`,
    inputs: [input('x', [rows, dim], normal(rng, rows * dim, 2, 3)), input('r', [rows, dim], normal(rng, rows * dim), rGrad),
      input('gamma', [dim], normal(rng, dim, 0.2, 1), pGrad), input('beta', [dim], normal(rng, dim, 0.5), pGrad)],
    gpu: ([x, r, g, b]) => {
      const { sum, normed } = addLayerNorm(x, r, g, b, LAYERNORM_EPS);
      const out = !ws ? scale(normed, wn) : !wn ? scale(sum, ws) : add(scale(normed, wn), scale(sum, ws));
      return [out, sum, normed];
    },
    forward: ([x, r, g, b]) => {
      const { sum, y } = ref.addLayerNorm(x, r, g, b, dim, LAYERNORM_EPS);
      return [y.map((v, i) => wn * v + ws * sum[i]), sum, y];
    },
    backward: ([x, r, g], dOut) => {
      const d = ref.addLayerNormBackward(x, r, g, ref.scale(dOut, ws), ref.scale(dOut, wn), dim, LAYERNORM_EPS);
      return [d.dx, ...(rGrad ? [d.dr] : []), ...(pGrad ? [d.dgamma, d.dbeta] : [])];
    },
  };
}

function attentionCase(rng: Rng, name: string, dims: ref.AttentionDims): Case {
  const { batch, tokens, heads, headDim } = dims;
  const D = heads * headDim;
  return {
    name,
    shapes: `B=${batch} N=${tokens} H=${heads} E=${headDim}: qkv[${batch * tokens},${3 * D}]`,
    inputs: [input('qkv', [batch * tokens, 3 * D], normal(rng, batch * tokens * 3 * D))],
    gpu: ([qkv]) => { const r = attention(qkv, batch, tokens, heads); return [r.out, r.probs]; },
    forward: ([qkv]) => { const r = ref.attention(qkv, dims); return [r.out, r.probs]; },
    backward: ([qkv], r) => [ref.attentionBackward(qkv, r, dims)],
  };
}

/** attention with TL-Align's labels L [B, N, C] fused in (attention_forward_labels or _rows_labels, then attention_combine_labels). */
function attentionLabelsCase(rng: Rng, name: string, dims: ref.AttentionDims, columns: number): Case {
  const { batch, tokens, heads, headDim } = dims;
  const D = heads * headDim;
  const p = { batch, tokens, heads, columns };
  return {
    name,
    shapes: `B=${batch} N=${tokens} H=${heads} E=${headDim}: qkv[${batch * tokens},${3 * D}] labels[${batch},${tokens},${columns}]`,
    inputs: [input('qkv', [batch * tokens, 3 * D], normal(rng, batch * tokens * 3 * D)),
      input('labels', [batch, tokens, columns], Float32Array.from(ref.softmax(normal(rng, batch * tokens * columns, 2), columns)), false)],
    gpu: ([qkv, labels]) => { const r = attention(qkv, batch, tokens, heads, { labels }); return [r.out, r.probs, r.labels!]; },
    forward: ([qkv, labels]) => { const r = ref.attention(qkv, dims); return [r.out, r.probs, propagateRef(labels, r.probs, p)]; },
    backward: ([qkv], r) => [ref.attentionBackward(qkv, r, dims)],
  };
}

/** Soft targets: a mixup tie (0.5/0.5, first max wins), one-hots, random distributions, one row of mass 0.8. */
function softTargets(rng: Rng, rows: number, classes: number): Float32Array {
  const t = new Float32Array(rows * classes);
  for (let r = 0; r < rows; r++) {
    const row = t.subarray(r * classes, (r + 1) * classes);
    if (r === 0) { row[2] = 0.5; row[7] = 0.5; } else if (r % 3 === 1) row[rng.int(classes)] = 1;
    else {
      const w = Array.from({ length: classes }, () => rng.next() ** 3);
      const mass = r === 2 ? 0.8 : 1, s = w.reduce((a, b) => a + b, 0);
      w.forEach((v, k) => (row[k] = (mass * v) / s));
    }
  }
  return t;
}

function optimizerCases(rng: Rng): Case[] {
  const n = 1037;
  const grads = normal(rng, n, 0.1);
  const normSq = new Float32Array([ref.sumSquares(grads)]); // ‖g‖ ≈ 3.2
  const o: ref.AdamWConfig = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, step: 3, decayEnd: 700, maxNorm: 1 };
  const clipNorm = 0.5;
  return [{
    // Compares the step θ' − θ (not θ', where lr·update is 1% of θ) so the update itself is held to 1e-4.
    name: 'adamw',
    shapes: `n=${n} decay_end=${o.decayEnd} t=${o.step} max_norm=${o.maxNorm} (compares θ'−θ, m, v)`,
    inputs: [input('params', [n], normal(rng, n, 0.5), false), input('grads', [n], grads, false),
      input('exp_avg', [n], normal(rng, n, 0.01), false), input('exp_avg_sq', [n], rng.fill(n, () => rng.uniform(1e-4, 0.02)), false),
      input('norm_sq', [1], normSq, false)],
    gpu: ([params, g, m, v, ns]) => {
      params.gpu.run('optimizer', 'adamw', {
        n, decay_end: o.decayEnd, lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weight_decay: o.weightDecay,
        bias_correction1: 1 - o.beta1 ** o.step, bias_correction2: 1 - o.beta2 ** o.step, max_norm: o.maxNorm,
        growth_interval: 0,
      }, { params: params.storage, grads: g.storage, exp_avg: m.storage, exp_avg_sq: v.storage, norm_sq: ns.storage },
      elementwiseGrid(n), { WG: ELEMENTWISE_WG });
      return [params, m, v];
    },
    forward: ([params, g, m, v, ns]) => {
      const r = ref.adamw(params, g, m, v, ns[0], o);
      return [r.params.map((p, i) => p - params[i]), r.expAvg, r.expAvgSq];
    },
    post: ([p, m, v], [params]) => [p.map((q, i) => q - params[i]), m, v],
  }, {
    name: 'clip_gradients',
    shapes: `n=${n} max_norm=${clipNorm} (‖g‖≈${Math.sqrt(normSq[0]).toFixed(2)})`,
    inputs: [input('grads', [n], grads, false), input('norm_sq', [1], normSq, false)],
    gpu: ([g, ns]) => {
      g.gpu.run('optimizer', 'clip_gradients', {
        n, decay_end: 0, lr: 0, beta1: 0, beta2: 0, eps: 0, weight_decay: 0, bias_correction1: 1, bias_correction2: 1, max_norm: clipNorm,
        growth_interval: 0,
      }, { grads: g.storage, norm_sq: ns.storage }, elementwiseGrid(n), { WG: ELEMENTWISE_WG });
      return [g];
    },
    forward: ([g, ns]) => [ref.clipGradients(g, ns[0], clipNorm)],
  }];
}

/** TL-Align's label kernels (shaders/labels.wgsl): forward only, labels get no gradient. */
function labelCases(rng: Rng): Case[] {
  const d = { batch: 5, tokens: 17, classes: 10, smoothing: 0.1, clsOwnShare: 0.4, perSample: true };
  const T = d.tokens - 1;
  const classIds = Uint32Array.from({ length: d.batch }, () => rng.int(d.classes));
  const p = { batch: 3, tokens: 17, heads: 3, columns: 10 };
  const rows = (n: number, cols: number) => Float32Array.from(ref.softmax(normal(rng, n, 2), cols));
  return [{
    name: 'label_init', shapes: `labels[${d.batch}] partner_share[${d.batch},${T}] K=${d.classes} s=${d.smoothing} λ=${d.clsOwnShare}`,
    inputs: [input('partner_share', [d.batch, T], rng.fill(d.batch * T, () => rng.next()), false)],
    gpu: ([share]) => {
      const labels = share.gpu.temp(d.batch);
      share.gpu.write(labels, classIds);
      return [initLabels(share.gpu, { ...d, labels, partnerShare: share.storage })];
    },
    forward: ([share]) => [initLabelsRef(classIds, { ...d, partnerShare: share })],
  }, {
    name: 'label_propagate',
    inputs: [input('labels', [p.batch, p.tokens, p.columns], rows(p.batch * p.tokens * p.columns, p.columns), false),
      input('probs', [p.batch, p.heads, p.tokens, p.tokens], rows(p.batch * p.heads * p.tokens ** 2, p.tokens), false)],
    gpu: ([labels, probs]) => [propagateLabels(labels, probs)],
    forward: ([labels, probs]) => [propagateRef(labels, probs, p)],
  }];
}

/** A u32 token mask [T] in a step buffer: data for the op, not a differentiated input. */
function maskStorage(gpu: Gpu, mask: Uint32Array): Storage {
  const s = gpu.temp(mask.length);
  gpu.write(s, mask);
  return s;
}

/** MixToken's and DiversePatch's token ops; B = 5 is odd, so sample 2 is its own partner. */
function mixTokenCases(rng: Rng): Case[] {
  const mask = Uint32Array.from([0, 1, 1, 0, 1, 0, 0, 1, 0]);
  const maskText = `mask=${mask.join('')}`;
  return [{
    name: 'patch_tokens', shapes: 'x[3,10,20] → [3,9,20]',
    inputs: [input('x', [3, 10, 20], normal(rng, 600))],
    gpu: ([x]) => [patchTokens(x)],
    forward: ([x]) => [ref.patchTokens(x, 3, 10, 20)],
    backward: (_, r) => [ref.patchTokensBackward(r, 3, 10, 20)],
  }, {
    name: 'swap_tokens', shapes: `x[5,9,7] ${maskText}`,
    inputs: [input('x', [5, 9, 7], normal(rng, 5 * 9 * 7))],
    gpu: ([x]) => [swapTokens(x, maskStorage(x.gpu, mask))],
    forward: ([x]) => [ref.swapTokens(x, mask, 5, 7)],
    backward: (_, r) => [ref.swapTokens(r, mask, 5, 7)],
  }, {
    name: 'pool_regions', shapes: `x[5,9,20] ${maskText} → [5,2,20]`,
    inputs: [input('x', [5, 9, 20], normal(rng, 5 * 9 * 20))],
    gpu: ([x]) => [poolRegions(x, maskStorage(x.gpu, mask))],
    forward: ([x]) => [ref.poolRegions(x, mask, 5, 20)],
    backward: (_, r) => [ref.poolRegionsBackward(r, mask, 5, 20)],
  }, {
    name: 'max_tokens', shapes: 'x[3,9,13] → [3,13]',
    inputs: [input('x', [3, 9, 13], normal(rng, 3 * 9 * 13), false)],
    gpu: ([x]) => [maxTokens(x)],
    forward: ([x]) => [ref.maxTokens(x, 3, 9, 13)],
  }, {
    name: 'binary_cross_entropy', shapes: 'logits[37,13] ~ N(0, 3²) targets[37,13] (outputs: loss, correct)',
    inputs: [input('logits', [37, 13], normal(rng, 37 * 13, 3)), input('targets', [37, 13], softTargets(rng, 37, 13), false)],
    gpu: ([z, t]) => { const r = binaryCrossEntropy(z, t); return [r.loss, r.correct]; },
    forward: ([z, t]) => { const r = ref.binaryCrossEntropy(z, t, 13); return [Float64Array.of(r.loss), r.correct]; },
    backward: ([z, t], r) => [ref.binaryCrossEntropyBackward(z, t, r[0])],
  }];
}

/** DiversePatch's cosine (tokens sharing a direction, as when over-smoothed) and contrastive logits. */
function diversityCases(rng: Rng): Case[] {
  const shared = normal(rng, 20);
  const x = rng.fill(3 * 9 * 20, () => 0).map((_, k) => shared[k % 20] + rng.normal());
  const d = { batch: 3, grid: 6, window: 5, dim: 10 };
  const n = d.batch * d.grid ** 2 * d.dim;
  return [{
    name: 'mean_pairwise_cosine', shapes: 'x[3,9,20] = shared direction + N(0, 1)',
    inputs: [input('x', [3, 9, 20], x)],
    gpu: ([x]) => [meanPairwiseCosine(x)],
    forward: ([x]) => [Float64Array.of(ref.meanPairwiseCosine(x, 3, 9, 20))],
    backward: ([x], r) => [ref.meanPairwiseCosineBackward(x, 3, 9, 20, r[0])],
  }, {
    name: 'context_scores', shapes: `c[3,36,10] h[3,36,10] G=${d.grid} W=${d.window} → [3,36,3]`,
    inputs: [input('c', [3, 36, 10], normal(rng, n)), input('h', [3, 36, 10], normal(rng, n))],
    gpu: ([c, h]) => [contextScores(c, h, d.grid, d.window)],
    forward: ([c, h]) => [ref.contextScores(c, h, d)],
    backward: ([c, h], r) => { const g = ref.contextScoresBackward(c, h, r, d); return [g.dc, g.dh]; },
  }];
}

/**
 * The token-level methods' whole losses (src/methods) on stand-in forward outputs: the GPU loss
 * against the float64 formulas of src/methods/losses-reference.ts, its gradients (logits, final
 * tokens, heads) against central differences of them; and the teacher-target kernels forward.
 */
function methodLossCases(rng: Rng): Case[] {
  const B = 3, G = 2, T = G * G, N = T + 1, D = 4, K = 3;
  const labels = [0, 2, 1];
  const mask = [0, 1, 1, 0];
  const d: LossDims = { batch: B, grid: G, dim: D, classes: K, labels, mask, ownShare: 0.5, smoothing: 0.1 };
  const teacher = Float32Array.from(ref.softmax(normal(rng, B * T * K, 1.5), K));
  const options = { ...DEFAULT_METHOD_OPTIONS, diversityWindow: 3, tokenLabelWeight: 0.7, tokenLabelGtWeight: 0.3 };
  const shapes = `B=${B} G=${G} D=${D} K=${K} mask=${mask.join('')} λ=0.5 s=0.1`;
  const fixed = (gpu: Gpu) => {
    const u32 = gpu.persistent(B, 'labels');
    gpu.write(u32, Uint32Array.from(labels));
    const share = gpu.persistent(T, 'partner_share');
    gpu.write(share, Float32Array.from(mask));
    const tokenMask = gpu.persistent(T, 'token_mask');
    gpu.write(tokenMask, Uint32Array.from(mask));
    return { labels: u32, partnerShare: share, tokenMask };
  };
  const inputsFor = (t: Tensor[], names: string[], heads: Record<string, Tensor>): LossInputs => {
    const byName = new Map(names.map((n, i) => [n, t[i]]));
    const gpu = t[0].gpu;
    const model = { config: { imageSize: 4 * G, patch: 4, classes: K, dim: D }, params: { get: (n: string) => heads[n] } } as unknown as VisionTransformer;
    const zeros = tempTensor(gpu, [B * N, D], 'zeros');
    gpu.clear(zeros.storage);
    const out: VitOutput = {
      logits: byName.get('logits')!, tokens: byName.get('tokens')!, attention: [],
      patches: byName.get('patches') ?? zeros, hidden: [zeros, byName.get('hidden1') ?? zeros],
    };
    const mix: BatchMix = { kind: 'cutmix-token', plan: { mode: 'none' }, ownShare: d.ownShare, partnerShare: Float32Array.from(mask) };
    return {
      ...fixed(gpu), gpu, mix, attention: [], batch: B, tokens: N, classes: K, smoothing: d.smoothing, options,
      teacher: byName.get('teacher'), out, model,
    };
  };
  const logits = () => input('logits', [B, K], normal(rng, B * K, 2));
  const tokens = () => input('tokens', [B, N, D], normal(rng, B * N * D));
  const head = (name: string) => [input(`${name}.weight`, [K, D], normal(rng, K * D, 0.5)), input(`${name}.bias`, [K], normal(rng, K, 0.2))];
  const lossCase = (name: string, inputs: Input[], loss: (l: LossInputs) => Tensor, forward: (x: Vec[]) => number): Case => ({
    name, shapes: `${shapes} (backward vs float64 finite differences)`, inputs, finiteDifferenceBackward: true,
    gpu: (t) => {
      const names = inputs.map((i) => i.name);
      const heads = Object.fromEntries(names.map((n, i) => [n, t[i]]).filter(([n]) => (n as string).includes('.'))) as Record<string, Tensor>;
      return [loss(inputsFor(t, names, heads))];
    },
    forward: (x) => [Float64Array.of(forward(x))],
  });
  return [
    lossCase('loss_tokenmix_bce', [logits()], (l) => tokenmix.loss!(l).loss, ([z]) => tokenmixLossRef(d, z, undefined, 'bce')),
    lossCase('loss_tokenmix_teacher_ce', [logits(), input('teacher', [B, T, K], teacher, false)],
      (l) => tokenmixTeacher.loss!({ ...l, options: { ...l.options, tokenmixLoss: 'ce' } }).loss, ([z, m]) => tokenmixLossRef(d, z, m, 'ce')),
    lossCase('loss_token_labeling', [logits(), tokens(), ...head('aux_head'), input('teacher', [B, T, K], teacher, false)],
      (l) => tokenLabeling.loss!(l).loss,
      ([z, h, w, b, m]) => tokenLabelingLossRef(d, { logits: z, tokens: h, auxW: w, auxB: b, teacher: m }, options.tokenLabelWeight, options.tokenLabelGtWeight)),
    lossCase('loss_diversepatch', [logits(), tokens(), input('patches', [B, T, D], normal(rng, B * T * D), false), ...head('mix_head')],
      (l) => diversepatch.loss!(l).loss,
      ([z, h, c, w, b]) => diversepatchLossRef(d, { logits: z, tokens: h, patches: c, mixW: w, mixB: b }, 3, { contrastive: 1, mixing: 1 })),
    lossCase('loss_diversepatch_paper', [logits(), tokens(), input('hidden1', [B * N, D], normal(rng, B * N * D), false), ...head('head')],
      (l) => diversepatchPaper.loss!(l).loss,
      ([z, h, h1, w, b]) => diversepatchPaperLossRef(d, { logits: z, tokens: h, hidden1: h1, headW: w, headB: b }, { cosine: 1, contrastive: 1, mixing: 1 })),
  ];
}

function cases(): ((rng: Rng) => Case | Case[])[] {
  return [
    (rng) => matmulCase(rng, 'matmul', { batch: 1, M: 70, N: 37, K: 45 }),
    (rng) => matmulCase(rng, 'matmul_transA', { batch: 1, M: 70, N: 37, K: 45, transA: true }),
    (rng) => matmulCase(rng, 'matmul_transB', { batch: 1, M: 70, N: 37, K: 45, transB: true, alpha: 0.37 }),
    (rng) => matmulCase(rng, 'matmul_batched', { batch: 3, M: 33, N: 17, K: 65 }),
    (rng) => matmulCase(rng, 'matmul_bias', { batch: 1, M: 70, N: 37, K: 45, transB: true }, true),
    (rng) => matmulCase(rng, 'matmul_vec4', { batch: 1, M: 70, N: 36, K: 44 }),
    (rng) => matmulCase(rng, 'matmul_vec4_trans', { batch: 1, M: 68, N: 40, K: 52, transA: true, transB: true, alpha: 0.37 }),
    (rng) => matmulCase(rng, 'matmul_vec4_batched', { batch: 3, M: 33, N: 20, K: 24, transB: true }, true),
    (rng) => matmulCase(rng, 'matmul_vec4_tile128', { batch: 2, M: 140, N: 132, K: 36, transA: true }, true, { kernel: 'vec4-128' }),
    (rng) => matmulCase(rng, 'matmul_shared_a', { batch: 3, M: 21, N: 17, K: 19, transB: true, sharedA: true }),
    (rng) => matmulCase(rng, 'matmul_shared_b', { batch: 3, M: 11, N: 13, K: 9, transB: true, sharedB: true }, true),
    (rng) => matmulCase(rng, 'matmul_shared_b_vec4', { batch: 3, M: 36, N: 20, K: 24, transA: true, sharedB: true }),
    (rng) => matmulCase(rng, 'matmul_gelu', { batch: 1, M: 70, N: 37, K: 45, transB: true }, true, { gelu: true, std: 0.3 }),
    (rng) => matmulCase(rng, 'matmul_gelu_vec4', { batch: 1, M: 70, N: 48, K: 36, transB: true }, true, { gelu: true, std: 0.3 }),
    (rng) => matmulCase(rng, 'matmul_residual', { batch: 1, M: 70, N: 37, K: 45, transB: true }, true, { residual: true }),
    (rng) => matmulCase(rng, 'matmul_residual_vec4', { batch: 1, M: 70, N: 36, K: 44, transB: true }, true, { residual: true }),
    // the weight gradient's product has K = M = 2,080 rows: split-K (16 slices) in both kernels
    (rng) => matmulCase(rng, 'matmul_split_k_vec4', { batch: 1, M: 2080, N: 12, K: 8, transB: true }, true),
    (rng) => matmulCase(rng, 'matmul_split_k', { batch: 1, M: 2080, N: 13, K: 7, transB: true }, true),
    (rng) => matmulCase(rng, 'matmul_residual_vec4_batched', { batch: 2, M: 33, N: 20, K: 24, transA: true }, false, { residual: true, kernel: 'vec4-128' }),
    (rng) => ({
      name: 'add',
      inputs: [input('a', [37, 29], normal(rng, 37 * 29)), input('b', [37, 29], normal(rng, 37 * 29))],
      gpu: ([a, b]) => [add(a, b)],
      forward: ([a, b]) => [ref.add(a, b)],
      backward: (_, r) => { const g = ref.addBackward(r); return [g.da, g.db]; },
    }),
    (rng) => ({
      name: 'scale', shapes: 'a[37,29] alpha=-1.7',
      inputs: [input('a', [37, 29], normal(rng, 37 * 29))],
      gpu: ([a]) => [scale(a, -1.7)],
      forward: ([a]) => [ref.scale(a, -1.7)],
      backward: (_, r) => [ref.scaleBackward(r, -1.7)],
    }),
    (rng) => ({
      name: 'gelu', shapes: 'x[61,47] ~ N(0, 2.5²)',
      inputs: [input('x', [61, 47], normal(rng, 61 * 47, 2.5))],
      gpu: ([x]) => [gelu(x)],
      forward: ([x]) => [ref.gelu(x)],
      backward: ([x], r) => [ref.geluBackward(x, r)],
    }),
    (rng) => ({
      name: 'layernorm', shapes: `x[70,45] ~ N(3, 2²) gamma[45] beta[45] eps=${LAYERNORM_EPS}`,
      inputs: [input('x', [70, 45], normal(rng, 70 * 45, 2, 3)), input('gamma', [45], normal(rng, 45, 0.2, 1)), input('beta', [45], normal(rng, 45, 0.5))],
      gpu: ([x, g, b]) => [layerNorm(x, g, b, LAYERNORM_EPS)],
      forward: ([x, g, b]) => [ref.layerNorm(x, g, b, 45, LAYERNORM_EPS).y],
      backward: ([x, g], r) => { const d = ref.layerNormBackward(x, g, r, 45, LAYERNORM_EPS); return [d.dx, d.dgamma, d.dbeta]; },
    }),
    (rng) => ({
      name: 'layernorm_d192', shapes: `x[300,192] ~ N(3, 2²) gamma[192] beta[192] eps=${LAYERNORM_EPS}`,
      inputs: [input('x', [300, 192], normal(rng, 300 * 192, 2, 3)), input('gamma', [192], normal(rng, 192, 0.2, 1)), input('beta', [192], normal(rng, 192, 0.5))],
      gpu: ([x, g, b]) => [layerNorm(x, g, b, LAYERNORM_EPS)],
      forward: ([x, g, b]) => [ref.layerNorm(x, g, b, 192, LAYERNORM_EPS).y],
      backward: ([x, g], r) => { const d = ref.layerNormBackward(x, g, r, 192, LAYERNORM_EPS); return [d.dx, d.dgamma, d.dbeta]; },
    }),
    (rng) => addLayerNormCase(rng, 'add_layernorm', 70, 45, 1, 0.7),
    (rng) => addLayerNormCase(rng, 'add_layernorm_d384', 37, 384, 1, 0, false),
    (rng) => addLayerNormCase(rng, 'add_layernorm_sum_only', 33, 20, 0, 1.3),
    (rng) => ({
      name: 'softmax', shapes: 'x[37,29] ~ N(0, 3²)',
      inputs: [input('x', [37, 29], normal(rng, 37 * 29, 3))],
      gpu: ([x]) => [softmax(x)],
      forward: ([x]) => [ref.softmax(x, 29)],
      backward: ([x], r) => [ref.softmaxBackward(ref.softmax(x, 29), r, 29)],
    }),
    (rng) => attentionCase(rng, 'attention', { batch: 2, tokens: 17, heads: 2, headDim: 8 }),
    (rng) => attentionCase(rng, 'attention_n65', { batch: 2, tokens: 65, heads: 3, headDim: 16 }),
    (rng) => attentionCase(rng, 'attention_n65_e64', { batch: 1, tokens: 65, heads: 3, headDim: 64 }),
    (rng) => attentionCase(rng, 'attention_n130', { batch: 1, tokens: 130, heads: 2, headDim: 32 }),
    (rng) => attentionCase(rng, 'attention_e80_rows', { batch: 1, tokens: 9, heads: 2, headDim: 80 }),
    (rng) => attentionLabelsCase(rng, 'attention_labels', { batch: 2, tokens: 65, heads: 3, headDim: 16 }, 10),
    (rng) => attentionLabelsCase(rng, 'attention_labels_e80_rows', { batch: 1, tokens: 9, heads: 2, headDim: 80 }, 3),
    (rng) => ({
      name: 'soft_cross_entropy', shapes: 'logits[37,13] targets[37,13] (outputs: loss, probs, correct)',
      inputs: [input('logits', [37, 13], normal(rng, 37 * 13, 2)), input('targets', [37, 13], softTargets(rng, 37, 13), false)],
      gpu: ([z, t]) => { const r = softCrossEntropy(z, t); return [r.loss, r.probs, r.correct]; },
      forward: ([z, t]) => { const r = ref.softCrossEntropy(z, t, 13); return [Float64Array.of(r.loss), r.probs, r.correct]; },
      backward: ([z, t], r) => [ref.softCrossEntropyBackward(z, t, 13, r[0])],
    }),
    (rng) => {
      const d = { batch: 3, channels: 3, side: 15, patch: 5 };
      return {
        name: 'patchify', shapes: 'images[3,3,15,15] P=5 → patches[27,75]',
        inputs: [input('images', [3, 3, 15, 15], normal(rng, 3 * 3 * 15 * 15))],
        gpu: ([im]) => [patchify(im, 5)],
        forward: ([im]) => [ref.patchify(im, d)],
        backward: (_, r) => [ref.patchifyBackward(r, d)],
      };
    },
    (rng) => ({
      name: 'embed_tokens',
      inputs: [input('patches', [3, 9, 20], normal(rng, 3 * 9 * 20)), input('cls', [20], normal(rng, 20)), input('pos', [10, 20], normal(rng, 200))],
      gpu: ([p, c, pos]) => [embedTokens(p, c, pos)],
      forward: ([p, c, pos]) => [ref.embedTokens(p, c, pos, 3, 20)],
      backward: (_, r) => { const g = ref.embedTokensBackward(r, 3, 10, 20); return [g.dpatches, g.dcls, g.dpos]; },
    }),
    (rng) => ({
      name: 'gather_token', shapes: 'x[3,10,20] index=2',
      inputs: [input('x', [3, 10, 20], normal(rng, 600))],
      gpu: ([x]) => [gatherToken(x, 2)],
      forward: ([x]) => [ref.gatherToken(x, 3, 10, 20, 2)],
      backward: (_, r) => [ref.gatherTokenBackward(r, 3, 10, 20, 2)],
    }),
    (rng) => ({
      name: 'mean_tokens', shapes: 'x[3,10,20] first=1',
      inputs: [input('x', [3, 10, 20], normal(rng, 600))],
      gpu: ([x]) => [meanTokens(x, 1)],
      forward: ([x]) => [ref.meanTokens(x, 3, 10, 20, 1)],
      backward: (_, r) => [ref.meanTokensBackward(r, 3, 10, 20, 1)],
    }),
    (rng) => ({
      name: 'sum', shapes: 'x[100003] ~ U(0, 1)',
      inputs: [input('x', [100003], rng.fill(100003, () => rng.next()), false)],
      gpu: ([x]) => [sumOf(x)],
      forward: ([x]) => [Float64Array.of(ref.sum(x))],
    }),
    (rng) => ({
      name: 'sum_squares', shapes: 'x[100003] ~ N(0, 1)',
      inputs: [input('x', [100003], normal(rng, 100003), false)],
      gpu: ([x]) => [sumOf(x, { square: true })],
      forward: ([x]) => [Float64Array.of(ref.sumSquares(x))],
    }),
    (rng) => ({
      name: 'column_sum',
      inputs: [input('x', [77, 45], normal(rng, 77 * 45), false)],
      gpu: ([x]) => { const y = tempTensor(x.gpu, [45], 'colsum'); columnSum(x.gpu, x.storage, y.storage, 45, false); return [y]; },
      forward: ([x]) => [ref.columnSum(x, 45)],
    }),
    (rng) => optimizerCases(rng),
    (rng) => labelCases(rng),
    (rng) => mixTokenCases(rng),
    (rng) => diversityCases(rng),
    (rng) => methodLossCases(rng),
  ];
}

/**
 * The f16 path's products (adapters with shader-f16): A an f16 activation, B read through an f16
 * copy of its f32 master (the weight copy AdamW writes), the GELU epilogue and LayerNorm writing
 * f16; gradients f32. Inputs are rounded to f16 before the reference sees them.
 */
function halfCases(): ((rng: Rng) => Case | Case[])[] {
  return [
    (rng) => matmulCase(rng, 'matmul_f16_weight', { batch: 1, M: 70, N: 37, K: 45, transB: true }, true, { half: { b: true } }),
    (rng) => matmulCase(rng, 'matmul_f16_both_vec4', { batch: 1, M: 70, N: 36, K: 44, transB: true }, true, { half: { a: true, b: true }, residual: true }),
    (rng) => matmulCase(rng, 'matmul_f16_both_scalar', { batch: 2, M: 33, N: 20, K: 24, transA: true }, false, { half: { a: true, b: true }, kernel: 'scalar' }),
    (rng) => matmulCase(rng, 'matmul_f16_gelu_out', { batch: 1, M: 70, N: 37, K: 45, transB: true }, true, { half: { a: true, b: true, out: true }, gelu: true, std: 0.3 }),
    (rng) => matmulCase(rng, 'matmul_f16_gelu_out_vec4', { batch: 1, M: 70, N: 48, K: 36, transB: true }, true, { half: { a: true, b: true, out: true }, gelu: true, std: 0.3 }),
    (rng) => matmulCase(rng, 'matmul_f16_vec4_tile128', { batch: 2, M: 140, N: 132, K: 36, transA: true }, true, { half: { a: true, b: true }, kernel: 'vec4-128' }),
    (rng) => ({
      name: 'layernorm_f16_out', shapes: `x[70,45] ~ N(3, 2²) gamma[45] beta[45] eps=${LAYERNORM_EPS}; y stored in f16`, tolerance: F16_OUTPUT_TOL,
      inputs: [input('x', [70, 45], normal(rng, 70 * 45, 2, 3)), input('gamma', [45], normal(rng, 45, 0.2, 1)), input('beta', [45], normal(rng, 45, 0.5))],
      gpu: ([x, g, b]) => [layerNorm(x, g, b, LAYERNORM_EPS, { halfOutput: true })],
      forward: ([x, g, b]) => [ref.layerNorm(x, g, b, 45, LAYERNORM_EPS).y],
      backward: ([x, g], r) => { const d = ref.layerNormBackward(x, g, r, 45, LAYERNORM_EPS); return [d.dx, d.dgamma, d.dbeta]; },
    }),
  ];
}

/**
 * Runs every op check; one result per case, in a fixed order. Same seed, same inputs. The f16
 * cases come last (so the f32 cases' seeds do not depend on the adapter) and only with shader-f16.
 */
export async function checkOps(gpu: Gpu, seed = 0): Promise<OpCheck[]> {
  return runMakers(gpu, seed, [...cases(), ...(gpu.device.features.has('shader-f16') ? halfCases() : [])]);
}

/** Only the f16 cases, with the seeds checkOps gives them (throws without shader-f16). */
export async function checkHalfOps(gpu: Gpu, seed = 0): Promise<OpCheck[]> {
  if (!gpu.device.features.has('shader-f16')) throw new Error('the f16 cases need the \'shader-f16\' feature, which this device lacks');
  return runMakers(gpu, seed, [...cases().map(() => () => []), ...halfCases()]);
}

async function runMakers(gpu: Gpu, seed: number, makers: ((rng: Rng) => Case | Case[])[]): Promise<OpCheck[]> {
  const results: OpCheck[] = [];
  for (const [i, make] of makers.entries()) {
    const rng = new Rng(seed * 1000 + i + 1);
    const made = make(rng);
    for (const c of Array.isArray(made) ? made : [made]) results.push(await runCase(gpu, c, rng));
  }
  return results;
}
