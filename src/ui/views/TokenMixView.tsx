/**
 * The batch's mix on the token grid, drawn large (the same for every sample of the batch):
 *   - TokenMix: the mask's connected parts, each filled in its own colour and numbered, the own
 *     image's tokens pale blue; the part count, each part's size and the partner share beside it;
 *   - MixToken: the box of tokens whose patch embeddings are swapped with the partner's, and the
 *     reminder that the images themselves are not mixed.
 */
import { memo, useEffect, useRef } from 'react';
import { type Snapshot } from '../../train/protocol.ts';
import { MUTED, TEXT, label, prepareCanvas } from '../draw/canvas.ts';
import { OWN, PARTNER, css, mixRgb, partColour, textOn } from '../draw/colour.ts';
import { fillRegion, strokeRegion } from '../draw/regions.ts';

const GRID_PIXELS = 176;
const LINE = 14;
const MAX_LISTED = 9;
const OWN_PALE = mixRgb(OWN, [255, 255, 255], 0.78);

function gridLines(ctx: CanvasRenderingContext2D, x: number, y: number, grid: number, cell: number): void {
  ctx.save();
  ctx.strokeStyle = 'rgba(255,255,255,0.9)';
  ctx.beginPath();
  for (let i = 1; i < grid; i++) {
    ctx.moveTo(x + i * cell + 0.5, y);
    ctx.lineTo(x + i * cell + 0.5, y + grid * cell);
    ctx.moveTo(x, y + i * cell + 0.5);
    ctx.lineTo(x + grid * cell, y + i * cell + 0.5);
  }
  ctx.stroke();
  ctx.restore();
}

function drawTokenMix(canvas: HTMLCanvasElement, s: Snapshot): void {
  const G = s.grid;
  const cell = Math.max(4, Math.floor(GRID_PIXELS / G));
  const side = cell * G;
  const top = 20;
  const width = 560;
  const ctx = prepareCanvas(canvas, width, top + side + 8);
  const x0 = 0;
  const textX = side + 16;
  fillRegion(ctx, G, () => true, x0, top, cell, css(OWN_PALE));
  const m = s.tokenMix;
  if (m) {
    label(ctx, `step ${s.step} · TokenMix: the token mask (the same for the whole batch)`, 0, 12, 'left', MUTED);
    const first = new Int32Array(m.count).fill(-1);
    const sizes = new Int32Array(m.count);
    m.parts.forEach((p, t) => {
      if (p < 0) return;
      sizes[p]++;
      if (first[p] < 0) first[p] = t;
    });
    for (let p = 0; p < m.count; p++) {
      const inside = (t: number) => m.parts[t] === p;
      fillRegion(ctx, G, inside, x0, top, cell, css(partColour(p)));
    }
    gridLines(ctx, x0, top, G, cell);
    for (let p = 0; p < m.count; p++) {
      strokeRegion(ctx, G, (t) => m.parts[t] === p, x0, top, cell, '#222', 1);
      if (cell >= 12) {
        const t = first[p];
        ctx.save();
        ctx.font = `bold ${Math.min(14, Math.floor(cell * 0.6))}px system-ui, sans-serif`;
        ctx.textBaseline = 'middle';
        label(ctx, String(p + 1), x0 + (t % G) * cell + cell / 2, top + Math.floor(t / G) * cell + cell / 2, 'center', textOn(partColour(p)));
        ctx.restore();
      }
    }
    const lines: [string, string?][] = [
      [`${m.count} connected part${m.count === 1 ? '' : 's'} (4-neighbourhood) from the partner`],
      [`partner share ${(100 * m.share).toFixed(1)}%: ${m.tokens} of ${G * G} tokens (λ = ${s.lambda.toFixed(3)})`],
      ['pale blue: the own image\'s tokens'],
    ];
    for (let p = 0; p < Math.min(m.count, MAX_LISTED); p++) lines.push([`part ${p + 1}: ${sizes[p]} token${sizes[p] === 1 ? '' : 's'}`, css(partColour(p))]);
    if (m.count > MAX_LISTED) lines.push([`… and ${m.count - MAX_LISTED} more`]);
    lines.forEach(([text, swatch], i) => {
      const y = top + 10 + i * LINE;
      if (swatch) {
        ctx.fillStyle = swatch;
        ctx.fillRect(textX, y - 9, 10, 10);
      }
      label(ctx, text, textX + (swatch ? 16 : 0), y, 'left', i < 2 ? TEXT : MUTED, width - textX - 16);
    });
    canvas.dataset.parts = String(m.count);
    canvas.dataset.share = m.share.toFixed(4);
    return;
  }
  // MixToken: the box on the token grid.
  label(ctx, `step ${s.step} · MixToken: the box on the token grid (the same for the whole batch)`, 0, 12, 'left', MUTED);
  const box = s.box;
  const P = s.imageSize / G;
  const inBox = (t: number) => {
    if (!box) return false;
    const y = Math.floor(t / G) * P;
    const x = (t % G) * P;
    return y >= box.y0 && y < box.y1 && x >= box.x0 && x < box.x1;
  };
  fillRegion(ctx, G, inBox, x0, top, cell, css(PARTNER));
  gridLines(ctx, x0, top, G, cell);
  strokeRegion(ctx, G, inBox, x0, top, cell, '#222', 2, [5, 3]);
  let swapped = 0;
  for (let t = 0; t < G * G; t++) if (inBox(t)) swapped++;
  const lines = [
    'patch embeddings swapped (dashed box):',
    'each token in it carries the partner\'s embedding,',
    'swapped after the patch embedding, before block 1;',
    'the images themselves are not mixed',
    `${swapped} of ${G * G} tokens swapped (λ = ${s.lambda.toFixed(3)})`,
    box ? `box: token rows ${box.y0 / P}–${box.y1 / P - 1}, columns ${box.x0 / P}–${box.x1 / P - 1}` : 'no box',
  ];
  lines.forEach((text, i) => label(ctx, text, textX, top + 10 + i * LINE, 'left', i < 4 ? TEXT : MUTED, width - textX));
  canvas.dataset.parts = '0';
  canvas.dataset.share = (swapped / (G * G)).toFixed(4);
}

export const TokenMixView = memo(function TokenMixView({ snapshot }: { snapshot: Snapshot }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    drawTokenMix(ref.current, snapshot);
    ref.current.dataset.step = String(snapshot.step);
  }, [snapshot]);
  return <canvas ref={ref} data-testid="view-token-mix" data-mix={snapshot.mix} />;
});
