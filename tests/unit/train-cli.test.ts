// `npm run train` end to end. The learning acceptance: the `test` ViT on 5,000 class-balanced
// CIFAR-10 JPEGs for 4 epochs must pass 25% test accuracy (chance 10%) with TL-Align and without
// mixing, for any seed (issue 16, item 6). Plus a synthetic run that writes a checkpoint, and CLI
// errors.
//
// The learning budget (LEARNING below) replaced 3 epochs of batch 128 at lr 0.001 after a 1-epoch
// warmup, with random crop + flip and 1,000 test images (about 40 s a run), which passed for seed 0
// only (seed 1: 23.6% with tl-align, 24.6% without mixing). Batch 64 at lr 0.005 after a 0.3-epoch
// warmup, without augmentation, learns more per step; 4 epochs of it take about 33 s a run; 2,000
// test images halve the variance of the measured accuracy (±1.0 instead of ±1.4 points at 27%).
// Measured on lavapipe, test accuracy by seed 0 / 1 / 2: tl-align 29.8 / 28.8 / 28.7%, none 29.2 /
// 30.9 / 30.4%, so the smallest margin over the gate is 3.7 points (3 epochs gave tl-align 26.6%
// for seeds 1 and 2, a margin of 1.6). CI runs seed 0; all three seeds, with a table of the six
// accuracies and the smallest margin (also written to test-results/learning-seeds.json):
//   LABELFLOW_LEARNING_SEEDS=0,1,2 node scripts/run-tests.mjs tests/unit/train-cli.test.ts
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeSafetensors } from '../../src/interop/safetensors.ts';

const dir = mkdtempSync(join(tmpdir(), 'labelflow-train-'));
const cifarDir = process.env.LABELFLOW_CIFAR10;
const jpg = cifarDir ? join(cifarDir, 'cifar10-jpg.tar.gz') : undefined;

