// TL-Align's label matrix (src/methods/labels.ts, shaders/labels.wgsl) against hand-computed
// numbers, its float64 reference (src/methods/labels-reference.ts) and the properties
// methods.md states: the K-column propagation equals the scalar own-share form, rows stay
// stochastic, identity attention gives back the token-aligned CutMix target, and no gradient
// flows through the labels.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { attention, backward, gatherToken, matmul, noGrad, softCrossEntropy, tapeLength, type Tensor, tensorFrom } from '../../src/autograd/index.ts';
import * as ref from '../../src/autograd/reference/index.ts';
import { type Gpu, type Storage } from '../../src/gpu/gpu.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';
import { initLabelsRef, ownSharesRef, propagateRef, scalarFormTargetsRef, smoothedOneHot } from '../../src/methods/labels-reference.ts';
import { clsTargets, initLabels, initOwnShares, propagateLabels, propagateThroughBlocks, shareTargets } from '../../src/methods/labels.ts';
import { Rng } from '../../src/nn/random.ts';

let gpu: Gpu;
before(async () => { gpu = await openNodeGpu(); });
afterEach(() => { gpu.endStep(); assert.deepEqual(gpu.errors, []); });
after(() => gpu?.device.destroy());

function uploadClassIds(ids: readonly number[]): Storage {
  const s = gpu.persistent(ids.length, 'class_ids');
  gpu.write(s, Uint32Array.from(ids));
  return s;
}

const upload = (shape: number[], data: ArrayLike<number>): Tensor => tensorFrom(gpu, shape, Float32Array.from(data));

/** Row-stochastic attention [B, H, N, N]: softmax over random N(0, 2²) scores. */
function randomAttention(rng: Rng, batch: number, heads: number, tokens: number): Tensor {
  const scores = rng.fill(batch * heads * tokens * tokens, () => 2 * rng.normal());
  return upload([batch, heads, tokens, tokens], ref.softmax(scores, tokens));
}

function maxAbsDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let e = 0;
  for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i] - want[i]));
  return e;
}

/** max_i |got_i − want_i| / max_i |want_i|. */
function maxRelDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  return maxAbsDiff(got, want) / scale;
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  const e = maxAbsDiff(got, want);
  assert.ok(e <= tol, `${what}: max |got − want| = ${e.toExponential(2)} > ${tol}\n got  ${Array.from(got, (v) => v.toFixed(6)).join(' ')}\n want ${Array.from(want, (v) => v.toFixed(6)).join(' ')}`);
}

