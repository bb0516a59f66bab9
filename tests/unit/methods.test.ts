// The token-level methods' targets and losses (src/methods: tokenmix.ts, token-labeling.ts,
// diversepatch.ts, labels.ts) on small cases computed by hand from methods.md's formulas.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { type Tensor, tensorFrom } from '../../src/autograd/index.ts';
import { type Gpu, type Storage } from '../../src/gpu/gpu.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';
import { contextContrastive, diversepatch, regionMixing, tokenContrastive, tokenMixing } from '../../src/methods/diversepatch.ts';
import { contentTargetsRef, pooledTargetsRef } from '../../src/methods/labels-reference.ts';
import { contentTargets, pooledTargets } from '../../src/methods/labels.ts';
import { DEFAULT_METHOD_OPTIONS, type LossInputs, type MethodOptions } from '../../src/methods/method.ts';
import { type BatchMix } from '../../src/methods/mixing.ts';
import { tokenLabeling } from '../../src/methods/token-labeling.ts';
import { type VisionTransformer, type VitOutput } from '../../src/nn/vit.ts';

let gpu: Gpu;
before(async () => { gpu = await openNodeGpu(); });
afterEach(() => { gpu.endStep(); assert.deepEqual(gpu.errors, []); });
after(() => gpu?.device.destroy());

const upload = (shape: number[], data: ArrayLike<number>, grad = false): Tensor => tensorFrom(gpu, shape, Float32Array.from(data), grad);
function u32(values: readonly number[]): Storage {
  const s = gpu.persistent(values.length, 'u32');
  gpu.write(s, Uint32Array.from(values));
  return s;
}
function f32(values: readonly number[]): Storage {
  const s = gpu.persistent(values.length, 'f32');
  gpu.write(s, Float32Array.from(values));
  return s;
}
async function read(t: Tensor): Promise<number[]> {
  const r = gpu.readback(t.storage);
  gpu.flush();
  return Array.from(await r);
}
function close(got: readonly number[], want: readonly number[], tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) <= tol, `${what}[${i}]: ${g} vs ${want[i]}`));
}

// Two samples (labels 0 and 2), four tokens (G = 2), three classes; tokens 1 and 2 come from the partner.
// Teacher maps [B, T, K]; the ground-truth column of sample 0 is [.5 .1 .3 .1], of sample 1 [.2 .2 .4 .2].
const MAPS = [
  0.5, 0.25, 0.25, 0.1, 0.45, 0.45, 0.3, 0.35, 0.35, 0.1, 0.45, 0.45,
  0.4, 0.4, 0.2, 0.4, 0.4, 0.2, 0.3, 0.3, 0.4, 0.4, 0.4, 0.2,
];
const MASK = [0, 1, 1, 0];
const third = 0.1 / 3;

test("TokenMix's content targets: ρ from the teacher's ground-truth-class maps, the code's BCE form and the CE form", async () => {
  const base = { labels: u32([0, 2]), batch: 2, tokens: 5, classes: 3, smoothing: 0.1, partnerShare: f32(MASK) };
  const teacher = upload([2, 4, 3], MAPS);
  // Sample 0: ρ_own = .5 + .1 = .6 (its tokens 0, 3), ρ_partner = .2 + .4 = .6 (sample 1's tokens 1, 2).
  //   t = s/K + [k=0](.6 − .05) + [k=2](.6 − .05) = [.58333, .03333, .58333]
  // Sample 1: ρ_own = .2 + .2 = .4, ρ_partner = .1 + .3 = .4 → [.38333, .03333, .38333]
  const bce = await read(contentTargets(gpu, { ...base, teacher, normalise: false }));
  close(bce, [0.55 + third, third, 0.55 + third, 0.35 + third, third, 0.35 + third], 1e-6, 'BCE form');
  const ce = await read(contentTargets(gpu, { ...base, teacher, normalise: true }));
  close(ce, [(0.55 + third) / 1.2, third / 1.2, (0.55 + third) / 1.2, (0.35 + third) / 0.8, third / 0.8, (0.35 + third) / 0.8], 1e-6, 'CE form');
  // No teacher: the area ratio, ρ = ½ each.
  const area = await read(contentTargets(gpu, { ...base, normalise: false }));
  close(area, [0.45 + third, third, 0.45 + third, 0.45 + third, third, 0.45 + third], 1e-6, 'area');
  close(bce, Array.from(contentTargetsRef([0, 2], { batch: 2, patches: 4, classes: 3, smoothing: 0.1, partnerShare: MASK, teacher: MAPS }, false)), 1e-6, 'reference');
});

