// The GPU machine has no npm and no esbuild: scripts/gpu-kit.mjs bundles the CLIs into single
// files. This checks that such a bundle runs (WGSL inlined, webgpu resolved, nothing else needed
// from node_modules at run time) by training one epoch with the bundled train CLI.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = join(import.meta.dirname, '..', '..');

test('npm run gpu:kit -- --bundles-only: the bundled train CLI trains an epoch', () => {
  const dir = join(ROOT, 'test-results', 'gpu-kit'); // inside the repo: the bundle finds node_modules/webgpu from there
  rmSync(dir, { recursive: true, force: true });
  const b = spawnSync(process.execPath, ['scripts/gpu-kit.mjs', '--bundles-only', '--out', dir], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  const bundle = readFileSync(join(dir, 'train.mjs'), 'utf8');
  assert.match(bundle, /@compute @workgroup_size/, 'the WGSL is inlined');
  assert.doesNotMatch(bundle, /from ["']onnxruntime-web["']/, 'onnxruntime-web is not imported at load time');
  const out = join(dir, 'result.json');
  const r = spawnSync(process.execPath, [join(dir, 'train.mjs'), '--data', 'synthetic', '--model', 'test', '--method', 'none',
    '--train-limit', '64', '--test-limit', '32', '--batch', '32', '--epochs', '1', '--quiet', '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(readFileSync(out, 'utf8')) as { status: string; epochs: { test_acc: number }[] };
  assert.equal(result.status, 'done');
  assert.equal(result.epochs.length, 1);
  assert.ok(result.epochs[0].test_acc >= 0 && result.epochs[0].test_acc <= 1);
});
