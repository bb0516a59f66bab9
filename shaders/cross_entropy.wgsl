// Soft-target cross-entropy over logits: B rows of K classes, one thread per row.
//   forward:  lse_b = log Σ_k exp(z_bk);  loss_b = Σ_k t_bk (lse_b − z_bk)
//             probs = softmax(z) saved;  correct_b = 1 when argmax z_b = argmax t_b (metrics)
//             The mean over rows is taken by reduce.wgsl.
//   backward: dz_bk = dloss · (p_bk Σ_k t_bk − t_bk) / B   (dloss: the mean loss's gradient, [1])
// Binary cross-entropy with logits (torch BCEWithLogitsLoss, mean over all B·K entries; soft targets):
//   bce_forward:  loss_b = Σ_k max(z_bk, 0) − t_bk z_bk + log(1 + exp(−|z_bk|));  correct_b as above
//                 (thread per row; the mean, 1/(B·K) Σ_b loss_b, is taken by reduce.wgsl)
//   bce_backward: dz_bk = dloss · (σ(z_bk) − t_bk) / (B·K)   (thread per element)
// Variants of the row kernels (soft_ce_forward, soft_ce_backward, bce_forward):
//   1. one thread per row (soft_ce_backward: per element, each summing its row's targets);
//   2. with subgroups, the `…_subgroups` entry points: one workgroup of WG threads per row, each
//      striding over the row; max, argmax and sums by workgroup_reduce2 (as in softmax.wgsl).

struct Params { rows: u32, classes: u32, accumulate: u32, }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> probs: array<f32>;
@group(0) @binding(5) var<storage, read_write> correct: array<f32>;
@group(0) @binding(6) var<storage, read> saved_probs: array<f32>;
@group(0) @binding(7) var<storage, read> dloss: array<f32>;
@group(0) @binding(8) var<storage, read_write> dlogits: array<f32>;

override WG: u32 = 64;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

@compute @workgroup_size(WG)
fn soft_ce_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat(gid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.classes;
  var m = logits[base];
  var arg_z = 0u;
  var arg_t = 0u;
  for (var k = 1u; k < p.classes; k++) {
    if (logits[base + k] > m) { m = logits[base + k]; arg_z = k; }
    if (targets[base + k] > targets[base + arg_t]) { arg_t = k; }
  }
  var s = 0.0;
  for (var k = 0u; k < p.classes; k++) { s += exp(logits[base + k] - m); }
  let lse = m + log(s);
  var loss = 0.0;
  for (var k = 0u; k < p.classes; k++) {
    probs[base + k] = exp(logits[base + k] - lse);
    loss += targets[base + k] * (lse - logits[base + k]);
  }
  row_loss[r] = loss;
  correct[r] = select(0.0, 1.0, arg_z == arg_t);
}

@compute @workgroup_size(WG)
fn soft_ce_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.rows * p.classes) { return; }
  let r = i / p.classes;
  var mass = 0.0;
  for (var k = 0u; k < p.classes; k++) { mass += targets[r * p.classes + k]; }
  var g = dloss[0] * (saved_probs[i] * mass - targets[i]) / f32(p.rows);
  if (p.accumulate != 0u) { g += dlogits[i]; }
  dlogits[i] = g;
}

// σ(z) without overflow: exp of −|z| only.
fn sigmoid(z: f32) -> f32 {
  let e = exp(-abs(z));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), z >= 0.0);
}

@compute @workgroup_size(WG)
fn bce_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat(gid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.classes;
  var arg_z = 0u;
  var arg_t = 0u;
  var loss = 0.0;
  for (var k = 0u; k < p.classes; k++) {
    let z = logits[base + k];
    if (z > logits[base + arg_z]) { arg_z = k; }
    if (targets[base + k] > targets[base + arg_t]) { arg_t = k; }
    loss += max(z, 0.0) - targets[base + k] * z + log(1.0 + exp(-abs(z)));
  }
  row_loss[r] = loss;
  correct[r] = select(0.0, 1.0, arg_z == arg_t);
}

