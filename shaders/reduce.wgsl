// Reductions: sums (for metrics, mean losses and the gradient norm) and column sums (bias grads).
//   sum_partial:  partial[w] = Σ over workgroup w's grid-stride share of f(src[i]),
//                 f = identity or square; WG threads combine in workgroup memory (variants:
//                 1. a tree of log2(WG) barrier steps; 2. with subgroups, subgroupAdd and then
//                 the subgroups' sums, as in layernorm.wgsl).
//   sum_final:    dst[0] = alpha · Σ_w partial[w]  (+ dst[0] when accumulate); one workgroup.
//   column_sum_partial: partial[k, c] = Σ of src[r, c] over row chunk k (COLUMN_CHUNK rows); a
//                 workgroup covers CW columns × CR row lanes, so loads are coalesced along columns and
//                 a tall matrix (bias gradients: B·N rows, D columns) keeps the whole GPU busy.
//   column_sum:   dst[c] = Σ_r src[r, c]  (+ dst[c] when accumulate); one thread per column (the
//                 final pass over the chunks' partial sums, or the whole job for short matrices).
//   column_sum_split: column_sum whose columns from `split` on go to a second buffer:
//                 dst[c] for c < split, dst2[c − split] otherwise (+= where accumulate, resp.
//                 accumulate2): split-K's weight gradient and the bias gradient in one pass.
// Two passes keep the result deterministic (no float atomics).

struct Params { n: u32, cols: u32, square: u32, alpha: f32, accumulate: u32, split: u32, accumulate2: u32, }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst2: array<f32>;

override WG: u32 = 256;
var<workgroup> shared_sum: array<f32, WG>;

// @subgroups
// A subgroup is named by its lowest local index (the grouping is the implementation's); its sum is
// stored there, a bit in `leaders` marks it, and the marked sums are added in index order.
var<workgroup> leaders: array<atomic<u32>, (WG + 31u) / 32u>;

/** Σ over the workgroup of each thread's v; thread 0 gets it. Uniform control flow only. */
fn workgroup_sum(v: f32, lid: u32) -> f32 {
  let s = subgroupAdd(v);
  let leader = subgroupMin(lid);
  if (lid == leader) {
    shared_sum[leader] = s;
    atomicOr(&leaders[leader / 32u], 1u << (leader % 32u));
  }
  workgroupBarrier();
  var total = 0.0;
  if (lid == 0u) {
    for (var w = 0u; w < (WG + 31u) / 32u; w++) {
      for (var bits = atomicLoad(&leaders[w]); bits != 0u; bits &= bits - 1u) {
        total += shared_sum[32u * w + firstTrailingBit(bits)];
      }
    }
  }
  return total;
}
// @else
/** Σ over the workgroup of each thread's v; thread 0 gets it. Uniform control flow only. */
fn workgroup_sum(v: f32, lid: u32) -> f32 {
  shared_sum[lid] = v;
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lid < stride) { shared_sum[lid] += shared_sum[lid + stride]; }
  }
  workgroupBarrier();
  return shared_sum[0];
}
// @end

@compute @workgroup_size(WG)
fn sum_partial(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {
  var acc = 0.0;
  for (var i = wid.x * WG + lid.x; i < p.n; i += nwg.x * WG) {
    let v = src[i];
    acc += select(v, v * v, p.square != 0u);
  }
  let total = workgroup_sum(acc, lid.x);
  if (lid.x == 0u) { dst[wid.x] = total; }
}

@compute @workgroup_size(WG)
fn sum_final(@builtin(local_invocation_id) lid: vec3<u32>) {
  var acc = 0.0;
  for (var i = lid.x; i < p.n; i += WG) { acc += src[i]; }
  let total = workgroup_sum(acc, lid.x);
  if (lid.x == 0u) {
    var v = p.alpha * total;
    if (p.accumulate != 0u) { v += dst[0]; }
    dst[0] = v;
  }
}

const CW: u32 = 64u;
const CR: u32 = 4u;
override COLUMN_CHUNK: u32 = 256;
var<workgroup> column_lanes: array<f32, CW * CR>;

@compute @workgroup_size(CW, CR)
fn column_sum_partial(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let c = wid.x * CW + lid.x;
  let rows = p.n / p.cols;
  let first = wid.y * COLUMN_CHUNK;
  let last = min(first + COLUMN_CHUNK, rows);
  var acc = 0.0;
  if (c < p.cols) {
    for (var r = first + lid.y; r < last; r += CR) { acc += src[r * p.cols + c]; }
  }
  column_lanes[lid.y * CW + lid.x] = acc;
  workgroupBarrier();
  if (lid.y == 0u && c < p.cols) {
    var sum = 0.0;
    for (var k = 0u; k < CR; k++) { sum += column_lanes[k * CW + lid.x]; }
    dst[wid.y * p.cols + c] = sum;
  }
}

/** alpha · Σ_r src[r, c] over the p.n / p.cols rows. */
fn column_total(c: u32) -> f32 {
  let rows = p.n / p.cols;
  var acc = 0.0;
  for (var r = 0u; r < rows; r++) { acc += src[r * p.cols + c]; }
  return p.alpha * acc;
}

@compute @workgroup_size(WG)
fn column_sum(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= p.cols) { return; }
  var v = column_total(c);
  if (p.accumulate != 0u) { v += dst[c]; }
  dst[c] = v;
}

@compute @workgroup_size(WG)
fn column_sum_split(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= p.cols) { return; }
  var v = column_total(c);
  if (c < p.split) {
    if (p.accumulate != 0u) { v += dst[c]; }
    dst[c] = v;
  } else {
    if (p.accumulate2 != 0u) { v += dst2[c - p.split]; }
    dst2[c - p.split] = v;
  }
}
