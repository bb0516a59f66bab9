/**
 * The peer benchmark (`npm run bench:peers`, and the bench page in the browser): the same ViT
 * training step in labelflow, TensorFlow.js and jax-js, on the same WebGPU adapter in one run.
 *
 * Per preset:
 *   1. one set of weights (vitParamSpecs, seed 0) and one batch (N(0,1) images, soft targets that
 *      mix two classes 0.7/0.3) go to every engine;
 *   2. each engine's loss on them is checked against labelflow's (and against the float64 CPU model
 *      where that is cheap enough): |loss − loss_labelflow| / loss_labelflow ≤ 1e-4, else the
 *      engine is not timed and the run fails;
 *   3. warm-up steps, then `samples` rounds of one timed step per engine, in an order that rotates
 *      from round to round (all engines are open at once); every step of every engine ends with
 *      its loss read back, so all are timed the same way (wall clock, CPU work included). A ratio
 *      is the median over rounds of the two engines' step times within a round;
 *   4. matmul GFLOP/s of each engine at the same square sizes, and the GPU bytes each holds where
 *      the library tells.
 * Then labelflow's own figures: TL-Align's step against token-aligned CutMix's (the same mixing;
 * TL-Align adds label propagation), and peak GPU memory against the theoretical minimum.
 *
 * Nothing here knows the platform: the Node CLI (src/cli/bench-peers.ts) and the bench page pass
 * in how to open labelflow's device and how to make the peers.
 */
import { referenceLoss } from '../check/vit-reference.ts';
import { syntheticDataset } from '../data/synthetic.ts';
import { type Gpu } from '../gpu/gpu.ts';
import { preset, tokensOf, type VitConfig } from '../nn/presets.ts';
import { Rng } from '../nn/random.ts';
import { vitParamSpecs } from '../nn/vit.ts';
import { TrainingRun } from '../train/trainer.ts';
import { createLabelflowPeer } from './peers/labelflow.ts';
import type { Peer, PeerAdamW, PeerBatch, PeerFactory, PeerWeights } from './peers/peer.ts';

export const LOSS_AGREEMENT = 1e-4;
export const TARGETS = { tfjsRatio: 3, jaxRatio: 1.5, tlAlignOverhead: 0.03, memoryRatio: 1.3, matmulPeakShare: 0.4 } as const;
/** Step pairs behind the TL-Align overhead (at least; more when --samples asks). */
export const TL_ALIGN_PAIRS = 31;
/** Presets the speed targets are stated for. */
export const TARGET_PRESETS = ['small', 'base'];
const MIX_LAMBDA = 0.7;
/** Above this many float64 FLOP the CPU reference loss is skipped (it runs at ~0.1–0.3 GFLOP/s). */
const REFERENCE_FLOP_LIMIT = 2e9;

export type EngineName = 'labelflow' | 'tfjs' | 'jax';
export const ENGINES: EngineName[] = ['labelflow', 'tfjs', 'jax'];

export interface PeerBenchEnv {
  /** A fresh labelflow device (the bench destroys it when done). */
  openGpu(): Promise<Gpu>;
  /** Factories of the peers; an absent one is reported as skipped. */
  peers: Partial<Record<Exclude<EngineName, 'labelflow'>, PeerFactory>>;
  /** Adapter, browser or Node: what the figures were measured on. */
  host: string;
  log(line: string): void;
}

export interface PeerBenchOptions {
  presets: { name: string; config: VitConfig }[];
  batch: number;
  warmup: number;
  samples: number;
  matmulSizes: number[];
  engines: EngineName[];
  /** The adapter's f32 peak in GFLOP/s, when known (for the matmul target). */
  peakGflops?: number;
  /** Measure TL-Align's overhead and the memory figure (labelflow only). */
  labelflowExtras: boolean;
  adam: PeerAdamW;
}

