// Token bookkeeping around the transformer blocks. Legend: B batch, T patch tokens,
// N = T + 1 tokens with the CLS token first, D model dim (C or K for other per-token rows).
//   embed_tokens:            x[b,0] = cls + pos[0];  x[b,1+t] = patches[b,t] + pos[1+t]
//                            backward for the patches: drop_cls of dx
//   embed_params_backward:   dcls += Σ_b dx[b,0];  dpos[n] += Σ_b dx[b,n]   (thread per (n, d))
//   gather_token:            y[b] = x[b, index]              backward: scatter into dx (zeros elsewhere)
//   mean_tokens:             y[b] = mean_{n ≥ first} x[b,n]  backward: dx[b,n] = dy[b] / (N − first)
//   drop_cls:                y[b,t] = x[b,1+t]               backward: dx[b,0] = 0;  dx[b,1+t] = dy[b,t]
// With m the u32 token mask [T] (nonzero = the partner's token; the partner of sample b is B − 1 − b),
// `tokens` = T and `dim` = C, D or K:
//   swap_tokens:             y[b,t] = x[m[t] ≠ 0 ? B−1−b : b, t]   its own inverse, so also its backward
//   pool_regions:            y[b,r] = mean of x[b,t] over region r = {t : [m[t] ≠ 0] = r}, r ∈ {0, 1}; 0 if empty
//                            backward: dx[b,t] = dy[b,r(t)] / |region r(t)|
//   max_tokens:              y[b,k] = max_t x[b,t,k]         (forward only: evaluation)

struct Params { batch: u32, tokens: u32, dim: u32, index: u32, accumulate: u32, }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> cls: array<f32>;
@group(0) @binding(3) var<storage, read> pos: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;
@group(0) @binding(5) var<storage, read_write> dcls: array<f32>;
@group(0) @binding(6) var<storage, read_write> dpos: array<f32>;
@group(0) @binding(7) var<storage, read> mask: array<u32>;

override WG: u32 = 256;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

// src: patches [B, T, D] -> dst: x [B, N, D]
@compute @workgroup_size(WG)
fn embed_tokens(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.tokens * p.dim) { return; }
  let d = i % p.dim;
  let n = (i / p.dim) % p.tokens;
  let b = i / (p.dim * p.tokens);
  var v = pos[n * p.dim + d];
  if (n == 0u) { v += cls[d]; } else { v += src[(b * (p.tokens - 1u) + n - 1u) * p.dim + d]; }
  dst[i] = v;
}

// src: x [B, N, D] -> dst: y [B, T, D] (patchTokens; also embed_tokens' backward for the patches)
@compute @workgroup_size(WG)
fn drop_cls(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  let patches = p.tokens - 1u;
  if (i >= p.batch * patches * p.dim) { return; }
  let d = i % p.dim;
  let t = (i / p.dim) % patches;
  let b = i / (p.dim * patches);
  var v = src[(b * p.tokens + t + 1u) * p.dim + d];
  if (p.accumulate != 0u) { v += dst[i]; }
  dst[i] = v;
}

// src: dx [B, N, D]; parameter gradients always accumulate.
@compute @workgroup_size(WG)
fn embed_params_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.tokens * p.dim) { return; }
  var acc = 0.0;
  for (var b = 0u; b < p.batch; b++) { acc += src[b * p.tokens * p.dim + i]; }
  dpos[i] += acc;
  if (i < p.dim) { dcls[i] += acc; }
}

@compute @workgroup_size(WG)
fn gather_token(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.dim) { return; }
  let d = i % p.dim;
  let b = i / p.dim;
  dst[i] = src[(b * p.tokens + p.index) * p.dim + d];
}

// src: dy [B, D] -> dst: dx [B, N, D]
@compute @workgroup_size(WG)
fn gather_token_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.tokens * p.dim) { return; }
  let d = i % p.dim;
  let n = (i / p.dim) % p.tokens;
  let b = i / (p.dim * p.tokens);
  var v = select(0.0, src[b * p.dim + d], n == p.index);
  if (p.accumulate != 0u) { v += dst[i]; }
  dst[i] = v;
}

