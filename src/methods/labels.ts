/**
 * TL-Align's label matrix on the GPU (shaders/labels.wgsl; ../shared/docs/methods.md, "TL-Align"):
 * L⁰ from the CutMix mask (own or partner label per patch token, the area mix for CLS), carried
 * through every block as L ← ½(Ā·L + L) with Ā the head-averaged attention, and the final CLS
 * row as the soft target. Labels are data, not part of the graph: nothing here is recorded on
 * the tape, so no gradient flows into the labels or through them into the attention.
 * Legend: B batch, N = T + 1 tokens (CLS first), T patch tokens, K classes, C label columns, H heads.
 */
import { gatherToken } from '../autograd/ops/tokens.ts';
import { ELEMENTWISE_WG as WG, elementwiseGrid } from '../autograd/ops/workgroups.ts';
import { noGrad } from '../autograd/tape.ts';
import { tempTensor, type Tensor } from '../autograd/tensor.ts';
import { type Gpu, type Storage } from '../gpu/gpu.ts';

export interface OwnShareOptions {
  batch: number;
  /** N, CLS included. */
  tokens: number;
  /** λ: the own image's share of the CLS token. */
  clsOwnShare: number;
  /** f32 [T] for the whole batch, or [B, T] when perSample: the partner's share of each patch token. */
  partnerShare: Storage;
  perSample: boolean;
}

export interface LabelInitOptions extends OwnShareOptions {
  /** u32 [B]: each sample's class; the partner of sample b is B − 1 − b. */
  labels: Storage;
  classes: number;
  /** s: ỹ(c) is 1 − s + s/K at c and s/K elsewhere. */
  smoothing: number;
}

/** Uniforms of shaders/labels.wgsl; every kernel takes the whole struct. */
type LabelParams = {
  batch: number; tokens: number; columns: number; heads: number; per_sample: boolean; smoothing: number; cls_own_share: number;
  mode: number; gt_weight: number;
};

function shareParams(o: OwnShareOptions, columns: number): LabelParams {
  const { batch, tokens, partnerShare, perSample } = o;
  if (!(batch >= 1 && tokens >= 1)) throw new Error(`labels: need batch ≥ 1 and tokens ≥ 1, got ${batch} and ${tokens}`);
  const expected = (perSample ? batch : 1) * (tokens - 1);
  // With tokens = 1 (CLS only) the shares are never read, so any buffer will do.
  if (tokens > 1 && partnerShare.elements !== expected) {
    throw new Error(`labels: partnerShare has ${partnerShare.elements} values, expected ${expected} (${perSample ? `[${batch}, ${tokens - 1}]` : `[${tokens - 1}]`})`);
  }
  return { batch, tokens, columns, heads: 1, per_sample: perSample, smoothing: 0, cls_own_share: o.clsOwnShare, mode: 0, gt_weight: 0 };
}

/** L⁰ [B, N, K]: CLS row λ·ỹ(y_b) + (1−λ)·ỹ(y_partner); patch row j (1−m_j)·ỹ(y_b) + m_j·ỹ(y_partner). */
export function initLabels(gpu: Gpu, o: LabelInitOptions): Tensor {
  const p = { ...shareParams(o, o.classes), smoothing: o.smoothing };
  if (o.labels.elements !== o.batch) throw new Error(`initLabels: ${o.labels.elements} labels for a batch of ${o.batch}`);
  const out = tempTensor(gpu, [o.batch, o.tokens, o.classes], 'labels');
  gpu.run('labels', 'init_labels', p, { class_ids: o.labels, partner_share: o.partnerShare, dst: out.storage },
    elementwiseGrid(out.size), { WG });
  return out;
}

/** The scalar form v⁰ [B, N, 1]: v_0 = λ, v_j = 1 − m_j (each token's own-image share). */
export function initOwnShares(gpu: Gpu, o: OwnShareOptions): Tensor {
  const out = tempTensor(gpu, [o.batch, o.tokens, 1], 'own_shares');
  gpu.run('labels', 'init_own_shares', shareParams(o, 1), { partner_share: o.partnerShare, dst: out.storage },
    elementwiseGrid(out.size), { WG });
  return out;
}

/**
 * One block: L ← ½(Ā·L + L), Ā = mean over heads of probs [B, H, N, N]; L any [B, N, C]. A new tensor, never on the tape.
 * The separate pass, after the forward: training carries the labels through the attention kernels
 * instead (attention(…, { labels }), ForwardOptions.labels), and this is the reference they are tested against.
 */
export function propagateLabels(labels: Tensor, probs: Tensor): Tensor {
  const [batch, tokens, columns] = labels.shape;
  const heads = probs.shape[1];
  if (labels.shape.length !== 3 || probs.shape.length !== 4 || probs.shape[0] !== batch || probs.shape[2] !== tokens || probs.shape[3] !== tokens) {
    throw new Error(`propagateLabels: labels [${labels.shape}] and probs [${probs.shape}] must be [B, N, C] and [B, H, N, N]`);
  }
  const gpu = labels.gpu;
  const out = tempTensor(gpu, labels.shape, 'labels');
  const p: LabelParams = { batch, tokens, columns, heads, per_sample: false, smoothing: 0, cls_own_share: 0, mode: 0, gt_weight: 0 };
  gpu.run('labels', 'propagate_labels', p, { src: labels.storage, probs: probs.storage, dst: out.storage },
    elementwiseGrid(out.size), { WG });
  return out;
}

