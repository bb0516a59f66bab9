/**
 * The mixed batch as the model saw it: each sent image (×3), its input label map (partner share
 * of every patch token, blue own → orange partner) and the CLS target the loss actually used.
 * What each method does to the tokens is drawn on top:
 *   - TokenMix: every connected part of the token mask outlined in its own colour, on the image
 *     and on the label map (and, above the batch, the mask itself: TokenMixView);
 *   - MixToken (Token Labeling): the images are not mixed; the box on the token grid where the
 *     partner's patch embeddings are swapped in is marked on the label map only;
 *   - pixel and token CutMix: the pasted box on the image;
 *   - teacher methods: the teacher's dense maps of the shown samples (TeacherMapsView, below).
 */
import { memo, useEffect, useRef } from 'react';
import { type Snapshot } from '../../train/protocol.ts';
import { drawClassBars } from '../draw/bars.ts';
import { MUTED, drawPixels, emptyMessage, label, outline, prepareCanvas } from '../draw/canvas.ts';
import { OWN, PARTNER, css, ownPartnerColour } from '../draw/colour.ts';
import { imageAt, valuesToRgba } from '../draw/raster.ts';
import { outlineParts } from '../draw/regions.ts';
import { TeacherMapsView } from './TeacherMapsView.tsx';
import { TokenMixView } from './TokenMixView.tsx';

const SCALE = 3;
const GAP = 6;
const BARS_HEIGHT = 30;
const TEXT_LINES = 3;
const LINE = 13;
const MAX_COLUMNS = 4;

function argmax(values: Float32Array, from: number, count: number): number {
  let best = 0;
  for (let k = 1; k < count; k++) if (values[from + k] > values[from + best]) best = k;
  return best;
}

function drawGridLines(ctx: CanvasRenderingContext2D, x: number, y: number, size: number, grid: number): void {
  ctx.save();
  ctx.strokeStyle = 'rgba(255,255,255,0.7)';
  ctx.beginPath();
  for (let i = 1; i < grid; i++) {
    const at = Math.round((i * size) / grid) + 0.5;
    ctx.moveTo(x + at, y);
    ctx.lineTo(x + at, y + size);
    ctx.moveTo(x, y + at);
    ctx.lineTo(x + size, y + at);
  }
  ctx.stroke();
  ctx.restore();
}

function drawSample(ctx: CanvasRenderingContext2D, s: Snapshot, i: number, x: number, y: number, labelMap: Uint8ClampedArray): void {
  const S = s.imageSize;
  const size = S * SCALE;
  const K = s.classes.length;
  drawPixels(ctx, imageAt(s.rgba, i, S), S, S, x, y, SCALE);
  const box = s.box;
  if (box && s.at === 'pixels') {
    ctx.save();
    ctx.setLineDash([3, 2]);
    outline(ctx, x + box.x0 * SCALE, y + box.y0 * SCALE, (box.x1 - box.x0) * SCALE, (box.y1 - box.y0) * SCALE, css(PARTNER), 1.5);
    ctx.restore();
  }
  outlineParts(ctx, s.tokenMix, s.grid, x, y, size);
  const mapX = x + size + GAP;
  drawPixels(ctx, labelMap, s.grid, s.grid, mapX, y, size / s.grid);
  drawGridLines(ctx, mapX, y, size, s.grid);
  outlineParts(ctx, s.tokenMix, s.grid, mapX, y, size);
  if (box && s.at === 'embeddings') {
    // MixToken: the box is on the token grid, where the embeddings are swapped; the image is whole.
    ctx.save();
    ctx.setLineDash([4, 2]);
    outline(ctx, mapX + box.x0 * SCALE, y + box.y0 * SCALE, (box.x1 - box.x0) * SCALE, (box.y1 - box.y0) * SCALE, '#222', 2);
    ctx.restore();
    ctx.save();
    ctx.fillStyle = 'rgba(255,255,255,0.85)';
    ctx.fillRect(mapX, y + size - 15, size, 15);
    ctx.restore();
    label(ctx, 'embeddings swapped', mapX + size / 2, y + size - 4, 'center', '#222', size - 4);
  }

  const own = s.labels[i];
  const partner = s.partnerLabels[i];
  const highlight = new Map([[partner, css(PARTNER)], [own, css(OWN)]]);
  const barsY = y + size + 4;
  drawClassBars(ctx, { x, y: barsY, width: 2 * size + GAP, height: BARS_HEIGHT }, s.targets.subarray(i * K, (i + 1) * K), highlight);
  const textY = barsY + BARS_HEIGHT + 12;
  const textWidth = 2 * size + GAP;
  const ownText = `own ${s.classes[own] ?? own}`;
  const ownWidth = ctx.measureText(ownText).width + 8;
  label(ctx, ownText, x, textY, 'left', css(OWN));
  if (s.mix !== 'none') label(ctx, `partner ${s.classes[partner] ?? partner}`, x + ownWidth, textY, 'left', css(PARTNER), textWidth - ownWidth);
  const predicted = argmax(s.predictions, i * K, K);
  const prediction = `predicts ${s.classes[predicted] ?? predicted} ${Math.round(s.predictions[i * K + predicted] * 100)}%`;
  label(ctx, `λ=${s.lambda.toFixed(2)} ${s.mix} · ${prediction}`, x, textY + LINE, 'left', MUTED, textWidth);
}

