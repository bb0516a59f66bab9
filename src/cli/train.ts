/**
 * `npm run train -- --data <path|synthetic> --model small --method tl-align --epochs 10 --batch 128
 *   [--teacher model.onnx] [--lr X] [--seed 0] [--train-limit N] [--test-limit M] [--out result.json] [--checkpoint ckpt.safetensors] [--resume ckpt.safetensors]
 *   [--target-acc 80 [--stop-at-target]] [--precision f16]`
 * Trains headless in Node on the WebGPU adapter Dawn finds, with a live progress line, and writes
 * result.json: {config, adapter, epochs: [{epoch, train_loss, test_loss, test_acc, img_per_s, seconds, train_acc, train_eval_loss, cls_share_gap?}], final}.
 * train_acc is measured on clean training images (--train-eval of them) after each epoch; train_loss is the mean loss of the epoch's (mixed) steps.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { skippedLinksNote, summarize } from '../data/dataset.ts';
import { loadDataset } from '../data/load-node.ts';
import { adapterName } from '../gpu/device.ts';
import { openNodeGpu } from '../gpu/node.ts';
import { METHOD_NAMES, methodByName } from '../methods/index.ts';
import { PRESETS } from '../nn/presets.ts';
import { DEFAULT_TRAIN_CONFIG as D, type EpochResult, resolveConfig, type StepProgress, type TrainConfig, TrainingRun, vitConfigOf } from '../train/trainer.ts';
import { parseArgsOrExit } from './args.ts';
import { teacherMapsFor } from './teacher.ts';

const args = parseArgsOrExit('npm run train --', process.argv.slice(2), {
  data: { type: 'string', value: 'PATH', help: 'dataset: CIFAR-10 binary tarball or folder, ImageFolder .tar.gz, web-format folder, or "synthetic" (default)' },
  model: { type: 'string', value: 'NAME', help: `model preset: ${Object.keys(PRESETS).join(', ')} (default ${D.model})` },
  dim: { type: 'number', help: 'override the preset: embedding width' },
  depth: { type: 'number', help: 'override the preset: number of blocks' },
  heads: { type: 'number', help: 'override the preset: attention heads' },
  patch: { type: 'number', help: 'override the preset: patch side in pixels' },
  mlp: { type: 'number', help: 'override the preset: MLP hidden width' },
  method: { type: 'string', value: 'NAME', help: `${METHOD_NAMES.join(', ')} (default ${D.method})` },
  epochs: { type: 'number', help: `epochs (default ${D.epochs})` },
  batch: { type: 'number', help: `batch size (default ${D.batch})` },
  lr: { type: 'number', value: 'X', help: `peak learning rate after warmup (default ${D.lr})` },
  'min-lr': { type: 'number', value: 'X', help: `final learning rate of the cosine (default ${D.minLr})` },
  'warmup-epochs': { type: 'number', help: `linear warmup, in epochs (default ${D.warmupEpochs})` },
  'weight-decay': { type: 'number', value: 'X', help: `AdamW weight decay (default ${D.weightDecay})` },
  clip: { type: 'number', value: 'X', help: 'global gradient-norm clip, 0 = off (default 0)' },
  smoothing: { type: 'number', value: 'X', help: `label smoothing (default ${D.smoothing})` },
  'mixup-alpha': { type: 'number', value: 'X', help: `Mixup Beta(α, α) (default ${D.mixupAlpha})` },
  'cutmix-alpha': { type: 'number', value: 'X', help: `CutMix Beta(α, α) (default ${D.cutmixAlpha})` },
  'mixup-switch': { type: 'number', value: 'P', help: 'probability that a CutMix-style batch uses Mixup instead (DeiT switch; default 0)' },
  teacher: { type: 'string', value: 'MODEL.onnx', help: 'teacher for tokenmix-teacher and token-labeling: an ONNX model with dense maps [batch, K, G, G] (npm run export -- --dense)' },
  'tokenmix-mask': { type: 'string', value: 'KIND', help: `TokenMix mask: blocks (multi-block, the code's) or random (default ${D.tokenmixMask})` },
  'tokenmix-share': { type: 'number', value: 'X', help: `TokenMix: partner share of the tokens (default 0.5 + 1/14)` },
  'tokenmix-loss': { type: 'string', value: 'bce|ce', help: `TokenMix loss: bce (the code's) or ce (default ${D.tokenmixLoss})` },
  'token-label-weight': { type: 'number', value: 'X', help: `Token Labeling: weight β of the per-token loss (default ${D.tokenLabelWeight})` },
  'token-label-gt-weight': { type: 'number', value: 'X', help: `Token Labeling: weight γ of the ground truth in the CLS target (default ${D.tokenLabelGtWeight})` },
  'diversity-cosine': { type: 'number', value: 'X', help: `DiversePatch (paper): weight of the patch-wise cosine penalty (default ${D.diversityCosine})` },
  'diversity-contrastive': { type: 'number', value: 'X', help: `DiversePatch: weight of the patch-wise contrastive loss (default ${D.diversityContrastive})` },
  'diversity-mixing': { type: 'number', value: 'X', help: `DiversePatch: weight of the patch-wise mixing loss (default ${D.diversityMixing})` },
  'diversity-window': { type: 'number', value: 'W', help: 'DiversePatch (code): odd side of the local window (default 7 at 14×14, scaled to the grid)' },
  'no-augment': { type: 'boolean', help: 'no random crop / flip' },
  seed: { type: 'number', help: 'seed of initialisation, shuffling, mixing and augmentation (default 0)' },
  'train-limit': { type: 'number', help: 'use a seeded, class-balanced random subset of N training images' },
  'test-limit': { type: 'number', help: 'the same for the test split' },
  'subset-seed': { type: 'number', help: 'seed of the subsets (default 0, independent of --seed)' },
  'train-eval': { type: 'number', value: 'N', help: 'training images evaluated (clean) after every epoch for the training accuracy; 0 = off (default: as many as the test split)' },
  'share-gap': { type: 'boolean', help: "report each epoch's mean |ρ − λ|: the CLS token's propagated own share after the last block against the mix's area share (spatial mixes)" },
  'eval-batch': { type: 'number', help: `evaluation batch size (default ${D.evalBatch})` },
  precision: { type: 'string', value: 'f32|f16', help: `f16: f16 products, f32 master weights, dynamic loss scaling; needs shader-f16 (default ${D.precision})` },
  'loss-scale-growth': { type: 'number', value: 'N', help: `f16: good steps after which the loss scale doubles (default ${D.lossScaleGrowth})` },
  out: { type: 'string', value: 'result.json', help: 'write the result as JSON' },
  checkpoint: { type: 'string', value: 'FILE', help: 'save weights + optimizer as safetensors after every epoch' },
  resume: { type: 'string', value: 'FILE', help: 'continue from a checkpoint of the same configuration' },
  quiet: { type: 'boolean', help: 'no progress line, only one line per epoch' },
  'target-acc': { type: 'number', value: 'PCT', help: 'report the wall time until test accuracy first reaches PCT % (time-to-accuracy)' },
  'stop-at-target': { type: 'boolean', help: 'with --target-acc: stop training once it is reached' },
  'max-minutes': { type: 'number', value: 'M', help: 'stop after the epoch in which training (evaluation included) passes M minutes of wall time' },
});

const fail = (message: string): never => {
  console.error(`train: ${message}`);
  process.exit(1);
};

const overrides = Object.fromEntries(Object.entries({ dim: args.dim, depth: args.depth, heads: args.heads, patch: args.patch, mlpDim: args.mlp })
  .filter(([, v]) => v !== undefined));
const config: Partial<TrainConfig> = {
  model: args.model, modelOverrides: Object.keys(overrides).length ? overrides : undefined, method: args.method, epochs: args.epochs, batch: args.batch, lr: args.lr, minLr: args['min-lr'],
  warmupEpochs: args['warmup-epochs'], weightDecay: args['weight-decay'], clip: args.clip, smoothing: args.smoothing,
  mixupAlpha: args['mixup-alpha'], cutmixAlpha: args['cutmix-alpha'], mixupSwitchProb: args['mixup-switch'],
  augment: args['no-augment'] ? false : undefined, seed: args.seed, evalBatch: args['eval-batch'],
  tokenmixMask: args['tokenmix-mask'] as TrainConfig['tokenmixMask'] | undefined, tokenmixShare: args['tokenmix-share'],
  tokenmixLoss: args['tokenmix-loss'] as TrainConfig['tokenmixLoss'] | undefined,
  tokenLabelWeight: args['token-label-weight'], tokenLabelGtWeight: args['token-label-gt-weight'],
  diversityCosine: args['diversity-cosine'], diversityContrastive: args['diversity-contrastive'], diversityMixing: args['diversity-mixing'],
  diversityWindow: args['diversity-window'],
  precision: args.precision as TrainConfig['precision'] | undefined, lossScaleGrowth: args['loss-scale-growth'],
};
const dataSpec = args.data ?? 'synthetic';
const resolved = (() => {
  try {
    return resolveConfig(config);
  } catch (e) {
    return fail((e as Error).message);
  }
})();
const teacherMethod = methodByName(resolved.method).teacher;
if (teacherMethod && !args.teacher) fail(`method ${resolved.method} needs a teacher: --teacher <model.onnx> (a model with dense maps; make one with npm run export -- --checkpoint <file> --onnx <out.onnx> --dense)`);
if (!teacherMethod && args.teacher) fail(`--teacher is only used by tokenmix-teacher and token-labeling, not ${resolved.method}`);
const targetAcc = args['target-acc'];
if (targetAcc !== undefined && !(targetAcc > 0 && targetAcc <= 100)) fail(`--target-acc must be a percentage in (0, 100], got ${targetAcc}`);
if (args['stop-at-target'] && targetAcc === undefined) fail('--stop-at-target needs --target-acc');
const maxMinutes = args['max-minutes'];
if (maxMinutes !== undefined && !(maxMinutes > 0)) fail(`--max-minutes must be positive, got ${maxMinutes}`);
const limits = { trainLimit: args['train-limit'], testLimit: args['test-limit'], seed: args['subset-seed'] ?? 0 };

const gpu = await openNodeGpu().catch((e: Error) => fail(`no WebGPU adapter: ${e.message}`));
const loadStart = performance.now();
const data = await loadDataset(dataSpec, {
  ...limits,
  onProgress: process.stderr.isTTY ? (done, total, what) => process.stderr.write(`\rloading ${what}: ${done}/${total}   `) : undefined,
}).catch((e: Error) => fail(e.message));
if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
const loadSeconds = (performance.now() - loadStart) / 1000;

function orFail<T>(action: () => T): T {
  try {
    return action();
  } catch (e) {
    return fail((e as Error).message);
  }
}

const teacher = args.teacher
  ? await teacherMapsFor(args.teacher, data.train, vitConfigOf(resolved), `${data.name} train`).catch((e: Error) => fail(e.message))
  : undefined;
const trainEval = args['train-eval'] ?? Math.min(data.train.count, data.test.count);
if (!(Number.isInteger(trainEval) && trainEval >= 0)) fail(`--train-eval must be a whole number of images ≥ 0, got ${trainEval}`);
const run = orFail(() => new TrainingRun(gpu, data, config, { teacher, trainEval, measureShareGap: args['share-gap'] }));
const resume = args.resume;
if (resume) orFail(() => run.restore(new Uint8Array(readFileSync(resume)), resume));
const c = run.config;
console.log(`adapter: ${adapterName(gpu.adapter)}`);
console.log(`data: ${data.name} (${data.source}): ${data.train.count} train, ${data.test.count} test images, loaded in ${loadSeconds.toFixed(1)} s`);
const linksNote = skippedLinksNote(summarize(data));
if (linksNote) console.log(`  ${linksNote}`);
console.log(`model: ${c.model} (${run.model.parameterCount.toLocaleString('en-US')} parameters), method ${c.method}, ${c.epochs} epochs × ${run.stepsPerEpoch} steps of ${c.batch}, lr ${c.lr}, seed ${c.seed}, precision ${c.precision}` +
  (run.epoch ? `, resumed after epoch ${run.epoch}` : ''));

const clock = (s: number) => {
  if (!Number.isFinite(s)) return '--:--';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
};

// On a terminal the progress line redraws itself; in a log (CI) it is printed at every quarter epoch.
const tty = process.stderr.isTTY && !args.quiet;
let lastQuarter = -1;
function progress(p: StepProgress): void {
  if (args.quiet) return;
  const width = 24;
  const filled = Math.round((p.step / p.steps) * width);
  const epochsLeft = c.epochs - p.epoch - 1;
  const eta = p.etaSeconds + (epochsLeft * run.stepsPerEpoch * c.batch) / p.imgPerS;
  const line = `epoch ${p.epoch + 1}/${c.epochs} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] step ${p.step}/${p.steps}` +
    `  loss ${p.loss.toFixed(4)}  ${p.imgPerS.toFixed(0)} img/s  ETA ${clock(eta)}`;
  if (tty) {
    process.stderr.write(`\r${line}\x1b[K`);
    return;
  }
  const quarter = p.epoch * 4 + Math.floor((4 * p.step) / p.steps);
  if (quarter !== lastQuarter && p.step < p.steps) process.stderr.write(`${line}\n`);
  lastQuarter = quarter;
}

/** Wall clock from the first step of this process's training, evaluation included. */
const trainStart = performance.now();
let timeToTarget: { target_pct: number; epoch: number; seconds: number } | undefined;

