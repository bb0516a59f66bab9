// Patchify for the patch embedding (a stride-P convolution written as patchify + matmul).
// Legend: B batch, C channels, S image side, P patch side, G = S/P, T = G·G patches.
//   images  [B, C, S, S]
//   patches [B, T, C·P·P], column c·P·P + ky·P + kx: the flattening of a Conv2d weight [D, C, P, P],
//           so patches · Wᵀ equals timm's patch_embed.proj.
//   patchify_backward: dimages (+)= the inverse permutation of dpatches (patches do not overlap).

struct Params { batch: u32, channels: u32, side: u32, patch_size: u32, accumulate: u32, }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

override WG: u32 = 256;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

// Index into patches of image element (b, c, y, x).
fn patch_index(b: u32, c: u32, y: u32, x: u32) -> u32 {
  let g = p.side / p.patch_size;
  let t = (y / p.patch_size) * g + x / p.patch_size;
  let col = (c * p.patch_size + y % p.patch_size) * p.patch_size + x % p.patch_size;
  return (b * g * g + t) * p.channels * p.patch_size * p.patch_size + col;
}

// Index into patches of the image element at flat index i = ((b·C + c)·S + y)·S + x.
fn patch_index_of_pixel(i: u32) -> u32 {
  let x = i % p.side;
  let y = (i / p.side) % p.side;
  let c = (i / (p.side * p.side)) % p.channels;
  let b = i / (p.side * p.side * p.channels);
  return patch_index(b, c, y, x);
}

// One thread per image element; each writes its one place in the patch matrix.
@compute @workgroup_size(WG)
fn patchify(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.channels * p.side * p.side) { return; }
  dst[patch_index_of_pixel(i)] = src[i];
}

// src: dpatches -> dst: dimages
@compute @workgroup_size(WG)
fn patchify_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= p.batch * p.channels * p.side * p.side) { return; }
  var v = src[patch_index_of_pixel(i)];
  if (p.accumulate != 0u) { v += dst[i]; }
  dst[i] = v;
}
