/**
 * GPU batches (src/data/gpu-batcher.ts, shaders/augment.wgsl) against the CPU reference
 * (src/data/augment-reference.ts) bit for bit, over every mix mode with augmentation on and off,
 * odd batches, random orders, two image sizes and datasets split into shards; then what the
 * batches mean, checked on hand-made cases without the reference's formulas: crops are shifted
 * and mirrored copies with zero padding, boxes come from the partner, mixup is a convex
 * combination, labels are gathered; and the hash's crop offsets and flips are evenly spread.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { referenceBatch, referenceTeacherBatch } from '../../src/data/augment-reference.ts';
import {
  augmentDraw, type BatchRequest, type GpuBatch, GpuBatcher, type ImageBytes, type MixPlan,
  quantiseWeight, uploadDataset, uploadTeacherMaps,
} from '../../src/data/gpu-batcher.ts';
import { normalizeImages } from '../../src/data/dataset.ts';
import { type Gpu } from '../../src/gpu/gpu.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';
import { Rng } from '../../src/nn/random.ts';

let gpu: Gpu;
before(async () => { gpu = await openNodeGpu(); });
after(() => gpu?.device.destroy());

function randomSet(rng: Rng, count: number, size: number, lowest = 0): ImageBytes {
  const channels = 3;
  const images = new Uint8Array(count * channels * size * size);
  for (let i = 0; i < images.length; i++) images[i] = lowest + rng.int(256 - lowest);
  const labels = Uint8Array.from({ length: count }, () => rng.int(10));
  return { images, labels, count, size, channels };
}

function permutation(rng: Rng, n: number): Uint32Array {
  const p = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

const asU32 = (f: Float32Array) => new Uint32Array(f.buffer, f.byteOffset, f.length);

interface ReadBatch { images: Float32Array; labels: Uint32Array; augmented: Uint32Array }

/** Encodes the requests as one submit and reads every output back. */
async function runBatches(batcher: GpuBatcher, requests: BatchRequest[]): Promise<ReadBatch[]> {
  const encoded: GpuBatch[] = requests.map((r) => batcher.encode(r));
  const reads = encoded.map((e) => [gpu.readback(e.images.storage), gpu.readback(e.labels), gpu.readback(e.augmented)]);
  gpu.flush();
  const out = await Promise.all(reads.map(async (r) => {
    const [images, labels, augmented] = await Promise.all(r);
    return { images, labels: asU32(labels), augmented: asU32(augmented) };
  }));
  gpu.endStep();
  assert.deepEqual(gpu.errors, []);
  return out;
}

function assertBitsEqual(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const g = asU32(got);
  const w = asU32(want);
  const i = g.findIndex((v, k) => v !== w[k]);
  assert.equal(i, -1, `${what}: element ${i} is ${got[i]} (0x${g[i]?.toString(16)}), reference ${want[i]} (0x${w[i]?.toString(16)})`);
}

const MIXES: MixPlan[] = [
  { mode: 'none' },
  { mode: 'mixup', ownWeight: 0.3 },
  { mode: 'box', y0: 2, y1: 9, x0: 5, x1: 12 },
];

