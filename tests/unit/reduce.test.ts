// Column sums (bias gradients) against the float64 reference, on shapes that take the one-pass path
// (≤ 256 rows) and the two-pass path (row chunks, then a pass over the chunks), columns not a
// multiple of the 64-column tile, with and without accumulation; and the gradient-norm sum.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { columnSum, encodeSum } from '../../src/autograd/ops/reduce.ts';
import * as ref from '../../src/autograd/reference/index.ts';
import { type Gpu } from '../../src/gpu/gpu.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';
import { Rng } from '../../src/nn/random.ts';

let gpu: Gpu;
before(async () => { gpu = await openNodeGpu(); });
after(() => gpu?.device.destroy());

function maxRel(got: Float32Array, want: ArrayLike<number>): number {
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < got.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / scale;
}

for (const [rows, cols] of [[5, 3], [256, 70], [257, 70], [1000, 37], [8320, 130]] as const) {
  test(`columnSum [${rows}, ${cols}]: equals the float64 column sums, and accumulates`, async () => {
    const rng = new Rng(rows * 1000 + cols);
    const x = rng.fill(rows * cols, () => rng.uniform(-1, 1));
    const start = rng.fill(cols, () => rng.uniform(-1, 1));
    const src = gpu.temp(rows * cols);
    const fresh = gpu.temp(cols);
    const acc = gpu.temp(cols);
    gpu.write(src, x);
    gpu.write(acc, start);
    columnSum(gpu, src, fresh, cols, false);
    columnSum(gpu, src, acc, cols, true);
    const [got, gotAcc] = await Promise.all([gpu.read(fresh), gpu.read(acc)]);
    gpu.endStep();
    const want = ref.columnSum(x, cols);
    assert.ok(maxRel(got, want) <= 1e-5, `fresh: max rel ${maxRel(got, want)}`);
    const wantAcc = Array.from(want, (v, i) => v + start[i]);
    assert.ok(maxRel(gotAcc, wantAcc) <= 1e-5, `accumulated: max rel ${maxRel(gotAcc, wantAcc)}`);
    assert.deepEqual(gpu.errors, []);
  });
}

test('encodeSum of squares (the gradient norm) equals the float64 sum', async () => {
  const rng = new Rng(7);
  const x = rng.fill(100_003, () => rng.uniform(-1, 1));
  const src = gpu.temp(x.length);
  const dst = gpu.temp(1);
  gpu.write(src, x);
  encodeSum(gpu, src, dst, { square: true });
  const got = (await gpu.read(dst))[0];
  gpu.endStep();
  const want = ref.sumSquares(x);
  assert.ok(Math.abs(got - want) / want <= 1e-5, `got ${got}, want ${want}`);
});
