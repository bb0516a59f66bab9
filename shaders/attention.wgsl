// Multi-head scaled dot-product attention on a fused qkv tensor (timm's layout).
// Legend: B batch, N tokens, H heads, E = D/H head dim, D model dim, scale = 1/√E.
//   qkv   [B, N, 3, H, E]  (the qkv linear's output, row stride 3D)
//   out   [B, N, H, E]     = [B, N, D]
//   probs [B, H, N, N]     P = softmax(scale · Q Kᵀ), an output: the backward reads it (and the
//                          separate label propagation, labels.wgsl propagate_labels)
//
// The math, per (b, h):
//   forward   S = scale·Q Kᵀ;  P_i = softmax(S_i);  O = P V
//   backward  dV = Pᵀ dO;  dP = dO Vᵀ;  dS = P ∘ (dP − δ),  δ_i = Σ_j P_ij dP_ij = dO_i · O_i;
//             dQ = scale·dS K;  dK = scale·dSᵀ Q
//
// Tiled kernels (E ≤ 64, the path every preset takes). A workgroup of WG threads takes one
// (b, h) and a block of up to WG rows; each thread owns one row and keeps its E-vectors in
// registers. The other side of the product (K and V, or Q and dO) streams through workgroup
// memory KT rows at a time, loaded with coalesced reads (each token's E floats are contiguous)
// and read back as broadcasts. Why tiles and not a whole head: Q, K, V, dO of one head at N = 65,
// E = 64 are 16.6 KB each and WebGPU only promises 16 KiB of workgroup memory (KT is chosen by
// attention.ts so that every tile together fits in it; KT depends on E only).
//   attention_forward: two sweeps over key tiles. Sweep 1 finds each row's max m and softmax
//     denominator l (online, rescaling l when m grows). Sweep 2 recomputes the scores (E more
//     FMAs per score, in exchange for writing P exactly once instead of writing raw scores and
//     normalizing them in memory), writes P = exp(s − m)/l and accumulates O = P V in registers.
//     P goes out through a [KT][WG+1] tile so that the global writes are row segments
//     (coalesced); its padded stride keeps workgroup-memory bank conflicts low.
//   attention_backward_query (thread per query row i): δ_i = dO_i·O_i (from the saved output,
//     stored in `delta` for the key pass); per key tile: dP_ij = dO_i·v_j, dS_ij, dQ_i += dS_ij k_j.
//   attention_backward_key (thread per key row j): per query tile (Q, dO, δ and the P block in
//     workgroup memory): dS_ij recomputed from dO_i·v_j, dK_j += dS_ij q_i, dV_j += P_ij dO_i.
// Each thread owns its outputs: no atomics, and dS never goes to global memory.
//
// Row kernels (*_rows, any E; attention.ts uses them only when E > 64): one thread per row,
// reading everything from global memory; dS goes through the `dscores` buffer.
//
// Fused label propagation (TL-Align, ../shared/docs/methods.md; no gradient, labels are data):
//   labels      L [B, N, C]     C = LC label columns (K classes, or 1 for the own-share form)
//   head_labels Y [B, H, N, C]  Y_h = P_h L, per head
//   labels_out  L' [B, N, C]    L' = ½((1/H) Σ_h Y_h + L)
// Variants of the forward:
//   1. attention_forward_labels (tiled): attention_forward, plus the L rows of each key tile in
//      workgroup memory (tile_l) and Y_i += P_ij L_j accumulated in registers from the P tile the
//      kernel already holds; Y is written once. P is never read back from memory. The row's LC
//      sums are registers: LC ≤ 4·MAX_LC4.
//   2. attention_forward_rows_labels: attention_forward_rows, plus Y_i = P_i L from the row of P
//      the thread has just written (any LC).
// A workgroup holds one head, and WGSL has no float atomics, so the head mean is a second pass:
//   attention_combine_labels: thread per element of L'; reads H·C values of Y per row of L'
//   (instead of the H·N probabilities a separate propagation pass reads).

struct Params { batch: u32, tokens: u32, heads: u32, head_dim: u32, scale: f32, accumulate: u32, blocks: u32, block_rows: u32, }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read> saved_probs: array<f32>;
@group(0) @binding(6) var<storage, read_write> dscores: array<f32>;
@group(0) @binding(7) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(8) var<storage, read> saved_out: array<f32>;
@group(0) @binding(9) var<storage, read_write> delta: array<f32>;
@group(0) @binding(10) var<storage, read> labels: array<f32>;
@group(0) @binding(11) var<storage, read_write> head_labels: array<f32>;
@group(0) @binding(12) var<storage, read_write> labels_out: array<f32>;

