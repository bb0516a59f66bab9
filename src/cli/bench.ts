/**
 * `npm run bench -- [--quick] [--json out.json]`: what this adapter does with labelflow's kernels.
 *
 *   1. the adapter (vendor, architecture, features, limits)
 *   2. matmul GFLOP/s on square sizes: `reps` dispatches of encodeMatmul per submit, timed by the
 *      wall clock around gpu.sync() (submit → onSubmittedWorkDone) and, with timestamp-query, per
 *      dispatch on the GPU's own clock
 *   3. attention forward and forward+backward at each preset's ViT shapes (autograd op)
 *   4. the weight-gradient products dW = dCᵀ·X of each preset's linear layers at the training
 *      batch, with every K-slice count S in a sweep (matmulSplitK's choice marked), so that one
 *      run on a GPU gives the data to tune MATMUL_SPLIT_K
 *   5. full training steps (forward, loss, backward, AdamW) per preset, f32 and (where the adapter
 *      has shader-f16) f16: images/s by the wall clock (CPU encoding included), and the GPU time
 *      of one step from timestamps
 *
 * Every figure is the median of several samples taken after warm-up (pipelines compiled, buffer
 * pool filled). Nothing here is tuned for a particular adapter: sizes, batches and repetition
 * counts depend only on the mode.
 *
 * FLOP arithmetic (a multiply-add counts 2):
 *   matmul [M,K]·[K,N]:  2·M·N·K
 *   attention, B images, H heads, N tokens, head dim d (D = H·d):
 *     forward  S = QKᵀ (2·N²·d) and O = P·V (2·N²·d) per head       → 4·B·H·N²·d = 4·B·N²·D
 *     backward dP = dO·Vᵀ, dV = Pᵀ·dO, dQ = dS·K, dK = dSᵀ·Q          → 8·B·N²·D
 *     (softmax and its backward are O(B·H·N²) and not counted)
 *   ViT forward per image (T patches, N = T + 1 tokens, F MLP dim, K classes, L blocks):
 *     patch embedding 2·T·(C·P²)·D, per block qkv 2·N·D·3D + attention 4·N²·D + proj 2·N·D²
 *     + MLP 2·2·N·D·F, head 2·D·K.  A training step ≈ 3 × forward (backward: two matmuls per
 *     forward one; the patch embedding's input gradient is not needed, so this slightly overcounts).
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { attention, backwardFrom, noGrad, tensorFrom, type Tensor } from '../autograd/index.ts';
import { encodeMatmul, matmulSplitK, type Dims } from '../autograd/ops/matmul.ts';
import { adapterName, type AdapterReport } from '../gpu/device.ts';
import { type Gpu, type KernelTiming } from '../gpu/gpu.ts';
import { openNodeGpu } from '../gpu/node.ts';
import { preset, tokensOf, type VitConfig } from '../nn/presets.ts';
import { Rng } from '../nn/random.ts';
import { type Precision, VisionTransformer } from '../nn/vit.ts';
import { AdamW, Trainer } from '../train/step.ts';
import { vitForwardFlops } from '../bench/peers-bench.ts';
import { type FlagSpec, parseArgsOrExit } from './args.ts';

const FLAGS = {
  json: { type: 'string', value: 'out.json', help: 'also write the results as JSON to this file' },
  quick: { type: 'boolean', help: 'small sizes, presets test and peer, small batches, few steps' },
  sizes: { type: 'list', value: '256,512', help: 'matmul sizes (quick: 128,256; full: 256,512,1024,2048)' },
  presets: { type: 'list', value: 'test,peer', help: 'attention/training presets (quick: test,peer; full: test,peer,small,base)' },
  batch: { type: 'number', help: 'training batch (quick: 16; full: 128)' },
  'attention-batch': { type: 'number', help: 'attention batch (quick: 8; full: 128)' },
  'no-split-k': { type: 'boolean', help: 'skip the split-K sweep of the weight-gradient products' },
  adapter: { type: 'boolean', help: 'print the adapter (name, features, limits) and exit: a probe before a long run' },
  samples: { type: 'number', help: 'timed samples per figure, median reported (quick: 5; full: 7)' },
} as const satisfies Record<string, FlagSpec>;

interface Mode {
  sizes: number[];
  presets: string[];
  attentionBatch: number;
  trainBatch: number;
  samples: number;
  warmup: number;
  /** Training steps per timed sample. */
  stepsPerSample: number;
}

