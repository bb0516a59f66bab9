// The optimizer step over the whole parameter arena in one dispatch (one thread per element).
//   clip:   c = min(1, max_norm / (‖g‖ + 1e-6)) with ‖g‖² = norm_sq[0] from reduce.wgsl
//           (torch.nn.utils.clip_grad_norm_); max_norm = 0 disables clipping.
//   adamw:  g ← c·g;  θ ← θ − lr·wd·θ for elements below decay_end (weights; biases, norms and
//           embeddings sit after it in the arena);  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;
//           θ ← θ − lr · (m / bc1) / (sqrt(v / bc2) + eps),  bc = 1 − βᵗ (torch.optim.AdamW).
//   clip_gradients: g ← c·g in place, for code that wants clipped gradients without a step.
//
// Mixed precision (f16 path; HALF_T = f16 in that variant, src/gpu/kernels.ts: shaderVariant):
//   adamw_mixed: the gradients carry the loss scale S (the backward was seeded with S instead of
//           1). ‖g‖² (norm_sq, always reduced here) is inf or NaN when any gradient is: then every
//           thread leaves θ, m, v as they are (the step is skipped). Otherwise g ← g / S, clipped
//           with the unscaled norm ‖g‖/S, the AdamW update as above with t = applied + 1 steps,
//           and θ also written rounded to f16 into params_half (what the f16 products read).
//   copy_to_half: params_half ← params rounded to f16 (after values are loaded from the host, so
//           every f16 copy is rounded by the GPU, the same way as adamw_mixed rounds).
//   loss_scale_update (one thread, after adamw_mixed in the same pass): on overflow S ← S/2,
//           good_steps ← 0, skipped += 1; otherwise applied += 1, good_steps += 1, and after
//           growth_interval good steps S ← 2S (torch.cuda.amp.GradScaler's dynamic scaling).
// No backward: these are not differentiated.

struct Params {
  n: u32, decay_end: u32,
  lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32,
  bias_correction1: f32, bias_correction2: f32, max_norm: f32,
  growth_interval: u32, // loss_scale_update only
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<f32>;
@group(0) @binding(5) var<storage, read> norm_sq: array<f32>;

alias HALF_T = f32;

struct LossScale { scale: f32, good_steps: u32, skipped: u32, applied: u32 }

@group(0) @binding(6) var<storage, read_write> params_half: array<HALF_T>;
@group(0) @binding(7) var<storage, read_write> loss_scale: LossScale;

override WG: u32 = 256;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

/** The clip factor for gradients whose squared norm is norm_sq[0]; `inv_scale` unscales that norm (1/S on the f16 path, else 1). */
fn clip_coefficient(inv_scale: f32) -> f32 {
  if (p.max_norm <= 0.0) { return 1.0; }
  return min(1.0, p.max_norm / (sqrt(norm_sq[0]) * inv_scale + 1e-6));
}

/** Decoupled weight decay and the Adam moments for element i with gradient g; returns θ' (the caller stores it). */
fn adam_step(i: u32, g: f32, bias_correction1: f32, bias_correction2: f32) -> f32 {
  var theta = params[i];
  if (i < p.decay_end) { theta -= p.lr * p.weight_decay * theta; }
  let m = p.beta1 * exp_avg[i] + (1.0 - p.beta1) * g;
  let v = p.beta2 * exp_avg_sq[i] + (1.0 - p.beta2) * g * g;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  return theta - p.lr * (m / bias_correction1) / (sqrt(v / bias_correction2) + p.eps);
}

@compute @workgroup_size(WG)
fn adamw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.n) { return; }
  params[i] = adam_step(i, grads[i] * clip_coefficient(1.0), p.bias_correction1, p.bias_correction2);
}

@compute @workgroup_size(WG)
fn clip_gradients(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.n) { return; }
  grads[i] *= clip_coefficient(1.0);
}

/** inf or NaN: all exponent bits set (a bit test, which fast-math cannot fold away like x != x). */
fn overflowed() -> bool {
  return (bitcast<u32>(norm_sq[0]) & 0x7f800000u) == 0x7f800000u;
}

@compute @workgroup_size(WG)
fn adamw_mixed(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.n || overflowed()) { return; }
  let inv_scale = 1.0 / loss_scale.scale;
  let g = grads[i] * inv_scale * clip_coefficient(inv_scale);
  let t = f32(loss_scale.applied + 1u);
  let theta = adam_step(i, g, 1.0 - pow(p.beta1, t), 1.0 - pow(p.beta2, t));
  params[i] = theta;
  params_half[i] = HALF_T(theta);
}

@compute @workgroup_size(WG)
fn copy_to_half(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.n) { return; }
  params_half[i] = HALF_T(params[i]);
}

@compute @workgroup_size(1)
fn loss_scale_update() {
  if (overflowed()) {
    loss_scale.scale *= 0.5;
    loss_scale.good_steps = 0u;
    loss_scale.skipped += 1u;
    return;
  }
  loss_scale.applied += 1u;
  loss_scale.good_steps += 1u;
  if (loss_scale.good_steps >= p.growth_interval) {
    loss_scale.scale *= 2.0;
    loss_scale.good_steps = 0u;
  }
}