test("Token Labeling's CLS target: λ·c_own + (1 − λ)·c_partner, c = (1 − γ)·pooled map + γ·ỹ", async () => {
  // pooled maps: sample 0 [.25 .375 .375], sample 1 [.375 .375 .25]; γ = .5, s = .1:
  //   c_0 = .5·[.25 .375 .375] + .5·[.93333 .03333 .03333] = [.591667 .204167 .204167], c_1 = [.204167 .204167 .591667]
  //   λ = .75: t_0 = .75 c_0 + .25 c_1 = [.494792 .204167 .301042], t_1 = [.301042 .204167 .494792]
  const o = { labels: u32([0, 2]), batch: 2, tokens: 5, classes: 3, smoothing: 0.1, partnerShare: f32(MASK), teacher: upload([2, 4, 3], MAPS) };
  const got = await read(pooledTargets(gpu, { ...o, ownShare: 0.75, gtWeight: 0.5 }));
  close(got, [0.494792, 0.204167, 0.301042, 0.301042, 0.204167, 0.494792], 1e-6, 'CLS targets');
  close(got, Array.from(pooledTargetsRef([0, 2], { batch: 2, patches: 4, classes: 3, smoothing: 0.1, partnerShare: MASK, teacher: MAPS }, 0.75, 0.5)), 1e-6, 'reference');
  // γ = 0, λ = 1: the own image's pooled map.
  close(await read(pooledTargets(gpu, { ...o, ownShare: 1, gtWeight: 0 })), [0.25, 0.375, 0.375, 0.375, 0.375, 0.25], 1e-6, 'pooled');
});

/** A stand-in for the model and the forward outputs, with heads given as plain weights. */
function lossInputs(o: {
  batch: number; grid: number; classes: number; dim: number; labels: number[]; mask: number[]; smoothing: number; ownShare: number;
  tokens: number[]; patches?: number[]; hidden1?: number[]; logits: number[]; heads: Record<string, number[]>; teacher?: number[]; options?: Partial<MethodOptions>;
}): LossInputs {
  const { batch: B, grid: G, classes: K, dim: D } = o;
  const T = G * G;
  const params = new Map(Object.entries(o.heads).map(([name, v]) => [name, upload(name.endsWith('weight') ? [K, D] : [K], v, true)]));
  const model = { config: { imageSize: 4 * G, patch: 4, classes: K, dim: D }, params: { get: (n: string) => params.get(n)! } } as unknown as VisionTransformer;
  const tokens = upload([B, T + 1, D], o.tokens, true);
  const zeros = new Array(B * (T + 1) * D).fill(0);
  const out: VitOutput = {
    logits: upload([B, K], o.logits, true), attention: [], tokens, patches: upload([B, T, D], o.patches ?? zeros.slice(0, B * T * D)),
    hidden: [upload([B * (T + 1), D], zeros), upload([B * (T + 1), D], o.hidden1 ?? zeros)],
  };
  const mix: BatchMix = { kind: 'cutmix-token', plan: { mode: 'none' }, ownShare: o.ownShare, partnerShare: Float32Array.from(o.mask) };
  return {
    gpu, mix, labels: u32(o.labels), partnerShare: f32(o.mask), attention: [], batch: B, tokens: T + 1, classes: K, smoothing: o.smoothing,
    teacher: o.teacher ? upload([B, T, K], o.teacher) : undefined, options: { ...DEFAULT_METHOD_OPTIONS, ...o.options },
    out, model, tokenMask: u32(o.mask),
  };
}