const QUICK: Mode = { sizes: [128, 256], presets: ['test', 'peer'], attentionBatch: 8, trainBatch: 16, samples: 5, warmup: 2, stepsPerSample: 2 };
const FULL: Mode = { sizes: [256, 512, 1024, 2048], presets: ['test', 'peer', 'small', 'base'], attentionBatch: 128, trainBatch: 128, samples: 7, warmup: 3, stepsPerSample: 3 };

/** Enough work per submit that launch and sync overheads do not dominate: ≈ 2 GFLOP, 4–64 dispatches. */
const matmulReps = (n: number) => Math.max(4, Math.min(64, Math.round(2 ** 31 / (2 * n ** 3))));
/** Attention iterations recorded per submit. */
const ATTENTION_REPS = 4;

// ------------------------------------------------------------------ results

interface MatmulResult {
  size: number;
  reps?: number;
  wallMs?: number;
  wallGflops?: number;
  gpuMs?: number;
  gpuGflops?: number;
  skipped?: string;
}

interface AttentionResult {
  preset: string;
  batch: number;
  tokens: number;
  heads: number;
  headDim: number;
  forwardMs?: number;
  forwardBackwardMs?: number;
  forwardBackwardGflops?: number;
  skipped?: string;
  gpuForwardMs?: number;
  gpuForwardBackwardMs?: number;
}

interface SplitKResult {
  preset: string;
  /** The linear layer whose weight gradient this is: [out, in] = [M, N], K = batch × tokens. */
  layer: string;
  M: number;
  N: number;
  K: number;
  /** matmulSplitK's choice for these dimensions. */
  auto: number;
  /** Per slice count: wall ms per product (submit → done, `reps` per submit) and GPU ms (all its kernels). */
  runs: { slices: number; wallMs: number; gpuMs?: number }[];
  /** The slice count with the lowest time (GPU time where the adapter has timestamps). */
  best?: number;
  skipped?: string;
}

interface TrainingResult {
  preset: string;
  precision: Precision;
  parameters?: number;
  batch: number;
  stepMs?: number;
  imagesPerSecond?: number;
  /** Kernel dispatches in one step (AdamW with clipping, as the bench's trainer runs it). */
  dispatches?: number;
  /** CPU time to record and submit one step (inside the wall time). */
  encodeMs?: number;
  gflops?: number;
  gpuStepMs?: number;
  dispatchesTimed?: number;
  /** Every kernel of the step by GPU time, largest first (the JSON keeps all; the table shows the first). */
  kernels?: { label: string; ms: number; count: number }[];
  skipped?: string;
}

interface BenchReport {
  date: string;
  mode: 'quick' | 'full';
  node: string;
  cpus: number;
  adapter: AdapterReport & { name: string; timestamps: boolean };
  matmul: MatmulResult[];
  attention: AttentionResult[];
  splitK: SplitKResult[];
  training: TrainingResult[];
  notes: string[];
}

// ------------------------------------------------------------------ helpers

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function randomTensor(gpu: Gpu, shape: number[], rng: Rng, requiresGrad = false, name = ''): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensorFrom(gpu, shape, rng.fill(n, () => rng.uniform(-1, 1)), requiresGrad, name);
}

/** Wall milliseconds of `record()` (encoding, untimed) followed by submit and wait (timed). */
async function timeSubmit(gpu: Gpu, record: () => void): Promise<number> {
  record();
  const t0 = performance.now();
  await gpu.sync();
  const ms = performance.now() - t0;
  gpu.endStep();
  return ms;
}