function train(args: string[]) {
  const r = spawnSync(process.execPath, ['scripts/node-ts.mjs', 'src/cli/train.ts', ...args], { encoding: 'utf8', timeout: 600_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface Result {
  config: Record<string, unknown>;
  adapter: { limits: Record<string, number> };
  epochs: { epoch: number; train_loss: number; test_loss: number; test_acc: number; img_per_s: number; seconds: number; train_acc?: number; cls_share_gap?: number }[];
  final: { test_acc: number; img_per_s: number };
}

/** The learning acceptance's budget: what every method and seed gets. */
const LEARNING = { trainLimit: 5000, testLimit: 2000, epochs: 4, batch: 64, lr: 0.005, warmupEpochs: 0.3, augment: false };
const LEARNING_ARGS = ['--model', 'test', '--train-limit', `${LEARNING.trainLimit}`, '--test-limit', `${LEARNING.testLimit}`, '--epochs', `${LEARNING.epochs}`,
  '--batch', `${LEARNING.batch}`, '--lr', `${LEARNING.lr}`, '--warmup-epochs', `${LEARNING.warmupEpochs}`, ...(LEARNING.augment ? [] : ['--no-augment'])];
const GATE = 0.25;
const LEARNING_METHODS = ['tl-align', 'none'];

function learningSeeds(text: string): number[] {
  const seeds = text.split(',').map((s) => s.trim());
  const bad = seeds.filter((s) => !/^\d+$/.test(s));
  if (bad.length || !seeds.length) throw new Error(`LABELFLOW_LEARNING_SEEDS="${text}": expected seeds as non-negative integers separated by commas, e.g. 0,1,2`);
  return seeds.map(Number);
}
const LEARNING_SEEDS = learningSeeds(process.env.LABELFLOW_LEARNING_SEEDS ?? '0');

const learned: { method: string; seed: number; test_acc: number; test_loss: number; wall_s: number; training_s: number }[] = [];
after(() => {
  if (!learned.length) return;
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const rows = LEARNING_METHODS.map((m) => `${m.padEnd(9)} ${LEARNING_SEEDS.map((s) => learned.find((r) => r.method === m && r.seed === s)).map((r) => (r ? pct(r.test_acc) : '—').padStart(7)).join('')}`);
  const margin = Math.min(...learned.map((r) => r.test_acc)) - GATE;
  console.log([`learning acceptance, test accuracy by seed (gate ${pct(GATE)}):`, `${'seed'.padEnd(9)} ${LEARNING_SEEDS.map((s) => `${s}`.padStart(7)).join('')}`, ...rows,
    `smallest margin over the gate: ${(100 * margin).toFixed(1)} points; one run takes ${Math.min(...learned.map((r) => r.wall_s)).toFixed(0)}–${Math.max(...learned.map((r) => r.wall_s)).toFixed(0)} s`].join('\n'));
  mkdirSync('test-results', { recursive: true });
  writeFileSync(join('test-results', 'learning-seeds.json'), JSON.stringify({ date: new Date().toISOString(), budget: LEARNING, gate: GATE, runs: learned, smallest_margin: margin }, null, 2) + '\n');
});

for (const seed of LEARNING_SEEDS) {
  for (const method of LEARNING_METHODS) {
    const name = `CIFAR-10, test ViT, ${method}, seed ${seed}, ${LEARNING.trainLimit}/${LEARNING.testLimit} images, ${LEARNING.epochs} epochs of batch ${LEARNING.batch}: test accuracy ≥ ${100 * GATE}%`;
    test(name, { skip: !jpg && !process.env.CI && 'LABELFLOW_CIFAR10 is not set' }, () => {
      assert.ok(jpg && existsSync(jpg), `CIFAR-10 archive not found (LABELFLOW_CIFAR10=${cifarDir})`);
      const out = join(dir, `${method}-${seed}.json`);
      const t0 = performance.now();
      const r = train(['--data', jpg, ...LEARNING_ARGS, '--method', method, '--seed', `${seed}`, '--out', out]);
      const wall = (performance.now() - t0) / 1000;
      assert.equal(r.code, 0, r.err + r.out);
      const result = JSON.parse(readFileSync(out, 'utf8')) as Result;
      const training = result.epochs.reduce((s, e) => s + e.seconds, 0);
      console.log(`${method} seed ${seed}: test acc ${(100 * result.final.test_acc).toFixed(1)}%, ${result.final.img_per_s.toFixed(0)} img/s, ` +
        `${training.toFixed(0)} s training, ${wall.toFixed(0)} s for the whole run`);
      learned.push({ method, seed, test_acc: result.final.test_acc, test_loss: result.epochs.at(-1)!.test_loss, wall_s: wall, training_s: training });
      assert.equal(result.config.method, method);
      assert.equal(result.config.seed, seed);
      assert.equal(result.config.train_count, LEARNING.trainLimit);
      assert.equal(result.config.test_count, LEARNING.testLimit);
      assert.equal(result.config.batch, LEARNING.batch);
      assert.equal(result.config.lr, LEARNING.lr);
      assert.equal(result.config.warmupEpochs, LEARNING.warmupEpochs);
      assert.equal(result.config.augment, LEARNING.augment);
      assert.deepEqual(result.epochs.map((e) => e.epoch), Array.from({ length: LEARNING.epochs }, (_, i) => i + 1));
      for (const e of result.epochs) for (const k of ['train_loss', 'test_loss', 'test_acc', 'train_acc', 'img_per_s', 'seconds'] as const) assert.ok(Number.isFinite(e[k]), k);
      assert.ok(result.adapter.limits.maxStorageBufferBindingSize > 0);
      assert.equal(result.final.test_acc, result.epochs.at(-1)!.test_acc);
      assert.ok(result.final.test_acc >= GATE, `${method} seed ${seed}: test accuracy ${result.final.test_acc} < ${GATE}`);
    });
  }
}

test('synthetic run: result.json, progress, a timm-named checkpoint, and resume', () => {
  const out = join(dir, 'synthetic.json');
  const ckpt = join(dir, 'synthetic.safetensors');
  const base = ['--data', 'synthetic', '--model', 'test', '--method', 'cutmix-token', '--share-gap', '--train-limit', '256', '--test-limit', '64', '--batch', '32', '--epochs', '2'];
  const r = train([...base, '--out', out, '--checkpoint', ckpt]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /epoch 1\/2 \[#*\.*\] step \d+\/8 {2}loss \d\.\d{4} {2}\d+ img\/s {2}ETA \d+:\d\d/);
  assert.match(r.out, /epoch 2\/2 {2}train loss/);
  const result = JSON.parse(readFileSync(out, 'utf8')) as Result;
  assert.equal(result.epochs.length, 2);
  // train accuracy on as many clean training images as the test split (64 of 256), and the share gap of the token CutMix batches
  assert.match(r.out, /epoch 2\/2 .*test acc \d+\.\d\d% {2}train acc \d+\.\d\d% {2}\|ρ−λ\| 0\.\d{4}/);
  for (const e of result.epochs) {
    assert.ok(e.train_acc !== undefined && Number.isInteger(e.train_acc * 64), `train_acc ${e.train_acc} is a count over 64 images`);
    assert.ok(e.cls_share_gap !== undefined && e.cls_share_gap > 0 && e.cls_share_gap < 1, `cls_share_gap ${e.cls_share_gap}`);
  }
  const file = decodeSafetensors(new Uint8Array(readFileSync(ckpt)), ckpt);
  for (const name of ['cls_token', 'pos_embed', 'patch_embed.proj.weight', 'blocks.0.attn.qkv.weight', 'head.weight']) assert.ok(file.tensors.has(name), name);
  assert.deepEqual(file.tensors.get('blocks.0.attn.qkv.weight')!.shape, [96, 32]);
  assert.equal(file.metadata['labelflow.epoch'], '2');

  const more = train([...base.slice(0, -1), '3', '--resume', ckpt, '--out', out]);
  assert.notEqual(more.code, 0, 'a different epoch count changes the schedule, so resume is refused');
  assert.match(more.err, /made with another configuration.*epochs 2 there, 3 here/);
});

test('--target-acc: time-to-accuracy is reported, and --stop-at-target ends the run there', () => {
  const out = join(dir, 'target.json');
  // 10 balanced classes: even a model that has learnt nothing scores ≥ 5% on the 64 test images
  const r = train(['--data', 'synthetic', '--model', 'test', '--method', 'none', '--train-limit', '128', '--test-limit', '64', '--batch', '32',
    '--epochs', '3', '--target-acc', '5', '--stop-at-target', '--quiet', '--out', out]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /reached 5% test accuracy at epoch 1, \d+:\d\d \([\d.]+ s\) after the first step, evaluation included/);
  const result = JSON.parse(readFileSync(out, 'utf8')) as Result & { time_to_target: { target_pct: number; epoch: number; seconds: number } };
  assert.equal(result.epochs.length, 1);
  assert.equal(result.time_to_target.epoch, 1);
  assert.ok(result.time_to_target.seconds >= result.epochs[0].seconds, 'the wall time includes the epoch itself');
  const bad = train(['--data', 'synthetic', '--stop-at-target']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /--stop-at-target needs --target-acc/);
  assert.equal((result as unknown as { status: string }).status, 'target reached');
});

test('--max-minutes: the run stops after the epoch that passes the limit, and says so', () => {
  const out = join(dir, 'limit.json');
  const r = train(['--data', 'synthetic', '--model', 'test', '--method', 'none', '--train-limit', '64', '--test-limit', '32', '--batch', '32',
    '--epochs', '3', '--max-minutes', '0.001', '--quiet', '--out', out]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /stopped after epoch 1: --max-minutes 0\.001 passed/);
  const result = JSON.parse(readFileSync(out, 'utf8')) as Result & { status: string };
  assert.equal(result.epochs.length, 1);
  assert.equal(result.status, 'time limit (0.001 min)');
  const bad = train(['--data', 'synthetic', '--max-minutes', '0']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /--max-minutes must be positive, got 0/);
});

test('CLI errors name the problem', () => {
  const missing = train(['--data', join(dir, 'nope.tar.gz'), '--model', 'test']);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /nope\.tar\.gz/);
  const method = train(['--data', 'synthetic', '--method', 'cutout']);
  assert.equal(method.code, 1);
  assert.match(method.err, /unknown method "cutout"/);
  const flag = train(['--epoch', '3']);
  assert.equal(flag.code, 2);
  assert.match(flag.err, /unknown flag --epoch/);
});