// One sample, G = 2, D = 2. Patch embeddings c = (1,0) (0,1) (1,1) (0,0); final patch tokens h = (1,0) (0,2) (1,0) (0,1).
const C = [1, 0, 0, 1, 1, 1, 0, 0];
const H = [1, 0, 0, 2, 1, 0, 0, 1];
const lse = (xs: number[]) => Math.log(xs.reduce((a, x) => a + Math.exp(x), 0));

test("DiversePatch contrastive losses: the released code's 3-way form and the paper's first-vs-last-layer form", async () => {
  const l = lossInputs({
    batch: 1, grid: 2, classes: 2, dim: 2, labels: [0], mask: [0, 0, 0, 0], smoothing: 0, ownShare: 1,
    tokens: [9, 9, ...H], patches: C, hidden1: [7, 7, ...C], logits: [0, 0], heads: {},
  });
  const h = l.out.tokens; // the CLS row (9, 9) must be ignored
  const { patchTokens } = await import('../../src/autograd/index.ts');
  // Code: scores [⟨c_i,h_i⟩, ⟨c_i, mean of the others⟩, ⟨c_i, mean of the others in the 3×3 window⟩] (= all others at 2×2):
  //   token 0: [1, 1/3, 1/3]   token 1: [2, 1/3, 1/3]   token 2: [1, 4/3, 4/3]   token 3: [0, 0, 0]
  const code = [[1, 1 / 3, 1 / 3], [2, 1 / 3, 1 / 3], [1, 4 / 3, 4 / 3], [0, 0, 0]].map((s) => lse(s) - s[0]);
  const gotCode = await read(contextContrastive({ ...l, options: { ...l.options, diversityWindow: 3 } }, patchTokens(h), 2));
  close(gotCode, [code.reduce((a, b) => a + b, 0) / 4], 1e-6, 'code contrastive');
  // Paper: S_ij = h¹_i·h_j with h¹ = c:  row 0 [1 0 1 0], row 1 [0 2 0 1], row 2 [1 2 1 1], row 3 [0 0 0 0]; the right j is i.
  const paper = [[1, 0, 1, 0], [0, 2, 0, 1], [1, 2, 1, 1], [0, 0, 0, 0]].map((s, i) => lse(s) - s[i]);
  close(await read(tokenContrastive(l, patchTokens(h))), [paper.reduce((a, b) => a + b, 0) / 4], 1e-6, 'paper contrastive');
});

test('DiversePatch mixing losses: region mean through mix_head weighted by area (code), every token against its source (paper)', async () => {
  // Two samples (labels 0, 1) with the same tokens h; tokens 1 and 2 are the partner's; λ = ½; no smoothing; identity heads.
  const l = lossInputs({
    batch: 2, grid: 2, classes: 2, dim: 2, labels: [0, 1], mask: [0, 1, 1, 0], smoothing: 0, ownShare: 0.5,
    tokens: [0, 0, ...H, 0, 0, ...H], logits: [0, 0, 0, 0],
    heads: { 'mix_head.weight': [1, 0, 0, 1], 'mix_head.bias': [0, 0], 'head.weight': [1, 0, 0, 1], 'head.bias': [0, 0] },
  });
  const { patchTokens } = await import('../../src/autograd/index.ts');
  // Regions: own = mean(h0, h3) = (.5, .5), pasted = mean(h1, h2) = (.5, 1).
  //   sample 0: ½·CE((.5,.5), class 0) + ½·CE((.5,1), class 1) = ½ log 2 + ½ log(1 + e^−½)
  //   sample 1: ½·CE((.5,.5), class 1) + ½·CE((.5,1), class 0) = ½ log 2 + ½ log(1 + e^½)
  const code = (Math.log(2) + 0.5 * Math.log(1 + Math.exp(-0.5)) + 0.5 * Math.log(1 + Math.exp(0.5))) / 2;
  close(await read(regionMixing(l, patchTokens(l.out.tokens))), [code], 1e-6, 'code mixing');
  // Paper: token i's logits are h_i; sample 0's tokens 0, 3 are class 0, tokens 1, 2 class 1 (sample 1: the reverse).
  const ce = (z: number[], k: number) => lse(z) - z[k];
  const hs = [[1, 0], [0, 2], [1, 0], [0, 1]];
  const s0 = ce(hs[0], 0) + ce(hs[1], 1) + ce(hs[2], 1) + ce(hs[3], 0);
  const s1 = ce(hs[0], 1) + ce(hs[1], 0) + ce(hs[2], 0) + ce(hs[3], 1);
  close(await read(tokenMixing(l, patchTokens(l.out.tokens))), [(s0 + s1) / 8], 1e-6, 'paper mixing');
  // The released form's total: CE(CLS) + 1·contrastive + 1·mixing, with the CLS logits 0: CE = log 2.
  const total = await read(diversepatch.loss!({ ...l, options: { ...l.options, diversityContrastive: 0 } }).loss);
  close(total, [Math.log(2) + code], 1e-6, 'total with the contrastive weight 0');
});

