// Elementwise arithmetic over n elements, and the gradient accumulation every backward uses.
//
//   add:    dst = a + b                 backward: da = dst_grad, db = dst_grad
//   scale:  dst = alpha · a             backward: da = alpha · dst_grad (this same entry)
//   axpy:   dst = alpha · a (+ dst when accumulate)
//   fill:   dst = alpha
//
// One thread per element; the grid folds into y past 65535 workgroups (src/gpu/gpu.ts grid1d).

struct Params { n: u32, alpha: f32, accumulate: u32, }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

override WG: u32 = 256;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

@compute @workgroup_size(WG)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.n) { return; }
  var v = a[i] + b[i];
  if (p.accumulate != 0u) { v += dst[i]; }
  dst[i] = v;
}

@compute @workgroup_size(WG)
fn axpy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.n) { return; }
  var v = p.alpha * a[i];
  if (p.accumulate != 0u) { v += dst[i]; }
  dst[i] = v;
}

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.n) { return; }
  dst[i] = p.alpha;
}