/** Runs `record` once per sample with timestamp-query on; per sample, the summed ms of matching kernels. */
async function timestamped(gpu: Gpu, samples: number, record: () => void, match: (label: string) => boolean): Promise<{ perSample: number[]; timings: KernelTiming[][] }> {
  if (!gpu.startTiming()) return { perSample: [], timings: [] };
  for (let s = 0; s < samples; s++) {
    record();
    gpu.endStep();
  }
  const timings = await gpu.stopTiming();
  return { perSample: timings.map((t) => t.filter((k) => match(k.label)).reduce((a, k) => a + k.ms, 0)), timings };
}


// ------------------------------------------------------------------ matmul

async function benchMatmul(gpu: Gpu, n: number, mode: Mode): Promise<MatmulResult> {
  const rng = new Rng(n);
  const a = randomTensor(gpu, [n, n], rng);
  const b = randomTensor(gpu, [n, n], rng);
  const c = randomTensor(gpu, [n, n], rng);
  const dims = { batch: 1, M: n, N: n, K: n };
  const reps = matmulReps(n);
  const record = () => {
    for (let r = 0; r < reps; r++) encodeMatmul(gpu, a.storage, b.storage, c.storage, dims, { transA: false, transB: false, accumulate: false, alpha: 1 });
  };
  for (let w = 0; w < mode.warmup; w++) await timeSubmit(gpu, record);
  const wall: number[] = [];
  for (let s = 0; s < mode.samples; s++) wall.push((await timeSubmit(gpu, record)) / reps);
  const flop = 2 * n ** 3;
  const wallMs = median(wall);
  const result: MatmulResult = { size: n, reps, wallMs, wallGflops: flop / wallMs / 1e6 };
  const { timings } = await timestamped(gpu, mode.samples, record, () => true);
  const perDispatch = timings.flat().filter((k) => k.label.startsWith('matmul:matmul')).map((k) => k.ms);
  if (perDispatch.length) {
    result.gpuMs = median(perDispatch);
    result.gpuGflops = flop / result.gpuMs / 1e6;
  }
  for (const t of [a, b, c]) t.storage.buffer.destroy();
  return result;
}

// ------------------------------------------------------------------ attention

async function benchAttention(name: string, batch: number, mode: Mode): Promise<AttentionResult> {
  const c = preset(name);
  const N = tokensOf(c);
  const shape = { preset: name, batch, tokens: N, heads: c.heads, headDim: c.dim / c.heads };
  return withDevice(async (gpu) => {
    const problem = fitProblem(gpu, [batch * c.heads * N * N, batch * N * 3 * c.dim]);
    return problem ? { ...shape, skipped: problem } : { ...shape, ...(await timeAttention(gpu, c, batch, mode)) };
  }, (message) => ({ ...shape, skipped: `failed: ${message}` }));
}

async function timeAttention(gpu: Gpu, c: VitConfig, batch: number, mode: Mode) {
  const N = tokensOf(c);
  const rng = new Rng(1);
  const qkv = randomTensor(gpu, [batch * N, 3 * c.dim], rng, true, 'qkv');
  const dOut = randomTensor(gpu, [batch * N, c.dim], rng, false, 'dout');
  const forward = () => {
    for (let r = 0; r < ATTENTION_REPS; r++) noGrad(() => attention(qkv, batch, N, c.heads));
  };
  const forwardBackward = () => {
    for (let r = 0; r < ATTENTION_REPS; r++) {
      qkv.grad = undefined; // a fresh gradient each time, as in a training step
      backwardFrom(attention(qkv, batch, N, c.heads).out, dOut);
    }
    qkv.grad = undefined;
  };
  const timeIt = async (record: () => void) => {
    for (let w = 0; w < mode.warmup; w++) await timeSubmit(gpu, record);
    const xs: number[] = [];
    for (let s = 0; s < mode.samples; s++) xs.push((await timeSubmit(gpu, record)) / ATTENTION_REPS);
    return median(xs);
  };
  const forwardMs = await timeIt(forward);
  const forwardBackwardMs = await timeIt(forwardBackward);
  const flop = 12 * batch * N * N * c.dim;
  const result: { forwardMs: number; forwardBackwardMs: number; forwardBackwardGflops: number; gpuForwardMs?: number; gpuForwardBackwardMs?: number } = {
    forwardMs, forwardBackwardMs, forwardBackwardGflops: flop / forwardBackwardMs / 1e6,
  };
  const isAttention = (l: string) => l.startsWith('attention:');
  const f = await timestamped(gpu, mode.samples, forward, isAttention);
  const fb = await timestamped(gpu, mode.samples, forwardBackward, isAttention);
  if (f.perSample.length) result.gpuForwardMs = median(f.perSample) / ATTENTION_REPS;
  if (fb.perSample.length) result.gpuForwardBackwardMs = median(fb.perSample) / ATTENTION_REPS;
  for (const t of [qkv, dOut]) t.storage.buffer.destroy();
  return result;
}