test('GPU batches equal the CPU reference bit for bit (mix modes × augmentation, odd batch, shards, sizes 32 and 13)', async () => {
  const rng = new Rng(7);
  const cases = [
    { name: 'size 32, one shard', set: randomSet(rng, 9, 32), maxBindingBytes: undefined, minShards: 1 },
    { name: 'size 32, shards of 3 images', set: randomSet(rng, 9, 32), maxBindingBytes: 3 * 3 * 32 * 32 + 100, minShards: 3 },
    // 507-byte images: shards start mid-word in the packed bytes of the whole set, so each is packed on its own.
    { name: 'size 13, shards of 2 images', set: randomSet(rng, 11, 13), maxBindingBytes: 2 * 3 * 13 * 13 + 3, minShards: 3 },
  ];
  for (const c of cases) {
    const data = uploadDataset(gpu, c.set, c.maxBindingBytes);
    assert.ok(data.shards.length >= c.minShards, `${c.name}: ${data.shards.length} shards`);
    assert.deepEqual(data.shards.map((s) => s.first + s.count).at(-1), c.set.count);
    const order = Uint32Array.from([...permutation(rng, c.set.count), ...permutation(rng, c.set.count)]);
    const batcher = new GpuBatcher(gpu, data);
    batcher.setOrder(order);
    const batch = 5;
    const first = 3;
    const shardOf = (image: number) => data.shards.findIndex((s) => image >= s.first && image < s.first + s.count);
    const touched = new Set(Array.from(order.subarray(first, first + batch), shardOf));
    assert.ok(touched.size >= Math.min(3, c.minShards), `${c.name}: the batch reads ${touched.size} shards`);

    const requests: BatchRequest[] = [];
    for (const mix of MIXES) {
      for (const augment of [true, false]) requests.push({ batch, first, augment, seed: 1234, step: 17, mix });
    }
    requests.push({ batch: 7, first: 0, augment: true, padding: 2, flip: false, seed: 99, step: 4000000000, mix: MIXES[2] });
    // TokenMix: a token mask upsampled to pixels (patch 4 on 32 px, patch 1 on 13 px).
    const patch = c.set.size % 4 === 0 ? 4 : 1;
    const tokenMask = Uint8Array.from({ length: (c.set.size / patch) ** 2 }, () => (rng.next() < 0.5 ? 1 : 0));
    for (const augment of [true, false]) requests.push({ batch, first, augment, seed: 4321, step: 3, mix: { mode: 'tokens', patch, mask: tokenMask } });
    // A small mean makes x − M round in f32 for bright pixels: a reference rounding once, after the ×, would differ.
    requests.push({ batch: 4, first: order.length - 4, augment: true, seed: 0, step: 0, mix: { mode: 'mixup', ownWeight: 0.77 }, mean: [0.01, 0.4, 0.3], std: [0.3, 0.25, 0.2] });

    const got = await runBatches(batcher, requests);
    requests.forEach((r, k) => {
      const what = `${c.name}, ${r.mix.mode}, augment ${r.augment}, batch ${r.batch}`;
      const want = referenceBatch(c.set, order, r);
      assert.deepEqual(got[k].augmented, Uint32Array.from(want.augmented), `${what}: augmented pixels`);
      assert.deepEqual(got[k].labels, want.labels, `${what}: labels`);
      assertBitsEqual(got[k].images, want.images, what);
    });
  }
});

test('semantics: no augmentation and no mixing is normalizeImages of the gathered images; labels are gathered', async () => {
  const rng = new Rng(11);
  const set = randomSet(rng, 6, 12);
  const order = permutation(rng, set.count);
  const batcher = new GpuBatcher(gpu, uploadDataset(gpu, set));
  batcher.setOrder(order);
  const [got] = await runBatches(batcher, [{ batch: 5, first: 1, augment: false, seed: 3, step: 3, mix: { mode: 'none' } }]);
  const perImage = 3 * 12 * 12;
  const gathered = new Uint8Array(5 * perImage);
  for (let b = 0; b < 5; b++) gathered.set(set.images.subarray(order[1 + b] * perImage, (order[1 + b] + 1) * perImage), b * perImage);
  const want = normalizeImages(gathered, 12 * 12);
  let worst = 0;
  want.forEach((w, i) => { worst = Math.max(worst, Math.abs(got.images[i] - w) / Math.max(1, Math.abs(w))); });
  assert.ok(worst <= 1e-6, `max relative difference ${worst}`);
  assert.deepEqual(Array.from(got.labels), Array.from(order.subarray(1, 6), (i) => set.labels[i]));
  assert.deepEqual(got.augmented, Uint32Array.from(gathered));
});

