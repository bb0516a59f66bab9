// A training batch built on the GPU from the uint8 dataset: gather by an index order, random crop
// with zero padding and random horizontal flip, mixing with the partner sample, normalisation.
// Legend: B batch, C channels, S image side, P padding, b sample in the batch, partner(b) = B−1−b.
//   augment_gather: augmented[b,c,y,x] = image order[first+b], shifted and mirrored (u32 pixels)
//                   labels[b] = that image's label
//   mix_normalize:  dst[b,c,y,x] = (f32(w·a + (65536−w)·z) − M[c]) · R[c]
//                   a = augmented[b,c,y,x], z = augmented[B−1−b,c,y,x], w ∈ [0, 65536];
//                   w = 0 inside the box and on the tokens of the token mask (TokenMix)
//   teacher_gather: a teacher's per-token maps [T, K] of image order[first+b], moved with the same
//                   crop and flip as its pixels: output token (ty, tx) covers source pixels starting
//                   at (P·ty + oy − pad, P·tx' + ox − pad), tx' = G−1−tx when flipped, so it reads the
//                   map bilinearly at token coordinates (ty + (oy−pad)/P, tx' + (ox−pad)/P), clamped
//                   to the grid (a token shifted into the zero padding keeps the edge token's label)
//
// Bit-exactness with the CPU reference (src/data/augment-reference.ts), whatever the compiler does:
// - Everything up to the mixed value is integer arithmetic: the hash, the crop, the gather, and
//   w·a + (65536−w)·z ≤ 255·65536 < 2^24, so f32(mixed) is exact.
// - The floating point is one subtraction then one multiplication, each correctly rounded in f32
//   (WGSL, and Vulkan's SPIR-V, give + − × correctly rounded). No multiply feeds an add, so there is
//   nothing to contract into an FMA. The CPU computes the same two roundings exactly:
//   fround(fround(mixed − M) · R), since the double difference and product of f32 values whose
//   magnitudes are below 2^24 are exact before fround rounds them once.
// - M[c] = f32(mean_c·255·65536) and R[c] = f32(1/(std_c·255·65536)) are computed once on the CPU
//   and passed as uniforms, so no division or constant folding happens here.
// - Nothing is subnormal (a nonzero x − M is at least ulp(M), or ≥ 1 when M = 0; R ≈ 1e-7 for
//   CIFAR's std), so flush-to-zero cannot make the GPU differ.
//
// Per-image randomness, h = augment_hash(seed, step, b), split as (same in augmentDraw, TS):
//   bit 0        flip (when flips are on)
//   bits 8..19   crop row offset    oy = field % (2P+1)
//   bits 20..31  crop column offset ox = field % (2P+1)
// Without augmentation oy = ox = P and no flip: the image itself.
//
// The dataset is split into shards (whole images each) so no binding passes the device limit;
// augment_gather runs once per shard and a thread whose image is in another shard returns.
// Images are CHW uint8 packed 4 per u32 (byte k of a shard at bits 8·(k%4) of word k/4).