// ------------------------------------------------------------------ split-K sweep

/** The weight-gradient products of one block of a preset: dW [out, in] = dCᵀ [out, B·N] · X [B·N, in]. */
function weightGradientShapes(c: VitConfig, batch: number): { layer: string; M: number; N: number; K: number }[] {
  const K = batch * tokensOf(c);
  return [
    { layer: 'qkv', M: 3 * c.dim, N: c.dim, K },
    { layer: 'proj', M: c.dim, N: c.dim, K },
    { layer: 'fc1', M: c.mlpDim, N: c.dim, K },
    { layer: 'fc2', M: c.dim, N: c.mlpDim, K },
  ];
}

/** Slice counts to try: 1, matmulSplitK's choice, and for each power of two up to 256 the largest divisor of K not above it. */
function splitKCandidates(K: number, auto: number): number[] {
  const set = new Set([1, auto]);
  for (let p = 2; p <= 256 && p <= K / 16; p *= 2) {
    let s = p;
    while (K % s !== 0) s--;
    set.add(s);
  }
  return [...set].sort((a, b) => a - b);
}

async function benchSplitK(gpu: Gpu, name: string, shape: { layer: string; M: number; N: number; K: number }, mode: Mode): Promise<SplitKResult> {
  const { M, N, K } = shape;
  const d: Dims = { batch: 1, M, N, K };
  const auto = matmulSplitK(d, true, false);
  const base = { preset: name, ...shape, auto };
  const problem = fitProblem(gpu, [K * Math.max(M, N)]);
  if (problem) return { ...base, runs: [], skipped: problem };
  const candidates = splitKCandidates(K, auto).filter((s) => s === 1 || !fitProblem(gpu, [s * M * N]));
  const rng = new Rng(K);
  const dC = randomTensor(gpu, [K, M], rng);
  const x = randomTensor(gpu, [K, N], rng);
  const dW = randomTensor(gpu, [M, N], rng);
  const reps = Math.max(2, Math.min(32, Math.round(2 ** 30 / (2 * M * N * K))));
  const runs: SplitKResult['runs'] = [];
  for (const slices of candidates) {
    const record = () => {
      for (let r = 0; r < reps; r++) encodeMatmul(gpu, dC.storage, x.storage, dW.storage, d, { transA: true, transB: false, accumulate: true, alpha: 1, splitK: slices });
    };
    for (let w = 0; w < mode.warmup; w++) await timeSubmit(gpu, record);
    const wall: number[] = [];
    for (let s = 0; s < mode.samples; s++) wall.push((await timeSubmit(gpu, record)) / reps);
    const { perSample } = await timestamped(gpu, mode.samples, record, () => true);
    runs.push({ slices, wallMs: median(wall), gpuMs: perSample.length ? median(perSample) / reps : undefined });
  }
  for (const t of [dC, x, dW]) t.storage.buffer.destroy();
  const time = (r: SplitKResult['runs'][number]) => r.gpuMs ?? r.wallMs;
  const best = runs.reduce((a, r) => (time(r) < time(a) ? r : a)).slices;
  return { ...base, runs, best };
}

// ------------------------------------------------------------------ training