/** The header: what the drawing shows for this snapshot's mix. */
export function batchHeader(s: Snapshot): string[] {
  const first = `step ${s.step} · ${s.mix} · λ = ${s.lambda.toFixed(2)} · image | token label map (blue own, orange partner) | CLS target`;
  if (s.tokenMix) {
    const m = s.tokenMix;
    return [first, `TokenMix mask: ${m.count} connected part${m.count === 1 ? '' : 's'}, each outlined in its colour; partner share ${(100 * m.share).toFixed(1)}% (${m.tokens} of ${s.grid * s.grid} tokens)`];
  }
  if (s.at === 'embeddings') {
    return [first, "MixToken: the images are not mixed; inside the dashed box on the token grid the partner's patch embeddings are swapped in"];
  }
  return [first];
}

function drawBatch(canvas: HTMLCanvasElement, s: Snapshot): void {
  const size = s.imageSize * SCALE;
  const cellWidth = 2 * size + GAP + 14;
  const cellHeight = size + 4 + BARS_HEIGHT + TEXT_LINES * LINE;
  const columns = Math.max(1, Math.min(MAX_COLUMNS, s.samples));
  const rows = Math.ceil(s.samples / columns);
  const header = batchHeader(s);
  const top = 6 + LINE * header.length;
  const width = Math.max(columns * cellWidth, 520);
  const height = top + Math.max(1, rows) * cellHeight;
  const ctx = prepareCanvas(canvas, width, height);
  if (s.samples === 0) {
    emptyMessage(ctx, 'no samples sent', width, height);
    return;
  }
  header.forEach((line, i) => label(ctx, line, 0, 12 + i * LINE, 'left', MUTED, width));
  const labelMap = valuesToRgba(s.partnerShare, ownPartnerColour);
  for (let i = 0; i < s.samples; i++) {
    drawSample(ctx, s, i, (i % columns) * cellWidth, top + Math.floor(i / columns) * cellHeight, labelMap);
  }
}

export const MixedBatchView = memo(function MixedBatchView({ snapshot }: { snapshot: Snapshot }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    drawBatch(ref.current, snapshot);
    ref.current.dataset.step = String(snapshot.step);
  }, [snapshot]);
  return (
    <>
      {(snapshot.tokenMix || snapshot.at === 'embeddings') && <TokenMixView snapshot={snapshot} />}
      <canvas ref={ref} data-testid="view-batch" data-mix={snapshot.mix} />
      {snapshot.teacher && <TeacherMapsView snapshot={snapshot} />}
    </>
  );
});
