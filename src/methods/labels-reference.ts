/**
 * Float64 CPU reference of TL-Align's label matrix (shaders/labels.wgsl, src/methods/labels.ts),
 * plain loops for the checks: L⁰ from the mask, one propagation step L ← ½(Ā·L + L), the scalar
 * own-share form v and the target it gives (methods.md, "TL-Align" step 5).
 * Legend: B batch, N = T + 1 tokens (CLS first), T patch tokens, K classes, C columns, H heads.
 */
import { type In, type Vec, zeros } from '../autograd/reference/types.ts';

export interface OwnShareDims {
  batch: number;
  /** N, CLS included. */
  tokens: number;
  /** λ. */
  clsOwnShare: number;
  /** The partner's share of each patch token: [T], or [B, T] when perSample. */
  partnerShare: In;
  perSample: boolean;
}

export interface LabelInitDims extends OwnShareDims {
  classes: number;
  smoothing: number;
}

/** ỹ(c): 1 − s + s/K at c, s/K elsewhere. */
export function smoothedOneHot(classId: number, classes: number, smoothing: number): Vec {
  const y = zeros(classes).fill(smoothing / classes);
  y[classId] += 1 - smoothing;
  return y;
}

/** v⁰ [B, N]: λ for CLS, 1 − m_j for patch token j. */
export function ownSharesRef(d: OwnShareDims): Vec {
  const T = d.tokens - 1, v = zeros(d.batch * d.tokens);
  for (let b = 0; b < d.batch; b++) {
    v[b * d.tokens] = d.clsOwnShare;
    for (let t = 0; t < T; t++) v[b * d.tokens + 1 + t] = 1 - d.partnerShare[(d.perSample ? b * T : 0) + t];
  }
  return v;
}

/** Rows w·ỹ(y_b) + (1 − w)·ỹ(y_partner), one per own share w of `shares` [B, R] → [B, R, K]. */
function mixRows(shares: In, labels: In, batch: number, classes: number, smoothing: number): Vec {
  const rows = shares.length / batch, out = zeros(shares.length * classes);
  for (let b = 0; b < batch; b++) {
    const own = smoothedOneHot(labels[b], classes, smoothing), partner = smoothedOneHot(labels[batch - 1 - b], classes, smoothing);
    for (let r = 0; r < rows; r++) {
      const w = shares[b * rows + r];
      for (let k = 0; k < classes; k++) out[(b * rows + r) * classes + k] = w * own[k] + (1 - w) * partner[k];
    }
  }
  return out;
}

/** L⁰ [B, N, K] from class ids [B]. */
export function initLabelsRef(labels: In, d: LabelInitDims): Vec {
  return mixRows(ownSharesRef(d), labels, d.batch, d.classes, d.smoothing);
}

/** One block: L'[b,i,c] = ½((1/H) Σ_h Σ_j P[b,h,i,j]·L[b,j,c] + L[b,i,c]); L [B, N, C], P [B, H, N, N]. */
export function propagateRef(L: In, probs: In, d: { batch: number; tokens: number; heads: number; columns: number }): Vec {
  const { batch: B, tokens: N, heads: H, columns: C } = d, out = zeros(B * N * C);
  for (let b = 0; b < B; b++) for (let i = 0; i < N; i++) for (let c = 0; c < C; c++) {
    let acc = 0;
    for (let h = 0; h < H; h++) for (let j = 0; j < N; j++) acc += probs[((b * H + h) * N + i) * N + j] * L[(b * N + j) * C + c];
    out[(b * N + i) * C + c] = 0.5 * (acc / H + L[(b * N + i) * C + c]);
  }
  return out;
}

/** The scalar form's target [B, K]: ρ·ỹ(y_b) + (1 − ρ)·ỹ(y_partner) with ρ = v_final[b, 0]; v_final [B, N]. */
export function scalarFormTargetsRef(ownShares: In, labels: In, d: { batch: number; tokens: number; classes: number; smoothing: number }): Vec {
  const rho = Float64Array.from({ length: d.batch }, (_, b) => ownShares[b * d.tokens]);
  return mixRows(rho, labels, d.batch, d.classes, d.smoothing);
}

export interface TeacherTargetDims {
  batch: number;
  /** T patch tokens. */
  patches: number;
  classes: number;
  smoothing: number;
  /** [T] the partner's share of each patch token. */
  partnerShare: In;
  /** [B, T, K] per-token probabilities; absent: uniform. */
  teacher?: In;
}

const mapAt = (d: TeacherTargetDims, b: number, t: number, k: number) => (d.teacher ? d.teacher[(b * d.patches + t) * d.classes + k] : 1 / d.classes);

/** ρ = Σ_t w_t·â_b(t), â_b = M[b,:,y_b] / Σ_t M[b,t,y_b], w_t = m_t (partner part) or 1 − m_t. */
export function contentShareRef(d: TeacherTargetDims, b: number, classId: number, partnerPart: boolean): number {
  let total = 0, inside = 0;
  for (let t = 0; t < d.patches; t++) {
    const a = mapAt(d, b, t, classId), m = d.partnerShare[t];
    total += a;
    inside += a * (partnerPart ? m : 1 - m);
  }
  return total > 0 ? inside / total : 0;
}

/** TokenMix targets [B, K] (methods.md): s/K + [k = y_b](ρ_own − s/2) + [k = y_p](ρ_par − s/2), ≥ 0; normalised to sum 1 for CE. */
export function contentTargetsRef(labels: In, d: TeacherTargetDims, normalise: boolean): Vec {
  const { batch: B, classes: K, smoothing: s } = d, out = zeros(B * K);
  for (let b = 0; b < B; b++) {
    const p = B - 1 - b;
    const own = contentShareRef(d, b, labels[b], false), par = contentShareRef(d, p, labels[p], true);
    for (let k = 0; k < K; k++) {
      let t = s / K + (k === labels[b] ? own - s / 2 : 0) + (k === labels[p] ? par - s / 2 : 0);
      t = Math.max(t, 0);
      out[b * K + k] = normalise ? t / (own + par) : t;
    }
  }
  return out;
}

/** Token Labeling CLS targets [B, K]: λ·c_b + (1 − λ)·c_partner, c_b = (1 − γ)·mean_t M[b,t,:] + γ·ỹ(y_b). */
export function pooledTargetsRef(labels: In, d: TeacherTargetDims, ownShare: number, gtWeight: number): Vec {
  const { batch: B, classes: K, patches: T } = d, out = zeros(B * K);
  const pooled = (b: number) => {
    const y = smoothedOneHot(labels[b], K, d.smoothing);
    return Float64Array.from({ length: K }, (_, k) => {
      let acc = 0;
      for (let t = 0; t < T; t++) acc += mapAt(d, b, t, k);
      return (1 - gtWeight) * (acc / T) + gtWeight * y[k];
    });
  };
  for (let b = 0; b < B; b++) {
    const own = pooled(b), par = pooled(B - 1 - b);
    for (let k = 0; k < K; k++) out[b * K + k] = ownShare * own[k] + (1 - ownShare) * par[k];
  }
  return out;
}
