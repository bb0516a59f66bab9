// Multi-head scaled dot-product attention on a fused qkv tensor (timm's layout).
// Legend: B batch, N tokens, H heads, E = D/H head dim, D model dim.
//   qkv   [B, N, 3, H, E]  (the qkv linear's output, row stride 3D)
//   out   [B, N, H, E]     = [B, N, D]
//   probs [B, H, N, N]     P = softmax(scale · Q Kᵀ), saved by forward for backward (and for
//                          the head-averaged attention that label propagation reads)
//
// forward (thread per (b, h, i)): P_i = softmax_j(scale · q_i·k_j); out_i = Σ_j P_ij v_j
// backward_query (thread per (b, h, i)):
//   dP_ij = do_i·v_j;  dS_ij = P_ij (dP_ij − Σ_j' P_ij' dP_ij');  dq_i = scale Σ_j dS_ij k_j
//   dS is stored (in the dscores buffer) for the key pass.
// backward_key (thread per (b, h, j)):
//   dk_j = scale Σ_i dS_ij q_i;  dv_j = Σ_i P_ij do_i
// Splitting by query and by key lets every thread own its outputs: no atomics.

struct Params { batch: u32, tokens: u32, heads: u32, head_dim: u32, scale: f32, accumulate: u32, }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read> saved_probs: array<f32>;
@group(0) @binding(6) var<storage, read_write> dscores: array<f32>;
@group(0) @binding(7) var<storage, read_write> dqkv: array<f32>;

override WG: u32 = 64;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

// Offset of element 0 of q (part 0), k (1) or v (2) for token n of batch b, head h.
fn qkv_at(b: u32, n: u32, part: u32, h: u32) -> u32 {
  let d = p.heads * p.head_dim;
  return (b * p.tokens + n) * 3u * d + part * d + h * p.head_dim;
}

fn out_at(b: u32, n: u32, h: u32) -> u32 {
  return (b * p.tokens + n) * p.heads * p.head_dim + h * p.head_dim;
}

@compute @workgroup_size(WG)
fn attention_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat(gid, nwg);
  if (t >= p.batch * p.heads * p.tokens) { return; }
  let i = t % p.tokens;
  let h = (t / p.tokens) % p.heads;
  let b = t / (p.tokens * p.heads);
  let q = qkv_at(b, i, 0u, h);
  let row = t * p.tokens; // probs[b, h, i, :]

  var m = -3.4e38;
  for (var j = 0u; j < p.tokens; j++) {
    let k = qkv_at(b, j, 1u, h);
    var s = 0.0;
    for (var e = 0u; e < p.head_dim; e++) { s = fma(qkv[q + e], qkv[k + e], s); }
    s *= p.scale;
    probs[row + j] = s;
    m = max(m, s);
  }
  var sum = 0.0;
  for (var j = 0u; j < p.tokens; j++) {
    let w = exp(probs[row + j] - m);
    probs[row + j] = w;
    sum += w;
  }
  let inv = 1.0 / sum;
  for (var j = 0u; j < p.tokens; j++) { probs[row + j] *= inv; }

  let o = out_at(b, i, h);
  for (var e = 0u; e < p.head_dim; e++) {
    var acc = 0.0;
    for (var j = 0u; j < p.tokens; j++) { acc = fma(probs[row + j], qkv[qkv_at(b, j, 2u, h) + e], acc); }
    out[o + e] = acc;
  }
}

@compute @workgroup_size(WG)
fn attention_backward_query(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat(gid, nwg);
  if (t >= p.batch * p.heads * p.tokens) { return; }
  let i = t % p.tokens;
  let h = (t / p.tokens) % p.heads;
  let b = t / (p.tokens * p.heads);
  let o = out_at(b, i, h);
  let row = t * p.tokens;

  var dot = 0.0;
  for (var j = 0u; j < p.tokens; j++) {
    let v = qkv_at(b, j, 2u, h);
    var dp = 0.0;
    for (var e = 0u; e < p.head_dim; e++) { dp = fma(dout[o + e], qkv[v + e], dp); }
    dscores[row + j] = dp;
    dot = fma(dp, saved_probs[row + j], dot);
  }
  for (var j = 0u; j < p.tokens; j++) {
    dscores[row + j] = saved_probs[row + j] * (dscores[row + j] - dot);
  }
  let dq = qkv_at(b, i, 0u, h);
  for (var e = 0u; e < p.head_dim; e++) {
    var acc = 0.0;
    for (var j = 0u; j < p.tokens; j++) { acc = fma(dscores[row + j], qkv[qkv_at(b, j, 1u, h) + e], acc); }
    var g = p.scale * acc;
    if (p.accumulate != 0u) { g += dqkv[dq + e]; }
    dqkv[dq + e] = g;
  }
}

// Reads dS written by attention_backward_query (`dscores` bound read-write to share the layout).
@compute @workgroup_size(WG)
fn attention_backward_key(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat(gid, nwg);
  if (t >= p.batch * p.heads * p.tokens) { return; }
  let j = t % p.tokens;
  let h = (t / p.tokens) % p.heads;
  let b = t / (p.tokens * p.heads);
  let bh = (b * p.heads + h) * p.tokens * p.tokens;
  let dk = qkv_at(b, j, 1u, h);
  let dv = qkv_at(b, j, 2u, h);
  for (var e = 0u; e < p.head_dim; e++) {
    var acc_k = 0.0;
    var acc_v = 0.0;
    for (var i = 0u; i < p.tokens; i++) {
      let ij = bh + i * p.tokens + j;
      acc_k = fma(dscores[ij], qkv[qkv_at(b, i, 0u, h) + e], acc_k);
      acc_v = fma(saved_probs[ij], dout[out_at(b, i, h) + e], acc_v);
    }
    var gk = p.scale * acc_k;
    var gv = acc_v;
    if (p.accumulate != 0u) { gk += dqkv[dk + e]; gv += dqkv[dv + e]; }
    dqkv[dk + e] = gk;
    dqkv[dv + e] = gv;
  }
}