test('3-token example: L⁰ and one block, by hand (K = 3, H = 2, s = 0 and s = 0.1)', async () => {
  // B = 2, N = 3 (CLS + 2 patches), labels y = [0, 2]; partners: 0 ↔ 1. One mask for the batch:
  // m = [0, 1] (patch 1 own, patch 2 the partner's), λ = 1 − 1/2 = 1/2.
  // s = 0, writing e_k for the one-hot of class k:
  //   b = 0 (own 0, partner 2): CLS ½e0 + ½e2 = [1/2, 0, 1/2]; patch 1 e0 = [1, 0, 0]; patch 2 e2 = [0, 0, 1]
  //   b = 1 (own 2, partner 0): CLS [1/2, 0, 1/2];              patch 1 e2 = [0, 0, 1]; patch 2 e0 = [1, 0, 0]
  const labels = [0, 2];
  const probs = [ // P [B, H, N, N]
    /* b = 0, head 0 */ 0, 1, 0, /*         */ 0, 1, 0, /*         */ 0, 1 / 2, 1 / 2,
    /* b = 0, head 1 */ 1 / 2, 1 / 2, 0, /* */ 1 / 2, 1 / 2, 0, /* */ 0, 0, 1,
    /* b = 1, head 0 */ 1, 0, 0, /*         */ 0, 0, 1, /*         */ 0, 0, 1,
    /* b = 1, head 1 */ 0, 0, 1, /*         */ 1 / 2, 0, 1 / 2, /* */ 0, 1 / 2, 1 / 2,
  ];
  // Ā (mean of the two heads), then L¹ = ½(Ā·L⁰ + L⁰) row by row (r0, r1, r2 = rows of L⁰):
  //   b = 0: Ā = [[1/4, 3/4, 0], [1/4, 3/4, 0], [0, 1/4, 3/4]]
  //     row 0: Ā·L = ¼[1/2,0,1/2] + ¾[1,0,0] = [7/8, 0, 1/8];  L¹ = ½([7/8,0,1/8] + [1/2,0,1/2]) = [11/16, 0, 5/16]
  //     row 1: Ā·L = [7/8, 0, 1/8] (same row of Ā);             L¹ = ½([7/8,0,1/8] + [1,0,0])     = [15/16, 0, 1/16]
  //     row 2: Ā·L = ¼[1,0,0] + ¾[0,0,1] = [1/4, 0, 3/4];       L¹ = ½([1/4,0,3/4] + [0,0,1])     = [1/8, 0, 7/8]
  //   b = 1: Ā = [[1/2, 0, 1/2], [1/4, 0, 3/4], [0, 1/4, 3/4]]
  //     row 0: Ā·L = ½[1/2,0,1/2] + ½[1,0,0] = [3/4, 0, 1/4];  L¹ = ½([3/4,0,1/4] + [1/2,0,1/2]) = [5/8, 0, 3/8]
  //     row 1: Ā·L = ¼[1/2,0,1/2] + ¾[1,0,0] = [7/8, 0, 1/8];  L¹ = ½([7/8,0,1/8] + [0,0,1])     = [7/16, 0, 9/16]
  //     row 2: Ā·L = ¼[0,0,1] + ¾[1,0,0] = [3/4, 0, 1/4];      L¹ = ½([3/4,0,1/4] + [1,0,0])     = [7/8, 0, 1/8]
  const initialS0 = [1 / 2, 0, 1 / 2, 1, 0, 0, 0, 0, 1, /* b = 1 */ 1 / 2, 0, 1 / 2, 0, 0, 1, 1, 0, 0];
  const blockS0 = [11 / 16, 0, 5 / 16, 15 / 16, 0, 1 / 16, 1 / 8, 0, 7 / 8, /* b = 1 */ 5 / 8, 0, 3 / 8, 7 / 16, 0, 9 / 16, 7 / 8, 0, 1 / 8];
  // s = 0.1, K = 3: ỹ(0) = [14/15, 1/30, 1/30], ỹ(2) = [1/30, 1/30, 14/15]. Every row above is
  // a·e0 + (1−a)·e2, and both initialisation and ½(Ā + I) are linear with rows summing to 1, so
  // the smoothed row is a·ỹ(0) + (1−a)·ỹ(2) = [(1 + 27a)/30, 1/30, (28 − 27a)/30]:
  //   a = 1/2: [29/60, 1/30, 29/60];  a = 1: [14/15, 1/30, 1/30];  a = 0: [1/30, 1/30, 14/15]
  //   a = 11/16: [313/480, 16/480, 151/480];  a = 15/16: [421/480, 16/480, 43/480];  a = 1/8: [35/240, 8/240, 197/240]
  //   a = 5/8: [143/240, 8/240, 89/240];      a = 7/16: [205/480, 16/480, 259/480];  a = 7/8: [197/240, 8/240, 35/240]
  const initialS01 = [29 / 60, 1 / 30, 29 / 60, 14 / 15, 1 / 30, 1 / 30, 1 / 30, 1 / 30, 14 / 15,
    /* b = 1 */ 29 / 60, 1 / 30, 29 / 60, 1 / 30, 1 / 30, 14 / 15, 14 / 15, 1 / 30, 1 / 30];
  const blockS01 = [313 / 480, 16 / 480, 151 / 480, 421 / 480, 16 / 480, 43 / 480, 35 / 240, 8 / 240, 197 / 240,
    /* b = 1 */ 143 / 240, 8 / 240, 89 / 240, 205 / 480, 16 / 480, 259 / 480, 197 / 240, 8 / 240, 35 / 240];
  // Scalar form: each token's own share, v¹ = the class-0 entries of L¹ (s = 0) for b = 0, the class-2 entries for b = 1.
  const ownSharesBlock = [11 / 16, 15 / 16, 1 / 8, 3 / 8, 9 / 16, 1 / 8];

  const dims = { batch: 2, tokens: 3, classes: 3, clsOwnShare: 1 / 2, partnerShare: [0, 1], perSample: false };
  const P = upload([2, 2, 3, 3], probs);
  const share = upload([2], dims.partnerShare).storage;
  for (const [smoothing, initial, block] of [[0, initialS0, blockS0], [0.1, initialS01, blockS01]] as const) {
    const L0 = initLabels(gpu, { ...dims, smoothing, labels: uploadClassIds(labels), partnerShare: share });
    const L1 = propagateLabels(L0, P);
    assertClose(await L0.read(), initial, 1e-6, `GPU L⁰, s = ${smoothing}`);
    assertClose(await L1.read(), block, 1e-6, `GPU L¹, s = ${smoothing}`);
    assertClose(await clsTargets(L1).read(), [...block.slice(0, 3), ...block.slice(9, 12)], 1e-6, `GPU CLS targets, s = ${smoothing}`);
    const ref0 = initLabelsRef(labels, { ...dims, smoothing });
    assertClose(ref0, initial, 1e-12, `reference L⁰, s = ${smoothing}`);
    assertClose(propagateRef(ref0, probs, { batch: 2, tokens: 3, heads: 2, columns: 3 }), block, 1e-12, `reference L¹, s = ${smoothing}`);
  }
  const v1 = propagateLabels(initOwnShares(gpu, { ...dims, partnerShare: share }), P);
  assertClose(await v1.read(), ownSharesBlock, 1e-6, 'GPU scalar form v¹');
});

