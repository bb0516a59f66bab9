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
//   propagate_labels:  L'[b,i,c] = ½ ((1/H) Σ_h Σ_j P[b,h,i,j]·L[b,j,c] + L[b,i,c])   P [B,H,N,N]

struct Params { batch: u32, tokens: u32, columns: u32, heads: u32, per_sample: u32, smoothing: f32, cls_own_share: f32, }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> class_ids: array<u32>;
@group(0) @binding(2) var<storage, read> partner_share: array<f32>;
@group(0) @binding(3) var<storage, read> probs: array<f32>;
@group(0) @binding(4) var<storage, read> src: array<f32>;
@group(0) @binding(5) var<storage, read_write> dst: array<f32>;

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

// dst: L⁰ [B, N, K]; thread per element.
@compute @workgroup_size(WG)
fn init_labels(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.tokens * p.columns) { return; }
  let k = i % p.columns;
  let n = (i / p.columns) % p.tokens;
  let b = i / (p.columns * p.tokens);
  let w = own_share(b, n);
  dst[i] = w * smoothed_one_hot(class_ids[b], k) + (1.0 - w) * smoothed_one_hot(class_ids[p.batch - 1u - b], k);
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