/** L⁰ through every block: [L⁰, L¹, …, L^depth]. */
export function propagateThroughBlocks(initial: Tensor, probs: readonly Tensor[]): Tensor[] {
  const layers = [initial];
  for (const p of probs) layers.push(propagateLabels(layers[layers.length - 1], p));
  return layers;
}

/**
 * TL-Align's targets [B, K] from the propagated own shares v [B, N, 1]: v_CLS·ỹ(y_b) + (1 − v_CLS)·ỹ(y_partner),
 * the CLS row of the K-column L^l (equal because L⁰'s rows are all of that form and propagation is linear).
 */
export function shareTargets(gpu: Gpu, shares: Tensor, o: { labels: Storage; classes: number; smoothing: number }): Tensor {
  const [batch, tokens, columns] = shares.shape;
  if (columns !== 1) throw new Error(`shareTargets: own shares are [B, N, 1], got [${shares.shape}]`);
  if (o.labels.elements !== batch) throw new Error(`shareTargets: ${o.labels.elements} labels for a batch of ${batch}`);
  const out = tempTensor(gpu, [batch, o.classes], 'share_targets');
  const p: LabelParams = { batch, tokens, columns: o.classes, heads: 1, per_sample: false, smoothing: o.smoothing, cls_own_share: 0, mode: 0, gt_weight: 0 };
  gpu.run('labels', 'share_targets', p, { class_ids: o.labels, src: shares.storage, dst: out.storage }, elementwiseGrid(out.size), { WG });
  return out;
}

/** The CLS rows of L [B, N, C] as soft targets [B, C]. */
export function clsTargets(labels: Tensor): Tensor {
  return noGrad(() => gatherToken(labels, 0));
}

export interface TeacherTargetOptions {
  /** u32 [B]: each sample's class; the partner of sample b is B − 1 − b. */
  labels: Storage;
  batch: number;
  /** N = T + 1. */
  tokens: number;
  classes: number;
  smoothing: number;
  /** f32 [T]: the partner's share of each patch token (the batch's mask). */
  partnerShare: Storage;
  /** [B, T, K] per-token class probabilities of each sample's own image; absent: uniform (the area ratio). */
  teacher?: Tensor;
}

function teacherParams(o: TeacherTargetOptions, extra: Partial<LabelParams>): LabelParams {
  const T = o.tokens - 1;
  if (o.partnerShare.elements !== T) throw new Error(`teacher targets: partnerShare has ${o.partnerShare.elements} values, expected ${T}`);
  if (o.teacher && (o.teacher.shape.join() !== [o.batch, T, o.classes].join())) {
    throw new Error(`teacher targets: maps are [${o.teacher.shape}], expected [${o.batch}, ${T}, ${o.classes}]`);
  }
  return {
    batch: o.batch, tokens: o.tokens, columns: o.classes, heads: 1, per_sample: false, smoothing: o.smoothing,
    cls_own_share: 0, mode: o.teacher ? 0 : 2, gt_weight: 0, ...extra,
  };
}

/**
 * TokenMix's targets [B, K] (shaders/labels.wgsl content_targets): each part weighted by the share
 * of its image's ground-truth-class activation it keeps (ρ), in the released code's BCE form; with
 * `normalise` divided by ρ_own + ρ_partner for a soft-target CE. Without a teacher, ρ is the area.
 */
export function contentTargets(gpu: Gpu, o: TeacherTargetOptions & { normalise: boolean }): Tensor {
  const p = teacherParams(o, {});
  p.mode |= o.normalise ? 1 : 0;
  const out = tempTensor(gpu, [o.batch, o.classes], 'tokenmix.targets');
  gpu.run('labels', 'content_targets', p, {
    class_ids: o.labels, partner_share: o.partnerShare, teacher: o.teacher?.storage ?? o.partnerShare, dst: out.storage,
  }, elementwiseGrid(out.size), { WG });
  return out;
}

/** Token Labeling's CLS targets [B, K]: λ·c_own + (1 − λ)·c_partner, c = (1 − γ)·pooled teacher label + γ·ỹ(y). */
export function pooledTargets(gpu: Gpu, o: TeacherTargetOptions & { ownShare: number; gtWeight: number }): Tensor {
  if (!o.teacher) throw new Error('pooledTargets: Token Labeling needs the teacher maps');
  const p = teacherParams(o, { cls_own_share: o.ownShare, gt_weight: o.gtWeight });
  const out = tempTensor(gpu, [o.batch, o.classes], 'token_labeling.cls_targets');
  gpu.run('labels', 'pooled_targets', p, { class_ids: o.labels, teacher: o.teacher.storage, dst: out.storage },
    elementwiseGrid(out.size), { WG });
  return out;
}

/** DiversePatch (released code) region targets [B, 2, K]: λ·ỹ(own) for the own region, (1 − λ)·ỹ(partner) for the pasted one. */
export function regionTargets(gpu: Gpu, o: { labels: Storage; batch: number; classes: number; smoothing: number; ownShare: number }): Tensor {
  const out = tempTensor(gpu, [o.batch, 2, o.classes], 'diversepatch.region_targets');
  const p: LabelParams = {
    batch: o.batch, tokens: 1, columns: o.classes, heads: 1, per_sample: false, smoothing: o.smoothing, cls_own_share: o.ownShare, mode: 0, gt_weight: 0,
  };
  gpu.run('labels', 'region_targets', p, { class_ids: o.labels, dst: out.storage }, elementwiseGrid(out.size), { WG });
  return out;
}