/** The unique (shift, mirror) that makes `out` a shifted, mirrored, zero-padded copy of `src`, or undefined. */
function findShift(src: Uint8Array, out: ArrayLike<number>, size: number, padding: number) {
  const matches: { dy: number; dx: number; flip: boolean }[] = [];
  for (const flip of [false, true]) {
    for (let dy = -padding; dy <= padding; dy++) {
      for (let dx = -padding; dx <= padding; dx++) {
        let same = true;
        for (let i = 0; i < src.length && same; i++) {
          const x = i % size;
          const y = Math.floor(i / size) % size;
          const plane = i - y * size - x;
          const sy = y + dy;
          const sx = (flip ? size - 1 - x : x) + dx;
          const v = sy >= 0 && sy < size && sx >= 0 && sx < size ? src[plane + sy * size + sx] : 0;
          same = out[i] === v;
        }
        if (same) matches.push({ dy, dx, flip });
      }
    }
  }
  assert.ok(matches.length <= 1, `ambiguous shift: ${JSON.stringify(matches)}`);
  return matches[0];
}

test('semantics: augmented images are shifted, mirrored copies with zero padding, as the hash says (reference and GPU)', async () => {
  const rng = new Rng(5);
  const size = 12;
  const padding = 4;
  const set = randomSet(rng, 4, size, 1); // no zero pixels: padding is recognisable and the shift unique
  const order = Uint32Array.from({ length: 16 }, (_, i) => i % set.count);
  const batcher = new GpuBatcher(gpu, uploadDataset(gpu, set));
  batcher.setOrder(order);
  const request: BatchRequest = { batch: 16, first: 0, augment: true, padding, seed: 42, step: 9, mix: { mode: 'none' } };
  const [got] = await runBatches(batcher, [request]);
  const reference = referenceBatch(set, order, request);
  const perImage = 3 * size * size;
  let flips = 0;
  let shifted = 0;
  for (let b = 0; b < 16; b++) {
    const src = set.images.subarray(order[b] * perImage, (order[b] + 1) * perImage);
    const draw = augmentDraw(42, 9, b, padding);
    const expected = { dy: draw.offsetY - padding, dx: draw.offsetX - padding, flip: draw.flip };
    assert.deepEqual(findShift(src, reference.augmented.subarray(b * perImage, (b + 1) * perImage), size, padding), expected, `reference sample ${b}`);
    assert.deepEqual(findShift(src, got.augmented.subarray(b * perImage, (b + 1) * perImage), size, padding), expected, `GPU sample ${b}`);
    flips += Number(expected.flip);
    shifted += Number(expected.dy !== 0 || expected.dx !== 0);
  }
  assert.ok(flips > 0 && flips < 16 && shifted > 0, `the batch should mix flipped, unflipped and shifted samples (${flips} flips, ${shifted} shifted)`);
});

test('semantics: box takes exactly the box from the partner; mixup λ=1 is the own image, λ=0 the partner, λ between mixes linearly', async () => {
  const rng = new Rng(8);
  const size = 12;
  const set = randomSet(rng, 7, size);
  const order = permutation(rng, set.count);
  const batcher = new GpuBatcher(gpu, uploadDataset(gpu, set));
  batcher.setOrder(order);
  const batch = 7; // odd: sample 3 is its own partner
  const box = { y0: 3, y1: 8, x0: 1, x1: 11 };
  const base = { batch, first: 0, augment: true, seed: 5, step: 123 };
  const lambda = quantiseWeight(0.25);
  assert.equal(lambda.q, 16384);
  const [none, boxed, own, partner, mixed] = await runBatches(batcher, [
    { ...base, mix: { mode: 'none' } },
    { ...base, mix: { mode: 'box', ...box } },
    { ...base, mix: { mode: 'mixup', ownWeight: 1 } },
    { ...base, mix: { mode: 'mixup', ownWeight: 0 } },
    { ...base, mix: { mode: 'mixup', ownWeight: 0.25 } },
  ]);
  assertBitsEqual(own.images, none.images, 'mixup λ=1');
  const perImage = 3 * size * size;
  const noneBits = asU32(none.images);
  const boxBits = asU32(boxed.images);
  const partnerBits = asU32(partner.images);
  for (let i = 0; i < none.images.length; i++) {
    const b = Math.floor(i / perImage);
    const x = i % size;
    const y = Math.floor(i / size) % size;
    const partnerIndex = (batch - 1 - b) * perImage + (i % perImage);
    const inBox = y >= box.y0 && y < box.y1 && x >= box.x0 && x < box.x1;
    assert.equal(boxBits[i], noneBits[inBox ? partnerIndex : i], `box: sample ${b} (${y}, ${x})`);
    assert.equal(partnerBits[i], noneBits[partnerIndex], `mixup λ=0: sample ${b}`);
    const linear = lambda.ownWeight * none.images[i] + (1 - lambda.ownWeight) * none.images[partnerIndex];
    assert.ok(Math.abs(mixed.images[i] - linear) <= 1e-5, `mixup λ=0.25 at ${i}: ${mixed.images[i]} vs ${linear}`);
  }
  assert.deepEqual(boxed.labels, none.labels, 'labels are each sample’s own whatever the mixing');
});

