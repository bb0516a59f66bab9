// Batched matrix multiply with optional transposes, fused bias, scaling and accumulation.
//
//   C[z] = alpha · op(A[z]) · op(B[z]) + bias  (+ C[z] when accumulate)
//   op(A) is M×K (A stored K×M when trans_a), op(B) is K×N (B stored N×K when trans_b);
//   z = workgroup id z; a batch stride of 0 broadcasts that operand (a shared weight).
//
// Backward is this same kernel with other transposes (see src/autograd/ops/matmul.ts):
//   dA = dC · op(B)ᵀ,  dB = op(A)ᵀ · dC,  dbias = column sums of dC (reduce.wgsl: column_sum).
//
// Strategy: a BM×BN output tile per workgroup of (BN/4)×(BM/4) threads, each thread holding a
// 4×4 block of accumulators in registers; A and B stream through workgroup memory BK columns
// at a time. Out-of-range loads read 0, so any M, N, K work.

struct Params {
  M: u32, N: u32, K: u32,
  trans_a: u32, trans_b: u32,
  batch_stride_a: u32, batch_stride_b: u32, batch_stride_c: u32,
  has_bias: u32, accumulate: u32, alpha: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

override BM: u32 = 64;
override BN: u32 = 64;
override BK: u32 = 16;
const TM: u32 = 4u;
const TN: u32 = 4u;

var<workgroup> tile_a: array<f32, BK * BM>; // [k][m]
var<workgroup> tile_b: array<f32, BK * BN>; // [k][n]

fn load_a(base: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  if (p.trans_a != 0u) { return a[base + k * p.M + m]; }
  return a[base + m * p.K + k];
}

fn load_b(base: u32, k: u32, n: u32) -> f32 {
  if (k >= p.K || n >= p.N) { return 0.0; }
  if (p.trans_b != 0u) { return b[base + n * p.K + k]; }
  return b[base + k * p.N + n];
}

@compute @workgroup_size(BN / TN, BM / TM)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let threads = (BM / TM) * (BN / TN);
  let t = lid.y * (BN / TN) + lid.x;
  let row0 = wid.y * BM;
  let col0 = wid.x * BN;
  let base_a = wid.z * p.batch_stride_a;
  let base_b = wid.z * p.batch_stride_b;
  let base_c = wid.z * p.batch_stride_c;

  var acc: array<array<f32, TN>, TM>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var i = t; i < BK * BM; i += threads) {
      let kk = i / BM;
      let mm = i % BM;
      tile_a[i] = load_a(base_a, row0 + mm, k0 + kk);
    }
    for (var i = t; i < BK * BN; i += threads) {
      let kk = i / BN;
      let nn = i % BN;
      tile_b[i] = load_b(base_b, k0 + kk, col0 + nn);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var ra: array<f32, TM>;
      var rb: array<f32, TN>;
      for (var i = 0u; i < TM; i++) { ra[i] = tile_a[kk * BM + lid.y + i * (BM / TM)]; }
      for (var j = 0u; j < TN; j++) { rb[j] = tile_b[kk * BN + lid.x + j * (BN / TN)]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i][j] = fma(ra[i], rb[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < TM; i++) {
    let m = row0 + lid.y + i * (BM / TM);
    if (m >= p.M) { continue; }
    for (var j = 0u; j < TN; j++) {
      let n = col0 + lid.x + j * (BN / TN);
      if (n >= p.N) { continue; }
      var v = p.alpha * acc[i][j];
      if (p.has_bias != 0u) { v += bias[n]; }
      let idx = base_c + m * p.N + n;
      if (p.accumulate != 0u) { v += c[idx]; }
      c[idx] = v;
    }
  }
}