export interface EngineResult {
  engine: EngineName;
  name?: string;
  loss?: number;
  /** |loss − labelflow's| / labelflow's. */
  lossRel?: number;
  /** Loss after the first AdamW step (second warm-up step), for information. */
  lossAfterStep?: number;
  stepMs?: number;
  imagesPerSecond?: number;
  matmul?: { size: number; reps: number; ms: number; gflops: number }[];
  gpuBytes?: number;
  skipped?: string;
  failed?: string;
}

export interface PresetResult {
  preset: string;
  config: VitConfig;
  parameters: number;
  batch: number;
  referenceLoss?: number;
  engines: EngineResult[];
  /** labelflow's speed over each peer's: the median over rounds of the peer's step time over labelflow's in the same round. */
  ratios: { tfjs?: number; jax?: number };
  /** The distribution-free 95% interval of each ratio (medianInterval over the rounds). */
  ratioIntervals: { tfjs?: [number, number]; jax?: [number, number] };
  memory?: MemoryFigure;
  tlAlign?: TlAlignFigure;
}

export interface MemoryFigure {
  /** Every GPU buffer labelflow created for this preset's model, step and batch (its pools never shrink: this is the peak). */
  peakBytes: number;
  minimumBytes: number;
  parts: { parameters: number; gradients: number; adamw: number; activations: number; batch: number };
  ratio: number;
}

export interface TargetCheck { target: string; value?: string; pass?: boolean; note?: string }

export interface PeerBenchReport {
  date: string;
  host: string;
  options: Omit<PeerBenchOptions, 'presets'> & { presets: string[] };
  presets: PresetResult[];
  targets: TargetCheck[];
  /** False when an engine's loss disagreed or an engine failed. */
  ok: boolean;
}

// ------------------------------------------------------------------ inputs

export function benchWeights(c: VitConfig, seed = 0): PeerWeights {
  return vitParamSpecs(c, seed).map((s) => ({ name: s.name, shape: s.shape, values: s.init(), decay: s.decay }));
}

export function benchBatch(c: VitConfig, batch: number, seed = 0): PeerBatch {
  const rng = new Rng(1000 + seed);
  const images = rng.fill(batch * c.channels * c.imageSize ** 2, () => rng.normal());
  const targets = new Float32Array(batch * c.classes);
  for (let b = 0; b < batch; b++) {
    const first = rng.int(c.classes);
    const second = (first + 1 + rng.int(c.classes - 1)) % c.classes;
    targets[b * c.classes + first] = MIX_LAMBDA;
    targets[b * c.classes + second] = 1 - MIX_LAMBDA;
  }
  return { images, targets, batch };
}

/** FLOP of one image's forward (a multiply-add counts 2); a training step ≈ 3×. */
export function vitForwardFlops(c: VitConfig): number {
  const T = (c.imageSize / c.patch) ** 2;
  const N = T + 1;
  const D = c.dim;
  const block = 2 * N * D * 3 * D + 4 * N * N * D + 2 * N * D * D + 4 * N * D * c.mlpDim;
  return 2 * T * c.channels * c.patch ** 2 * D + c.depth * block + 2 * D * c.classes;
}

/**
 * The least memory a training step of this model can hold without recomputation: parameters,
 * their gradients, AdamW's two moments, the batch, and the activations the backward reads.
 * Per image, what the backward of each op needs (f32):
 *   patch embedding   the patch matrix T·C·P²
 *   per block         LN1 input and output 2·N·D + its mean/rstd 2N; qkv 3·N·D; softmax P H·N²;
 *                     attention output N·D; LN2 input and output 2·N·D + 2N; fc1 output N·F and
 *                     GELU output N·F
 *   head              final LN input N·D + 2N, the CLS features D, softmax of the logits K
 */
