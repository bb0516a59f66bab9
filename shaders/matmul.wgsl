// Batched matrix multiply with optional transposes, fused bias, scaling, accumulation, residual
// add and GELU.
//
//   V[z] = alpha · op(A[z]) · op(B[z]) + bias  (+ C[z] when accumulate)  (+ R[z] when has_residual)
//   C[z] = V[z], or GELU(V[z]) with the pre-activation V[z] also written to `pre` (the *_gelu entries)
//   op(A) is M×K (A stored K×M when trans_a), op(B) is K×N (B stored N×K when trans_b);
//   z = workgroup id z; a batch stride of 0 broadcasts that operand (a shared weight).
//
// Backward is this same kernel with other transposes (see src/autograd/ops/matmul.ts):
//   dA = dC · op(B)ᵀ,  dB = op(A)ᵀ · dC,  dbias = column sums of dC (row_sums below, or
//   reduce.wgsl: column_sum);
//   with GELU, dC is first replaced by dV = dC · GELU'(V) (gelu.wgsl: gelu_backward on `pre`);
//   dR = dC (a copy).
//
// Two kernels, chosen on the host (encodeMatmul):
//   matmul, matmul_gelu            scalar loads, any M, N, K. A BM×BN output tile per workgroup of
//                                  (BN/4)×(BM/4) threads, each holding a 4×4 block of accumulators;
//                                  A and B stream through workgroup memory BK columns at a time.
//   matmul_vec4, matmul_vec4_gelu  vec4 loads and stores; needs N % 4 = 0 and the contiguous
//                                  dimension of each operand a multiple of 4 (A: K, or M when
//                                  trans_a; B: N, or K when trans_b). (BN/8)×(BM/8) threads each
//                                  hold an 8×8 block (two 4-row × two 4-column quarters, so every
//                                  workgroup-memory read and every store is a vec4); BM = BN = 64
//                                  or 128 (override constants).
// Out-of-range loads read 0, so any M, N, K work.
//
// row_sums (matmul_vec4 only): the workgroups of the first column tile also write Σ_k op(A)[m, k]
// (unscaled) after C[z]'s M·N values, at z·batch_stride_c + M·N + m. With A = dC stored K×M, that
// is the bias gradient's share of this K slice: split-K's weight gradient and the bias gradient
// then come out of one product and one column sum (src/autograd/ops/matmul.ts: rowSums).
//
// Element types (src/gpu/kernels.ts: shaderVariant): A_T, B_T (operands) and C_T (the output c)
// are f32, or f16 in the `shader-f16` variants of the mixed-precision path (f16 weight copy,
// f16 activations); products accumulate in f32 either way, and bias, residual, pre stay f32.

struct Params {
  M: u32, N: u32, K: u32,
  trans_a: u32, trans_b: u32,
  batch_stride_a: u32, batch_stride_b: u32, batch_stride_c: u32,
  has_bias: u32, accumulate: u32, alpha: f32, has_residual: u32,
  row_sums: u32,
}

alias A_T = f32;
alias B_T = f32;
alias C_T = f32;

@group(0) @binding(0) var<uniform> p: Params;
// scalar kernel
@group(0) @binding(1) var<storage, read> a: array<A_T>;
@group(0) @binding(2) var<storage, read> b: array<B_T>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<C_T>;
@group(0) @binding(5) var<storage, read_write> pre: array<f32>;
// vec4 kernel (bias is shared with the scalar kernel)
@group(0) @binding(6) var<storage, read> a4: array<vec4<A_T>>;
@group(0) @binding(7) var<storage, read> b4: array<vec4<B_T>>;
@group(0) @binding(8) var<storage, read_write> c4: array<vec4<C_T>>;
@group(0) @binding(9) var<storage, read_write> pre4: array<vec4<f32>>;
// the residual R, same layout as C (bound to A when absent)
@group(0) @binding(10) var<storage, read> residual: array<f32>;
@group(0) @binding(11) var<storage, read> residual4: array<vec4<f32>>;

override BM: u32 = 64;
override BN: u32 = 64;
override BK: u32 = 16;

// ------------------------------------------------------------------------------- GELU (as gelu.wgsl)

fn erf_approx(z: f32) -> f32 {
  let s = sign(z);
  let az = abs(z);
  let t = 1.0 / (1.0 + 0.3275911 * az);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return s * (1.0 - poly * exp(-az * az));
}

fn gelu(v: f32) -> f32 { return v * 0.5 * (1.0 + erf_approx(v * 0.70710678118654752)); }

fn gelu4(v: vec4<f32>) -> vec4<f32> { return vec4<f32>(gelu(v.x), gelu(v.y), gelu(v.z), gelu(v.w)); }

// ------------------------------------------------------------------------------- scalar kernel

const TM: u32 = 4u;
const TN: u32 = 4u;

var<workgroup> tile_a: array<f32, BK * BM>; // [k][m]
var<workgroup> tile_b: array<f32, BK * BN>; // [k][n]

fn load_a(base: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  if (p.trans_a != 0u) { return f32(a[base + k * p.M + m]); }
  return f32(a[base + m * p.K + k]);
}