@compute @workgroup_size(WG)
fn bce_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.rows * p.classes) { return; }
  var g = dloss[0] * (sigmoid(logits[i]) - targets[i]) / f32(p.rows * p.classes);
  if (p.accumulate != 0u) { g += dlogits[i]; }
  dlogits[i] = g;
}

// @subgroups
// @include subgroup_reduce: SUM, MAX, MIN and workgroup_reduce2(v, lid, op), the workgroup's result for every thread

fn row_of(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }

/** (argmax z, argmax t) of the row at `base`, the first index of the maximum (as the thread-per-row kernels). */
fn row_argmax(base: u32, lid: u32) -> vec2<u32> {
  var m = vec2<f32>(logits[base], targets[base]);
  for (var k = lid; k < p.classes; k += WG) { m = max(m, vec2<f32>(logits[base + k], targets[base + k])); }
  m = workgroup_reduce2(m, lid, MAX);
  var first = vec2<f32>(f32(p.classes)); // indices as f32: exact below 2^24 classes
  for (var k = lid; k < p.classes; k += WG) {
    if (logits[base + k] == m.x) { first.x = min(first.x, f32(k)); }
    if (targets[base + k] == m.y) { first.y = min(first.y, f32(k)); }
  }
  return vec2<u32>(workgroup_reduce2(first, lid, MIN));
}

@compute @workgroup_size(WG)
fn soft_ce_forward_subgroups(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                             @builtin(local_invocation_id) lid: vec3<u32>) {
  let r = row_of(wid, nwg);
  if (r >= p.rows) { return; } // uniform: the whole workgroup shares the row
  let base = r * p.classes;
  let arg = row_argmax(base, lid.x);
  let m = logits[base + arg.x];
  var s = 0.0;
  for (var k = lid.x; k < p.classes; k += WG) { s += exp(logits[base + k] - m); }
  let lse = m + log(workgroup_reduce2(vec2<f32>(s, 0.0), lid.x, SUM).x);
  var loss = 0.0;
  for (var k = lid.x; k < p.classes; k += WG) {
    probs[base + k] = exp(logits[base + k] - lse);
    loss += targets[base + k] * (lse - logits[base + k]);
  }
  loss = workgroup_reduce2(vec2<f32>(loss, 0.0), lid.x, SUM).x;
  if (lid.x == 0u) {
    row_loss[r] = loss;
    correct[r] = select(0.0, 1.0, arg.x == arg.y);
  }
}

@compute @workgroup_size(WG)
fn soft_ce_backward_subgroups(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                              @builtin(local_invocation_id) lid: vec3<u32>) {
  let r = row_of(wid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.classes;
  var mass = 0.0;
  for (var k = lid.x; k < p.classes; k += WG) { mass += targets[base + k]; }
  mass = workgroup_reduce2(vec2<f32>(mass, 0.0), lid.x, SUM).x;
  for (var k = lid.x; k < p.classes; k += WG) {
    let i = base + k;
    var g = dloss[0] * (saved_probs[i] * mass - targets[i]) / f32(p.rows);
    if (p.accumulate != 0u) { g += dlogits[i]; }
    dlogits[i] = g;
  }
}

@compute @workgroup_size(WG)
fn bce_forward_subgroups(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_id) lid: vec3<u32>) {
  let r = row_of(wid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.classes;
  let arg = row_argmax(base, lid.x);
  var loss = 0.0;
  for (var k = lid.x; k < p.classes; k += WG) {
    let z = logits[base + k];
    loss += max(z, 0.0) - targets[base + k] * z + log(1.0 + exp(-abs(z)));
  }
  loss = workgroup_reduce2(vec2<f32>(loss, 0.0), lid.x, SUM).x;
  if (lid.x == 0u) {
    row_loss[r] = loss;
    correct[r] = select(0.0, 1.0, arg.x == arg.y);
  }
}
// @end
