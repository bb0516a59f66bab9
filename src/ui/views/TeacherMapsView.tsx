/**
 * The teacher's dense maps of the shown samples (teacher methods): the teacher scores every patch
 * token of each sample's own (augmented, unmixed) image. Per sample: the image the model saw; the
 * teacher's first class at each token in that class's colour, opacity = its probability; and the
 * probability of the sample's own (ground-truth) class as a heat map (dark 0 → pale 1). With
 * TokenMix the mask's parts are outlined on the heat map, and ρ_own, the share of that map the
 * mask leaves to the own image (what its CLS target weights it by), is written under it.
 */
import { memo, useEffect, useRef } from 'react';
import { type Snapshot } from '../../train/protocol.ts';
import { MUTED, drawPixels, label, prepareCanvas } from '../draw/canvas.ts';
import { OWN, classColour, css, heatColour } from '../draw/colour.ts';
import { imageAt, valuesToRgba } from '../draw/raster.ts';
import { outlineParts } from '../draw/regions.ts';

const SIZE = 64;
const GAP = 6;
const CELL_GAP = 14;
const LINE = 13;
const MAX_COLUMNS = 4;
const LEGEND_ITEM = 86;

/** [T] argmax classes with probabilities → RGBA: the class colour, alpha = its probability. */
export function argmaxRgba(classes: Uint8Array, confidence: Float32Array): Uint8ClampedArray {
  const out = new Uint8ClampedArray(classes.length * 4);
  for (let t = 0; t < classes.length; t++) {
    const [r, g, b] = classColour(classes[t]);
    out.set([r, g, b, Math.round(255 * Math.max(0, Math.min(1, confidence[t])))], t * 4);
  }
  return out;
}

function drawLegend(ctx: CanvasRenderingContext2D, s: Snapshot, y: number, width: number): number {
  const perRow = Math.max(1, Math.floor(width / LEGEND_ITEM));
  s.classes.forEach((name, k) => {
    const x = (k % perRow) * LEGEND_ITEM;
    const row = y + Math.floor(k / perRow) * LINE;
    ctx.fillStyle = css(classColour(k));
    ctx.fillRect(x, row - 9, 10, 10);
    label(ctx, name, x + 14, row, 'left', MUTED, LEGEND_ITEM - 18);
  });
  return Math.ceil(s.classes.length / perRow) * LINE;
}

function drawHeatBar(ctx: CanvasRenderingContext2D, x: number, y: number, width: number): void {
  for (let i = 0; i < width; i++) {
    ctx.fillStyle = css(heatColour(i / (width - 1)));
    ctx.fillRect(x + i, y, 1, 8);
  }
  label(ctx, '0', x - 3, y + 8, 'right', MUTED);
  label(ctx, '1', x + width + 3, y + 8, 'left', MUTED);
}

function drawTeacher(canvas: HTMLCanvasElement, s: Snapshot): void {
  const t = s.teacher!;
  const T = t.tokens;
  const G = Math.round(Math.sqrt(T));
  const S = s.imageSize;
  const n = s.samples;
  const cellWidth = 3 * SIZE + 2 * GAP + CELL_GAP;
  const columns = Math.max(1, Math.min(MAX_COLUMNS, n));
  const width = Math.max(columns * cellWidth, 560);
  const legendRows = Math.ceil(s.classes.length / Math.max(1, Math.floor(width / LEGEND_ITEM)));
  const headerLines = s.tokenMix ? 2 : 1;
  const legendY = headerLines * LINE + 16;
  const top = legendY + legendRows * LINE;
  const textLines = t.kept ? 3 : 2;
  const cellHeight = SIZE + 6 + textLines * LINE + 6;
  const height = top + Math.ceil(n / columns) * cellHeight;
  const ctx = prepareCanvas(canvas, width, height);
  label(ctx, `step ${s.step} · the teacher's maps of each sample's own image: image | first class (colour, opacity = probability) | p(own class)`, 0, 12, 'left', MUTED, width - 90);
  if (s.tokenMix) {
    label(ctx, "outlined on p(own class): the TokenMix mask's parts, which the partner's pixels replace; ρ_own = the share of the map outside them", 0, 12 + LINE, 'left', MUTED, width);
  }
  drawHeatBar(ctx, width - 70, 4, 56);
  drawLegend(ctx, s, legendY, width);
  for (let i = 0; i < n; i++) {
    const x = (i % columns) * cellWidth;
    const y = top + Math.floor(i / columns) * cellHeight;
    drawPixels(ctx, imageAt(s.rgba, i, S), S, S, x, y, SIZE / S);
    const mapX = x + SIZE + GAP;
    const heatX = mapX + SIZE + GAP;
    ctx.fillStyle = '#fff';
    ctx.fillRect(mapX, y, SIZE, SIZE);
    drawPixels(ctx, argmaxRgba(t.argmax.subarray(i * T, (i + 1) * T), t.confidence.subarray(i * T, (i + 1) * T)), G, G, mapX, y, SIZE / G);
    const gt = t.groundTruth.subarray(i * T, (i + 1) * T);
    drawPixels(ctx, valuesToRgba(gt, heatColour), G, G, heatX, y, SIZE / G);
    outlineParts(ctx, s.tokenMix, s.grid, heatX, y, SIZE, 1.5);
    const own = s.labels[i];
    let mean = 0;
    for (const p of gt) mean += p / T;
    const textY = y + SIZE + 6 + 10;
    label(ctx, `own ${s.classes[own] ?? own}`, x, textY, 'left', css(OWN), cellWidth - CELL_GAP);
    label(ctx, `mean p(${s.classes[own] ?? own}) ${mean.toFixed(2)} over ${T} tokens`, x, textY + LINE, 'left', MUTED, cellWidth - CELL_GAP);
    if (t.kept) label(ctx, `keeps ρ_own = ${t.kept[i].toFixed(2)} of its ${s.classes[own] ?? own} map`, x, textY + 2 * LINE, 'left', MUTED, cellWidth - CELL_GAP);
  }
}

export const TeacherMapsView = memo(function TeacherMapsView({ snapshot }: { snapshot: Snapshot }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!ref.current || !snapshot.teacher) return;
    drawTeacher(ref.current, snapshot);
    ref.current.dataset.step = String(snapshot.step);
  }, [snapshot]);
  return <canvas ref={ref} data-testid="view-teacher" />;
});
