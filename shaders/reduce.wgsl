// Reductions: sums (for metrics, mean losses and the gradient norm) and column sums (bias grads).
//   sum_partial:  partial[w] = Σ over workgroup w's grid-stride share of f(src[i]),
//                 f = identity or square; WG threads combine in workgroup memory.
//   sum_final:    dst[0] = alpha · Σ_w partial[w]  (+ dst[0] when accumulate); one workgroup.
//   column_sum:   dst[c] = Σ_r src[r, c]  (+ dst[c] when accumulate); one thread per column.
// Two passes keep the result deterministic (no float atomics).

struct Params { n: u32, cols: u32, square: u32, alpha: f32, accumulate: u32, }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

override WG: u32 = 256;
var<workgroup> shared_sum: array<f32, WG>;

fn tree_sum(lid: u32) {
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lid < stride) { shared_sum[lid] += shared_sum[lid + stride]; }
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn sum_partial(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {
  var acc = 0.0;
  for (var i = wid.x * WG + lid.x; i < p.n; i += nwg.x * WG) {
    let v = src[i];
    acc += select(v, v * v, p.square != 0u);
  }
  shared_sum[lid.x] = acc;
  tree_sum(lid.x);
  if (lid.x == 0u) { dst[wid.x] = shared_sum[0]; }
}

@compute @workgroup_size(WG)
fn sum_final(@builtin(local_invocation_id) lid: vec3<u32>) {
  var acc = 0.0;
  for (var i = lid.x; i < p.n; i += WG) { acc += src[i]; }
  shared_sum[lid.x] = acc;
  tree_sum(lid.x);
  if (lid.x == 0u) {
    var v = p.alpha * shared_sum[0];
    if (p.accumulate != 0u) { v += dst[0]; }
    dst[0] = v;
  }
}

@compute @workgroup_size(WG)
fn column_sum(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= p.cols) { return; }
  let rows = p.n / p.cols;
  var acc = 0.0;
  for (var r = 0u; r < rows; r++) { acc += src[r * p.cols + c]; }
  var v = p.alpha * acc;
  if (p.accumulate != 0u) { v += dst[c]; }
  dst[c] = v;
}
