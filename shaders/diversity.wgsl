// DiversePatch (../shared/docs/methods.md, "DiversePatch"). Legend: B batch, T patch tokens on a
// G×G grid (T = G·G), D dim; a token is a row of [B, T, D].
//
// Mean pairwise cosine (over-smoothing metric and cosine penalty), ε = 1e-8,
// u_bi = x_bi / max(‖x_bi‖, ε), s_b = Σ_i u_bi, so Σ_{i≠j} ⟨u_bi, u_bj⟩ = ‖s_b‖² − Σ_i ‖u_bi‖²:
//   L = (1/B) Σ_b (‖s_b‖² − Σ_i ‖u_bi‖²) / (T(T−1))
//   cosine_norms:     norms[b,i] = ‖x_bi‖                                (thread per token)
//   cosine_sums:      sums[b,d] = s_bd = Σ_i x_bid / max(‖x_bi‖, ε)       (thread per (b, d))
//   cosine_samples:   samples[b] = (‖s_b‖² − Σ_i ‖u_bi‖²) / (T(T−1))     (thread per b; the mean over b by reduce.wgsl)
//   cosine_backward:  g_bi = dloss · 2 (s_b − u_bi) / (B·T(T−1))          (thread per token)
//                     dx_bi = (g_bi − u_bi ⟨u_bi, g_bi⟩) / ‖x_bi‖ if ‖x_bi‖ > ε, else g_bi / ε
//
// Contrastive logits of the released code, c and h [B, T, D] → y [B, T, 3]. 𝒲(i): the tokens j ≠ i
// of the W×W window (W odd) centred on token i, clipped at the grid edges; j ∈ 𝒲(i) ⇔ i ∈ 𝒲(j).
//   context_scores:             y[b,i,0] = ⟨c_i, h_i⟩
//                               y[b,i,1] = ⟨c_i, Σ_{j≠i} h_j⟩ / (T − 1)
//                               y[b,i,2] = ⟨c_i, Σ_{j∈𝒲(i)} h_j⟩ / |𝒲(i)|   (0 if 𝒲(i) is empty)  (thread per token)
//   context_scores_backward_c:  dc_i = g0_i h_i + g1_i Σ_{j≠i} h_j / (T−1) + g2_i Σ_{j∈𝒲(i)} h_j / |𝒲(i)|
//   context_scores_backward_h:  dh_j = g0_j c_j + Σ_{i≠j} g1_i c_i / (T−1) + Σ_{i∈𝒲(j)} g2_i c_i / |𝒲(i)|
//                               (g = dy [B, T, 3]; thread per element)

struct Params { batch: u32, tokens: u32, dim: u32, grid: u32, window: u32, accumulate: u32, }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> c: array<f32>;
@group(0) @binding(3) var<storage, read> h: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> dloss: array<f32>;
@group(0) @binding(6) var<storage, read_write> norms: array<f32>;
@group(0) @binding(7) var<storage, read_write> sums: array<f32>;
@group(0) @binding(8) var<storage, read_write> samples: array<f32>;
@group(0) @binding(9) var<storage, read_write> dst: array<f32>;

override WG: u32 = 256;
const EPS: f32 = 1e-8;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

// ---------------------------------------------------------------- mean pairwise cosine

@compute @workgroup_size(WG)
fn cosine_norms(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.tokens) { return; }
  var acc = 0.0;
  for (var d = 0u; d < p.dim; d++) { let v = src[i * p.dim + d]; acc += v * v; }
  norms[i] = sqrt(acc);
}

@compute @workgroup_size(WG)
fn cosine_sums(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.dim) { return; }
  let d = i % p.dim;
  let b = i / p.dim;
  var acc = 0.0;
  for (var t = 0u; t < p.tokens; t++) {
    let row = b * p.tokens + t;
    acc += src[row * p.dim + d] / max(norms[row], EPS);
  }
  sums[i] = acc;
}

@compute @workgroup_size(WG)
fn cosine_samples(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = flat(gid, nwg);
  if (b >= p.batch) { return; }
  var ss = 0.0;
  for (var d = 0u; d < p.dim; d++) { let s = sums[b * p.dim + d]; ss += s * s; }
  var uu = 0.0;
  for (var t = 0u; t < p.tokens; t++) {
    let n = norms[b * p.tokens + t];
    let u = n / max(n, EPS);
    uu += u * u;
  }
  samples[b] = (ss - uu) / f32(p.tokens * (p.tokens - 1u));
}

