// TL-Align's label matrix (../shared/docs/methods.md, "TL-Align"): every token carries a
// distribution over the classes, initialised from the CutMix mask and carried through each
// block's head-averaged attention. Labels never get a gradient: no backward kernels.
// Legend: B batch, N = T + 1 tokens (CLS first), T patch tokens, K classes, C label columns
// (K, or 1 for the scalar own-share form), H heads, s label smoothing, λ the CLS own share.
// The partner of sample b is B − 1 − b; m[t] is the partner's share of patch token t, one [T]
// for the batch or [B, T] per sample.
//   own share          w[b,0] = λ;  w[b,1+t] = 1 − m[t]
//   init_labels:       L[b,n,k] = w[b,n]·ỹ(y_b)[k] + (1 − w[b,n])·ỹ(y_partner)[k]
//                      ỹ(c)[k] = 1 − s + s/K if k = c, else s/K
//   init_own_shares:   v[b,n] = w[b,n]                                   (v is [B, N, 1])
//   share_targets:     t[b,k] = v[b,0]·ỹ(y_b)[k] + (1 − v[b,0])·ỹ(y_partner)[k]   (v [B, N, 1] in src)
//                      Every row of L⁰ is w·ỹ(y_b) + (1 − w)·ỹ(y_partner) and propagation is linear
//                      with rows of P summing to 1, so L^l = v^l·ỹ(y_b) + (1 − v^l)·ỹ(y_partner):
//                      TL-Align carries the one column v instead of K and forms its targets here.
//   propagate_labels:  L'[b,i,c] = ½ ((1/H) Σ_h Σ_j P[b,h,i,j]·L[b,j,c] + L[b,i,c])   P [B,H,N,N]
//                      (the separate pass over the stored P; training fuses it into the attention
//                      forward instead: shaders/attention.wgsl, attention_forward_labels)
//
// Targets from a teacher's dense maps M [B, T, K] (each sample's own image, per-token class
// probabilities; "uniform" mode uses M = 1/K everywhere, i.e. the area ratio):
//   content_targets (TokenMix):  â_b(t) = M[b,t,y_b] / Σ_t M[b,t,y_b]
//                      ρ_own = Σ_t (1 − m[t])·â_b(t),  ρ_par = Σ_t m[t]·â_partner(t)
//                      t[b,k] = s/K + [k = y_b](ρ_own − s/2) + [k = y_partner](ρ_par − s/2), ≥ 0
//                      (the released code's BCE form: per part on = ρ − s/2 + s/2K, off = s/2K);
//                      mode 1 divides by ρ_own + ρ_par for a soft-target CE
//   pooled_targets (Token Labeling CLS): c_b = (1 − γ)·(1/T) Σ_t M[b,t,:] + γ·ỹ(y_b)
//                      t[b,:] = λ·c_b + (1 − λ)·c_partner,   γ = gt_weight
//   region_targets (DiversePatch, released code): dst[b,0,:] = λ·ỹ(y_b), dst[b,1,:] = (1 − λ)·ỹ(y_partner)

struct Params { batch: u32, tokens: u32, columns: u32, heads: u32, per_sample: u32, smoothing: f32, cls_own_share: f32, mode: u32, gt_weight: f32, }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> class_ids: array<u32>;
@group(0) @binding(2) var<storage, read> partner_share: array<f32>;
@group(0) @binding(3) var<storage, read> probs: array<f32>;
@group(0) @binding(4) var<storage, read> src: array<f32>;
@group(0) @binding(5) var<storage, read_write> dst: array<f32>;
@group(0) @binding(6) var<storage, read> teacher: array<f32>;

override WG: u32 = 256;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

// The own image's share of token n of sample b.
fn own_share(b: u32, n: u32) -> f32 {
  if (n == 0u) { return p.cls_own_share; }
  let patches = p.tokens - 1u;
  return 1.0 - partner_share[select(0u, b * patches, p.per_sample != 0u) + n - 1u];
}

// ỹ(class_id)[k] with K = p.columns classes.
fn smoothed_one_hot(class_id: u32, k: u32) -> f32 {
  let off = p.smoothing / f32(p.columns);
  return select(off, 1.0 - p.smoothing + off, k == class_id);
}

// w·ỹ(y_b)[k] + (1 − w)·ỹ(y_partner)[k]: a label row of sample b whose own-image share is w.
fn mixed_label(b: u32, k: u32, w: f32) -> f32 {
  return w * smoothed_one_hot(class_ids[b], k) + (1.0 - w) * smoothed_one_hot(class_ids[p.batch - 1u - b], k);
}