test('Token Labeling: token predictions inside the box are swapped back to the image their content came from', async () => {
  // Three samples (partner of 0 is 2, 1 is its own), G = 2, K = 2, D = 2; tokens 1 and 3 were swapped by MixToken.
  // aux_head = identity, so token (b, t)'s aux logits are its final token h[b, t].
  const B = 3, T = 4, K = 2;
  const h = [[2, 0], [0, 1], [1, 1], [3, 0]];
  const tokens: number[] = [];
  for (let b = 0; b < B; b++) { tokens.push(0, 0); for (const v of h) tokens.push(v[0] + b, v[1]); }
  // Teacher maps: per sample and token a distribution (different everywhere, so an index slip shows).
  const teacher: number[] = [];
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) { const p = (1 + b + 2 * t) / 10; teacher.push(p, 1 - p); }
  const mask = [0, 1, 0, 1];
  const l = lossInputs({
    batch: B, grid: 2, classes: K, dim: 2, labels: [0, 1, 0], mask, smoothing: 0.1, ownShare: 0.5, tokens, logits: [0, 0, 0, 0, 0, 0],
    heads: { 'aux_head.weight': [1, 0, 0, 1], 'aux_head.bias': [0, 0] }, teacher, options: { tokenLabelWeight: 0.7, tokenLabelGtWeight: 0.2 },
  });
  const loss = await read(tokenLabeling.loss!(l).loss);
  // By hand: the prediction scored for (b, t) is the aux output at (partner(b), t) when mask[t] = 1, else at (b, t);
  // its target is the teacher's map of sample b at t. The CLS logits are 0, so CE(CLS) = log 2 whatever the target.
  const lseArr = (z: number[]) => Math.log(z.reduce((a, x) => a + Math.exp(x), 0));
  let tokenLoss = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const source = mask[t] ? B - 1 - b : b;
      const z = [h[t][0] + source, h[t][1]];
      const p = teacher.slice((b * T + t) * K, (b * T + t) * K + K);
      tokenLoss += p[0] * (lseArr(z) - z[0]) + p[1] * (lseArr(z) - z[1]);
    }
  }
  close(loss, [Math.log(2) + (0.7 * tokenLoss) / (B * T)], 1e-5, 'CE(CLS) + β·token loss');
  // Evaluation logits: z_cls + ½·max over tokens of the aux logits (per class).
  const evalLogits = await read(tokenLabeling.evalLogits!(l.out, l.model));
  const want: number[] = [];
  for (let b = 0; b < B; b++) want.push(0.5 * Math.max(...h.map((v) => v[0] + b)), 0.5 * Math.max(...h.map((v) => v[1])));
  close(evalLogits, want, 1e-6, 'eval logits');
});