// Threads per workgroup (tiled kernels: also the most rows per block).
override WG: u32 = 64;
// Head dim E of the tiled kernels (≤ 4·MAX_HD4: their per-thread vectors are registers).
override HD: u32 = 16;
// Rows per streamed tile; attention.ts sizes it so that the tiles fit 16 KiB.
override KT: u32 = 32;
// E in vec4s: tiles and registers hold E padded with zeros to a multiple of 4 (one 16-byte
// workgroup read per 4 FMAs).
override HD4: u32 = (HD + 3u) / 4u;
override TILE: u32 = KT * HD4;
override PTILE: u32 = KT * (WG + 1u);
const MAX_HD4 = 16u;
// Label columns C of the fused variants; the tiled one pads them to vec4s like E.
override LC: u32 = 1;
override LC4: u32 = (LC + 3u) / 4u;
override LTILE: u32 = KT * LC4;
const MAX_LC4 = 4u;

var<workgroup> tile_a: array<vec4<f32>, TILE>; // K (forward, backward_query) or Q (backward_key), [KT][E/4]
var<workgroup> tile_b: array<vec4<f32>, TILE>; // V (forward, backward_query) or dO (backward_key), [KT][E/4]
var<workgroup> tile_p: array<f32, PTILE>;      // P: [key][row] (stride WG+1) or [query][key] (backward_key)
var<workgroup> tile_d: array<f32, KT>;         // δ of the query tile (backward_key)
var<workgroup> tile_l: array<vec4<f32>, LTILE>; // L of the key tile (forward_labels), [KT][C/4]

alias Vec = array<vec4<f32>, MAX_HD4>;
alias LabelVec = array<vec4<f32>, MAX_LC4>;

// Offset of element 0 of q (part 0), k (1) or v (2) for token n of batch b, head h.
fn qkv_at(b: u32, n: u32, part: u32, h: u32) -> u32 {
  let d = p.heads * p.head_dim;
  return (b * p.tokens + n) * 3u * d + part * d + h * p.head_dim;
}

fn out_at(b: u32, n: u32, h: u32) -> u32 {
  return (b * p.tokens + n) * p.heads * p.head_dim + h * p.head_dim;
}

// Elements e..e+3 of a head vector that starts at `at`, zero past E.
fn qkv4(at: u32, e: u32) -> vec4<f32> {
  if (HD % 4u == 0u) { return vec4(qkv[at + e], qkv[at + e + 1u], qkv[at + e + 2u], qkv[at + e + 3u]); }
  var v = vec4(0.0);
  for (var k = 0u; k < 4u && e + k < HD; k++) { v[k] = qkv[at + e + k]; }
  return v;
}

fn dout4(at: u32, e: u32) -> vec4<f32> {
  if (HD % 4u == 0u) { return vec4(dout[at + e], dout[at + e + 1u], dout[at + e + 2u], dout[at + e + 3u]); }
  var v = vec4(0.0);
  for (var k = 0u; k < 4u && e + k < HD; k++) { v[k] = dout[at + e + k]; }
  return v;
}

fn saved_out4(at: u32, e: u32) -> vec4<f32> {
  if (HD % 4u == 0u) { return vec4(saved_out[at + e], saved_out[at + e + 1u], saved_out[at + e + 2u], saved_out[at + e + 3u]); }
  var v = vec4(0.0);
  for (var k = 0u; k < 4u && e + k < HD; k++) { v[k] = saved_out[at + e + k]; }
  return v;
}

// A tiled kernel's workgroup: (b, h) and its block of rows [r0, r0 + rows).
struct Block { b: u32, h: u32, bh: u32, r0: u32, rows: u32, valid: bool, }

fn block_of(wid: vec3<u32>, nwg: vec3<u32>) -> Block {
  let g = wid.x + wid.y * nwg.x;
  let bh = g / p.blocks;
  let r0 = (g % p.blocks) * p.block_rows;
  let valid = bh < p.batch * p.heads && r0 < p.tokens;
  return Block(bh / p.heads, bh % p.heads, bh, r0, select(0u, min(p.block_rows, p.tokens - r0), valid), valid);
}