/** Random labels, per-sample fractional shares, several blocks of random attention: every layer read back. */
async function randomChain(seed: number) {
  const d = { batch: 5, tokens: 17, heads: 3, classes: 10, smoothing: 0.1, clsOwnShare: 0.3, perSample: true, depth: 4 };
  const rng = new Rng(seed);
  const labels = Array.from({ length: d.batch }, () => rng.int(d.classes));
  labels[0] = (labels[d.batch - 1] + 1) % d.classes; // at least one pair with different labels
  const T = d.tokens - 1;
  // A third of the tokens pure own, a third pure partner, a third fractional (pixel boxes).
  const shares = Array.from({ length: d.batch * T }, (_, i) => [0, 1, rng.next()][i % 3]);
  const share = upload([d.batch, T], shares).storage;
  const probs = Array.from({ length: d.depth }, () => randomAttention(rng, d.batch, d.heads, d.tokens));
  const classIds = uploadClassIds(labels);
  const layers = propagateThroughBlocks(initLabels(gpu, { ...d, labels: classIds, partnerShare: share }), probs);
  const ownShares = propagateThroughBlocks(initOwnShares(gpu, { ...d, partnerShare: share }), probs);
  const targets = clsTargets(layers[d.depth]);
  // what TL-Align trains with: the K-column target formed from the final CLS own share
  const fromShares = shareTargets(gpu, ownShares[d.depth], { labels: classIds, classes: d.classes, smoothing: d.smoothing });
  return {
    d, labels, shares, probs,
    layers: await Promise.all(layers.map((l) => l.read())),
    finalOwnShares: await ownShares[d.depth].read(),
    targets: await targets.read(),
    shareTargets: await fromShares.read(),
  };
}