// src: x [B, T, D] -> dst: dx [B, T, D]; norms and sums saved by the forward.
@compute @workgroup_size(WG)
fn cosine_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.tokens) { return; }
  let b = i / p.tokens;
  let n = norms[i];
  let inv = 1.0 / max(n, EPS);
  let coeff = dloss[0] * 2.0 / f32(p.batch * p.tokens * (p.tokens - 1u));
  var ug = 0.0;
  if (n > EPS) {
    for (var d = 0u; d < p.dim; d++) {
      let u = src[i * p.dim + d] * inv;
      ug += u * coeff * (sums[b * p.dim + d] - u);
    }
  }
  for (var d = 0u; d < p.dim; d++) {
    let u = src[i * p.dim + d] * inv;
    var v = (coeff * (sums[b * p.dim + d] - u) - u * ug) * inv;
    if (p.accumulate != 0u) { v += dst[i * p.dim + d]; }
    dst[i * p.dim + d] = v;
  }
}

// ---------------------------------------------------------------- context scores

// The window's clipped span [lo, hi] along one grid axis around coordinate a.
fn span(a: u32) -> vec2<u32> {
  let r = (p.window - 1u) / 2u;
  return vec2<u32>(select(0u, a - r, a >= r), min(a + r, p.grid - 1u));
}

// |𝒲(t)|: the clipped window's tokens, t itself excluded.
fn window_size(t: u32) -> u32 {
  let ys = span(t / p.grid);
  let xs = span(t % p.grid);
  return (ys.y - ys.x + 1u) * (xs.y - xs.x + 1u) - 1u;
}

// ⟨c[row_c], h[row_h]⟩ over D.
fn dot_ch(row_c: u32, row_h: u32) -> f32 {
  var acc = 0.0;
  for (var d = 0u; d < p.dim; d++) { acc += c[row_c * p.dim + d] * h[row_h * p.dim + d]; }
  return acc;
}

// c, h [B, T, D] -> dst: y [B, T, 3]
@compute @workgroup_size(WG)
fn context_scores(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = flat(gid, nwg);
  if (row >= p.batch * p.tokens) { return; }
  let i = row % p.tokens;
  let first = row - i;
  var others = 0.0;
  for (var j = 0u; j < p.tokens; j++) { if (j != i) { others += dot_ch(row, first + j); } }
  var near = 0.0;
  let ys = span(i / p.grid);
  let xs = span(i % p.grid);
  for (var y = ys.x; y <= ys.y; y++) {
    for (var x = xs.x; x <= xs.y; x++) {
      let j = y * p.grid + x;
      if (j != i) { near += dot_ch(row, first + j); }
    }
  }
  let n = window_size(i);
  dst[row * 3u] = dot_ch(row, row);
  dst[row * 3u + 1u] = others / f32(p.tokens - 1u);
  dst[row * 3u + 2u] = select(0.0, near / f32(n), n > 0u);
}

// dy [B, T, 3], h -> dst: dc [B, T, D]
@compute @workgroup_size(WG)
fn context_scores_backward_c(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= p.batch * p.tokens * p.dim) { return; }
  let d = e % p.dim;
  let row = e / p.dim;
  let i = row % p.tokens;
  let first = row - i;
  var others = 0.0;
  for (var j = 0u; j < p.tokens; j++) { if (j != i) { others += h[(first + j) * p.dim + d]; } }
  var near = 0.0;
  let ys = span(i / p.grid);
  let xs = span(i % p.grid);
  for (var y = ys.x; y <= ys.y; y++) {
    for (var x = xs.x; x <= xs.y; x++) {
      let j = y * p.grid + x;
      if (j != i) { near += h[(first + j) * p.dim + d]; }
    }
  }
  let n = window_size(i);
  var v = dy[row * 3u] * h[e] + dy[row * 3u + 1u] * others / f32(p.tokens - 1u);
  if (n > 0u) { v += dy[row * 3u + 2u] * near / f32(n); }
  if (p.accumulate != 0u) { v += dst[e]; }
  dst[e] = v;
}

// dy [B, T, 3], c -> dst: dh [B, T, D]
@compute @workgroup_size(WG)
fn context_scores_backward_h(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= p.batch * p.tokens * p.dim) { return; }
  let d = e % p.dim;
  let row = e / p.dim;
  let j = row % p.tokens;
  let first = row - j;
  var others = 0.0;
  for (var i = 0u; i < p.tokens; i++) {
    if (i != j) { others += dy[(first + i) * 3u + 1u] * c[(first + i) * p.dim + d]; }
  }
  var near = 0.0;
  let ys = span(j / p.grid);
  let xs = span(j % p.grid);
  for (var y = ys.x; y <= ys.y; y++) {
    for (var x = xs.x; x <= xs.y; x++) {
      let i = y * p.grid + x;
      if (i != j) { near += dy[(first + i) * 3u + 2u] * c[(first + i) * p.dim + d] / f32(window_size(i)); }
    }
  }
  var v = dy[row * 3u] * c[e] + others / f32(p.tokens - 1u) + near;
  if (p.accumulate != 0u) { v += dst[e]; }
  dst[e] = v;
}
