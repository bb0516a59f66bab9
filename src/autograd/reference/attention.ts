/**
 * Multi-head attention on fused qkv (shaders/attention.wgsl), timm layout:
 * qkv [B·N, 3D] with row (b, n) = [q | k | v], each of D = H·E split into H heads of E;
 * out [B·N, D]; probs [B, H, N, N]; scale = 1/√E.
 */
import { type In, type Vec, zeros } from './types.ts';

export interface AttentionDims { batch: number; tokens: number; heads: number; headDim: number }

/** Offset of q (part 0), k (1) or v (2) of token n, batch b, head h in qkv. */
const qkvAt = (d: AttentionDims, b: number, n: number, part: number, h: number) =>
  ((b * d.tokens + n) * 3 + part) * d.heads * d.headDim + h * d.headDim;
const outAt = (d: AttentionDims, b: number, n: number, h: number) => ((b * d.tokens + n) * d.heads + h) * d.headDim;

/** P_ij = softmax_j(q_i·k_j/√E); out_i = Σ_j P_ij v_j, per (b, h). */
export function attention(qkv: In, d: AttentionDims): { out: Vec; probs: Vec } {
  const { batch: B, tokens: N, heads: H, headDim: E } = d;
  const scale = 1 / Math.sqrt(E);
  const out = zeros(B * N * H * E), probs = zeros(B * H * N * N);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < N; i++) {
    const row = ((b * H + h) * N + i) * N, q = qkvAt(d, b, i, 0, h);
    let m = -Infinity, s = 0;
    for (let j = 0; j < N; j++) {
      const k = qkvAt(d, b, j, 1, h);
      let dot = 0;
      for (let e = 0; e < E; e++) dot += qkv[q + e] * qkv[k + e];
      probs[row + j] = scale * dot;
      m = Math.max(m, probs[row + j]);
    }
    for (let j = 0; j < N; j++) s += (probs[row + j] = Math.exp(probs[row + j] - m));
    for (let j = 0; j < N; j++) probs[row + j] /= s;
    const o = outAt(d, b, i, h);
    for (let j = 0; j < N; j++) {
      const v = qkvAt(d, b, j, 2, h);
      for (let e = 0; e < E; e++) out[o + e] += probs[row + j] * qkv[v + e];
    }
  }
  return { out, probs };
}

/** dP_ij = do_i·v_j; dS_ij = P_ij(dP_ij − Σ_j' P_ij' dP_ij'); dq_i = scale Σ_j dS_ij k_j; dk_j = scale Σ_i dS_ij q_i; dv_j = Σ_i P_ij do_i. */
export function attentionBackward(qkv: In, dout: In, d: AttentionDims): Vec {
  const { batch: B, tokens: N, heads: H, headDim: E } = d;
  const scale = 1 / Math.sqrt(E);
  const { probs } = attention(qkv, d);
  const dqkv = zeros(qkv.length), dS = zeros(N);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < N; i++) {
    const row = ((b * H + h) * N + i) * N, o = outAt(d, b, i, h), q = qkvAt(d, b, i, 0, h);
    let dot = 0;
    for (let j = 0; j < N; j++) {
      const v = qkvAt(d, b, j, 2, h);
      dS[j] = 0;
      for (let e = 0; e < E; e++) dS[j] += dout[o + e] * qkv[v + e];
      dot += probs[row + j] * dS[j];
    }
    for (let j = 0; j < N; j++) {
      const p = probs[row + j], k = qkvAt(d, b, j, 1, h), v = qkvAt(d, b, j, 2, h);
      dS[j] = p * (dS[j] - dot);
      for (let e = 0; e < E; e++) {
        dqkv[q + e] += scale * dS[j] * qkv[k + e];
        dqkv[k + e] += scale * dS[j] * qkv[q + e];
        dqkv[v + e] += p * dout[o + e];
      }
    }
  }
  return dqkv;
}
