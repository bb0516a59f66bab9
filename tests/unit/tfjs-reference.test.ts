// The `test` ViT's loss and all parameter gradients on our GPU kernels against an independent
// TF.js (CPU) implementation of the same network (src/check/tfjs-reference.ts), for two seeds.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { compareWithTfjs, GRAD_TOLERANCE, LOSS_TOLERANCE, type TfjsComparison } from '../../src/check/tfjs-reference.ts';
import { type Gpu } from '../../src/gpu/gpu.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';

let gpu: Gpu;
before(async () => { gpu = await openNodeGpu(); });
after(() => gpu?.device.destroy());

function table(r: TfjsComparison): string {
  const rows = r.per_tensor.map((t) => `  ${t.name.padEnd(28)} ${t.rel.toExponential(2)}${t.rel > GRAD_TOLERANCE ? '  FAIL' : ''}`);
  return [
    `loss ours ${r.loss_ours} tfjs ${r.loss_tfjs} rel ${r.loss_rel.toExponential(2)} (≤ ${LOSS_TOLERANCE})`,
    `gradient max|Δ|/max|tfjs| per tensor (≤ ${GRAD_TOLERANCE}); worst ${r.worst}:`,
    ...rows,
  ].join('\n');
}

for (const seed of [0, 1]) {
  test(`test preset, seed ${seed}: loss and every gradient match TF.js`, async () => {
    const r = await compareWithTfjs(gpu, { preset: 'test', seed, batch: 4 });
    assert.equal(r.per_tensor.length, 32, 'one entry per parameter tensor');
    assert.ok(r.ok, `mismatch against TF.js\n${table(r)}`);
    assert.deepEqual(gpu.errors, []);
  });
}
