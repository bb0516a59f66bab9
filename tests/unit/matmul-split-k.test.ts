/**
 * Split-K for weight gradients (src/autograd/ops/matmul.ts): which products are split, and that a
 * split product equals the unsplit one (both kernels, with and without accumulate). The float64
 * reference and finite differences cover it in the gradcheck cases matmul_split_k*.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MATMUL_SPLIT_K, encodeMatmul, matmulSplitK, type Dims } from '../../src/autograd/ops/matmul.ts';
import { type Gpu } from '../../src/gpu/gpu.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';
import { Rng } from '../../src/nn/random.ts';
import { packHalf, roundHalfArray } from '../../src/gpu/half.ts';

test('matmulSplitK: only long-K, K-major single products; S the largest divisor within the bounds', () => {
  // small at batch 128: qkv's weight gradient, 384 × 128 outputs over 128·65 = 8,320 rows; 12 tiles of 64
  assert.equal(matmulSplitK({ batch: 1, M: 384, N: 128, K: 8320 }, true, false), 65);
  // proj (4 tiles): 65 slices is the bound minSlice sets (8,320 / 128), and 65 divides 8,320
  assert.equal(matmulSplitK({ batch: 1, M: 128, N: 128, K: 8320 }, true, false), 65);
  // with many tiles already, targetGroups caps S: 32 × 32 = 1,024 tiles → no room
  assert.equal(matmulSplitK({ batch: 1, M: 2048, N: 2048, K: 8192 }, true, false), 1);
  // 7 919 is prime: no divisor
  assert.equal(matmulSplitK({ batch: 1, M: 64, N: 64, K: 7919 }, true, false), 1);
  assert.equal(matmulSplitK({ batch: 1, M: 64, N: 64, K: MATMUL_SPLIT_K.minK - 2 }, true, false), 1, 'short K');
  assert.equal(matmulSplitK({ batch: 1, M: 64, N: 64, K: 8320 }, false, false), 1, 'A not K-major');
  assert.equal(matmulSplitK({ batch: 1, M: 64, N: 64, K: 8320 }, true, true), 1, 'B not K-major');
  assert.equal(matmulSplitK({ batch: 2, M: 64, N: 64, K: 8320 }, true, false), 1, 'batched');
});

interface Operands { a: Float32Array; b: Float32Array; c: Float32Array }

function operands(d: Dims, seed: number): Operands {
  const rng = new Rng(seed);
  return { a: rng.fill(d.K * d.M, () => rng.normal()), b: rng.fill(d.K * d.N, () => rng.normal()), c: rng.fill(d.M * d.N, () => rng.normal()) };
}

const ALPHA = 0.5;

/** halfB: B stored in f16, as the f16 path's saved activations are (x.b must hold f16 values). */
async function product(gpu: Gpu, d: Dims, x: Operands, splitK: number, accumulate: boolean, halfB = false): Promise<Float32Array> {
  const [a, b, c] = [gpu.persistent(x.a.length, 'a'), gpu.persistent(x.b.length, 'b', halfB ? 'f16' : undefined), gpu.persistent(x.c.length, 'c')];
  gpu.write(a, x.a);
  gpu.write(b, halfB ? packHalf(x.b) : x.b);
  gpu.write(c, x.c);
  encodeMatmul(gpu, a, b, c, d, { transA: true, transB: false, accumulate, alpha: ALPHA, splitK });
  return gpu.read(c);
}

/** C = α·Aᵀ·B (+ C) in float64, and Σ|terms| per entry (the scale of float32 rounding). */
function reference(d: Dims, x: Operands, accumulate: boolean): { value: Float64Array; scale: Float64Array } {
  const value = new Float64Array(d.M * d.N);
  const scale = new Float64Array(d.M * d.N);
  for (let m = 0; m < d.M; m++) {
    for (let n = 0; n < d.N; n++) {
      let v = accumulate ? x.c[m * d.N + n] : 0;
      let sc = Math.abs(v);
      for (let k = 0; k < d.K; k++) {
        const t = ALPHA * x.a[k * d.M + m] * x.b[k * d.N + n];
        v += t;
        sc += Math.abs(t);
      }
      value[m * d.N + n] = v;
      scale[m * d.N + n] = sc;
    }
  }
  return { value, scale };
}

