// The MixToken / DiversePatch ops (src/autograd/ops/tokens.ts, cross-entropy.ts, diversity.ts) on
// tiny inputs whose outputs and gradients are worked out by hand in the comments, independently of
// the float64 references that src/check/ops.ts compares them with.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { backward, backwardFrom, binaryCrossEntropy, clearTape, contextScores, meanPairwiseCosine, poolRegions, swapTokens,
  type Tensor, tensorFrom } from '../../src/autograd/index.ts';
import { type Gpu, type Storage } from '../../src/gpu/gpu.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';

let gpu: Gpu;
before(async () => { gpu = await openNodeGpu(); });
afterEach(() => { clearTape(); gpu.endStep(); assert.deepEqual(gpu.errors, []); });
after(() => gpu?.device.destroy());

const tensor = (shape: number[], values: number[], requiresGrad = false) => tensorFrom(gpu, shape, Float32Array.from(values), requiresGrad);
const read = async (t: Tensor) => Array.from(await t.read());

function maskOf(values: number[]): Storage {
  const s = gpu.temp(values.length);
  gpu.write(s, Uint32Array.from(values));
  return s;
}

function near(got: number[], want: number[], label: string, tol = 1e-5) {
  assert.equal(got.length, want.length, `${label}: length`);
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) <= tol, `${label}[${i}]: got ${g}, want ${want[i]}\n got  ${got}\n want ${want}`));
}

test('swapTokens: masked tokens come from the partner B−1−b, the middle sample is its own partner, twice is the identity', async () => {
  // B = 3, T = 3, C = 2, x[b,t,c] = 100b + 10t + c; mask [1, 0, 1] swaps tokens 0 and 2.
  const x = tensor([3, 3, 2], [0, 1, 10, 11, 20, 21, 100, 101, 110, 111, 120, 121, 200, 201, 210, 211, 220, 221], true);
  const mask = maskOf([1, 0, 1]);
  const y = swapTokens(x, mask);
  near(await read(y), [
    200, 201, 10, 11, 220, 221, // b=0: tokens 0, 2 from b=2, token 1 its own
    100, 101, 110, 111, 120, 121, // b=1: partner of itself, unchanged
    0, 1, 210, 211, 20, 21, // b=2: tokens 0, 2 from b=0
  ], 'swap');
  near(await read(swapTokens(y, mask)), await read(x), 'swap twice');
  // The backward is the same swap: dy[b,t,c] = b + 1 (one value per sample) gives dx = 3 1 3 | 2 2 2 | 1 3 1 per token.
  backwardFrom(y, tensor([3, 3, 2], [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3]));
  near(await read(x.grad!), [3, 3, 1, 1, 3, 3, 2, 2, 2, 2, 2, 2, 1, 1, 3, 3, 1, 1], 'dx');
});

test('poolRegions: the mean of each mask region, zeros (and no gradient) for an empty region', async () => {
  // x tokens [1,2], [3,4], [5,8]. Mask [0,1,0]: region 0 = tokens 0, 2 → [3, 5]; region 1 = token 1 → [3, 4].
  const x = tensor([1, 3, 2], [1, 2, 3, 4, 5, 8], true);
  const y = poolRegions(x, maskOf([0, 1, 0]));
  near(await read(y), [3, 5, 3, 4], 'two regions');
  // dy = [2,4] for region 0 (split over its 2 tokens → [1,2] each), [6,8] for region 1 (its one token).
  backwardFrom(y, tensor([1, 2, 2], [2, 4, 6, 8]));
  near(await read(x.grad!), [1, 2, 6, 8, 1, 2], 'dx');
  clearTape();

  // Mask [0,0,0]: region 0 = all three → [(1+3+5)/3, (2+4+8)/3] = [3, 4.6667]; region 1 empty → [0, 0].
  const x2 = tensor([1, 3, 2], [1, 2, 3, 4, 5, 8], true);
  const y2 = poolRegions(x2, maskOf([0, 0, 0]));
  near(await read(y2), [3, 14 / 3, 0, 0], 'empty region');
  // dy = [1,1] for region 0 → 1/3 to each token; the 7s of the empty region reach nothing.
  backwardFrom(y2, tensor([1, 2, 2], [1, 1, 7, 7]));
  near(await read(x2.grad!), [1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3], 'dx, empty region');
});