test('K-column propagation equals the scalar form (B = 5, N = 17, H = 3, 4 blocks): target = ρ·ỹ_i + (1−ρ)·ỹ_partner, as shareTargets forms it', async () => {
  const { d, labels, shares, probs, layers, finalOwnShares, targets, shareTargets: fromShares } = await randomChain(1);
  assert.equal(layers.length, d.depth + 1);
  const want = scalarFormTargetsRef(finalOwnShares, labels, d);
  assertClose(targets, want, 1e-5, 'CLS row of L_final vs ρ·ỹ_i + (1−ρ)·ỹ_partner');
  // shareTargets (TL-Align's training path) forms that target on the GPU: against the float64 formula and the K-column form
  assertClose(fromShares, want, 1e-6, 'shareTargets vs ρ·ỹ_i + (1−ρ)·ỹ_partner (float64, from the GPU ρ)');
  assertClose(fromShares, targets, 1e-5, 'shareTargets vs the CLS row of the K-column L_final');
  // Both forms against the float64 chain too, so neither can agree with the other by sharing a bug.
  let L = initLabelsRef(labels, { ...d, partnerShare: shares });
  let v = ownSharesRef({ ...d, partnerShare: shares });
  for (const P of probs) {
    const p = await P.read();
    L = propagateRef(L, p, { ...d, columns: d.classes });
    v = propagateRef(v, p, { ...d, columns: 1 });
  }
  assertClose(layers[d.depth], L, 1e-5, 'GPU L_final vs float64');
  assertClose(finalOwnShares, v, 1e-5, 'GPU v_final vs float64');
  const rho = Array.from({ length: d.batch }, (_, b) => finalOwnShares[b * d.tokens]);
  assert.ok(rho.some((r) => Math.abs(r - d.clsOwnShare) > 1e-2), `ρ = ${rho} should drift away from λ = ${d.clsOwnShare}`);
});

test('rows stay stochastic: every row of every L^l sums to 1, entries in [0, 1]', async () => {
  const { d, layers } = await randomChain(2);
  for (const [l, L] of layers.entries()) {
    for (let row = 0; row < d.batch * d.tokens; row++) {
      const r = L.subarray(row * d.classes, (row + 1) * d.classes);
      const sum = r.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) <= 1e-6, `L^${l} row ${row} sums to ${sum}`);
      for (const x of r) assert.ok(x >= 0 && x <= 1 + 1e-6, `L^${l} row ${row} has entry ${x}`);
    }
  }
});

test('identity attention: target = token-aligned CutMix target λ·ỹ_i + (1−λ)·ỹ_partner, λ = 1 − box/T (G = 4, 2×3 box)', async () => {
  const G = 4, T = G * G, N = T + 1, batch = 4, heads = 2, classes = 10, smoothing = 0.1, depth = 3;
  const labels = [3, 7, 7, 1];
  // The box covers grid rows 1–2 and columns 1–3: 6 of 16 tokens come from the partner.
  const inBox = (t: number) => Math.floor(t / G) >= 1 && Math.floor(t / G) < 3 && t % G >= 1 && t % G < 4;
  const mask = Array.from({ length: T }, (_, t) => Number(inBox(t)));
  assert.equal(mask.reduce((a, b) => a + b, 0), 6);
  const lambda = 1 - 6 / 16; // = 5/8
  const identity = new Float32Array(batch * heads * N * N);
  for (let m = 0; m < batch * heads; m++) for (let i = 0; i < N; i++) identity[(m * N + i) * N + i] = 1;
  const P = upload([batch, heads, N, N], identity);
  const share = upload([T], mask).storage;
  const layers = propagateThroughBlocks(
    initLabels(gpu, { labels: uploadClassIds(labels), batch, tokens: N, classes, smoothing, clsOwnShare: lambda, partnerShare: share, perSample: false }),
    Array.from({ length: depth }, () => P));
  const v = propagateThroughBlocks(initOwnShares(gpu, { batch, tokens: N, clsOwnShare: lambda, partnerShare: share, perSample: false }),
    Array.from({ length: depth }, () => P));
  const final = await layers[depth].read();
  const targets = await clsTargets(layers[depth]).read();
  const finalOwnShares = await v[depth].read();
  for (let b = 0; b < batch; b++) {
    const own = smoothedOneHot(labels[b], classes, smoothing), partner = smoothedOneHot(labels[batch - 1 - b], classes, smoothing);
    const cutmix = own.map((y, k) => (5 / 8) * y + (3 / 8) * partner[k]);
    assertClose(targets.subarray(b * classes, (b + 1) * classes), cutmix, 1e-6, `sample ${b}: target`);
    assert.ok(Math.abs(finalOwnShares[b * N] - 5 / 8) <= 1e-6, `sample ${b}: ρ = ${finalOwnShares[b * N]}`);
    for (let t = 0; t < T; t++) {
      const row = final.subarray((b * N + 1 + t) * classes, (b * N + 2 + t) * classes);
      assertClose(row, inBox(t) ? partner : own, 1e-6, `sample ${b}, patch ${t} (${inBox(t) ? 'in' : 'outside'} the box)`);
    }
  }
  // The CLS row alone (tokens = 1, the area-ratio target of plain CutMix) is the same target.
  const clsOnly = initLabels(gpu, { labels: uploadClassIds(labels), batch, tokens: 1, classes, smoothing, clsOwnShare: lambda, partnerShare: share, perSample: false });
  assertClose(await clsOnly.read(), targets, 1e-6, 'CLS-only labels vs the propagated target');
});

