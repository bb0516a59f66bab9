// GELU, the exact (erf) form used by timm's nn.GELU:
//   forward:  y = x · Φ(x),               Φ(x) = ½ (1 + erf(x / √2))
//   backward: dx = dy · (Φ(x) + x · φ(x)), φ(x) = exp(−x²/2) / √(2π)
// erf by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7, below f32 rounding of Φ near 1).
// One thread per element.

struct Params { n: u32, accumulate: u32, }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

override WG: u32 = 256;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

fn erf_approx(z: f32) -> f32 {
  let s = sign(z);
  let az = abs(z);
  let t = 1.0 / (1.0 + 0.3275911 * az);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return s * (1.0 - poly * exp(-az * az));
}

fn cdf(v: f32) -> f32 { return 0.5 * (1.0 + erf_approx(v * 0.70710678118654752)); }

@compute @workgroup_size(WG)
fn gelu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.n) { return; }
  let v = x[i];
  y[i] = v * cdf(v);
}

// Here `y` receives dx.
@compute @workgroup_size(WG)
fn gelu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.n) { return; }
  let v = x[i];
  let pdf = exp(-0.5 * v * v) * 0.39894228040143268;
  var g = dy[i] * (cdf(v) + v * pdf);
  if (p.accumulate != 0u) { g += y[i]; }
  y[i] = g;
}