// Loads keys [j0, j0 + kt) of (b, h): K into tile_a and, with `with_v`, V into tile_b.
fn load_kv(b: u32, h: u32, j0: u32, kt: u32, t: u32, with_v: bool) {
  let d = p.heads * p.head_dim;
  for (var x = t; x < kt * HD4; x += WG) {
    let k = qkv_at(b, j0 + x / HD4, 1u, h);
    let e = (x % HD4) * 4u;
    tile_a[x] = qkv4(k, e);
    if (with_v) { tile_b[x] = qkv4(k + d, e); }
  }
}

// Scaled score s = scale · q·k_j against key j of tile_a.
fn score(q: ptr<function, Vec>, j: u32) -> f32 {
  var s = 0.0;
  for (var c = 0u; c < HD4; c++) { s += dot((*q)[c], tile_a[j * HD4 + c]); }
  return s * p.scale;
}

// Sweep 1 of the forward: row max m and denominator l = Σ_j exp(s_j − m), as (m, l).
fn row_stats(blk: Block, q: ptr<function, Vec>, t: u32, has_row: bool) -> vec2<f32> {
  let n = p.tokens;
  var m = -3.4e38;
  var l = 0.0;
  for (var j0 = 0u; j0 < n; j0 += KT) {
    let kt = min(KT, n - j0);
    workgroupBarrier(); // the previous tile is no longer read
    load_kv(blk.b, blk.h, j0, kt, t, false);
    workgroupBarrier();
    if (has_row) {
      for (var j = 0u; j < kt; j++) {
        let s = score(q, j);
        if (s > m) { l = fma(l, exp(m - s), 1.0); m = s; } else { l += exp(s - m); }
      }
    }
  }
  return vec2(m, l);
}

// Sweep 2 on the loaded key tile: P_ij = exp(s − m)/l into tile_p (column t), O_i += P_ij v_j.
fn probs_tile(q: ptr<function, Vec>, acc: ptr<function, Vec>, m: f32, inv_l: f32, kt: u32, t: u32) {
  for (var j = 0u; j < kt; j++) {
    let pr = exp(score(q, j) - m) * inv_l;
    tile_p[j * (WG + 1u) + t] = pr;
    for (var c = 0u; c < HD4; c++) { (*acc)[c] = fma(vec4(pr), tile_b[j * HD4 + c], (*acc)[c]); }
  }
}

// The block's rows of P for keys [j0, j0 + kt), from tile_p as row segments (coalesced).
fn store_probs(blk: Block, j0: u32, kt: u32, t: u32) {
  let n = p.tokens;
  let prow = blk.bh * n + blk.r0; // first row of this block in probs
  for (var x = t; x < blk.rows * kt; x += WG) {
    let r = x / kt;
    let j = x % kt;
    probs[(prow + r) * n + j0 + j] = tile_p[j * (WG + 1u) + r];
  }
}

fn store_out(blk: Block, i: u32, acc: ptr<function, Vec>) {
  let o = out_at(blk.b, i, blk.h);
  for (var e = 0u; e < HD; e++) { out[o + e] = (*acc)[e / 4u][e % 4u]; }
}

@compute @workgroup_size(WG)
fn attention_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) t: u32) {
  let blk = block_of(wid, nwg);
  if (!blk.valid) { return; }
  let n = p.tokens;
  let has_row = t < blk.rows;
  let i = blk.r0 + min(t, blk.rows - 1u); // idle threads shadow the last row, write nothing
  var q: Vec;
  var acc: Vec;
  let qo = qkv_at(blk.b, i, 0u, blk.h);
  for (var c = 0u; c < HD4; c++) { q[c] = qkv4(qo, 4u * c); acc[c] = vec4(0.0); }

  let ml = row_stats(blk, &q, t, has_row);
  let inv_l = 1.0 / ml.y;
  for (var j0 = 0u; j0 < n; j0 += KT) {
    let kt = min(KT, n - j0);
    workgroupBarrier(); // the previous tiles (K, V and P) are no longer read
    load_kv(blk.b, blk.h, j0, kt, t, true);
    workgroupBarrier();
    if (has_row) { probs_tile(&q, &acc, ml.x, inv_l, kt, t); }
    workgroupBarrier();
    store_probs(blk, j0, kt, t);
  }
  if (has_row) { store_out(blk, i, &acc); }
}

// Rows [j0, j0 + kt) of L[b] into tile_l, C padded with zeros to vec4s.
fn load_labels(b: u32, j0: u32, kt: u32, t: u32) {
  for (var x = t; x < kt * LC4; x += WG) {
    let at = (b * p.tokens + j0 + x / LC4) * LC;
    let c = (x % LC4) * 4u;
    var v = vec4(0.0);
    for (var k = 0u; k < 4u && c + k < LC; k++) { v[k] = labels[at + c + k]; }
    tile_l[x] = v;
  }
}

