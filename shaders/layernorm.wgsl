// LayerNorm over the last dimension: R rows of D features, optionally fused with a residual add.
//   forward:  s = x (+ r when fused; s is written to `sum`), mean_r, rstd_r = 1/sqrt(var_r + eps)
//             (biased variance), ŝ = (s − mean)·rstd, y = ŝ·gamma + beta; mean and rstd are saved.
//   backward: ds = rstd · (g − mean(g) − ŝ · mean(g·ŝ)) with g = dy·gamma (+ d(sum) from the sum's
//             other consumers when fused); ds goes to dx (and to dr when fused).
//             dgamma[d] = Σ_r dy·ŝ,  dbeta[d] = Σ_r dy: a two-pass column reduction.
//
// Row kernels: one workgroup of WG threads per row (WG a power of two), each thread striding over
// the row's D features. The row's sums combine (variants):
//   1. without subgroups: in workgroup memory, a tree of log2(WG) barrier steps;
//   2. with subgroups: subgroupAdd in each subgroup, then each subgroup's sum through workgroup
//      memory (two barriers), added in a fixed order (see workgroup_sum2).
// Parameter gradients: layernorm_params_partial gives each workgroup 64 columns × a chunk of rows
// (4 row lanes per column), writing one partial sum per chunk; layernorm_params_final adds the
// chunks' partials per column into dgamma/dbeta.

// Y_T, y's element type: f32, or f16 in the `shader-f16` variant (the f16 path stores LN1 and LN2
// outputs, read only by the qkv and fc1 products, in f16; the backward reads x, never y).
alias Y_T = f32;

// write_x / write_r (backward): what dx / dr receive (0 nothing, 1 overwrite, 2 accumulate);
// has_dsum: d(sum) is given. chunk_rows / chunks: the parameter gradients' row chunks.
struct Params {
  rows: u32, dim: u32, eps: f32,
  write_x: u32, write_r: u32, has_dsum: u32,
  chunk_rows: u32, chunks: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<Y_T>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>; // [R][2]: mean, rstd
@group(0) @binding(6) var<storage, read> dy: array<f32>;
@group(0) @binding(7) var<storage, read> saved: array<f32>;       // stats, read-only in backward
@group(0) @binding(8) var<storage, read_write> dx: array<f32>;
@group(0) @binding(9) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(10) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(11) var<storage, read> r: array<f32>;          // the residual branch (fused)
@group(0) @binding(12) var<storage, read_write> sum: array<f32>;  // x + r (fused forward)
@group(0) @binding(13) var<storage, read> dsum: array<f32>;       // d(sum) from its other consumers
@group(0) @binding(14) var<storage, read_write> dr: array<f32>;
@group(0) @binding(15) var<storage, read_write> partial: array<f32>; // [chunks][2][D]

override WG: u32 = 64;
var<workgroup> shared2: array<vec2<f32>, WG>;

fn row_of(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }

// @subgroups
// Which invocations form a subgroup is up to the implementation (sizes 4..128, the last one may be
// partial), so a subgroup is named by its lowest local index: its sum is stored there and a bit
// marks it in `leaders`. Every invocation then adds the marked sums in index order, so the whole
// workgroup gets the same total, the same on every run. (`leaders` starts zeroed, as all workgroup
// memory; later calls set the same bits again: subgroups stay fixed in a dispatch.)
var<workgroup> leaders: array<atomic<u32>, (WG + 31u) / 32u>;

/** Sum over the workgroup of each thread's v (all threads get the result). Uniform control flow only. */
fn workgroup_sum2(v: vec2<f32>, lid: u32) -> vec2<f32> {
  let s = subgroupAdd(v);
  let leader = subgroupMin(lid);
  if (lid == leader) {
    shared2[leader] = s;
    atomicOr(&leaders[leader / 32u], 1u << (leader % 32u));
  }
  workgroupBarrier();
  var total = vec2<f32>(0.0);
  for (var w = 0u; w < (WG + 31u) / 32u; w++) {
    for (var bits = atomicLoad(&leaders[w]); bits != 0u; bits &= bits - 1u) {
      total += shared2[32u * w + firstTrailingBit(bits)];
    }
  }
  workgroupBarrier(); // shared2 is reused by the next call
  return total;
}
// @else
/** Sum over the workgroup of each thread's v (all threads get the result). Uniform control flow only. */
fn workgroup_sum2(v: vec2<f32>, lid: u32) -> vec2<f32> {
  shared2[lid] = v;
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lid < stride) { shared2[lid] += shared2[lid + stride]; }
  }
  workgroupBarrier();
  let total = shared2[0];
  workgroupBarrier(); // shared2 is reused by the next call
  return total;
}
// @end

/** mean and rstd of row `row` of s = x (+ r when fused). Two passes over the row (centred variance). */
fn row_stats(base: u32, lid: u32, fused: bool) -> vec2<f32> {
  var acc = 0.0;
  for (var d = lid; d < p.dim; d += WG) {
    var s = x[base + d];
    if (fused) { s += r[base + d]; }
    acc += s;
  }
  let mean = workgroup_sum2(vec2<f32>(acc, 0.0), lid).x / f32(p.dim);
  var sq = 0.0;
  for (var d = lid; d < p.dim; d += WG) {
    var s = x[base + d];
    if (fused) { s += r[base + d]; }
    let c = s - mean;
    sq += c * c;
  }
  let rstd = inverseSqrt(workgroup_sum2(vec2<f32>(sq, 0.0), lid).x / f32(p.dim) + p.eps);
  return vec2<f32>(mean, rstd);
}