struct Params {
  batch: u32,
  channels: u32,
  side: u32,
  first: u32,         // the batch is order[first .. first+batch)
  padding: u32,
  random_crop: u32,   // 0: oy = ox = padding
  random_flip: u32,
  seed: u32,
  step: u32,
  shard_first: u32,   // dataset index of the bound shard's first image
  shard_count: u32,
  own_weight: u32,    // w outside the box (65536ths)
  mask_patch: u32,    // token-mask mixing (TokenMix): patch side (0: off)
  map_patch: u32,     // teacher_gather: patch side P of the maps' G×G token grid
  map_classes: u32,   // teacher_gather: K
  box_y0: u32,        // half-open box [y0 y1) × [x0 x1) where w = 0 (empty unless box mixing)
  box_y1: u32,
  box_x0: u32,
  box_x1: u32,
  mean_q0: f32,       // M[c] = f32(mean_c·255·65536)
  mean_q1: f32,
  mean_q2: f32,
  scale_q0: f32,      // R[c] = f32(1/(std_c·255·65536))
  scale_q1: f32,
  scale_q2: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> order: array<u32>;
@group(0) @binding(2) var<storage, read> shard_images: array<u32>;
@group(0) @binding(3) var<storage, read> dataset_labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> augmented: array<u32>;
@group(0) @binding(5) var<storage, read_write> labels: array<u32>;
@group(0) @binding(6) var<storage, read_write> dst: array<f32>;
@group(0) @binding(7) var<storage, read> token_mask: array<u32>;  // [(S/mask_patch)²], 1 = partner
@group(0) @binding(8) var<storage, read> teacher_maps: array<f32>; // shard of [count, T, K]
@group(0) @binding(9) var<storage, read_write> teacher_dst: array<f32>; // [B, T, K]

override WG: u32 = 256;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

// lowbias32 (Chris Wellons' integer hash) of x + golden ratio: a bijection of u32.
fn mix32(value: u32) -> u32 {
  var x = value + 0x9e3779b9u;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

fn augment_hash(seed: u32, step: u32, sample: u32) -> u32 {
  return mix32(mix32(mix32(seed) ^ step) ^ sample);
}

fn shard_byte(k: u32) -> u32 {
  return (shard_images[k >> 2u] >> (8u * (k & 3u))) & 0xffu;
}

// One thread per augmented element (b, c, y, x); only threads whose image is in this shard write.
@compute @workgroup_size(WG)
fn augment_gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  let s = p.side;
  if (i >= p.batch * p.channels * s * s) { return; }
  let x = i % s;
  let y = (i / s) % s;
  let c = (i / (s * s)) % p.channels;
  let b = i / (s * s * p.channels);
  let image = order[p.first + b];
  if (image < p.shard_first || image >= p.shard_first + p.shard_count) { return; }

  let h = augment_hash(p.seed, p.step, b);
  let offsets = 2u * p.padding + 1u;
  let oy = select(p.padding, ((h >> 8u) & 0xfffu) % offsets, p.random_crop != 0u);
  let ox = select(p.padding, (h >> 20u) % offsets, p.random_crop != 0u);
  let flip = p.random_flip != 0u && (h & 1u) != 0u;
  let xm = select(x, s - 1u - x, flip);
  let sy = i32(y + oy) - i32(p.padding);
  let sx = i32(xm + ox) - i32(p.padding);
  var v = 0u;
  if (sy >= 0 && sy < i32(s) && sx >= 0 && sx < i32(s)) {
    v = shard_byte((((image - p.shard_first) * p.channels + c) * s + u32(sy)) * s + u32(sx));
  }
  augmented[i] = v;
  if (c == 0u && y == 0u && x == 0u) { labels[b] = dataset_labels[image]; }
}

// One thread per output element: mix with the partner in integers, then normalise (− then ×).
@compute @workgroup_size(WG)
fn mix_normalize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  let s = p.side;
  let per_image = p.channels * s * s;
  if (i >= p.batch * per_image) { return; }
  let x = i % s;
  let y = (i / s) % s;
  let c = (i / (s * s)) % p.channels;
  let b = i / per_image;
  let own = augmented[i];
  let partner = augmented[(p.batch - 1u - b) * per_image + i % per_image];
  let in_box = y >= p.box_y0 && y < p.box_y1 && x >= p.box_x0 && x < p.box_x1;
  var in_mask = false;
  if (p.mask_patch != 0u) { in_mask = token_mask[(y / p.mask_patch) * (s / p.mask_patch) + x / p.mask_patch] != 0u; }
  let w = select(p.own_weight, 0u, in_box || in_mask);
  let mixed = w * own + (65536u - w) * partner;
  var mean_q = p.mean_q0;
  var scale_q = p.scale_q0;
  if (c == 1u) { mean_q = p.mean_q1; scale_q = p.scale_q1; }
  if (c == 2u) { mean_q = p.mean_q2; scale_q = p.scale_q2; }
  dst[i] = (f32(mixed) - mean_q) * scale_q;
}

// The crop offsets and flip of sample b, as augment_gather draws them.
fn crop_draw(b: u32) -> vec3<u32> {
  let h = augment_hash(p.seed, p.step, b);
  let offsets = 2u * p.padding + 1u;
  let oy = select(p.padding, ((h >> 8u) & 0xfffu) % offsets, p.random_crop != 0u);
  let ox = select(p.padding, (h >> 20u) % offsets, p.random_crop != 0u);
  return vec3<u32>(oy, ox, select(0u, 1u, p.random_flip != 0u && (h & 1u) != 0u));
}

// One thread per output element (b, t, k) of [B, T, K].
@compute @workgroup_size(WG)
fn teacher_gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  let g = p.side / p.map_patch;
  let T = g * g;
  let K = p.map_classes;
  if (i >= p.batch * T * K) { return; }
  let k = i % K;
  let t = (i / K) % T;
  let b = i / (K * T);
  let image = order[p.first + b];
  if (image < p.shard_first || image >= p.shard_first + p.shard_count) { return; }
  let d = crop_draw(b);
  let tx = select(t % g, g - 1u - t % g, d.z != 0u);
  let last = f32(g - 1u);
  let uy = clamp(f32(t / g) + (f32(d.x) - f32(p.padding)) / f32(p.map_patch), 0.0, last);
  let ux = clamp(f32(tx) + (f32(d.y) - f32(p.padding)) / f32(p.map_patch), 0.0, last);
  let y0 = u32(floor(uy));
  let x0 = u32(floor(ux));
  let y1 = min(y0 + 1u, g - 1u);
  let x1 = min(x0 + 1u, g - 1u);
  let fy = uy - f32(y0);
  let fx = ux - f32(x0);
  let base = (image - p.shard_first) * T;
  let top = (1.0 - fx) * teacher_maps[(base + y0 * g + x0) * K + k] + fx * teacher_maps[(base + y0 * g + x1) * K + k];
  let bottom = (1.0 - fx) * teacher_maps[(base + y1 * g + x0) * K + k] + fx * teacher_maps[(base + y1 * g + x1) * K + k];
  teacher_dst[i] = (1.0 - fy) * top + fy * bottom;
}
