/**
 * Browser entry for the e2e tests, bundled with esbuild (.wgsl as text) into engine.js:
 *   - engine.html (tests/e2e/browser-engine.test.ts): the same fixed training run the Node test
 *     runs, on the page's own WebGPU adapter; and the page's image decoder on sample.jpg /
 *     sample.png (written next to engine.html by the test);
 *   - engine.html?bare-training (tests/e2e/page-throughput.test.ts): a page with no UI that trains
 *     a playground RunConfig in a dedicated worker (this same bundle, loaded as a module worker),
 *     with the playground worker's loop, and times windows of steps. window.__bareTraining drives it.
 */
import { syntheticDataset } from '../../src/data/synthetic.ts';
import { browserImageDecoder } from '../../src/data/imagefolder-web.ts';
import { type AdapterReport, openDevice } from '../../src/gpu/device.ts';
import { Gpu } from '../../src/gpu/gpu.ts';
import { fixedRun } from '../../src/train/fixed-run.ts';
import { type RunConfig } from '../../src/train/protocol.ts';
import { TrainingRun } from '../../src/train/trainer.ts';

/** What the bare page reports after a timed window (the same measure the page's worker posts as imgPerS). */
export interface BareWindow {
  /** Steps before the first timed loss read (not timed). */
  warmupSteps: number;
  /** The timed steps, between two loss reads. */
  steps: number;
  seconds: number;
  imgPerS: number;
  /** Mean training loss of the epoch so far, at the window's end. */
  loss: number;
  step: number;
}

export interface BareRunInfo { adapter: AdapterReport; stepsPerEpoch: number; parameters: number; readEvery: number }

type ToBare = { type: 'open'; config: RunConfig; readEvery: number } | { type: 'train'; steps: number };
type FromBare = { type: 'opened'; info: BareRunInfo } | { type: 'trained'; window: BareWindow } | { type: 'error'; message: string };

declare global {
  interface Window {
    __result?: { losses: number[]; accuracies: number[]; adapter: unknown; ms: number };
    __decoded?: { jpeg: number[]; png: number[]; notImage: string };
    __error?: string;
    __bareTraining?: { open(config: RunConfig, readEvery: number): Promise<BareRunInfo>; train(steps: number): Promise<BareWindow> };
  }
}

const messageOf = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e));

// ------------------------------------------------------------------ the bare worker

let bareRun: TrainingRun | undefined;

/**
 * The playground worker's dataset and run for `config` (synthetic data, as src/train/worker.ts
 * makes it), with no views, no curve messages and no checkpoints.
 */
async function openBare(config: RunConfig, readEvery: number): Promise<BareRunInfo> {
  if (config.dataset !== 'synthetic') throw new Error(`the bare page trains the synthetic dataset only, not "${config.dataset}"`);
  const data = syntheticDataset({ train: config.trainLimit ?? 5000, test: config.testLimit ?? 1000, seed: 0 });
  const { device, report } = await openDevice(navigator.gpu);
  bareRun = new TrainingRun(new Gpu(device, report), data, config, { readEvery });
  return { adapter: report, stepsPerEpoch: bareRun.stepsPerEpoch, parameters: bareRun.model.parameterCount, readEvery: bareRun.readEvery };
}

/** At most one step queued beyond the one being recorded, as in src/train/worker.ts. */
const MAX_IN_FLIGHT = 1;

/**
 * The playground worker's loop (src/train/worker.ts) without the page: submit a step, wait while
 * more than MAX_IN_FLIGHT are on the GPU, read the loss sum every `readEvery` steps of the epoch
 * (the read waits for the GPU). Steps up to the first read are warm-up; the window is the `steps`
 * steps from that read to a later one, timed read to read.
 */