@compute @workgroup_size(WG)
fn layernorm_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = row_of(wid, nwg);
  if (row >= p.rows) { return; } // uniform: the whole workgroup shares the row
  let base = row * p.dim;
  let st = row_stats(base, lid.x, false);
  for (var d = lid.x; d < p.dim; d += WG) {
    y[base + d] = Y_T((x[base + d] - st.x) * st.y * gamma[d] + beta[d]);
  }
  if (lid.x == 0u) { stats[2u * row] = st.x; stats[2u * row + 1u] = st.y; }
}

@compute @workgroup_size(WG)
fn add_layernorm_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = row_of(wid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.dim;
  let st = row_stats(base, lid.x, true);
  for (var d = lid.x; d < p.dim; d += WG) {
    let s = x[base + d] + r[base + d];
    sum[base + d] = s;
    y[base + d] = Y_T((s - st.x) * st.y * gamma[d] + beta[d]);
  }
  if (lid.x == 0u) { stats[2u * row] = st.x; stats[2u * row + 1u] = st.y; }
}

/** (mean(g), mean(g·ŝ)) of the row, g = dy·gamma; `x` holds the normalised input (s when fused). */
fn backward_means(base: u32, lid: u32, mean: f32, rstd: f32) -> vec2<f32> {
  var acc = vec2<f32>(0.0);
  for (var d = lid; d < p.dim; d += WG) {
    let g = dy[base + d] * gamma[d];
    acc += vec2<f32>(g, g * (x[base + d] - mean) * rstd);
  }
  return workgroup_sum2(acc, lid) / f32(p.dim);
}

@compute @workgroup_size(WG)
fn layernorm_backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                            @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = row_of(wid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.dim;
  let mean = saved[2u * row];
  let rstd = saved[2u * row + 1u];
  let m = backward_means(base, lid.x, mean, rstd);
  for (var d = lid.x; d < p.dim; d += WG) {
    let i = base + d;
    let shat = (x[i] - mean) * rstd;
    var v = rstd * (dy[i] * gamma[d] - m.x - shat * m.y);
    if (p.write_x == 2u) { v += dx[i]; }
    dx[i] = v;
  }
}

// Fused add's backward: ds = LN-backward(dy) (+ dsum), then dx (+)= ds and dr (+)= ds.
@compute @workgroup_size(WG)
fn add_layernorm_backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = row_of(wid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.dim;
  let mean = saved[2u * row];
  let rstd = saved[2u * row + 1u];
  let m = backward_means(base, lid.x, mean, rstd);
  for (var d = lid.x; d < p.dim; d += WG) {
    let i = base + d;
    let shat = (x[i] - mean) * rstd;
    var v = rstd * (dy[i] * gamma[d] - m.x - shat * m.y);
    if (p.has_dsum != 0u) { v += dsum[i]; }
    if (p.write_x == 2u) { dx[i] += v; } else if (p.write_x == 1u) { dx[i] = v; }
    if (p.write_r == 2u) { dr[i] += v; } else if (p.write_r == 1u) { dr[i] = v; }
  }
}

// Parameter gradients, pass 1: workgroup (column block wid.x, chunk wid.y), 64 columns × 4 row lanes.
const PC: u32 = 64u; // columns per workgroup
const PR: u32 = 4u;  // row lanes
var<workgroup> shared_params: array<vec2<f32>, PC * PR>;

@compute @workgroup_size(PC, PR)
fn layernorm_params_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let d = wid.x * PC + lid.x;
  let chunk = wid.y;
  var acc = vec2<f32>(0.0);
  if (d < p.dim) {
    let end = min(p.rows, (chunk + 1u) * p.chunk_rows);
    for (var row = chunk * p.chunk_rows + lid.y; row < end; row += PR) {
      let i = row * p.dim + d;
      let g = dy[i];
      acc += vec2<f32>(g * (x[i] - saved[2u * row]) * saved[2u * row + 1u], g);
    }
  }
  shared_params[lid.y * PC + lid.x] = acc;
  workgroupBarrier();
  if (lid.y == 0u && d < p.dim) {
    var total = acc;
    for (var l = 1u; l < PR; l++) { total += shared_params[l * PC + lid.x]; }
    partial[chunk * 2u * p.dim + d] = total.x;
    partial[chunk * 2u * p.dim + p.dim + d] = total.y;
  }
}

// Pass 2: one thread per column adds the chunks' partials. Parameter gradients always accumulate:
// they land in the parameters' gradient buffers.
@compute @workgroup_size(WG)
fn layernorm_params_final(@builtin(global_invocation_id) gid: vec3<u32>) {
  let d = gid.x;
  if (d >= p.dim) { return; }
  var sg = 0.0;
  var sb = 0.0;
  for (var c = 0u; c < p.chunks; c++) {
    sg += partial[c * 2u * p.dim + d];
    sb += partial[c * 2u * p.dim + p.dim + d];
  }
  dgamma[d] += sg;
  dbeta[d] += sb;
}
