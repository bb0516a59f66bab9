/**
 * The mixed batch as the model saw it: each sent image (×3), its input label map (partner share
 * of every patch token, blue own → orange partner) and the CLS target the loss actually used.
 */
import { memo, useEffect, useRef } from 'react';
import { type Snapshot } from '../../train/protocol.ts';
import { drawClassBars } from '../draw/bars.ts';
import { MUTED, drawPixels, emptyMessage, label, outline, prepareCanvas } from '../draw/canvas.ts';
import { OWN, PARTNER, css, ownPartnerColour } from '../draw/colour.ts';
import { imageAt, valuesToRgba } from '../draw/raster.ts';

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
  if (s.box) {
    ctx.save();
    ctx.setLineDash([3, 2]);
    outline(ctx, x + s.box.x0 * SCALE, y + s.box.y0 * SCALE, (s.box.x1 - s.box.x0) * SCALE, (s.box.y1 - s.box.y0) * SCALE, css(PARTNER), 1.5);
    ctx.restore();
  }
  const mapX = x + size + GAP;
  drawPixels(ctx, labelMap, s.grid, s.grid, mapX, y, size / s.grid);
  drawGridLines(ctx, mapX, y, size, s.grid);

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

function drawBatch(canvas: HTMLCanvasElement, s: Snapshot): void {
  const size = s.imageSize * SCALE;
  const cellWidth = 2 * size + GAP + 14;
  const cellHeight = size + 4 + BARS_HEIGHT + TEXT_LINES * LINE;
  const columns = Math.max(1, Math.min(MAX_COLUMNS, s.samples));
  const rows = Math.ceil(s.samples / columns);
  const top = 18;
  const width = Math.max(columns * cellWidth, 520);
  const height = top + Math.max(1, rows) * cellHeight;
  const ctx = prepareCanvas(canvas, width, height);
  if (s.samples === 0) {
    emptyMessage(ctx, 'no samples sent', width, height);
    return;
  }
  label(ctx, `step ${s.step} · ${s.mix} · λ = ${s.lambda.toFixed(2)} · image | token label map (blue own, orange partner) | CLS target`, 0, 12, 'left', MUTED);
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
  return <canvas ref={ref} data-testid="view-batch" />;
});