test('binaryCrossEntropy on one row of two logits: loss, gradient and correctness', async () => {
  // z = [0, 2], t = [1, 0].
  //   entry 0: max(0,0) − 1·0 + ln(1 + e⁰) = ln 2 = 0.693147
  //   entry 1: max(2,0) − 0·2 + ln(1 + e⁻²) = 2 + ln 1.135335 = 2.126928
  //   loss = (0.693147 + 2.126928) / 2 = 1.410038
  // dz = (σ(z) − t) / 2 = [(0.5 − 1)/2, (0.880797 − 0)/2] = [−0.25, 0.440399]
  // argmax z = 1, argmax t = 0 → correct 0.
  const z = tensor([1, 2], [0, 2], true);
  const { loss, correct } = binaryCrossEntropy(z, tensor([1, 2], [1, 0]));
  near(await read(loss), [1.410038], 'loss');
  near(await read(correct), [0], 'correct');
  backward(loss);
  near(await read(z.grad!), [-0.25, 0.440399], 'dz');
  clearTape();
  // t = [0.3, 0.7]: argmax t = 1 = argmax z → correct 1.
  near(await read(binaryCrossEntropy(z, tensor([1, 2], [0.3, 0.7])).correct), [1], 'correct, soft target');
});

test('meanPairwiseCosine on orthogonal, parallel and 45° tokens; a zero token has cosine 0', async () => {
  // Sample 0: [1,0], [0,2], [3,0]: cos 0, 1, 0 over the 3 pairs; Σ_{i≠j} = 2·1 = 2, / T(T−1) = 6 → 1/3.
  // Sample 1: [1,1], [2,2], [0,5]: cos 1, 1/√2, 1/√2 → Σ_{i≠j} = 2(1 + √2) = 4.828427, / 6 → 0.804738.
  // Mean over the batch: (0.333333 + 0.804738) / 2 = 0.569036.
  const x = tensor([2, 3, 2], [1, 0, 0, 2, 3, 0, 1, 1, 2, 2, 0, 5]);
  near(await read(meanPairwiseCosine(x)), [0.569036], 'two samples');
  // [0,0], [1,0], [2,0]: the zero token's norm is clamped to 1e-8, its cosines are 0; the pair (1,2) gives 1 → 2/6.
  near(await read(meanPairwiseCosine(tensor([1, 3, 2], [0, 0, 1, 0, 2, 0]))), [1 / 3], 'zero token');
  // T = 2, [1,0] ⊥ [0,1]: L = cos = 0; dL/dx₀ = (u₁ − u₀ cos)/‖x₀‖ = [0, 1], dL/dx₁ = [1, 0].
  const x2 = tensor([1, 2, 2], [1, 0, 0, 1], true);
  const l2 = meanPairwiseCosine(x2);
  near(await read(l2), [0], 'orthogonal');
  backward(l2);
  near(await read(x2.grad!), [0, 1, 1, 0], 'dx, orthogonal');
});

test('contextScores: own, all-others and window scores on 2×2 and 3×3 grids', async () => {
  // 2×2 grid, W = 3: every window covers the whole grid, so s2 = s1. D = 1, c = [1,2,3,4], h = [10,20,30,40], Σh = 100.
  //   s0 = c_i h_i = 10, 40, 90, 160;  s1 = s2 = c_i (100 − h_i)/3 = 30, 53.333, 70, 80.
  const c = tensor([1, 4, 1], [1, 2, 3, 4], true);
  const h = tensor([1, 4, 1], [10, 20, 30, 40], true);
  const y = contextScores(c, h, 2, 3);
  near(await read(y), [10, 30, 30, 40, 160 / 3, 160 / 3, 90, 70, 70, 160, 80, 80], '2×2 W=3', 1e-4);
  // dy = 1 on s1 of token 0 only: dc₀ = (100 − 10)/3 = 30; dh_j = c₀/3 = 1/3 for j = 1, 2, 3, dh₀ = 0.
  backwardFrom(y, tensor([1, 4, 3], [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
  near(await read(c.grad!), [30, 0, 0, 0], 'dc');
  near(await read(h.grad!), [0, 1 / 3, 1 / 3, 1 / 3], 'dh');
  clearTape();

  // W = 1: no window neighbours, s2 = 0.
  near(await read(contextScores(c, h, 2, 1)), [10, 30, 0, 40, 160 / 3, 0, 90, 70, 0, 160, 80, 0], '2×2 W=1', 1e-4);

  // 3×3 grid, W = 3, c = 1, h = token index 0..8 (Σ = 36):
  //   token 0 (corner): s0 = 0, s1 = 36/8 = 4.5, window {1,3,4} → 8/3
  //   token 1 (edge):   s0 = 1, s1 = 35/8 = 4.375, window {0,2,3,4,5} → 14/5 = 2.8
  //   token 4 (centre): s0 = 4, s1 = 32/8 = 4, window = all others → 4
  const out = await read(contextScores(tensor([1, 9, 1], Array(9).fill(1)), tensor([1, 9, 1], [0, 1, 2, 3, 4, 5, 6, 7, 8]), 3, 3));
  near(out.slice(0, 6), [0, 4.5, 8 / 3, 1, 4.375, 2.8], '3×3 tokens 0, 1');
  near(out.slice(12, 15), [4, 4, 4], '3×3 token 4');
});
