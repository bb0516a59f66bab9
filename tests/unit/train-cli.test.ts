// `npm run train` end to end. The acceptance runs: the `test` ViT on 5,000 / 1,000
// class-balanced CIFAR-10 JPEGs for 3 epochs must pass 25% test accuracy (chance 10%) with
// TL-Align and without mixing. Plus a synthetic run that writes a checkpoint, and CLI errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
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
  epochs: { epoch: number; train_loss: number; test_loss: number; test_acc: number; img_per_s: number; seconds: number }[];
  final: { test_acc: number; img_per_s: number };
}

for (const method of ['tl-align', 'none']) {
  test(`CIFAR-10, test ViT, ${method}, 5000/1000 images, 3 epochs: test accuracy ≥ 25%`, { skip: !jpg && !process.env.CI && 'LABELFLOW_CIFAR10 is not set' }, () => {
    assert.ok(jpg && existsSync(jpg), `CIFAR-10 archive not found (LABELFLOW_CIFAR10=${cifarDir})`);
    const out = join(dir, `${method}.json`);
    const r = train(['--data', jpg, '--model', 'test', '--method', method, '--train-limit', '5000', '--test-limit', '1000', '--epochs', '3', '--out', out]);
    assert.equal(r.code, 0, r.err + r.out);
    const result = JSON.parse(readFileSync(out, 'utf8')) as Result;
    console.log(`${method}: test acc ${(100 * result.final.test_acc).toFixed(1)}%, ${result.final.img_per_s.toFixed(0)} img/s, ` +
      `${result.epochs.reduce((s, e) => s + e.seconds, 0).toFixed(0)} s training`);
    assert.equal(result.config.method, method);
    assert.equal(result.config.train_count, 5000);
    assert.equal(result.config.test_count, 1000);
    assert.deepEqual(result.epochs.map((e) => e.epoch), [1, 2, 3]);
    for (const e of result.epochs) for (const k of ['train_loss', 'test_loss', 'test_acc', 'img_per_s', 'seconds'] as const) assert.ok(Number.isFinite(e[k]), k);
    assert.ok(result.adapter.limits.maxStorageBufferBindingSize > 0);
    assert.equal(result.final.test_acc, result.epochs[2].test_acc);
    assert.ok(result.final.test_acc >= 0.25, `${method}: test accuracy ${result.final.test_acc} < 0.25`);
  });
}

test('synthetic run: result.json, progress, a timm-named checkpoint, and resume', () => {
  const out = join(dir, 'synthetic.json');
  const ckpt = join(dir, 'synthetic.safetensors');
  const base = ['--data', 'synthetic', '--model', 'test', '--method', 'cutmix-token', '--train-limit', '256', '--test-limit', '64', '--batch', '32', '--epochs', '2'];
  const r = train([...base, '--out', out, '--checkpoint', ckpt]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /epoch 1\/2 \[#*\.*\] step \d+\/8 {2}loss \d\.\d{4} {2}\d+ img\/s {2}ETA \d+:\d\d/);
  assert.match(r.out, /epoch 2\/2 {2}train loss/);
  const result = JSON.parse(readFileSync(out, 'utf8')) as Result;
  assert.equal(result.epochs.length, 2);
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
