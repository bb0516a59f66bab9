/**
 * The playground's training worker: opens its own WebGPU device, builds the chosen ViT and trains
 * it on one fixed synthetic batch (seeded exactly as fixedRun does, so with the same options the
 * losses equal fixedRun's), posting a progress message after every step.
 */
import { type Tensor } from '../autograd/index.ts';
import { syntheticBatch } from './fixed-run.ts';
import { NoWebGPUError, openDevice } from '../gpu/device.ts';
import { Gpu } from '../gpu/gpu.ts';
import { preset } from '../nn/presets.ts';
import { VisionTransformer } from '../nn/vit.ts';
import { type FromWorker, type StartMessage, type ToWorker } from './protocol.ts';
import { AdamW, Trainer } from './step.ts';

interface Run { gpu: Gpu; trainer: Trainer; images: Tensor; targets: Tensor; opts: StartMessage; step: number }

let run: Run | undefined;
let paused = false;
let looping = false;

const post = (m: FromWorker) => (self as unknown as DedicatedWorkerGlobalScope).postMessage(m);

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  if (m.type === 'pause') paused = true;
  else if (m.type === 'resume') { paused = false; void loop(); }
  else if (m.type === 'start') void start(m);
};

async function start(opts: StartMessage) {
  try {
    paused = true; // stop a loop in progress before its device goes away
    while (looping) await new Promise((r) => setTimeout(r, 10));
    paused = false; // from here on, a pause message stops the new run
    run?.gpu.device.destroy();
    run = undefined;
    const { device, report } = await openDevice(navigator.gpu);
    const gpu = new Gpu(device, report);
    const config = preset(opts.preset);
    const model = new VisionTransformer(gpu, config, opts.seed);
    const { images, targets } = syntheticBatch(gpu, config, opts.seed, opts.batch);
    run = { gpu, trainer: new Trainer(model, new AdamW(model.params, { maxGradNorm: 1 })), images, targets, opts, step: 0 };
    post({ type: 'ready', adapter: report, parameters: model.parameterCount });
    await loop();
  } catch (e) {
    fail(e);
  }
}

async function loop() {
  if (looping || !run) return;
  looping = true;
  const r = run;
  try {
    while (!paused && r.step < r.opts.steps) {
      const t0 = performance.now();
      const m = await r.trainer.step(r.images, r.targets, r.opts.lr)!;
      if (r.gpu.errors.length) throw new Error(`WebGPU error: ${r.gpu.errors[0]}`);
      if (r.gpu.lost) throw new Error(`WebGPU device lost: ${r.gpu.lost}`);
      r.step++;
      post({ type: 'progress', step: r.step, loss: m.loss, accuracy: m.accuracy, imgPerSec: r.opts.batch / ((performance.now() - t0) / 1000) });
    }
    post({ type: 'done', step: r.step, paused: r.step < r.opts.steps });
  } catch (e) {
    fail(e);
  } finally {
    looping = false;
  }
}

function fail(e: unknown) {
  post({ type: 'error', message: e instanceof Error ? e.message : String(e), noWebGPU: e instanceof NoWebGPUError });
}
