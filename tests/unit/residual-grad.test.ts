/**
 * A residual add in a matmul epilogue (C = A·Bᵀ + R) passes dC on to R unchanged. Where R has no
 * gradient yet, R takes dC's buffer itself (passGradInto): no copy and no dispatch. Where R
 * already has one, dC is added to it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { add, backwardFrom, matmul, scale, tensorFrom } from '../../src/autograd/index.ts';
import { type Gpu } from '../../src/gpu/gpu.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';
import { Rng } from '../../src/nn/random.ts';

const [M, K, N] = [4, 8, 8];

function countingAxpy(gpu: Gpu): { count: () => number } {
  let n = 0;
  const run = gpu.run.bind(gpu);
  gpu.run = ((file, entry, ...rest) => {
    if (`${file}:${entry}` === 'elementwise:axpy') n++;
    return run(file, entry, ...rest);
  }) as Gpu['run'];
  return { count: () => n };
}

async function setup(seed: number) {
  const gpu = await openNodeGpu();
  const rng = new Rng(seed);
  const values = (n: number) => rng.fill(n, () => rng.normal());
  const x = tensorFrom(gpu, [M, K], values(M * K), true, 'x');
  const w = tensorFrom(gpu, [N, K], values(N * K), true, 'w');
  const r = tensorFrom(gpu, [M, N], values(M * N), true, 'r');
  const dY = values(M * N);
  return { gpu, x, w, r, dY, dYt: tensorFrom(gpu, [M, N], dY) };
}

test('a residual with no gradient yet takes dC itself: dR = dC with no axpy', async () => {
  const { gpu, x, w, r, dY, dYt } = await setup(1);
  const axpy = countingAxpy(gpu);
  const y = scale(matmul(x, w, { transB: true, residual: r }), 2); // scale's backward writes dC = 2·dY
  const before = axpy.count();
  backwardFrom(y, dYt);
  assert.equal(axpy.count() - before, 1, "only scale's own backward (dC = 2·dY) runs axpy");
  const dR = await r.grad!.read();
  dY.forEach((v, i) => assert.equal(dR[i], 2 * v));
  gpu.endStep();
});

test('a residual that already has a gradient gets dC added to it', async () => {
  const { gpu, x, w, r, dY, dYt } = await setup(2);
  const axpy = countingAxpy(gpu);
  // r is also read after the matmul, so its other gradient (3·dY) exists when the matmul's rule runs
  const y = add(scale(matmul(x, w, { transB: true, residual: r }), 2), scale(r, 3));
  const before = axpy.count();
  backwardFrom(y, dYt);
  assert.ok(axpy.count() - before >= 5, 'the residual falls back to accumulating a copy');
  const dR = await r.grad!.read();
  dY.forEach((v, i) => assert.ok(Math.abs(dR[i] - 5 * v) <= 1e-6 * Math.abs(5 * v), `dR[${i}] = ${dR[i]}, want ${5 * v}`));
  gpu.endStep();
});