export function minimumTrainingBytes(c: VitConfig, batch: number, parameters: number) {
  const N = tokensOf(c);
  const T = N - 1;
  const D = c.dim;
  const perBlock = 2 * N * D + 2 * N + 3 * N * D + c.heads * N * N + N * D + 2 * N * D + 2 * N + 2 * N * c.mlpDim;
  const perImage = T * c.channels * c.patch ** 2 + c.depth * perBlock + N * D + 2 * N + D + c.classes;
  const parts = {
    parameters: 4 * parameters,
    gradients: 4 * parameters,
    adamw: 8 * parameters,
    activations: 4 * batch * perImage,
    batch: 4 * batch * (c.channels * c.imageSize ** 2 + c.classes),
  };
  return { parts, total: Object.values(parts).reduce((a, b) => a + b, 0) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Enough work per timing that launch overheads do not dominate: ≈ 2 GFLOP, 2–32 matmuls. */
export const matmulReps = (n: number) => Math.max(2, Math.min(32, Math.round(2e9 / (2 * n ** 3))));

// ------------------------------------------------------------------ the engines, interleaved

export interface Contender { result: EngineResult; peer: Peer; ms: number[] }

/** Makes an engine's peer and checks its loss against labelflow's; one that fails is disposed. */
async function openEngine(engine: EngineName, make: () => Promise<Peer>, baseline: number | undefined, log: (l: string) => void): Promise<Contender | EngineResult> {
  const result: EngineResult = { engine };
  let peer: Peer | undefined;
  try {
    peer = await make();
    result.name = peer.name;
    result.loss = await peer.loss();
    if (baseline !== undefined) result.lossRel = Math.abs(result.loss - baseline) / Math.abs(baseline);
    if (!Number.isFinite(result.loss) || (result.lossRel ?? 0) > LOSS_AGREEMENT) {
      result.failed = `loss ${result.loss} differs from labelflow's ${baseline} by ${result.lossRel?.toExponential(2)} relative (allowed ${LOSS_AGREEMENT}); not timed`;
      peer.dispose();
      return result;
    }
    log(`  ${peer.name}: loss ${result.loss.toFixed(7)}${result.lossRel !== undefined ? ` (rel. to labelflow ${result.lossRel.toExponential(2)})` : ''}`);
    return { result, peer, ms: [] };
  } catch (e) {
    result.failed = (e as Error).message.split('\n')[0];
    peer?.dispose();
    return result;
  }
}

/**
 * Times the engines' steps in rounds: each round runs one step of every engine, and the order
 * rotates from round to round. A machine whose speed drifts (other load, clocks, heat) then slows
 * every engine alike, and the ratio of two engines is taken within a round. Timed one engine after
 * another, two runs of the same build on a shared 2-core machine gave ratios tens of percent apart.
 * An engine that throws leaves the rounds, marked failed.
 */
export async function timeInRounds(contenders: Contender[], o: PeerBenchOptions, fail: (c: Contender, e: unknown) => void): Promise<void> {
  for (const c of [...contenders]) {
    try {
      for (let w = 0; w < o.warmup; w++) {
        const loss = await c.peer.step();
        if (w === 1) c.result.lossAfterStep = loss;
      }
    } catch (e) {
      fail(c, e);
    }
  }
  for (let round = 0; round < o.samples; round++) {
    const live = contenders.filter((c) => !c.result.failed);
    const order = live.map((_, i) => live[(i + round) % live.length]);
    for (const c of order) {
      try {
        const t0 = performance.now();
        const loss = await c.peer.step();
        c.ms.push(performance.now() - t0);
        if (!Number.isFinite(loss)) throw new Error(`loss became ${loss} in timed step ${round + 1}`);
      } catch (e) {
        fail(c, e);
      }
    }
  }
}

/** After the rounds: step time, the engine's GPU bytes and its matmul figures; then the peer is disposed. */
async function finishEngine(c: Contender, o: PeerBenchOptions, images: number, log: (l: string) => void): Promise<void> {
  const { result, peer } = c;
  try {
    if (result.failed) return;
    result.stepMs = median(c.ms);
    result.imagesPerSecond = (images * 1000) / result.stepMs;
    result.gpuBytes = peer.gpuBytes?.();
    log(`  ${peer.name}: ${result.stepMs.toFixed(1)} ms/step, ${result.imagesPerSecond.toFixed(1)} images/s`);
    result.matmul = [];
    for (const n of o.matmulSizes) {
      const reps = matmulReps(n);
      const total = await peer.matmulMs(n, reps);
      result.matmul.push({ size: n, reps, ms: total / reps, gflops: (2 * n ** 3 * reps) / total / 1e6 });
    }
  } catch (e) {
    result.failed = (e as Error).message.split('\n')[0];
  } finally {
    peer.dispose();
  }
}

// ------------------------------------------------------------------ labelflow's own figures

async function measureMemory(gpu: Gpu, c: VitConfig, o: PeerBenchOptions, weights: PeerWeights, batch: PeerBatch): Promise<MemoryFigure> {
  const peer = await createLabelflowPeer(gpu, c, weights, batch, o.adam);
  try {
    for (let s = 0; s < 3; s++) await peer.step();
    const parameters = weights.reduce((n, w) => n + w.values.length, 0);
    const min = minimumTrainingBytes(c, batch.batch, parameters);
    const peakBytes = gpu.bytesCreated;
    return { peakBytes, minimumBytes: min.total, parts: min.parts, ratio: peakBytes / min.total };
  } finally {
    peer.dispose();
  }
}

/** TL-Align against token-aligned CutMix: step times, and the overhead with a 95% interval. */
export interface TlAlignFigure {
  cutmixTokenMs: number;
  tlAlignMs: number;
  /** Median over pairs of (TL-Align step / CutMix step) − 1. */
  overhead: number;
  /** Distribution-free 95% interval of that median (order statistics). */
  interval: [number, number];
  pairs: number;
}

/**
 * TL-Align's cost over token-aligned CutMix, from `pairs` pairs of whole training steps (GPU mixing,
 * targets, forward, backward, AdamW; synced every step) on one device. Within a pair the order
 * alternates, so drift in the machine's speed, and whatever a step leaves to the next, fall on
 * both methods alike; the overhead is the median of the per-pair ratios. With a fixed order and 9
 * medians of unpaired steps, the software adapter gave 9–10% in one run after another, where
 * alternating pairs gave −6% to +6%: the order, not TL-Align, made that figure.
 */
async function tlAlignOverhead(gpu: Gpu, c: VitConfig, o: PeerBenchOptions, pairs: number): Promise<TlAlignFigure> {
  const warmup = Math.max(o.warmup, 3); // the bind group cache is full from the third step on
  const data = syntheticDataset({ train: o.batch * (warmup + pairs), test: o.batch, size: c.imageSize, seed: 0 });
  const [cutmix, tl] = (['cutmix-token', 'tl-align'] as const).map((method) => new TrainingRun(gpu, data, {
    model: 'test', modelOverrides: { ...c }, method, batch: o.batch, epochs: 1, augment: true, evalBatch: o.batch,
  }, { readEvery: 1e9 }));
  const timedStep = async (run: TrainingRun) => {
    const t0 = performance.now();
    run.stepOnce();
    await gpu.sync();
    return performance.now() - t0;
  };
  const cutmixMs: number[] = [];
  const tlMs: number[] = [];
  for (let s = 0; s < warmup + pairs; s++) {
    const [a, b] = s % 2 ? [await timedStep(tl), await timedStep(cutmix)] : [await timedStep(cutmix), await timedStep(tl)];
    if (s < warmup) continue;
    cutmixMs.push(s % 2 ? b : a);
    tlMs.push(s % 2 ? a : b);
  }
  const ratios = tlMs.map((t, i) => t / cutmixMs[i] - 1);
  return { cutmixTokenMs: median(cutmixMs), tlAlignMs: median(tlMs), overhead: median(ratios), interval: medianInterval(ratios), pairs };
}

/**
 * The 95% confidence interval of a median from the sample alone: [x₍ⱼ₎, x₍ₙ₊₁₋ⱼ₎] of the sorted
 * values, j the largest rank with P(Binomial(n, ½) < j) ≤ 2.5%.
 */
export function medianInterval(xs: number[]): [number, number] {
  const sorted = [...xs].sort((a, b) => a - b);
  const n = sorted.length;
  let below = 0; // P(Bin(n, ½) ≤ j − 1), accumulated
  let term = 0.5 ** n; // P(Bin = 0)
  let j = 0;
  while (j < n && below + term <= 0.025) {
    below += term;
    term *= (n - j) / (j + 1);
    j++;
  }
  if (j === 0) return [sorted[0], sorted[n - 1]];
  return [sorted[j - 1], sorted[n - j]];
}

async function withGpu<T>(env: PeerBenchEnv, fn: (gpu: Gpu) => Promise<T>): Promise<T> {
  const gpu = await env.openGpu();
  try {
    return await fn(gpu);
  } finally {
    gpu.device.destroy();
  }
}

// ------------------------------------------------------------------ the run

export async function runPeerBench(env: PeerBenchEnv, o: PeerBenchOptions): Promise<PeerBenchReport> {
  const report: PeerBenchReport = {
    date: new Date().toISOString(), host: env.host,
    options: { ...o, presets: o.presets.map((p) => p.name) }, presets: [], targets: [], ok: true,
  };
  for (const { name, config: c } of o.presets) {
    const weights = benchWeights(c);
    const batch = benchBatch(c, o.batch);
    const parameters = weights.reduce((n, w) => n + w.values.length, 0);
    const result: PresetResult = { preset: name, config: c, parameters, batch: o.batch, engines: [], ratios: {}, ratioIntervals: {} };
    env.log(`${name}: ${parameters.toLocaleString('en-US')} parameters, batch ${o.batch}`);
    if (3 * vitForwardFlops(c) * o.batch <= REFERENCE_FLOP_LIMIT) {
      const w64 = new Map(weights.map((w) => [w.name, Float64Array.from(w.values)]));
      result.referenceLoss = referenceLoss(c, w64, batch.images, batch.targets, o.batch);
      env.log(`  float64 reference: loss ${result.referenceLoss.toFixed(7)}`);
    }
    // every engine is opened (labelflow first: its loss is the baseline), then timed in rounds
    let baseline: number | undefined;
    const contenders: Contender[] = [];
    for (const engine of o.engines) {
      const factory = engine === 'labelflow'
        ? async () => createLabelflowPeer(await env.openGpu(), c, weights, batch, o.adam)
        : env.peers[engine] && (() => env.peers[engine]!(c, weights, batch, o.adam));
      if (!factory) {
        result.engines.push({ engine, skipped: 'not available here' });
        continue;
      }
      const opened = await openEngine(engine, factory, engine === 'labelflow' ? undefined : baseline, env.log);
      const r = 'peer' in opened ? opened.result : opened;
      if (engine === 'labelflow') {
        baseline = r.loss;
        if (r.loss !== undefined && result.referenceLoss !== undefined) {
          r.lossRel = Math.abs(r.loss - result.referenceLoss) / Math.abs(result.referenceLoss);
          if (r.lossRel > LOSS_AGREEMENT) r.failed = `loss ${r.loss} differs from the float64 reference ${result.referenceLoss} by ${r.lossRel.toExponential(2)} relative`;
        }
      }
      if ('peer' in opened) {
        if (r.failed) opened.peer.dispose();
        else contenders.push(opened);
      }
      result.engines.push(r);
    }
    await timeInRounds(contenders, o, (k, e) => { k.result.failed = (e as Error).message.split('\n')[0]; });
    for (const k of contenders) await finishEngine(k, o, o.batch, env.log);
    for (const r of result.engines) {
      if (!r.failed) continue;
      report.ok = false;
      env.log(`  ${r.engine}: FAILED: ${r.failed}`);
    }
    // labelflow ÷ engine: per round, the engine's step time over labelflow's in that round
    const lf = contenders.find((k) => k.result.engine === 'labelflow' && !k.result.failed);
    for (const peer of ['tfjs', 'jax'] as const) {
      const theirs = contenders.find((k) => k.result.engine === peer && !k.result.failed);
      if (!lf || !theirs) continue;
      const perRound = theirs.ms.map((ms, i) => ms / lf.ms[i]);
      result.ratios[peer] = median(perRound);
      result.ratioIntervals[peer] = medianInterval(perRound);
    }
    if (o.labelflowExtras && o.engines.includes('labelflow')) {
      result.memory = await withGpu(env, (gpu) => measureMemory(gpu, c, o, weights, batch));
      result.tlAlign = await withGpu(env, (gpu) => tlAlignOverhead(gpu, c, o, Math.max(o.samples, TL_ALIGN_PAIRS)));
      const [lo, hi] = result.tlAlign.interval;
      env.log(`  memory: peak ${(result.memory.peakBytes / 2 ** 20).toFixed(1)} MiB, minimum ${(result.memory.minimumBytes / 2 ** 20).toFixed(1)} MiB (×${result.memory.ratio.toFixed(2)}); ` +
        `TL-Align ${result.tlAlign.tlAlignMs.toFixed(1)} ms vs cutmix-token ${result.tlAlign.cutmixTokenMs.toFixed(1)} ms: ` +
        `${(100 * result.tlAlign.overhead).toFixed(1)}% (95% interval ${(100 * lo).toFixed(1)}% to ${(100 * hi).toFixed(1)}%, ${result.tlAlign.pairs} pairs)`);
    }
    report.presets.push(result);
  }
  report.targets = checkTargets(report, o);
  return report;
}

export function checkTargets(report: PeerBenchReport, o: PeerBenchOptions): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  for (const p of report.presets) {
    const stated = TARGET_PRESETS.includes(p.preset);
    const note = stated ? undefined : `the target is stated for ${TARGET_PRESETS.join(' and ')}; shown for information`;
    const ratio = (peer: 'tfjs' | 'jax', want: number, label: string) => {
      const r = p.ratios[peer];
      checks.push({ target: `${p.preset}: labelflow ≥ ${want}× ${label} images/s`, value: r === undefined ? undefined : `${r.toFixed(2)}×`, pass: r === undefined ? undefined : r >= want, note: r === undefined ? 'not measured' : note });
    };
    ratio('tfjs', TARGETS.tfjsRatio, 'TF.js WebGPU');
    ratio('jax', TARGETS.jaxRatio, 'jax-js');
    if (p.tlAlign) {
      const [lo, hi] = p.tlAlign.interval;
      const straddles = lo <= TARGETS.tlAlignOverhead && hi > TARGETS.tlAlignOverhead;
      checks.push({
        target: `${p.preset}: TL-Align ≤ ${pct(TARGETS.tlAlignOverhead)} over cutmix-token`, value: `${pct(p.tlAlign.overhead)} (95%: ${pct(lo)} to ${pct(hi)})`,
        pass: p.tlAlign.overhead <= TARGETS.tlAlignOverhead, note: straddles ? 'the interval spans the target: this adapter\'s noise is larger than the margin' : undefined,
      });
    }
    if (p.memory) checks.push({ target: `${p.preset}: peak GPU memory ≤ ${TARGETS.memoryRatio}× the minimum`, value: `${p.memory.ratio.toFixed(2)}×`, pass: p.memory.ratio <= TARGETS.memoryRatio });
  }
  const big = report.presets.flatMap((p) => p.engines.filter((e) => e.engine === 'labelflow').flatMap((e) => e.matmul ?? [])).filter((m) => m.size >= 1024);
  if (!big.length) checks.push({ target: `matmul ≥ ${pct(TARGETS.matmulPeakShare)} of the f32 peak at sizes ≥ 1024`, note: 'no size ≥ 1024 measured' });
  else if (!o.peakGflops) checks.push({ target: `matmul ≥ ${pct(TARGETS.matmulPeakShare)} of the f32 peak at sizes ≥ 1024`, value: `${Math.max(...big.map((m) => m.gflops)).toFixed(0)} GFLOP/s`, note: 'peak unknown: pass --peak-gflops' });
  else for (const m of big) checks.push({ target: `matmul ${m.size}: ≥ ${pct(TARGETS.matmulPeakShare)} of ${o.peakGflops} GFLOP/s`, value: pct(m.gflops / o.peakGflops), pass: m.gflops / o.peakGflops >= TARGETS.matmulPeakShare });
  return checks;
}

// ------------------------------------------------------------------ printing

const fmt = (x: number | undefined, digits = 1) => (x === undefined ? '–' : x >= 1000 ? x.toFixed(0) : x.toFixed(digits));

const overheadText = (t: TlAlignFigure) =>
  `${(100 * t.overhead).toFixed(1)}% (${(100 * t.interval[0]).toFixed(1)}% to ${(100 * t.interval[1]).toFixed(1)}%, ${t.pairs} pairs)`;

/** Markdown tables of a report (the README's performance table is this output). */
export function reportTables(r: PeerBenchReport): string {
  const lines: string[] = [];
  const engines = r.options.engines;
  lines.push('| preset | batch | engine | loss (rel. to labelflow) | ms / step | images/s | labelflow ÷ engine (median of rounds, 95% interval) |', '|---|---|---|---|---|---|---|');
  for (const p of r.presets) {
    for (const e of p.engines) {
      const rel = e.engine === 'labelflow' ? (p.referenceLoss !== undefined ? `${e.loss?.toFixed(6)} (f64 ref. ${e.lossRel?.toExponential(1)})` : e.loss?.toFixed(6)) : e.loss === undefined ? '–' : `${e.loss.toFixed(6)} (${e.lossRel?.toExponential(1)})`;
      const peer = e.engine === 'labelflow' ? undefined : e.engine;
      const within = peer && p.ratioIntervals[peer];
      const ratio = !peer || p.ratios[peer] === undefined ? '' : `${p.ratios[peer]!.toFixed(2)}×${within ? ` (${within[0].toFixed(2)}–${within[1].toFixed(2)})` : ''}`;
      const status = e.skipped ? `skipped: ${e.skipped}` : e.failed ? `FAILED: ${e.failed}` : undefined;
      lines.push(`| ${p.preset} | ${p.batch} | ${e.name ?? e.engine} | ${status ?? rel ?? '–'} | ${fmt(e.stepMs)} | ${fmt(e.imagesPerSecond, 2)} | ${ratio} |`);
    }
  }
  const sizes = r.options.matmulSizes;
  if (sizes.length) {
    lines.push('', `| matmul GFLOP/s (preset ${r.presets[0]?.preset ?? '–'}'s run) | ${sizes.join(' | ')} |`, `|---|${sizes.map(() => '---').join('|')}|`);
    const p = r.presets[0];
    for (const e of p?.engines ?? []) {
      if (!engines.includes(e.engine)) continue;
      lines.push(`| ${e.name ?? e.engine} | ${sizes.map((n) => fmt(e.matmul?.find((m) => m.size === n)?.gflops, 2)).join(' | ')} |`);
    }
  }
  const extras = r.presets.filter((p) => p.memory || p.tlAlign);
  if (extras.length) {
    lines.push('', '| preset | peak GPU memory | theoretical minimum | ratio | TL-Align ms / step | cutmix-token ms / step | TL-Align overhead (median of paired steps, 95% interval) |', '|---|---|---|---|---|---|---|');
    for (const p of extras) {
      const mib = (b?: number) => (b === undefined ? '–' : `${(b / 2 ** 20).toFixed(2)} MiB`);
      lines.push(`| ${p.preset} | ${mib(p.memory?.peakBytes)} | ${mib(p.memory?.minimumBytes)} | ${p.memory ? `${p.memory.ratio.toFixed(2)}×` : '–'} | ${fmt(p.tlAlign?.tlAlignMs)} | ${fmt(p.tlAlign?.cutmixTokenMs)} | ${p.tlAlign ? overheadText(p.tlAlign) : '–'} |`);
    }
  }
  lines.push('', '| target | measured | pass |', '|---|---|---|');
  for (const t of r.targets) lines.push(`| ${t.target} | ${t.value ?? '–'} | ${t.pass === undefined ? (t.note ?? '–') : `${t.pass ? 'pass' : 'FAIL'}${t.note ? ` (${t.note})` : ''}`} |`);
  return lines.join('\n');
}

/** A preset by name, or the bench's tiny quick model. */
export function benchPreset(name: string): { name: string; config: VitConfig } {
  return { name, config: preset(name) };
}