// Variant 1: attention_forward, and Y[b, h, i, :] = Σ_j P_ij L[b, j, :] from the P tile in hand.
@compute @workgroup_size(WG)
fn attention_forward_labels(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                            @builtin(local_invocation_index) t: u32) {
  let blk = block_of(wid, nwg);
  if (!blk.valid) { return; }
  let n = p.tokens;
  let has_row = t < blk.rows;
  let i = blk.r0 + min(t, blk.rows - 1u);
  var q: Vec;
  var acc: Vec;
  var y: LabelVec;
  let qo = qkv_at(blk.b, i, 0u, blk.h);
  for (var c = 0u; c < HD4; c++) { q[c] = qkv4(qo, 4u * c); acc[c] = vec4(0.0); }
  for (var c = 0u; c < LC4; c++) { y[c] = vec4(0.0); }

  let ml = row_stats(blk, &q, t, has_row);
  let inv_l = 1.0 / ml.y;
  for (var j0 = 0u; j0 < n; j0 += KT) {
    let kt = min(KT, n - j0);
    workgroupBarrier();
    load_kv(blk.b, blk.h, j0, kt, t, true);
    load_labels(blk.b, j0, kt, t);
    workgroupBarrier();
    if (has_row) {
      probs_tile(&q, &acc, ml.x, inv_l, kt, t);
      // Column t of tile_p is this thread's own row: no barrier needed to read it back.
      for (var j = 0u; j < kt; j++) {
        let pr = vec4(tile_p[j * (WG + 1u) + t]);
        for (var c = 0u; c < LC4; c++) { y[c] = fma(pr, tile_l[j * LC4 + c], y[c]); }
      }
    }
    workgroupBarrier();
    store_probs(blk, j0, kt, t);
  }
  if (has_row) {
    store_out(blk, i, &acc);
    let at = (blk.bh * n + i) * LC; // Y[b, h, i, :]
    for (var c = 0u; c < LC; c++) { head_labels[at + c] = y[c / 4u][c % 4u]; }
  }
}

@compute @workgroup_size(WG)
fn attention_backward_query(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                            @builtin(local_invocation_index) t: u32) {
  let blk = block_of(wid, nwg);
  if (!blk.valid) { return; }
  let n = p.tokens;
  let has_row = t < blk.rows;
  let i = blk.r0 + min(t, blk.rows - 1u);
  var g: Vec;  // dO_i
  var dq: Vec;
  let o = out_at(blk.b, i, blk.h);
  var dlt = 0.0;
  for (var c = 0u; c < HD4; c++) { g[c] = dout4(o, 4u * c); dlt += dot(g[c], saved_out4(o, 4u * c)); dq[c] = vec4(0.0); }
  if (has_row) { delta[blk.bh * n + i] = dlt; }

  let prow = blk.bh * n + blk.r0;
  for (var j0 = 0u; j0 < n; j0 += KT) {
    let kt = min(KT, n - j0);
    workgroupBarrier();
    load_kv(blk.b, blk.h, j0, kt, t, true);
    for (var x = t; x < blk.rows * kt; x += WG) {
      let r = x / kt;
      let j = x % kt;
      tile_p[j * (WG + 1u) + r] = saved_probs[(prow + r) * n + j0 + j];
    }
    workgroupBarrier();
    if (has_row) {
      for (var j = 0u; j < kt; j++) {
        var dp = 0.0;
        for (var c = 0u; c < HD4; c++) { dp += dot(g[c], tile_b[j * HD4 + c]); }
        let ds = vec4(tile_p[j * (WG + 1u) + t] * (dp - dlt));
        for (var c = 0u; c < HD4; c++) { dq[c] = fma(ds, tile_a[j * HD4 + c], dq[c]); }
      }
    }
  }
  if (has_row) {
    let at = qkv_at(blk.b, i, 0u, blk.h);
    for (var e = 0u; e < HD; e++) {
      var v = p.scale * dq[e / 4u][e % 4u];
      if (p.accumulate != 0u) { v += dqkv[at + e]; }
      dqkv[at + e] = v;
    }
  }
}