test('no gradient flows through the labels; initLabels / propagateLabels / clsTargets record nothing', async () => {
  const batch = 3, tokens = 5, heads = 2, dim = 8, classes = 4;
  const rng = new Rng(3);
  const qkv = tensorFrom(gpu, [batch * tokens, 3 * dim], rng.fill(batch * tokens * 3 * dim, () => rng.normal()), true, 'qkv');
  const head = tensorFrom(gpu, [dim, classes], rng.fill(dim * classes, () => rng.normal()), false, 'head');
  const labels = uploadClassIds([1, 0, 3]);
  const share = upload([tokens - 1], [0, 1, 1, 0]).storage;

  /** CE of the attention's CLS output (through a fixed head) against the given targets; returns d loss / d qkv. */
  async function qkvGradient(targetsFor: (probs: Tensor) => Tensor) {
    const { out, probs } = attention(qkv, batch, tokens, heads);
    const logits = matmul(gatherToken(out.reshape([batch, tokens, dim]), 0), head);
    const targets = targetsFor(probs);
    backward(softCrossEntropy(logits, targets).loss);
    const grad = await qkv.grad!.read();
    const targetValues = await targets.read();
    qkv.grad = undefined;
    gpu.endStep();
    return { grad, targetValues };
  }

  const propagated = await qkvGradient((probs) => {
    const before = tapeLength();
    assert.ok(before > 0, 'the attention should be on the tape');
    const L0 = initLabels(gpu, { labels, batch, tokens, classes, smoothing: 0.1, clsOwnShare: 0.5, partnerShare: share, perSample: false });
    const targets = clsTargets(propagateThroughBlocks(L0, [probs, probs])[2]);
    assert.equal(tapeLength(), before, 'label ops must not be recorded');
    assert.ok(!targets.requiresGrad);
    return targets;
  });
  const constant = await qkvGradient(() => tensorFrom(gpu, [batch, classes], propagated.targetValues));
  assert.ok(propagated.grad.some((g) => g !== 0), 'the loss should reach qkv');
  assert.deepEqual(constant.grad, propagated.grad, 'gradients with propagated targets differ from those with constant targets');

  // Even with attention that asks for a gradient, propagation records nothing and gives the same labels with and without the tape.
  const L = upload([batch, tokens, classes], rng.fill(batch * tokens * classes, () => rng.next()));
  const probsWithGrad = tensorFrom(gpu, [batch, heads, tokens, tokens], Float32Array.from(ref.softmax(rng.fill(batch * heads * tokens ** 2, () => rng.normal()), tokens)), true);
  const before = tapeLength();
  const recorded = propagateLabels(L, probsWithGrad);
  assert.equal(tapeLength(), before);
  assert.ok(!recorded.requiresGrad);
  const unrecorded = noGrad(() => propagateLabels(L, probsWithGrad));
  assert.deepEqual(await recorded.read(), await unrecorded.read());
});