/** The largest of the given buffer sizes (in f32 elements) against the adapter's binding limit. */
function fitProblem(gpu: Gpu, elements: number[]): string | undefined {
  const largest = 4 * Math.max(...elements);
  const limit = Math.min(gpu.adapter.limits.maxStorageBufferBindingSize, gpu.adapter.limits.maxBufferSize);
  if (largest > limit) return `needs a ${(largest / 2 ** 20).toFixed(0)} MiB storage binding; this adapter allows ${(limit / 2 ** 20).toFixed(0)} MiB`;
  return undefined;
}

/**
 * Runs fn on a device of its own, so that an out-of-memory or a lost device in one figure leaves
 * the others intact; a failure becomes onError's result.
 */
async function withDevice<T>(fn: (gpu: Gpu) => Promise<T>, onError: (message: string) => T): Promise<T> {
  let gpu: Gpu | undefined;
  try {
    gpu = await openNodeGpu();
    return await fn(gpu);
  } catch (e) {
    return onError((e as Error).message.split('\n')[0]);
  } finally {
    gpu?.device.destroy();
  }
}

async function benchTraining(name: string, batch: number, mode: Mode, precision: Precision): Promise<TrainingResult> {
  const c = preset(name);
  return withDevice((gpu) => {
    const N = tokensOf(c);
    const problem = fitProblem(gpu, [batch * N * c.mlpDim, batch * c.heads * N * N, batch * N * 3 * c.dim, batch * c.channels * c.imageSize ** 2]);
    return problem ? Promise.resolve({ preset: name, precision, batch, skipped: problem }) : timeTraining(gpu, name, c, batch, mode, precision);
  }, (message) => ({ preset: name, precision, batch, skipped: `failed: ${message}` }));
}

async function timeTraining(gpu: Gpu, name: string, c: VitConfig, batch: number, mode: Mode, precision: Precision): Promise<TrainingResult> {
  const model = new VisionTransformer(gpu, c, 0, [], { precision });
  const trainer = new Trainer(model, new AdamW(model.params, { maxGradNorm: 1 }));
  const rng = new Rng(2);
  const images = tensorFrom(gpu, [batch, c.channels, c.imageSize, c.imageSize], rng.fill(batch * c.channels * c.imageSize ** 2, () => rng.normal()));
  const t = new Float32Array(batch * c.classes);
  for (let i = 0; i < batch; i++) t[i * c.classes + rng.int(c.classes)] = 1;
  const targets = tensorFrom(gpu, [batch, c.classes], t);
  const lr = 1e-4;

  for (let w = 0; w < mode.warmup; w++) {
    const m = await trainer.step(images, targets, lr, true)!;
    if (!Number.isFinite(m.loss)) throw new Error(`loss is ${m.loss} in warm-up step ${w + 1}`);
  }
  const stepMs: number[] = [];
  const encodeMs: number[] = [];
  let dispatches = 0;
  for (let s = 0; s < mode.samples; s++) {
    const t0 = performance.now();
    for (let k = 0; k < mode.stepsPerSample; k++) {
      const e0 = performance.now();
      const d0 = gpu.dispatches;
      trainer.step(images, targets, lr, false);
      encodeMs.push(performance.now() - e0);
      dispatches = gpu.dispatches - d0;
    }
    await gpu.sync();
    stepMs.push((performance.now() - t0) / mode.stepsPerSample);
  }
  const ms = median(stepMs);
  const result: TrainingResult = {
    preset: name, precision, parameters: model.parameterCount, batch, dispatches, stepMs: ms, imagesPerSecond: (batch * 1000) / ms,
    encodeMs: median(encodeMs), gflops: (3 * vitForwardFlops(c) * batch) / ms / 1e6,
  };
  const { perSample, timings } = await timestamped(gpu, Math.min(3, mode.samples), () => trainer.step(images, targets, lr, false), () => true);
  if (perSample.length) {
    // the kernel breakdown comes from the sample whose total is reported (the middle one)
    const middle = perSample.map((ms, i) => [ms, i]).sort((a, b) => a[0] - b[0])[Math.floor((perSample.length - 1) / 2)][1];
    result.gpuStepMs = perSample[middle];
    result.dispatchesTimed = timings[middle].length;
    const byLabel = new Map<string, { ms: number; count: number }>();
    for (const k of timings[middle]) {
      const e = byLabel.get(k.label) ?? { ms: 0, count: 0 };
      e.ms += k.ms;
      e.count++;
      byLabel.set(k.label, e);
    }
    result.kernels = [...byLabel].map(([label, e]) => ({ label, ...e })).sort((a, b) => b.ms - a.ms);
  }
  return result;
}

