/**
 * The per-batch random draws of the mixing methods (../shared/docs/methods.md, "Baselines" and
 * "TL-Align" step 1): λ from a Beta distribution, CutMix boxes in pixels or on the token grid,
 * and each patch token's share of the partner image. A few numbers per batch, drawn on the CPU
 * from a seeded Rng; the pixels are mixed on the GPU (src/data/gpu-batcher.ts).
 */
import { type MixPlan, quantiseWeight } from '../data/gpu-batcher.ts';
import { type Rng } from '../nn/random.ts';

/** Image side and patch side; the token grid is G = imageSize / patch per side. */
export interface MixGeometry { imageSize: number; patch: number }

export type MixKind = 'none' | 'mixup' | 'cutmix' | 'cutmix-token' | 'tokenmix' | 'mixtoken';

/** Mixes whose patch tokens are each all own or all partner (what token-level targets need). */
export const TOKEN_PURE_KINDS: readonly MixKind[] = ['cutmix-token', 'tokenmix', 'mixtoken'];
/** Mixes that put different images in different places (what token fluctuation is about). */
export const SPATIAL_KINDS: readonly MixKind[] = ['cutmix', 'cutmix-token', 'tokenmix', 'mixtoken'];

/** What one batch's mix is: the GPU plan plus the shares the targets are built from. */
export interface BatchMix {
  kind: MixKind;
  plan: MixPlan;
  /** λ: the own image's share of the pixels, after quantisation (Mixup) or box correction (CutMix). */
  ownShare: number;
  /** [T] the partner's share of each patch token's pixels (0/1 for token-aligned boxes, all 1 − λ for Mixup). */
  partnerShare: Float32Array;
  /** Half-open box [y0, y1) × [x0, x1) in pixels for the CutMix kinds and MixToken. */
  box?: { y0: number; y1: number; x0: number; x1: number };
  /**
   * Where the mix happens: 'pixels' (default: the images are mixed before the model) or
   * 'embeddings' (MixToken: the patch embeddings are swapped inside the model, the images are not).
   */
  at?: 'pixels' | 'embeddings';
}

export function gridOf(g: MixGeometry): number {
  if (g.imageSize % g.patch !== 0) throw new Error(`image side ${g.imageSize} is not a multiple of patch ${g.patch}`);
  return g.imageSize / g.patch;
}

export function noMix(g: MixGeometry): BatchMix {
  const grid = gridOf(g);
  return { kind: 'none', plan: { mode: 'none' }, ownShare: 1, partnerShare: new Float32Array(grid * grid) };
}

