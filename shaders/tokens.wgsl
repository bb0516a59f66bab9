// Token bookkeeping around the transformer blocks. Legend: B batch, T patch tokens,
// N = T + 1 tokens with the CLS token first, D model dim.
//   embed_tokens:            x[b,0] = cls + pos[0];  x[b,1+t] = patches[b,t] + pos[1+t]
//   embed_tokens_backward:   dpatches[b,t] = dx[b,1+t]
//   embed_params_backward:   dcls += Σ_b dx[b,0];  dpos[n] += Σ_b dx[b,n]   (thread per (n, d))
//   gather_token:            y[b] = x[b, index]              backward: scatter into dx (zeros elsewhere)
//   mean_tokens:             y[b] = mean_{n ≥ first} x[b,n]  backward: dx[b,n] = dy[b] / (N − first)

struct Params { batch: u32, tokens: u32, dim: u32, index: u32, accumulate: u32, }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> cls: array<f32>;
@group(0) @binding(3) var<storage, read> pos: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;
@group(0) @binding(5) var<storage, read_write> dcls: array<f32>;
@group(0) @binding(6) var<storage, read_write> dpos: array<f32>;

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

// src: dx [B, N, D] -> dst: dpatches [B, T, D]
@compute @workgroup_size(WG)
fn embed_tokens_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
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