// ------------------------------------------------------------------ printing

function table(title: string, head: string[], rows: (string | number | undefined)[][]): string {
  const cells = rows.map((r) => r.map((v) => (v === undefined ? '–' : String(v))));
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
  return [`\n${title}`, line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

const f1 = (x?: number) => (x === undefined ? undefined : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const f3 = (x?: number) => (x === undefined ? undefined : x < 1 ? x.toFixed(3) : f1(x));

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const flags = parseArgsOrExit('npm run bench --', process.argv.slice(2), FLAGS);
  const base = flags.quick ? QUICK : FULL;
  const mode: Mode = {
    ...base,
    sizes: flags.sizes?.map((s) => positiveInt(s, '--sizes')) ?? base.sizes,
    presets: flags.presets ?? base.presets,
    trainBatch: flags.batch !== undefined ? positiveInt(String(flags.batch), '--batch') : base.trainBatch,
    attentionBatch: flags['attention-batch'] !== undefined ? positiveInt(String(flags['attention-batch']), '--attention-batch') : base.attentionBatch,
    samples: flags.samples !== undefined ? positiveInt(String(flags.samples), '--samples') : base.samples,
  };
  for (const p of mode.presets) {
    try {
      preset(p); // unknown names fail now, not after minutes of matmuls
    } catch (e) {
      console.error(`--presets: ${(e as Error).message}`);
      process.exit(2);
    }
  }

  const gpu = await openNodeGpu();
  const report: BenchReport = {
    date: new Date().toISOString(),
    mode: flags.quick ? 'quick' : 'full',
    node: process.version,
    cpus: cpus().length,
    adapter: { ...gpu.adapter, name: adapterName(gpu.adapter), timestamps: gpu.hasTimestamps },
    matmul: [],
    attention: [],
    splitK: [],
    training: [],
    notes: [],
  };
  const a = report.adapter;
  console.log(`adapter: ${a.name}${a.isFallbackAdapter ? ' [fallback/software]' : ''}`);
  console.log(`features: ${a.features.join(', ') || 'none'}; maxStorageBufferBindingSize ${(a.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB`);
  console.log(`mode: ${report.mode}, ${mode.samples} samples per figure (medians), ${report.cpus} CPUs, Node ${report.node}`);
  report.notes.push(gpu.hasTimestamps
    ? 'gpu columns: timestamp-query with one compute pass per dispatch (on some adapters the extra passes cost time of their own); wall columns: submit → onSubmittedWorkDone'
    : 'no timestamp-query on this adapter: GPU-side times are absent');
  gpu.device.destroy();
  if (flags.adapter) {
    console.log(JSON.stringify(report.adapter, null, 2));
    return;
  }

  for (const n of mode.sizes) {
    report.matmul.push(await withDevice((g) => benchMatmul(g, n, mode), (message) => ({ size: n, skipped: `failed: ${message}` })));
  }
  console.log(table('matmul (square, fp32)', ['size', 'reps/submit', 'wall ms', 'wall GFLOP/s', 'gpu ms', 'gpu GFLOP/s'],
    report.matmul.map((r) => [r.size, r.reps, f3(r.wallMs), f1(r.wallGflops), f3(r.gpuMs), f1(r.gpuGflops)])));

  for (const p of mode.presets) report.attention.push(await benchAttention(p, mode.attentionBatch, mode));
  console.log(table('attention (per call)', ['preset', 'B', 'N', 'H', 'd', 'fwd ms', 'fwd+bwd ms', 'GFLOP/s', 'gpu fwd ms', 'gpu fwd+bwd ms'],
    report.attention.map((r) => [r.preset, r.batch, r.tokens, r.heads, r.headDim, f3(r.forwardMs), f3(r.forwardBackwardMs),
      f1(r.forwardBackwardGflops), f3(r.gpuForwardMs), f3(r.gpuForwardBackwardMs)])));

  if (!flags['no-split-k']) {
    for (const p of mode.presets) {
      for (const shape of weightGradientShapes(preset(p), mode.trainBatch)) {
        report.splitK.push(await withDevice((g) => benchSplitK(g, p, shape, mode), (message) => ({ preset: p, ...shape, auto: 0, runs: [], skipped: `failed: ${message}` })));
      }
    }
    const ms = (r: SplitKResult, slices: number) => {
      const run = r.runs.find((x) => x.slices === slices);
      return run && (run.gpuMs ?? run.wallMs);
    };
    console.log(table(`weight gradients dW = dCᵀ·X at batch ${mode.trainBatch}, by K slices (ms per product, ${gpu.hasTimestamps ? 'GPU clock' : 'wall clock'}; auto = matmulSplitK)`,
      ['preset', 'layer', 'M', 'N', 'K', 'S=1 ms', 'auto S', 'auto ms', 'best S', 'best ms', 'tried'],
      report.splitK.map((r) => [r.preset, r.layer, r.M, r.N, r.K, f3(ms(r, 1)), r.auto || undefined, f3(ms(r, r.auto)), r.best, f3(r.best && ms(r, r.best)),
        r.skipped ? 'skipped' : r.runs.map((x) => x.slices).join(',')])));
  }

  // f16 (shader-f16 adapters): f16 products and stored activations, f32 master weights, loss scaling
  const precisions: Precision[] = report.adapter.features.includes('shader-f16') ? ['f32', 'f16'] : ['f32'];
  for (const p of mode.presets) for (const precision of precisions) report.training.push(await benchTraining(p, mode.trainBatch, mode, precision));
  console.log(table('training step (forward + loss + backward + AdamW, one submit)',
    ['preset', 'precision', 'params', 'batch', 'dispatches', 'step ms', 'images/s', 'encode ms', '≈GFLOP/s', 'gpu step ms', 'top kernel (gpu ms)'],
    report.training.map((r) => [r.preset, r.precision, r.parameters, r.batch, r.dispatches, f1(r.stepMs), f1(r.imagesPerSecond), f3(r.encodeMs), f1(r.gflops), f1(r.gpuStepMs),
      r.kernels?.[0] ? `${r.kernels[0].label} ×${r.kernels[0].count} (${f1(r.kernels[0].ms)})` : undefined])));
  for (const r of report.matmul) if (r.skipped) report.notes.push(`matmul ${r.size} skipped: ${r.skipped}`);
  for (const r of report.attention) if (r.skipped) report.notes.push(`attention ${r.preset} (batch ${r.batch}) skipped: ${r.skipped}`);
  for (const r of report.splitK) if (r.skipped) report.notes.push(`split-K ${r.preset} ${r.layer} skipped: ${r.skipped}`);
  for (const r of report.training) {
    if (r.skipped) report.notes.push(`training ${r.preset} ${r.precision} (batch ${r.batch}) skipped: ${r.skipped}`);
    if (r.dispatchesTimed !== undefined && r.dispatchesTimed >= 2048) report.notes.push(`training ${r.preset}: timestamps cover only the first 2048 dispatches of the step`);
  }
  if (report.notes.length) console.log(`\nnotes:\n${report.notes.map((n) => `  - ${n}`).join('\n')}`);

  if (flags.json) {
    writeFileSync(flags.json, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`\nwrote ${flags.json}`);
  }
}

function positiveInt(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`${flag}: "${s}" is not a positive integer`);
    process.exit(2);
  }
  return n;
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e instanceof Error ? e.stack ?? e.message : e);
    process.exit(1);
  },
);