test('GPU vs float64 reference on random inputs: init_labels (per-batch, per-sample, fractional), init_own_shares, propagate_labels', async () => {
  const rng = new Rng(4);
  for (const perSample of [false, true]) {
    const d = { batch: 5, tokens: 10, classes: 7, smoothing: 0.1, clsOwnShare: 0.35, perSample };
    const labels = Array.from({ length: d.batch }, () => rng.int(d.classes));
    const shares = rng.fill((perSample ? d.batch : 1) * (d.tokens - 1), () => rng.next());
    const share = upload([shares.length], shares).storage;
    const L0 = initLabels(gpu, { ...d, labels: uploadClassIds(labels), partnerShare: share });
    const v0 = initOwnShares(gpu, { ...d, partnerShare: share });
    const what = perSample ? 'per sample' : 'per batch';
    const errL = maxRelDiff(await L0.read(), initLabelsRef(labels, { ...d, partnerShare: shares }));
    const errV = maxRelDiff(await v0.read(), ownSharesRef({ ...d, partnerShare: shares }));
    assert.ok(errL <= 1e-6, `init_labels ${what}: rel error ${errL}`);
    assert.ok(errV <= 1e-6, `init_own_shares ${what}: rel error ${errV}`);
  }
  // Any L [B, N, C], signed, and a non-square-friendly shape.
  const p = { batch: 3, tokens: 17, heads: 3, columns: 7 };
  const L = rng.fill(p.batch * p.tokens * p.columns, () => rng.normal());
  const P = randomAttention(rng, p.batch, p.heads, p.tokens);
  const got = await propagateLabels(upload([p.batch, p.tokens, p.columns], L), P).read();
  const err = maxRelDiff(got, propagateRef(L, await P.read(), p));
  assert.ok(err <= 1e-6, `propagate_labels: rel error ${err}`);
});

test('the tl-align method trains on the one-column form: its targets equal the K-column CLS row (GPU and float64)', async () => {
  const { tlAlign, alignedLabelTargets } = await import('../../src/methods/tl-align.ts');
  const d = { batch: 4, tokens: 17, heads: 2, classes: 10, smoothing: 0.1, clsOwnShare: 0.625, perSample: false, depth: 3 };
  const rng = new Rng(11);
  const labels = [3, 7, 7, 1];
  const shares = Array.from({ length: d.tokens - 1 }, (_, i) => (i % 5 < 2 ? 1 : 0)); // the batch's token mask
  const probs = Array.from({ length: d.depth }, () => randomAttention(rng, d.batch, d.heads, d.tokens));
  const inputs = {
    gpu, labels: uploadClassIds(labels), partnerShare: upload([d.tokens - 1], shares).storage, batch: d.batch, tokens: d.tokens,
    classes: d.classes, smoothing: d.smoothing, mix: { ownShare: d.clsOwnShare }, attention: probs,
  } as unknown as Parameters<typeof tlAlign.targets>[0];
  const got = await noGrad(() => tlAlign.targets(inputs)).read();
  const kColumns = await noGrad(() => alignedLabelTargets(inputs)).read();
  assertClose(got, kColumns, 1e-5, 'tl-align targets vs the K-column form on the GPU');
  let L = initLabelsRef(labels, { ...d, partnerShare: shares });
  for (const P of probs) L = propagateRef(L, await P.read(), { ...d, columns: d.classes });
  const want = Array.from({ length: d.batch * d.classes }, (_, i) => L[Math.floor(i / d.classes) * d.tokens * d.classes + (i % d.classes)]);
  assertClose(got, want, 1e-5, 'tl-align targets vs the float64 K-column chain');
  assert.equal((tlAlign.initialLabels!(inputs)).shape[2], 1, 'one column carried');
});