// dst: L⁰ [B, N, K]; thread per element.
@compute @workgroup_size(WG)
fn init_labels(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.tokens * p.columns) { return; }
  let k = i % p.columns;
  let n = (i / p.columns) % p.tokens;
  let b = i / (p.columns * p.tokens);
  let w = own_share(b, n);
  dst[i] = mixed_label(b, k, w);
}

// dst: t [B, K] from the propagated own shares v [B, N, 1] (src); thread per element.
@compute @workgroup_size(WG)
fn share_targets(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.columns) { return; }
  let k = i % p.columns;
  let b = i / p.columns;
  dst[i] = mixed_label(b, k, src[b * p.tokens]);
}

// dst: v⁰ [B, N, 1]; thread per element.
@compute @workgroup_size(WG)
fn init_own_shares(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.tokens) { return; }
  dst[i] = own_share(i / p.tokens, i % p.tokens);
}

// src: L [B, N, C], probs: P [B, H, N, N] → dst: L' [B, N, C]; thread per output element.
@compute @workgroup_size(WG)
fn propagate_labels(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.tokens * p.columns) { return; }
  let c = i % p.columns;
  let row = i / p.columns; // b·N + token
  let token = row % p.tokens;
  let b = row / p.tokens;
  var acc = 0.0;
  for (var h = 0u; h < p.heads; h++) {
    let prow = ((b * p.heads + h) * p.tokens + token) * p.tokens; // P[b, h, token, :]
    for (var j = 0u; j < p.tokens; j++) { acc = fma(probs[prow + j], src[(b * p.tokens + j) * p.columns + c], acc); }
  }
  dst[i] = 0.5 * (acc / f32(p.heads) + src[i]);
}

// M[b, t, k] of the teacher maps, or 1/K in uniform mode (mode bit 1).
fn map_at(b: u32, t: u32, k: u32) -> f32 {
  if ((p.mode & 2u) != 0u) { return 1.0 / f32(p.columns); }
  return teacher[(b * (p.tokens - 1u) + t) * p.columns + k];
}

// ρ of one part: Σ_t weight(t)·â_b(t), weight = m[t] (partner part) or 1 − m[t] (own part).
fn content_share(b: u32, class_id: u32, partner_part: bool) -> f32 {
  let patches = p.tokens - 1u;
  var total = 0.0;
  var inside = 0.0;
  for (var t = 0u; t < patches; t++) {
    let a = map_at(b, t, class_id);
    let m = partner_share[t];
    total += a;
    inside += a * select(1.0 - m, m, partner_part);
  }
  return select(0.0, inside / total, total > 0.0);
}

// dst: [B, K]; thread per element. mode bit 0: normalise to sum 1 (CE); bit 1: uniform maps.
@compute @workgroup_size(WG)
fn content_targets(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.columns) { return; }
  let k = i % p.columns;
  let b = i / p.columns;
  let partner = p.batch - 1u - b;
  let rho_own = content_share(b, class_ids[b], false);
  let rho_partner = content_share(partner, class_ids[partner], true);
  var t = p.smoothing / f32(p.columns);
  if (k == class_ids[b]) { t += rho_own - 0.5 * p.smoothing; }
  if (k == class_ids[partner]) { t += rho_partner - 0.5 * p.smoothing; }
  t = max(t, 0.0);
  if ((p.mode & 1u) != 0u) { t /= rho_own + rho_partner; }
  dst[i] = t;
}

fn pooled_label(b: u32, k: u32) -> f32 {
  let patches = p.tokens - 1u;
  var acc = 0.0;
  for (var t = 0u; t < patches; t++) { acc += map_at(b, t, k); }
  return (1.0 - p.gt_weight) * acc / f32(patches) + p.gt_weight * smoothed_one_hot(class_ids[b], k);
}

// dst: [B, K]; thread per element.
@compute @workgroup_size(WG)
fn pooled_targets(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.columns) { return; }
  let k = i % p.columns;
  let b = i / p.columns;
  dst[i] = p.cls_own_share * pooled_label(b, k) + (1.0 - p.cls_own_share) * pooled_label(p.batch - 1u - b, k);
}

// dst: [B, 2, K]; thread per element.
@compute @workgroup_size(WG)
fn region_targets(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * 2u * p.columns) { return; }
  let k = i % p.columns;
  let r = (i / p.columns) % 2u;
  let b = i / (2u * p.columns);
  let source = select(b, p.batch - 1u - b, r == 1u);
  let w = select(p.cls_own_share, 1.0 - p.cls_own_share, r == 1u);
  dst[i] = w * smoothed_one_hot(class_ids[source], k);
}