test('a split product matches float64 as the unsplit one does: vec4 and scalar kernels, overwrite and accumulate', async () => {
  const gpu = await openNodeGpu();
  for (const d of [{ batch: 1, M: 20, N: 12, K: 640 }, { batch: 1, M: 19, N: 13, K: 640 }]) {
    const x = operands(d, 7);
    for (const accumulate of [false, true]) {
      const ref = reference(d, x, accumulate);
      for (const s of [1, 2, 5, 64]) {
        const got = await product(gpu, d, x, s, accumulate);
        // relative to Σ|terms|: float32 summation of 640 terms stays far below 1e-5 of it
        const worst = Math.max(...got.map((v, i) => Math.abs(v - ref.value[i]) / ref.scale[i]));
        assert.ok(worst <= 1e-5, `M=${d.M} N=${d.N} K=${d.K} S=${s} accumulate=${accumulate}: worst ${worst}`);
      }
    }
  }
  if (gpu.device.features.has('shader-f16')) {
    const d = { batch: 1, M: 20, N: 12, K: 640 };
    const x = operands(d, 8);
    x.b = roundHalfArray(x.b);
    const ref = reference(d, x, true);
    for (const s of [1, 5]) {
      const got = await product(gpu, d, x, s, true, true);
      const worst = Math.max(...got.map((v, i) => Math.abs(v - ref.value[i]) / ref.scale[i]));
      assert.ok(worst <= 1e-5, `f16 B, S=${s}: worst ${worst}`);
    }
  }
  assert.throws(() => encodeMatmul(gpu, gpu.temp(640 * 20), gpu.temp(640 * 12), gpu.temp(240), { batch: 1, M: 20, N: 12, K: 640 },
    { transA: true, transB: false, accumulate: false, alpha: 1, splitK: 3 }), /split-K needs .* 3 dividing K=640/);
  gpu.endStep();
});

test('rowSums: the bias gradient Σ_k A[k, m] with the weight gradient; under split-K (vec4) from the product itself, in 2 dispatches', async () => {
  const gpu = await openNodeGpu();
  // M = 100: both 4-row groups of a thread and two row tiles (64-wide, and at S = 128 the 128-wide tile)
  for (const d of [{ batch: 1, M: 100, N: 12, K: 640 }, { batch: 1, M: 19, N: 13, K: 640 }]) {
    const x = operands(d, 9);
    const rng = new Rng(3);
    const before = rng.fill(d.M, () => rng.normal());
    for (const [accumulate, accumulateRows] of [[false, true], [true, false]]) {
      const ref = reference(d, x, accumulate);
      for (const s of [1, 5, 128]) {
        const [a, b, c, rows] = [gpu.persistent(x.a.length, 'a'), gpu.persistent(x.b.length, 'b'), gpu.persistent(x.c.length, 'c'), gpu.persistent(d.M, 'rows')];
        gpu.write(a, x.a);
        gpu.write(b, x.b);
        gpu.write(c, x.c);
        gpu.write(rows, before);
        const d0 = gpu.dispatches;
        encodeMatmul(gpu, a, b, c, d, { transA: true, transB: false, accumulate, alpha: ALPHA, splitK: s, rowSums: { dst: rows, accumulate: accumulateRows } });
        const dispatches = gpu.dispatches - d0;
        const [gotC, gotRows] = [await gpu.read(c), await gpu.read(rows)];
        const what = `M=${d.M} N=${d.N} S=${s} accumulate=${accumulate}/${accumulateRows}`;
        const worstC = Math.max(...gotC.map((v, i) => Math.abs(v - ref.value[i]) / ref.scale[i]));
        assert.ok(worstC <= 1e-5, `${what}: product worst ${worstC}`);
        for (let m = 0; m < d.M; m++) {
          let want = accumulateRows ? before[m] : 0;
          let scale = Math.abs(want);
          for (let k = 0; k < d.K; k++) {
            want += x.a[k * d.M + m]; // unscaled by alpha: a bias gradient is Σ dC
            scale += Math.abs(x.a[k * d.M + m]);
          }
          assert.ok(Math.abs(gotRows[m] - want) <= 1e-5 * scale, `${what}: row sum ${m}: ${gotRows[m]} vs ${want}`);
        }
        // vec4 and split: the product and one column sum; otherwise a column sum of A of its own (2 passes for 640 rows)
        if (d.M % 4 === 0 && s > 1) assert.equal(dispatches, 2, `${what}: dispatches`);
        else assert.equal(dispatches, (s > 1 ? 2 : 1) + 2, `${what}: dispatches`);
        gpu.endStep();
        for (const t of [a, b, c, rows]) t.buffer.destroy();
      }
    }
  }
  assert.throws(() => encodeMatmul(gpu, gpu.temp(640 * 20), gpu.temp(640 * 12), gpu.temp(240), { batch: 1, M: 20, N: 12, K: 640 },
    { transA: false, transB: false, accumulate: false, alpha: 1, rowSums: { dst: gpu.temp(20), accumulate: false } }), /rowSums needs .* \(transA\)/);
  gpu.endStep();
});