const epochs: EpochResult[] = [...run.history];
/** Why training ended: 'done' (every epoch), 'target reached', a time limit; 'running' in the file written after each epoch. */
let stopped = 'done';

function resultOf(status: string) {
  const last = epochs[epochs.length - 1];
  const trainedImages = epochs.reduce((n, e) => n + e.img_per_s * e.seconds, 0);
  const trainedSeconds = epochs.reduce((n, e) => n + e.seconds, 0);
  return {
    config: { ...c, data: dataSpec, dataset: data.name, train_count: data.train.count, test_count: data.test.count,
      train_limit: limits.trainLimit ?? null, test_limit: limits.testLimit ?? null, subset_seed: limits.seed, parameters: run.model.parameterCount },
    adapter: gpu.adapter,
    status,
    epochs: epochs.map(({ epoch, train_loss, test_loss, test_acc, img_per_s, seconds, train_acc, train_eval_loss, cls_share_gap }) =>
      ({ epoch, train_loss, test_loss, test_acc, img_per_s, seconds, train_acc, train_eval_loss, cls_share_gap })),
    final: { test_acc: last.test_acc, img_per_s: trainedImages / trainedSeconds },
    time_to_target: targetAcc === undefined ? undefined : timeToTarget ?? null,
  };
}
while (run.epoch < c.epochs) {
  const r = await run.runEpoch(progress).catch((e: Error) => {
    if (tty) process.stderr.write('\n');
    return fail(e.message);
  });
  if (tty) process.stderr.write('\r\x1b[K');
  epochs.push(r);
  console.log(`epoch ${r.epoch}/${c.epochs}  train loss ${r.train_loss.toFixed(4)}  test loss ${r.test_loss.toFixed(4)}  test acc ${(100 * r.test_acc).toFixed(2)}%` +
    (r.train_acc !== undefined ? `  train acc ${(100 * r.train_acc).toFixed(2)}%` : '') + (r.cls_share_gap !== undefined ? `  |ρ−λ| ${r.cls_share_gap.toFixed(4)}` : '') +
    `  ${r.img_per_s.toFixed(0)} img/s  ${r.seconds.toFixed(1)} s  lr ${r.lr.toExponential(2)}`);
  const scale = await run.lossScale();
  if (scale) console.log(`  f16: loss scale ${scale.scale}, ${scale.skipped} steps skipped (inf/NaN gradients), ${scale.applied} applied`);
  if (targetAcc !== undefined && !timeToTarget && 100 * r.test_acc >= targetAcc) {
    timeToTarget = { target_pct: targetAcc, epoch: r.epoch, seconds: (performance.now() - trainStart) / 1000 };
    console.log(`reached ${targetAcc}% test accuracy at epoch ${r.epoch}, ${clock(timeToTarget.seconds)} (${timeToTarget.seconds.toFixed(1)} s) after the first step, evaluation included`);
  }
  if (args.checkpoint) writeFileSync(args.checkpoint, await run.saveCheckpoint());
  if (args.out) writeFileSync(args.out, JSON.stringify(resultOf(run.epoch < c.epochs ? 'running' : 'done'), null, 2)); // a killed run keeps its epochs
  if (timeToTarget && args['stop-at-target']) {
    stopped = 'target reached';
    break;
  }
  if (maxMinutes !== undefined && run.epoch < c.epochs && (performance.now() - trainStart) / 60_000 >= maxMinutes) {
    stopped = `time limit (${maxMinutes} min)`;
    console.log(`stopped after epoch ${run.epoch}: --max-minutes ${maxMinutes} passed`);
    break;
  }
}
if (targetAcc !== undefined && !timeToTarget) console.log(`did not reach ${targetAcc}% test accuracy in ${epochs.length} epochs`);

const result = resultOf(stopped);
const last = epochs[epochs.length - 1];
if (args.out) writeFileSync(args.out, JSON.stringify(result, null, 2));
console.log(`final: test acc ${(100 * last.test_acc).toFixed(2)}%, ${result.final.img_per_s.toFixed(0)} img/s${args.out ? ` → ${args.out}` : ''}`);
gpu.device.destroy();
process.exit(0);