// `index` is the first token averaged (1 skips CLS).
@compute @workgroup_size(WG)
fn mean_tokens(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.dim) { return; }
  let d = i % p.dim;
  let b = i / p.dim;
  var acc = 0.0;
  for (var n = p.index; n < p.tokens; n++) { acc += src[(b * p.tokens + n) * p.dim + d]; }
  dst[i] = acc / f32(p.tokens - p.index);
}

@compute @workgroup_size(WG)
fn mean_tokens_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.tokens * p.dim) { return; }
  let d = i % p.dim;
  let n = (i / p.dim) % p.tokens;
  let b = i / (p.dim * p.tokens);
  var v = select(0.0, src[b * p.dim + d] / f32(p.tokens - p.index), n >= p.index);
  if (p.accumulate != 0u) { v += dst[i]; }
  dst[i] = v;
}

// src: dy [B, T, D] -> dst: dx [B, N, D]
@compute @workgroup_size(WG)
fn drop_cls_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.tokens * p.dim) { return; }
  let d = i % p.dim;
  let n = (i / p.dim) % p.tokens;
  let b = i / (p.dim * p.tokens);
  var v = 0.0;
  if (n > 0u) { v = src[(b * (p.tokens - 1u) + n - 1u) * p.dim + d]; }
  if (p.accumulate != 0u) { v += dst[i]; }
  dst[i] = v;
}

// src: x [B, T, C] -> dst: y [B, T, C]; forward (accumulate 0) and backward alike.
@compute @workgroup_size(WG)
fn swap_tokens(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.tokens * p.dim) { return; }
  let d = i % p.dim;
  let t = (i / p.dim) % p.tokens;
  let b = i / (p.dim * p.tokens);
  let from_b = select(b, p.batch - 1u - b, mask[t] != 0u);
  var v = src[(from_b * p.tokens + t) * p.dim + d];
  if (p.accumulate != 0u) { v += dst[i]; }
  dst[i] = v;
}

fn region_of(t: u32) -> u32 { return select(0u, 1u, mask[t] != 0u); }

fn region_size(r: u32) -> u32 {
  var n = 0u;
  for (var t = 0u; t < p.tokens; t++) { if (region_of(t) == r) { n++; } }
  return n;
}

// src: x [B, T, D] -> dst: y [B, 2, D]
@compute @workgroup_size(WG)
fn pool_regions(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * 2u * p.dim) { return; }
  let d = i % p.dim;
  let r = (i / p.dim) % 2u;
  let b = i / (p.dim * 2u);
  var acc = 0.0;
  var n = 0u;
  for (var t = 0u; t < p.tokens; t++) {
    if (region_of(t) == r) { acc += src[(b * p.tokens + t) * p.dim + d]; n++; }
  }
  dst[i] = select(0.0, acc / f32(n), n > 0u);
}

// src: dy [B, 2, D] -> dst: dx [B, T, D]
@compute @workgroup_size(WG)
fn pool_regions_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.tokens * p.dim) { return; }
  let d = i % p.dim;
  let t = (i / p.dim) % p.tokens;
  let b = i / (p.dim * p.tokens);
  let r = region_of(t);
  var v = src[(b * 2u + r) * p.dim + d] / f32(region_size(r));
  if (p.accumulate != 0u) { v += dst[i]; }
  dst[i] = v;
}

// src: x [B, T, K] -> dst: y [B, K]
@compute @workgroup_size(WG)
fn max_tokens(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.dim) { return; }
  let k = i % p.dim;
  let b = i / p.dim;
  var m = src[b * p.tokens * p.dim + k];
  for (var t = 1u; t < p.tokens; t++) { m = max(m, src[(b * p.tokens + t) * p.dim + k]); }
  dst[i] = m;
}
