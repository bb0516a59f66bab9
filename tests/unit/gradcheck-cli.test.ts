// The acceptance command itself: `npm run gradcheck -- --json out.json` exits 0 and writes the
// report with every op, the whole-model finite differences and the TF.js reference.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

test('npm run gradcheck writes a passing report', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'gradcheck-')), 'out.json');
  const r = spawnSync(process.execPath, ['scripts/node-ts.mjs', 'src/cli/gradcheck.ts', '--json', out], { encoding: 'utf8' });
  console.log(r.stdout);
  assert.equal(r.status, 0, `gradcheck failed:\n${r.stdout}\n${r.stderr}`);
  const report = JSON.parse(readFileSync(out, 'utf8'));
  assert.ok(report.adapter && typeof report.adapter.vendor === 'string');
  for (const name of ['matmul', 'add', 'scale', 'gelu', 'layernorm', 'softmax', 'attention', 'soft_cross_entropy', 'patchify',
    'embed_tokens', 'gather_token', 'mean_tokens', 'sum', 'adamw', 'clip_gradients']) {
    const op = report.ops.find((o: { name: string }) => o.name === name);
    assert.ok(op, `op ${name} missing from the report`);
    assert.ok(op.ok && op.fwd_max_rel <= 1e-4, `${name}: ${JSON.stringify(op)}`);
  }
  assert.ok(report.finite_difference.ok && report.finite_difference.max_rel <= 1e-2);
  assert.ok(report.finite_difference.entries >= 200);
  assert.ok(report.independent_reference.ok && report.independent_reference.loss_rel <= 1e-5 && report.independent_reference.grad_max_rel <= 1e-4);
  assert.equal(report.ok, true);
});