test('the hash spreads crop offsets over 0..8 in both axes (all 81 pairs) and flips about half the samples', () => {
  const padding = 4;
  const pairs = new Set<number>();
  const rows = new Set<number>();
  const columns = new Set<number>();
  let flips = 0;
  let draws = 0;
  for (let step = 0; step < 200; step++) {
    for (let sample = 0; sample < 64; sample++) {
      const d = augmentDraw(2024, step, sample, padding);
      rows.add(d.offsetY);
      columns.add(d.offsetX);
      pairs.add(d.offsetY * 9 + d.offsetX);
      flips += Number(d.flip);
      draws++;
    }
  }
  assert.deepEqual([...rows].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual([...columns].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(pairs.size, 81);
  assert.ok(Math.abs(flips / draws - 0.5) < 0.02, `flip rate ${flips / draws}`);
});

test('bad requests throw; later batches of the same shape create no GPU buffers', async () => {
  const set = randomSet(new Rng(1), 3, 8);
  assert.throws(() => uploadDataset(gpu, set, 100), /more than a binding/);
  const batcher = new GpuBatcher(gpu, uploadDataset(gpu, set));
  const request: BatchRequest = { batch: 2, first: 1, augment: true, seed: 1, step: 1, mix: { mode: 'none' } };
  assert.throws(() => batcher.encode(request), /setOrder first/);
  assert.throws(() => batcher.setOrder(Uint32Array.of(0, 3)), /not in the dataset/);
  batcher.setOrder(Uint32Array.of(2, 0, 1));
  assert.throws(() => batcher.encode({ ...request, first: 2 }), /passes the order/);
  assert.throws(() => batcher.encode({ ...request, mix: { mode: 'box', y0: 0, y1: 9, x0: 0, x1: 1 } }), /not inside/);
  assert.throws(() => batcher.encode({ ...request, mix: { mode: 'mixup', ownWeight: 1.5 } }), /not in \[0, 1\]/);
  assert.throws(() => batcher.encode({ ...request, padding: 9 }), /padding/);

  await runBatches(batcher, [request]);
  const created = gpu.buffersCreated;
  for (let step = 2; step < 5; step++) await runBatches(batcher, [{ ...request, step }]);
  assert.equal(gpu.buffersCreated, created);
});

test('TokenMix pixels: exactly the masked tokens come from the partner', async () => {
  const rng = new Rng(31);
  const set = randomSet(rng, 6, 32, 1);
  const batcher = new GpuBatcher(gpu, uploadDataset(gpu, set));
  batcher.setOrder(Uint32Array.from({ length: 6 }, (_, i) => i));
  const mask = new Uint8Array(64);
  for (const t of [0, 9, 10, 63]) mask[t] = 1;
  const base: BatchRequest = { batch: 6, first: 0, augment: false, seed: 1, step: 1, mix: { mode: 'none' } };
  const [plain, mixed] = await runBatches(batcher, [base, { ...base, mix: { mode: 'tokens', patch: 4, mask } }]);
  const per = 3 * 32 * 32;
  for (let b = 0; b < 6; b++) {
    for (let i = 0; i < per; i++) {
      const y = Math.floor(i / 32) % 32, x = i % 32;
      const fromPartner = mask[Math.floor(y / 4) * 8 + Math.floor(x / 4)] === 1;
      const want = plain.images[(fromPartner ? 5 - b : b) * per + i];
      assert.equal(mixed.images[b * per + i], want, `sample ${b} pixel ${i}`);
    }
  }
});

test('teacher maps move with the crop and flip: each token gets the map of the source tokens its pixels came from', async () => {
  // Pixel (y, x) of every image holds 1 + its token index; the teacher's map of token t is one-hot at class t (K = T = 64).
  const size = 32, P = 4, G = 8, T = 64, count = 4;
  const images = new Uint8Array(count * 3 * size * size);
  for (let i = 0; i < images.length; i++) {
    const y = Math.floor(i / size) % size, x = i % size;
    images[i] = 1 + Math.floor(y / P) * G + Math.floor(x / P);
  }
  const set: ImageBytes = { images, labels: new Uint8Array(count), count, size, channels: 3 };
  const maps = new Float32Array(count * T * T);
  for (let n = 0; n < count; n++) for (let t = 0; t < T; t++) maps[(n * T + t) * T + t] = 1;
  const data = uploadDataset(gpu, set);
  const teacher = uploadTeacherMaps(gpu, maps, { count, size, patch: P, classes: T });
  const batcher = new GpuBatcher(gpu, data);
  const order = Uint32Array.from([0, 1, 2, 3, 2, 1, 0, 3]);
  batcher.setOrder(order);
  for (const step of [5, 6, 7]) {
    const request: BatchRequest = { batch: 8, first: 0, augment: true, seed: 11, step, mix: { mode: 'none' } };
    const batch = batcher.encode(request);
    const gathered = batcher.encodeTeacher(teacher);
    const reads = [gpu.readback(batch.augmented), gpu.readback(gathered.storage)];
    gpu.flush();
    const [augmentedF, got] = await Promise.all(reads);
    gpu.endStep();
    const augmented = asU32(augmentedF);
    const want = referenceTeacherBatch(maps, order, request, { size, patch: P, classes: T });
    for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-6, `step ${step}: GPU ${got[i]} vs reference ${want[i]} at ${i}`);
    for (let b = 0; b < 8; b++) {
      for (let t = 0; t < T; t++) {
        // Share of the token's in-image pixels that came from each source token.
        const shares = new Float64Array(T);
        let inside = 0;
        for (let dy = 0; dy < P; dy++) for (let dx = 0; dx < P; dx++) {
          const y = Math.floor(t / G) * P + dy, x = (t % G) * P + dx;
          const v = augmented[b * 3 * size * size + y * size + x];
          if (v > 0) { shares[v - 1]++; inside++; }
        }
        if (inside === 0) {
          // A token shifted wholly into the padding keeps the nearest in-image token's label: still a distribution.
          let sum = 0;
          for (let k = 0; k < T; k++) sum += got[(b * T + t) * T + k];
          assert.ok(Math.abs(sum - 1) < 1e-6, `step ${step} sample ${b} token ${t}: padding token's map sums to ${sum}`);
          continue;
        }
        for (let k = 0; k < T; k++) {
          const expected = shares[k] / inside;
          assert.ok(Math.abs(got[(b * T + t) * T + k] - expected) < 1e-6, `step ${step} sample ${b} token ${t} class ${k}: ${got[(b * T + t) * T + k]} vs ${expected}`);
        }
      }
    }
  }
  assert.deepEqual(gpu.errors, []);
});
