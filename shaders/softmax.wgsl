// Softmax over the last dimension: R rows of n values.
//   forward:  y = exp(x − max) / Σ exp(x − max)
//   backward: dx = y · (dy − Σ dy·y)
// Variants:
//   1. softmax_forward / softmax_backward: one thread per row, the row's max and sums in a loop.
//   2. with subgroups, softmax_forward_subgroups / softmax_backward_subgroups: one workgroup of WG
//      threads per row, each striding over the row; max and sums by workgroup_reduce2.

struct Params { rows: u32, n: u32, accumulate: u32, }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;      // forward input
@group(0) @binding(2) var<storage, read> probs: array<f32>;  // backward: saved y
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>; // y, or dx in backward

override WG: u32 = 64;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

@compute @workgroup_size(WG)
fn softmax_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat(gid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.n;
  var m = x[base];
  for (var j = 1u; j < p.n; j++) { m = max(m, x[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < p.n; j++) { s += exp(x[base + j] - m); }
  let inv = 1.0 / s;
  for (var j = 0u; j < p.n; j++) { dst[base + j] = exp(x[base + j] - m) * inv; }
}

@compute @workgroup_size(WG)
fn softmax_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat(gid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.n;
  var dot = 0.0;
  for (var j = 0u; j < p.n; j++) { dot += dy[base + j] * probs[base + j]; }
  for (var j = 0u; j < p.n; j++) {
    var v = probs[base + j] * (dy[base + j] - dot);
    if (p.accumulate != 0u) { v += dst[base + j]; }
    dst[base + j] = v;
  }
}

// @subgroups
// @include subgroup_reduce: SUM, MAX, MIN and workgroup_reduce2(v, lid, op), the workgroup's result for every thread

fn row_of(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }

@compute @workgroup_size(WG)
fn softmax_forward_subgroups(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                             @builtin(local_invocation_id) lid: vec3<u32>) {
  let r = row_of(wid, nwg);
  if (r >= p.rows) { return; } // uniform: the whole workgroup shares the row
  let base = r * p.n;
  var m = x[base];
  for (var j = lid.x; j < p.n; j += WG) { m = max(m, x[base + j]); }
  m = workgroup_reduce2(vec2<f32>(m, 0.0), lid.x, MAX).x;
  var s = 0.0;
  for (var j = lid.x; j < p.n; j += WG) { s += exp(x[base + j] - m); }
  let inv = 1.0 / workgroup_reduce2(vec2<f32>(s, 0.0), lid.x, SUM).x;
  for (var j = lid.x; j < p.n; j += WG) { dst[base + j] = exp(x[base + j] - m) * inv; }
}

@compute @workgroup_size(WG)
fn softmax_backward_subgroups(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                              @builtin(local_invocation_id) lid: vec3<u32>) {
  let r = row_of(wid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.n;
  var dot = 0.0;
  for (var j = lid.x; j < p.n; j += WG) { dot += dy[base + j] * probs[base + j]; }
  dot = workgroup_reduce2(vec2<f32>(dot, 0.0), lid.x, SUM).x;
  for (var j = lid.x; j < p.n; j += WG) {
    var v = probs[base + j] * (dy[base + j] - dot);
    if (p.accumulate != 0u) { v += dst[base + j]; }
    dst[base + j] = v;
  }
}
// @end
