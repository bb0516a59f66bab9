// LayerNorm over the last dimension: R rows of D features.
//   forward:  mean_r, rstd_r = 1/sqrt(var_r + eps) (biased variance), x̂ = (x − mean)·rstd,
//             y = x̂·gamma + beta; mean and rstd are saved for backward.
//   backward: dx = rstd · (g − mean(g) − x̂ · mean(g·x̂)) with g = dy·gamma   (one thread per row)
//             dgamma[d] = Σ_r dy·x̂,  dbeta[d] = Σ_r dy                       (one thread per column)

struct Params { rows: u32, dim: u32, eps: f32, accumulate: u32, }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>; // [R][2]: mean, rstd
@group(0) @binding(6) var<storage, read> dy: array<f32>;
@group(0) @binding(7) var<storage, read> saved: array<f32>;       // stats, read-only in backward
@group(0) @binding(8) var<storage, read_write> dx: array<f32>;
@group(0) @binding(9) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(10) var<storage, read_write> dbeta: array<f32>;

override WG: u32 = 64;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

@compute @workgroup_size(WG)
fn layernorm_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat(gid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.dim;
  var sum = 0.0;
  for (var d = 0u; d < p.dim; d++) { sum += x[base + d]; }
  let mean = sum / f32(p.dim);
  var sq = 0.0;
  for (var d = 0u; d < p.dim; d++) { let c = x[base + d] - mean; sq += c * c; }
  let rstd = inverseSqrt(sq / f32(p.dim) + p.eps);
  for (var d = 0u; d < p.dim; d++) {
    y[base + d] = (x[base + d] - mean) * rstd * gamma[d] + beta[d];
  }
  stats[2u * r] = mean;
  stats[2u * r + 1u] = rstd;
}

@compute @workgroup_size(WG)
fn layernorm_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flat(gid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.dim;
  let mean = saved[2u * r];
  let rstd = saved[2u * r + 1u];
  var mean_g = 0.0;
  var mean_gx = 0.0;
  for (var d = 0u; d < p.dim; d++) {
    let g = dy[base + d] * gamma[d];
    mean_g += g;
    mean_gx += g * (x[base + d] - mean) * rstd;
  }
  mean_g /= f32(p.dim);
  mean_gx /= f32(p.dim);
  for (var d = 0u; d < p.dim; d++) {
    let xhat = (x[base + d] - mean) * rstd;
    var v = rstd * (dy[base + d] * gamma[d] - mean_g - xhat * mean_gx);
    if (p.accumulate != 0u) { v += dx[base + d]; }
    dx[base + d] = v;
  }
}

// Parameter gradients always accumulate: they land in the parameters' gradient buffers.
@compute @workgroup_size(WG)
fn layernorm_backward_params(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let d = flat(gid, nwg);
  if (d >= p.dim) { return; }
  var sg = 0.0;
  var sb = 0.0;
  for (var r = 0u; r < p.rows; r++) {
    let g = dy[r * p.dim + d];
    sg += g * (x[r * p.dim + d] - saved[2u * r]) * saved[2u * r + 1u];
    sb += g;
  }
  dgamma[d] += sg;
  dbeta[d] += sb;
}