fn load_b(base: u32, k: u32, n: u32) -> f32 {
  if (k >= p.K || n >= p.N) { return 0.0; }
  if (p.trans_b != 0u) { return f32(b[base + n * p.K + k]); }
  return f32(b[base + k * p.N + n]);
}

fn tile_product(wid: vec3<u32>, lid: vec3<u32>) -> array<array<f32, TN>, TM> {
  let threads = (BM / TM) * (BN / TN);
  let t = lid.y * (BN / TN) + lid.x;
  let row0 = wid.y * BM;
  let col0 = wid.x * BN;
  let base_a = wid.z * p.batch_stride_a;
  let base_b = wid.z * p.batch_stride_b;

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
  return acc;
}

/** Output coordinates (m, n) of accumulator [i][j] of thread lid. */
fn out_coords(wid: vec3<u32>, lid: vec3<u32>, i: u32, j: u32) -> vec2<u32> {
  return vec2<u32>(wid.y * BM + lid.y + i * (BM / TM), wid.x * BN + lid.x + j * (BN / TN));
}

/** alpha·acc + bias (+ c when accumulate) (+ residual) at output index idx, column n. */
fn epilogue(idx: u32, n: u32, acc: f32) -> f32 {
  var v = p.alpha * acc;
  if (p.has_bias != 0u) { v += bias[n]; }
  if (p.accumulate != 0u) { v += f32(c[idx]); }
  if (p.has_residual != 0u) { v += residual[idx]; }
  return v;
}

@compute @workgroup_size(BN / TN, BM / TM)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let acc = tile_product(wid, lid);
  for (var i = 0u; i < TM; i++) {
    for (var j = 0u; j < TN; j++) {
      let mn = out_coords(wid, lid, i, j);
      if (mn.x >= p.M || mn.y >= p.N) { continue; }
      let idx = wid.z * p.batch_stride_c + mn.x * p.N + mn.y;
      c[idx] = C_T(epilogue(idx, mn.y, acc[i][j]));
    }
  }
}

@compute @workgroup_size(BN / TN, BM / TM)
fn matmul_gelu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let acc = tile_product(wid, lid);
  for (var i = 0u; i < TM; i++) {
    for (var j = 0u; j < TN; j++) {
      let mn = out_coords(wid, lid, i, j);
      if (mn.x >= p.M || mn.y >= p.N) { continue; }
      let idx = wid.z * p.batch_stride_c + mn.x * p.N + mn.y;
      let v = epilogue(idx, mn.y, acc[i][j]);
      pre[idx] = v;
      c[idx] = C_T(gelu(v));
    }
  }
}

// ------------------------------------------------------------------------------- vec4 kernel
//
// Thread (tx, ty) owns rows 4·ty + {0..3} and BM/2 + 4·ty + {0..3}, columns 4·tx + {0..3} and
// BN/2 + 4·tx + {0..3}: acc[2·i + h] holds row i (of its 8) at column quarter h as a vec4.

var<workgroup> tile_a4: array<vec4<f32>, BK * BM / 4u>; // [k][m/4]
var<workgroup> tile_b4: array<vec4<f32>, BK * BN / 4u>; // [k][n/4]
// Σ_k of the thread's two 4-row groups of op(A) (row_sums)
var<private> row_sum: array<vec4<f32>, 2>;

