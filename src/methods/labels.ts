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
};

function shareParams(o: OwnShareOptions, columns: number): LabelParams {
  const { batch, tokens, partnerShare, perSample } = o;
  if (!(batch >= 1 && tokens >= 1)) throw new Error(`labels: need batch ≥ 1 and tokens ≥ 1, got ${batch} and ${tokens}`);
  const expected = (perSample ? batch : 1) * (tokens - 1);
  // With tokens = 1 (CLS only) the shares are never read, so any buffer will do.
  if (tokens > 1 && partnerShare.elements !== expected) {
    throw new Error(`labels: partnerShare has ${partnerShare.elements} values, expected ${expected} (${perSample ? `[${batch}, ${tokens - 1}]` : `[${tokens - 1}]`})`);
  }
  return { batch, tokens, columns, heads: 1, per_sample: perSample, smoothing: 0, cls_own_share: o.clsOwnShare };
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

/** One block: L ← ½(Ā·L + L), Ā = mean over heads of probs [B, H, N, N]; L any [B, N, C]. A new tensor, never on the tape. */
export function propagateLabels(labels: Tensor, probs: Tensor): Tensor {
  const [batch, tokens, columns] = labels.shape;
  const heads = probs.shape[1];
  if (labels.shape.length !== 3 || probs.shape.length !== 4 || probs.shape[0] !== batch || probs.shape[2] !== tokens || probs.shape[3] !== tokens) {
    throw new Error(`propagateLabels: labels [${labels.shape}] and probs [${probs.shape}] must be [B, N, C] and [B, H, N, N]`);
  }
  const gpu = labels.gpu;
  const out = tempTensor(gpu, labels.shape, 'labels');
  const p: LabelParams = { batch, tokens, columns, heads, per_sample: false, smoothing: 0, cls_own_share: 0 };
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

/** The CLS rows of L [B, N, C] as soft targets [B, C]. */
export function clsTargets(labels: Tensor): Tensor {
  return noGrad(() => gatherToken(labels, 0));
}
