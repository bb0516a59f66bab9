/**
 * Where the CLS token looks: for the chosen sample, each layer's CLS attention over the patch
 * tokens as a heat map over the image, one head or the mean over heads. Each map is scaled to
 * its own maximum (printed), so weak late-layer patterns stay visible; the CLS→CLS weight is printed.
 */
import { memo, useEffect, useRef } from 'react';
import { type Snapshot } from '../../train/protocol.ts';
import { MUTED, drawPixels, emptyMessage, label, prepareCanvas } from '../draw/canvas.ts';
import { heatColour } from '../draw/colour.ts';
import { imageAt, valuesToRgba } from '../draw/raster.ts';
import { clsAttention, layerNames, stretchToRange } from '../draw/tokens.ts';

export type HeadChoice = number | 'mean';

const GAP = 8;
const MAX_PER_ROW = 7;
const OVERLAY_ALPHA = 150;
const CAPTION = 42;

function panelSize(panels: number): number {
  return panels <= 5 ? 96 : 72;
}

function drawAttention(canvas: HTMLCanvasElement, s: Snapshot, head: HeadChoice): void {
  const attention = s.attention;
  if (!attention || !attention.layers.length) {
    const ctx = prepareCanvas(canvas, 480, 60);
    emptyMessage(ctx, 'no attention read back yet', 480, 60);
    return;
  }
  const S = s.imageSize;
  const G = s.grid;
  const panels = attention.layers.length + 1;
  const size = panelSize(panels);
  const perRow = Math.min(MAX_PER_ROW, panels);
  const rows = Math.ceil(panels / perRow);
  const top = 18;
  const width = Math.max(perRow * (size + GAP), 560);
  const ctx = prepareCanvas(canvas, width, top + rows * (size + CAPTION));
  const shownHead = head === 'mean' || head >= attention.heads ? 'mean' : head;
  const headName = shownHead === 'mean' ? `mean over ${attention.heads} heads` : `head ${shownHead + 1}`;
  label(ctx, `sample ${attention.sample}: CLS attention over patch tokens, ${headName}, each map from its min to its max`, 0, 12, 'left', MUTED);

  const hasImage = attention.sample < s.samples;
  const image = hasImage ? imageAt(s.rgba, attention.sample, S) : undefined;
  const at = (panel: number) => ({ x: (panel % perRow) * (size + GAP), y: top + Math.floor(panel / perRow) * (size + CAPTION) });
  const drawImage = (x: number, y: number) => {
    if (image) drawPixels(ctx, image, S, S, x, y, size / S);
    else { ctx.fillStyle = '#ddd'; ctx.fillRect(x, y, size, size); }
  };

  const first = at(0);
  drawImage(first.x, first.y);
  label(ctx, 'image', first.x + size / 2, first.y + size + 12, 'center', MUTED);
  const names = layerNames(attention.layers.length);
  attention.layers.forEach((layer, l) => {
    const { x, y } = at(l + 1);
    const row = clsAttention(layer, attention.heads, shownHead);
    const patches = row.subarray(1, 1 + G * G);
    drawImage(x, y);
    drawPixels(ctx, valuesToRgba(stretchToRange(patches), heatColour, OVERLAY_ALPHA), G, G, x, y, size / G);
    label(ctx, names[l + 1], x + size / 2, y + size + 12, 'center', MUTED);
    label(ctx, `cls→cls ${row[0].toFixed(2)}`, x + size / 2, y + size + 24, 'center', MUTED);
    label(ctx, `${Math.min(...patches).toFixed(3)}–${Math.max(...patches).toFixed(3)}`, x + size / 2, y + size + 36, 'center', MUTED);
  });
}

export interface AttentionViewProps {
  snapshot: Snapshot;
  head: HeadChoice;
  onHead: (head: HeadChoice) => void;
}

export const AttentionView = memo(function AttentionView({ snapshot, head, onHead }: AttentionViewProps) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    drawAttention(ref.current, snapshot, head);
    ref.current.dataset.step = String(snapshot.step);
  }, [snapshot, head]);
  const heads = snapshot.attention?.heads ?? 0;
  return (
    <div>
      {heads > 0 && (
        <select value={String(head)} style={{ font: '11px system-ui, sans-serif' }}
          onChange={(e) => onHead(e.target.value === 'mean' ? 'mean' : Number(e.target.value))}>
          <option value="mean">mean over heads</option>
          {Array.from({ length: heads }, (_, h) => <option key={h} value={h}>head {h + 1}</option>)}
        </select>
      )}
      <canvas ref={ref} data-testid="view-attention" style={{ display: 'block' }} />
    </div>
  );
});