// Reads δ written by attention_backward_query (dispatched before it).
@compute @workgroup_size(WG)
fn attention_backward_key(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) t: u32) {
  let blk = block_of(wid, nwg);
  if (!blk.valid) { return; }
  let n = p.tokens;
  let d = p.heads * p.head_dim;
  let has_row = t < blk.rows;
  let j = blk.r0 + min(t, blk.rows - 1u);
  var v: Vec;  // v_j
  var dk: Vec;
  var dv: Vec;
  let vo = qkv_at(blk.b, j, 2u, blk.h);
  for (var c = 0u; c < HD4; c++) { v[c] = qkv4(vo, 4u * c); dk[c] = vec4(0.0); dv[c] = vec4(0.0); }

  for (var i0 = 0u; i0 < n; i0 += KT) {
    let it = min(KT, n - i0);
    workgroupBarrier();
    for (var x = t; x < it * HD4; x += WG) {
      let r = i0 + x / HD4;
      let e = (x % HD4) * 4u;
      tile_a[x] = qkv4(qkv_at(blk.b, r, 0u, blk.h), e);
      tile_b[x] = dout4(out_at(blk.b, r, blk.h), e);
    }
    for (var x = t; x < it; x += WG) { tile_d[x] = delta[blk.bh * n + i0 + x]; }
    for (var x = t; x < it * blk.rows; x += WG) {
      let r = x / blk.rows;
      let c = x % blk.rows;
      tile_p[r * (WG + 1u) + c] = saved_probs[(blk.bh * n + i0 + r) * n + blk.r0 + c];
    }
    workgroupBarrier();
    if (has_row) {
      for (var r = 0u; r < it; r++) {
        var dp = 0.0;
        for (var c = 0u; c < HD4; c++) { dp += dot(tile_b[r * HD4 + c], v[c]); }
        let pr = tile_p[r * (WG + 1u) + t];
        let ds = vec4(pr * (dp - tile_d[r]));
        for (var c = 0u; c < HD4; c++) {
          dk[c] = fma(ds, tile_a[r * HD4 + c], dk[c]);
          dv[c] = fma(vec4(pr), tile_b[r * HD4 + c], dv[c]);
        }
      }
    }
  }
  if (has_row) {
    let ko = qkv_at(blk.b, j, 1u, blk.h);
    for (var e = 0u; e < HD; e++) {
      var gk = p.scale * dk[e / 4u][e % 4u];
      var gv = dv[e / 4u][e % 4u];
      if (p.accumulate != 0u) { gk += dqkv[ko + e]; gv += dqkv[ko + d + e]; }
      dqkv[ko + e] = gk;
      dqkv[ko + d + e] = gv;
    }
  }
}

// ---------------------------------------------------------------- row kernels (E > 64)

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

// Forward of row i of (b, h), thread t = (b·H + h)·N + i: probs[t·N …] and out.
fn forward_row(b: u32, h: u32, i: u32, t: u32) {
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
fn attention_forward_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat(gid, nwg);
  if (t >= p.batch * p.heads * p.tokens) { return; }
  forward_row(t / (p.tokens * p.heads), (t / p.tokens) % p.heads, t % p.tokens, t);
}

// Variant 2: attention_forward_rows, and Y[b, h, i, :] = P_i L[b] from the row just written.
@compute @workgroup_size(WG)
fn attention_forward_rows_labels(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat(gid, nwg);
  if (t >= p.batch * p.heads * p.tokens) { return; }
  let b = t / (p.tokens * p.heads);
  forward_row(b, (t / p.tokens) % p.heads, t % p.tokens, t);
  let row = t * p.tokens;
  for (var c = 0u; c < LC; c++) {
    var acc = 0.0;
    for (var j = 0u; j < p.tokens; j++) { acc = fma(probs[row + j], labels[(b * p.tokens + j) * LC + c], acc); }
    head_labels[t * LC + c] = acc;
  }
}

@compute @workgroup_size(WG)
fn attention_backward_query_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
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

// Reads dS written by attention_backward_query_rows.
@compute @workgroup_size(WG)
fn attention_backward_key_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
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

// ---------------------------------------------------------------- labels: head mean

// head_labels Y [B, H, N, C], labels L [B, N, C] → labels_out L' = ½((1/H) Σ_h Y_h + L); thread per element.
@compute @workgroup_size(WG)
fn attention_combine_labels(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let x = flat(gid, nwg);
  if (x >= p.batch * p.tokens * LC) { return; }
  let c = x % LC;
  let i = (x / LC) % p.tokens;
  let b = x / (LC * p.tokens);
  var acc = 0.0;
  for (var h = 0u; h < p.heads; h++) { acc += head_labels[((b * p.heads + h) * p.tokens + i) * LC + c]; }
  labels_out[x] = 0.5 * (acc / f32(p.heads) + labels[x]);
}