fn tile_product_vec4(wid: vec3<u32>, lid: vec3<u32>) -> array<vec4<f32>, 16> {
  let threads = (BM / 8u) * (BN / 8u);
  let t = lid.y * (BN / 8u) + lid.x;
  let row0 = wid.y * BM;
  let col0 = wid.x * BN;
  let base_a = wid.z * p.batch_stride_a;
  let base_b = wid.z * p.batch_stride_b;
  let zero = vec4<f32>(0.0);

  var acc: array<vec4<f32>, 16>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    if (p.trans_a != 0u) {
      // A stored K×M: four consecutive m at one k, straight into tile[k][m/4]
      for (var i = t; i < BK * BM / 4u; i += threads) {
        let k = k0 + i / (BM / 4u);
        let m = row0 + 4u * (i % (BM / 4u));
        var v = zero;
        if (k < p.K && m < p.M) { v = vec4<f32>(a4[(base_a + k * p.M + m) / 4u]); }
        tile_a4[i] = v;
      }
    } else {
      // A stored M×K: a 4×4 block (four rows m, four consecutive k each), stored transposed
      for (var i = t; i < (BM / 4u) * (BK / 4u); i += threads) {
        let mq = i / (BK / 4u);
        let kq = 4u * (i % (BK / 4u));
        let k = k0 + kq;
        var blk: array<vec4<f32>, 4>;
        for (var j = 0u; j < 4u; j++) {
          let m = row0 + 4u * mq + j;
          var v = zero;
          if (k < p.K && m < p.M) { v = vec4<f32>(a4[(base_a + m * p.K + k) / 4u]); }
          blk[j] = v;
        }
        for (var j = 0u; j < 4u; j++) {
          tile_a4[(kq + j) * (BM / 4u) + mq] = vec4<f32>(blk[0][j], blk[1][j], blk[2][j], blk[3][j]);
        }
      }
    }
    if (p.trans_b != 0u) {
      // B stored N×K: a 4×4 block (four rows n, four consecutive k each), stored transposed
      for (var i = t; i < (BN / 4u) * (BK / 4u); i += threads) {
        let nq = i / (BK / 4u);
        let kq = 4u * (i % (BK / 4u));
        let k = k0 + kq;
        var blk: array<vec4<f32>, 4>;
        for (var j = 0u; j < 4u; j++) {
          let n = col0 + 4u * nq + j;
          var v = zero;
          if (k < p.K && n < p.N) { v = vec4<f32>(b4[(base_b + n * p.K + k) / 4u]); }
          blk[j] = v;
        }
        for (var j = 0u; j < 4u; j++) {
          tile_b4[(kq + j) * (BN / 4u) + nq] = vec4<f32>(blk[0][j], blk[1][j], blk[2][j], blk[3][j]);
        }
      }
    } else {
      // B stored K×N: four consecutive n at one k
      for (var i = t; i < BK * BN / 4u; i += threads) {
        let k = k0 + i / (BN / 4u);
        let n = col0 + 4u * (i % (BN / 4u));
        var v = zero;
        if (k < p.K && n < p.N) { v = vec4<f32>(b4[(base_b + k * p.N + n) / 4u]); }
        tile_b4[i] = v;
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let ra0 = tile_a4[kk * (BM / 4u) + lid.y];
      let ra1 = tile_a4[kk * (BM / 4u) + lid.y + BM / 8u];
      let rb0 = tile_b4[kk * (BN / 4u) + lid.x];
      let rb1 = tile_b4[kk * (BN / 4u) + lid.x + BN / 8u];
      if (p.row_sums != 0u) {
        row_sum[0] += ra0;
        row_sum[1] += ra1;
      }
      for (var i = 0u; i < 4u; i++) {
        acc[2u * i] = fma(vec4<f32>(ra0[i]), rb0, acc[2u * i]);
        acc[2u * i + 1u] = fma(vec4<f32>(ra0[i]), rb1, acc[2u * i + 1u]);
        acc[8u + 2u * i] = fma(vec4<f32>(ra1[i]), rb0, acc[8u + 2u * i]);
        acc[8u + 2u * i + 1u] = fma(vec4<f32>(ra1[i]), rb1, acc[8u + 2u * i + 1u]);
      }
    }
    workgroupBarrier();
  }
  return acc;
}

/** Row r (0..7) and column quarter h (0..1) of thread lid's block → (m, n of its first column). */
fn block_coords(wid: vec3<u32>, lid: vec3<u32>, r: u32, h: u32) -> vec2<u32> {
  let m = wid.y * BM + 4u * lid.y + (r % 4u) + (r / 4u) * (BM / 2u);
  let n = wid.x * BN + 4u * lid.x + h * (BN / 2u);
  return vec2<u32>(m, n);
}

fn epilogue_vec4(mn: vec2<u32>, idx4: u32, acc: vec4<f32>) -> vec4<f32> {
  var v = p.alpha * acc;
  if (p.has_bias != 0u) { v += vec4<f32>(bias[mn.y], bias[mn.y + 1u], bias[mn.y + 2u], bias[mn.y + 3u]); }
  if (p.accumulate != 0u) { v += vec4<f32>(c4[idx4]); }
  if (p.has_residual != 0u) { v += residual4[idx4]; }
  return v;
}

@compute @workgroup_size(BN / 8u, BM / 8u)
fn matmul_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let acc = tile_product_vec4(wid, lid);
  if (p.row_sums != 0u && wid.x == 0u && lid.x == 0u) {
    for (var h = 0u; h < 2u; h++) {
      let m = wid.y * BM + 4u * lid.y + h * (BM / 2u);
      if (m < p.M) { c4[(wid.z * p.batch_stride_c + p.M * p.N + m) / 4u] = vec4<C_T>(row_sum[h]); }
    }
  }
  for (var r = 0u; r < 8u; r++) {
    for (var h = 0u; h < 2u; h++) {
      let mn = block_coords(wid, lid, r, h);
      if (mn.x >= p.M || mn.y >= p.N) { continue; }
      let idx4 = (wid.z * p.batch_stride_c + mn.x * p.N + mn.y) / 4u;
      c4[idx4] = vec4<C_T>(epilogue_vec4(mn, idx4, acc[2u * r + h]));
    }
  }
}

@compute @workgroup_size(BN / 8u, BM / 8u)
fn matmul_vec4_gelu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let acc = tile_product_vec4(wid, lid);
  for (var r = 0u; r < 8u; r++) {
    for (var h = 0u; h < 2u; h++) {
      let mn = block_coords(wid, lid, r, h);
      if (mn.x >= p.M || mn.y >= p.N) { continue; }
      let idx4 = (wid.z * p.batch_stride_c + mn.x * p.N + mn.y) / 4u;
      let v = epilogue_vec4(mn, idx4, acc[2u * r + h]);
      pre4[idx4] = v;
      c4[idx4] = vec4<C_T>(gelu4(v));
    }
  }
}
