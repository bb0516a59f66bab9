// `npm run bench` at its smallest: every section reports, and the split-K sweep times each weight
// gradient product at every slice count it lists, matmulSplitK's own choice among them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { matmulSplitK } from '../../src/autograd/ops/matmul.ts';

test('npm run bench -- --quick --presets test: matmul, attention, the split-K sweep and a training step', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'bench-')), 'out.json');
  const r = spawnSync(process.execPath, ['scripts/node-ts.mjs', 'src/cli/bench.ts', '--quick', '--presets', 'test', '--sizes', '64', '--samples', '1', '--batch', '128', '--json', out], { encoding: 'utf8' });
  console.log(r.stdout);
  assert.equal(r.status, 0, `bench failed:\n${r.stdout}\n${r.stderr}`);
  const report = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(report.matmul.length, 1);
  assert.ok(report.matmul[0].wallGflops > 0);
  assert.ok(report.attention[0].forwardBackwardMs > 0);
  // test preset: dim 32, MLP 64, 17 tokens; batch 128 gives K = 2176 ≥ minK, so split-K applies
  assert.deepEqual(report.splitK.map((s: { layer: string }) => s.layer), ['qkv', 'proj', 'fc1', 'fc2']);
  for (const s of report.splitK) {
    assert.equal(s.skipped, undefined, `${s.layer}: ${s.skipped}`);
    assert.equal(s.K, 128 * 17);
    assert.equal(s.auto, matmulSplitK({ batch: 1, M: s.M, N: s.N, K: s.K }, true, false));
    assert.ok(s.auto > 1, `${s.layer}: split-K expected at K = ${s.K}`);
    const slices = s.runs.map((x: { slices: number }) => x.slices);
    assert.ok(slices.includes(1) && slices.includes(s.auto) && slices.includes(s.best), `${s.layer}: ${slices}`);
    for (const x of s.runs) {
      assert.equal(s.K % x.slices, 0, `${s.layer}: ${x.slices} slices do not divide K`);
      assert.ok(x.wallMs > 0 && Number.isFinite(x.wallMs));
    }
  }
  assert.ok(/weight gradients dW/.test(r.stdout));
  const [step] = report.training;
  assert.ok(step.imagesPerSecond > 0 && step.dispatches > 0, JSON.stringify(step));
});