async function trainBare(steps: number): Promise<BareWindow> {
  const run = bareRun;
  if (!run) throw new Error('the bare run is not open: call open(config) first');
  if (steps % run.readEvery !== 0) throw new Error(`a window is a whole number of loss reads (${run.readEvery} steps), got ${steps} steps`);
  if (run.stepInEpoch + steps + run.readEvery > run.stepsPerEpoch) {
    throw new Error(`${steps} steps from step ${run.stepInEpoch} of ${run.stepsPerEpoch} would cross the epoch's end: use a larger training set`);
  }
  let warmupSteps = 0;
  let loss = 0;
  const inFlight: Promise<unknown>[] = [];
  const stepAndRead = async () => {
    run.stepOnce();
    inFlight.push(run.gpu.device.queue.onSubmittedWorkDone());
    if (inFlight.length > MAX_IN_FLIGHT) await inFlight.shift();
    if (run.stepInEpoch % run.readEvery !== 0) return false;
    loss = (await run.epochLossSum()) / run.stepInEpoch;
    return true;
  };
  do warmupSteps++; while (!(await stepAndRead()));
  const t0 = performance.now();
  for (let done = 0; done < steps; done++) await stepAndRead();
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(inFlight);
  if (run.gpu.errors.length) throw new Error(`GPU errors: ${run.gpu.errors.join('; ')}`);
  return { warmupSteps, steps, seconds, imgPerS: (steps * run.config.batch) / seconds, loss, step: run.step };
}

function serveBareWorker() {
  const scope = self as unknown as DedicatedWorkerGlobalScope;
  scope.onmessage = async (ev: MessageEvent<ToBare>) => {
    const m = ev.data;
    let reply: FromBare;
    try {
      reply = m.type === 'open' ? { type: 'opened', info: await openBare(m.config, m.readEvery) } : { type: 'trained', window: await trainBare(m.steps) };
    } catch (e) {
      reply = { type: 'error', message: messageOf(e) };
    }
    scope.postMessage(reply);
  };
}

/** The page side: one module worker of this bundle, one request at a time. */
function bareTrainingPage() {
  const worker = new Worker(new URL(import.meta.url), { type: 'module' });
  let pending: { resolve(m: FromBare): void; reject(e: Error): void } | undefined;
  worker.onmessage = (ev: MessageEvent<FromBare>) => pending?.resolve(ev.data);
  worker.onerror = (ev) => pending?.reject(new Error(`the bare worker failed: ${ev.message || 'it could not be loaded'}`));
  const ask = (m: ToBare) => new Promise<FromBare>((resolve, reject) => {
    if (pending) throw new Error('the bare worker is busy');
    pending = { resolve: (r) => { pending = undefined; resolve(r); }, reject: (e) => { pending = undefined; reject(e); } };
    worker.postMessage(m);
  }).then((r) => {
    if (r.type === 'error') throw new Error(r.message);
    return r;
  });
  window.__bareTraining = {
    open: async (config, readEvery) => ((await ask({ type: 'open', config, readEvery })) as Extract<FromBare, { type: 'opened' }>).info,
    train: async (steps) => ((await ask({ type: 'train', steps })) as Extract<FromBare, { type: 'trained' }>).window,
  };
  document.body.textContent = 'bare training page: ready';
}

// ------------------------------------------------------------------ engine.html

async function main() {
  const t0 = performance.now();
  const { device, report } = await openDevice(navigator.gpu);
  const gpu = new Gpu(device, report);
  const r = await fixedRun(gpu, { preset: 'test', seed: 0, steps: 4, batch: 8 });
  if (gpu.errors.length) throw new Error(`device errors: ${gpu.errors.join('; ')}`);
  const decode = async (file: string, kind: 'jpeg' | 'png') =>
    [...(await browserImageDecoder(new Uint8Array(await (await fetch(file)).arrayBuffer()), kind, file)).chw];
  const notImage = await Promise.resolve(browserImageDecoder(new TextEncoder().encode('<!DOCTYPE html>'), 'jpeg', 'x.tar.gz: test/cat/1.jpg'))
    .then(() => 'decoded', (e: Error) => e.message);
  window.__decoded = { jpeg: await decode('sample.jpg', 'jpeg'), png: await decode('sample.png', 'png'), notImage };
  window.__result = { losses: r.losses, accuracies: r.accuracies, adapter: report, ms: performance.now() - t0 };
  document.body.textContent = `losses: ${r.losses.join(', ')}`;
}

if (typeof window === 'undefined') serveBareWorker();
else if (new URLSearchParams(location.search).has('bare-training')) bareTrainingPage();
else {
  main().catch((e: unknown) => {
    window.__error = messageOf(e);
    document.body.textContent = `error: ${window.__error}`;
  });
}