/** Gamma(shape, 1) by Marsaglia–Tsang (shape < 1 through the U^(1/shape) boost). */
export function sampleGamma(rng: Rng, shape: number): number {
  if (!(shape > 0)) throw new Error(`Gamma shape must be > 0, got ${shape}`);
  if (shape < 1) return sampleGamma(rng, shape + 1) * Math.pow(1 - rng.next(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.next();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

export function sampleBeta(rng: Rng, a: number, b: number): number {
  const x = sampleGamma(rng, a);
  const y = sampleGamma(rng, b);
  return x / (x + y);
}

/** Mixup: λ ~ Beta(α, α), quantised to the GPU's integer weights; every token is λ own. */
export function drawMixup(rng: Rng, g: MixGeometry, alpha: number): BatchMix {
  const grid = gridOf(g);
  const { ownWeight } = quantiseWeight(sampleBeta(rng, alpha, alpha));
  return { kind: 'mixup', plan: { mode: 'mixup', ownWeight }, ownShare: ownWeight, partnerShare: new Float32Array(grid * grid).fill(1 - ownWeight) };
}

/**
 * A box of side ⌊side·√(1−λ)⌋ per axis centred at a uniform cell, clipped to the image:
 * rows [c − ⌊cut/2⌋, c − ⌊cut/2⌋ + cut) ∩ [0, side). (timm's rand_bbox spans c ± ⌊cut/2⌋, one
 * short for odd cuts; this keeps the stated side.)
 */
export function drawBox(rng: Rng, side: number, lambda: number): { y0: number; y1: number; x0: number; x1: number } {
  const cut = Math.floor(side * Math.sqrt(1 - lambda));
  const cy = rng.int(side);
  const cx = rng.int(side);
  const clip = (v: number) => Math.min(side, Math.max(0, v));
  const y0 = clip(cy - Math.floor(cut / 2));
  const x0 = clip(cx - Math.floor(cut / 2));
  return { y0, y1: clip(cy - Math.floor(cut / 2) + cut), x0, x1: clip(cx - Math.floor(cut / 2) + cut) };
}

/** Pixel CutMix: λ ~ Beta(α, α), a pixel box, λ corrected to 1 − box area / image area. */
export function drawCutmix(rng: Rng, g: MixGeometry, alpha: number): BatchMix {
  const S = g.imageSize;
  const box = drawBox(rng, S, sampleBeta(rng, alpha, alpha));
  return boxMix('cutmix', g, box);
}

/**
 * Token-aligned CutMix (TL-Align step 1): the box is drawn on the G×G grid, so every patch token
 * is all own or all partner; λ = 1 − tokens in box / T. With `nonEmpty` an empty box is redrawn
 * (with a fresh λ) so that every batch is mixed.
 */
export function drawTokenCutmix(rng: Rng, g: MixGeometry, alpha: number, nonEmpty = true): BatchMix {
  const G = gridOf(g);
  for (let attempt = 0; ; attempt++) {
    const cells = drawBox(rng, G, sampleBeta(rng, alpha, alpha));
    const empty = cells.y1 <= cells.y0 || cells.x1 <= cells.x0;
    if (empty && nonEmpty && attempt < 1000) continue;
    const P = g.patch;
    return boxMix('cutmix-token', g, { y0: cells.y0 * P, y1: cells.y1 * P, x0: cells.x0 * P, x1: cells.x1 * P });
  }
}

function boxMix(kind: 'cutmix' | 'cutmix-token', g: MixGeometry, box: { y0: number; y1: number; x0: number; x1: number }): BatchMix {
  const S = g.imageSize;
  const area = Math.max(0, box.y1 - box.y0) * Math.max(0, box.x1 - box.x0);
  return { kind, plan: { mode: 'box', ...box }, ownShare: 1 - area / (S * S), partnerShare: boxTokenShares(g, box), box };
}

/** Share of each patch token's pixels that lie inside the box, [G·G] row-major. */
export function boxTokenShares(g: MixGeometry, box: { y0: number; y1: number; x0: number; x1: number }): Float32Array {
  const G = gridOf(g);
  const P = g.patch;
  const overlap = (lo: number, hi: number, a: number, b: number) => Math.max(0, Math.min(hi, b) - Math.max(lo, a));
  const out = new Float32Array(G * G);
  for (let ty = 0; ty < G; ty++) {
    for (let tx = 0; tx < G; tx++) {
      out[ty * G + tx] = (overlap(ty * P, ty * P + P, box.y0, box.y1) * overlap(tx * P, tx * P + P, box.x0, box.x1)) / (P * P);
    }
  }
  return out;
}

/** TokenMix's share of partner tokens in its released code: 0.5·T + T/14 (112 of 196 at 14×14). */
export const TOKENMIX_SHARE = 0.5 + 1 / 14;
/** Block aspect ratios are log-uniform in [0.3, 1/0.3] (BEiT's masking generator). */
export const TOKENMIX_MIN_ASPECT = 0.3;
/** Tries per block before a round gives up. */
export const TOKENMIX_TRIES = 10;

export type TokenMaskKind = 'blocks' | 'random';

/** The number of partner tokens of a TokenMix mask on T tokens: round(share·T), at least 1, at most T − 1. */
export function tokenMixCount(tokens: number, share = TOKENMIX_SHARE): number {
  return Math.max(1, Math.min(tokens - 1, Math.round(share * tokens)));
}

/**
 * One rectangular block for a mask (BEiT's `_mask`, methods.md "TokenMix"): up to 10 tries of
 * area ~ U[1, remaining], aspect log-uniform in [0.3, 1/0.3], h = round(√(area·aspect)),
 * w = round(√(area/aspect)), both < G, top-left uniform; a try is taken only if it adds between
 * 1 and `remaining` new tokens. Returns the tokens added (0: every try failed).
 */
export interface TokenBlock { top: number; left: number; h: number; w: number }

export function addTokenBlock(rng: Rng, mask: Uint8Array, grid: number, remaining: number, placed?: TokenBlock[]): number {
  const logAspect = Math.log(TOKENMIX_MIN_ASPECT);
  for (let attempt = 0; attempt < TOKENMIX_TRIES; attempt++) {
    const area = rng.uniform(1, remaining);
    const aspect = Math.exp(rng.uniform(logAspect, -logAspect));
    const h = Math.round(Math.sqrt(area * aspect));
    const w = Math.round(Math.sqrt(area / aspect));
    if (!(h < grid && w < grid)) continue;
    const top = rng.int(grid - h + 1);
    const left = rng.int(grid - w + 1);
    let fresh = 0;
    for (let y = top; y < top + h; y++) for (let x = left; x < left + w; x++) fresh += mask[y * grid + x] ? 0 : 1;
    if (fresh > 0 && fresh <= remaining) {
      for (let y = top; y < top + h; y++) for (let x = left; x < left + w; x++) mask[y * grid + x] = 1;
      placed?.push({ top, left, h, w });
      return fresh;
    }
  }
  return 0;
}

/**
 * A TokenMix mask [G·G] (1 = the partner's token). 'blocks': blocks are added until `count` tokens
 * are set or a block fails 10 times (then the mask stays short, as in the released code).
 * 'random': `count` positions drawn uniformly without replacement.
 */
export function drawTokenMask(rng: Rng, grid: number, count: number, kind: TokenMaskKind = 'blocks', placed?: TokenBlock[]): Uint8Array {
  const T = grid * grid;
  if (!(Number.isInteger(count) && count >= 0 && count <= T)) throw new Error(`TokenMix: ${count} tokens do not fit a ${grid}×${grid} grid`);
  const mask = new Uint8Array(T);
  if (kind === 'random') {
    const cells = Array.from({ length: T }, (_, i) => i);
    for (let i = 0; i < count; i++) {
      const j = i + rng.int(T - i);
      [cells[i], cells[j]] = [cells[j], cells[i]];
      mask[cells[i]] = 1;
    }
    return mask;
  }
  for (let set = 0; set < count;) {
    const added = addTokenBlock(rng, mask, grid, count - set, placed);
    if (added === 0) break;
    set += added;
  }
  return mask;
}

/** Connected parts of a mask (4-neighbourhood): what the page draws and the tests count. */
export function maskParts(mask: ArrayLike<number>, grid: number): Int32Array {
  const part = new Int32Array(grid * grid).fill(-1);
  let parts = 0;
  for (let start = 0; start < grid * grid; start++) {
    if (!mask[start] || part[start] >= 0) continue;
    const stack = [start];
    part[start] = parts;
    while (stack.length) {
      const i = stack.pop()!;
      const y = Math.floor(i / grid), x = i % grid;
      for (const [ny, nx] of [[y - 1, x], [y + 1, x], [y, x - 1], [y, x + 1]]) {
        const j = ny * grid + nx;
        if (ny >= 0 && ny < grid && nx >= 0 && nx < grid && mask[j] && part[j] < 0) { part[j] = parts; stack.push(j); }
      }
    }
    parts++;
  }
  return part;
}

/** TokenMix: the images are mixed by a token mask (upsampled to pixels on the GPU); λ = 1 − mask tokens / T. */
export function drawTokenMix(rng: Rng, g: MixGeometry, kind: TokenMaskKind = 'blocks', share = TOKENMIX_SHARE): BatchMix {
  const G = gridOf(g);
  const mask = drawTokenMask(rng, G, tokenMixCount(G * G, share), kind);
  const set = mask.reduce((a, b) => a + b, 0);
  return {
    kind: 'tokenmix', plan: { mode: 'tokens', patch: g.patch, mask }, ownShare: 1 - set / (G * G),
    partnerShare: Float32Array.from(mask),
  };
}

/**
 * MixToken (Token Labeling): a token-aligned CutMix box (λ ~ Beta(α, α), non-empty) applied to
 * the patch embeddings inside the model; the images themselves are not mixed.
 */
export function drawMixToken(rng: Rng, g: MixGeometry, alpha: number): BatchMix {
  const m = drawTokenCutmix(rng, g, alpha);
  return { ...m, kind: 'mixtoken', plan: { mode: 'none' }, at: 'embeddings' };
}
