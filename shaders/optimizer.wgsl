// The optimizer step over the whole parameter arena in one dispatch (one thread per element).
//   clip:   c = min(1, max_norm / (‖g‖ + 1e-6)) with ‖g‖² = norm_sq[0] from reduce.wgsl
//           (torch.nn.utils.clip_grad_norm_); max_norm = 0 disables clipping.
//   adamw:  g ← c·g;  θ ← θ − lr·wd·θ for elements below decay_end (weights; biases, norms and
//           embeddings sit after it in the arena);  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;
//           θ ← θ − lr · (m / bc1) / (sqrt(v / bc2) + eps),  bc = 1 − βᵗ (torch.optim.AdamW).
//   clip_gradients: g ← c·g in place, for code that wants clipped gradients without a step.
// No backward: these are not differentiated.

struct Params {
  n: u32, decay_end: u32,
  lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32,
  bias_correction1: f32, bias_correction2: f32, max_norm: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<f32>;
@group(0) @binding(5) var<storage, read> norm_sq: array<f32>;

override WG: u32 = 256;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

fn clip_coefficient() -> f32 {
  if (p.max_norm <= 0.0) { return 1.0; }
  return min(1.0, p.max_norm / (sqrt(norm_sq[0]) + 1e-6));
}

@compute @workgroup_size(WG)
fn adamw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.n) { return; }
  let g = grads[i] * clip_coefficient();
  var theta = params[i];
  if (i < p.decay_end) { theta -= p.lr * p.weight_decay * theta; }
  let m = p.beta1 * exp_avg[i] + (1.0 - p.beta1) * g;
  let v = p.beta2 * exp_avg_sq[i] + (1.0 - p.beta2) * g * g;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  params[i] = theta - p.lr * (m / p.bias_correction1) / (sqrt(v / p.bias_correction2) + p.eps);
}

@compute @workgroup_size(WG)
fn clip_gradients(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.n) { return; }
  grads[i] *= clip_coefficient();
}
