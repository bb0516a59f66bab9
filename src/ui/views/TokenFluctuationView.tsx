/**
 * Token fluctuation (TL-Align): how much of the own image each token carries, from the input
 * through every block, for one sample; the CLS token's share ρ_l against the area ratio λ;
 * and over the whole batch, how far the final ρ ends from λ.
 */
import { memo, useEffect, useRef } from 'react';
import { type Snapshot } from '../../train/protocol.ts';
import { drawHistogram } from '../draw/bars.ts';
import { MUTED, drawPixels, emptyMessage, label, prepareCanvas } from '../draw/canvas.ts';
import { drawLineChart } from '../draw/chart.ts';
import { OWN, css, ownPartnerColour } from '../draw/colour.ts';
import { histogram } from '../draw/histogram.ts';
import { imageAt, valuesToRgba } from '../draw/raster.ts';
import { mean } from '../draw/stats.ts';
import { clsToken, layerNames, patchTokens } from '../draw/tokens.ts';

const GAP = 8;
const STRIP_WIDTH = 620;
const CHART = { width: 260, height: 160 };
const HIST = { width: 380, height: 140, bins: 24 };

const ownColour = (ownShare: number) => ownPartnerColour(1 - ownShare);

/** Map size: the strip (image + depth+1 maps) fits about STRIP_WIDTH, within 36–80 px. */
function mapSize(count: number): number {
  return Math.max(36, Math.min(80, Math.floor(STRIP_WIDTH / count) - GAP));
}

/** Symmetric range around 0 that holds every value, at least ±0.05. */
function symmetricRange(values: Float32Array): number {
  let most = 0.05;
  for (const v of values) if (Number.isFinite(v)) most = Math.max(most, Math.abs(v));
  return Math.ceil(most * 20) / 20;
}

function drawStrip(ctx: CanvasRenderingContext2D, s: Snapshot, sample: number, size: number, top: number): void {
  const layers = s.fluctuation!.layers;
  const S = s.imageSize;
  drawPixels(ctx, imageAt(s.rgba, sample, S), S, S, 0, top, size / S);
  label(ctx, 'image', size / 2, top + size + 12, 'center', MUTED);
  const names = layerNames(layers.length - 1, size < 52);
  layers.forEach((layer, l) => {
    const x = (l + 1) * (size + GAP);
    const shares = patchTokens(layer, sample, s.grid);
    drawPixels(ctx, valuesToRgba(shares, ownColour), s.grid, s.grid, x, top, size / s.grid);
    label(ctx, names[l], x + size / 2, top + size + 12, 'center', MUTED);
    label(ctx, `ρ ${clsToken(layer, sample, s.grid).toFixed(2)}`, x + size / 2, top + size + 25, 'center', MUTED);
  });
}

function drawFluctuation(canvas: HTMLCanvasElement, s: Snapshot, sample: number): void {
  if (!s.fluctuation) {
    const ctx = prepareCanvas(canvas, 480, 60);
    emptyMessage(ctx, 'no spatial mix in this method: nothing to fluctuate', 480, 60);
    return;
  }
  const { layers, rhoMinusLambda } = s.fluctuation;
  const size = mapSize(layers.length + 1);
  const stripWidth = (layers.length + 1) * (size + GAP);
  const top = 18;
  const rowHeight = Math.max(top + size + 30, CHART.height);
  const width = Math.max(stripWidth + 12 + CHART.width, HIST.width);
  const ctx = prepareCanvas(canvas, width, rowHeight + 8 + HIST.height);
  label(ctx, `sample ${sample}: own-image share of each patch token (blue own, orange partner), input to output`, 0, 12, 'left', MUTED);
  drawStrip(ctx, s, sample, size, top);

  const xs = layers.map((_, l) => l);
  const rho = layers.map((layer) => clsToken(layer, sample, s.grid));
  drawLineChart(ctx, { x: stripWidth + 12, y: 0, width: CHART.width, height: CHART.height }, [
    { name: 'λ (area)', colour: '#888', xs: [0, layers.length - 1], ys: [s.lambda, s.lambda], dashed: true },
    { name: 'CLS ρ', colour: css(OWN), xs, ys: rho, markers: true },
  ], { title: 'CLS own share', yRange: [0, 1], xRange: [-0.25, layers.length - 0.75], xTicks: layerNames(layers.length - 1, true).map((text, l) => ({ value: l, text })), xLabel: 'layer' });

  const range = symmetricRange(rhoMinusLambda);
  const hist = histogram(rhoMinusLambda, -range, range, HIST.bins);
  const average = mean(rhoMinusLambda);
  drawHistogram(ctx, { x: 0, y: rowHeight + 8, width: HIST.width, height: HIST.height }, hist, {
    title: `ρ_final − λ over the batch (n = ${rhoMinusLambda.length}), mean ${average >= 0 ? '+' : ''}${average.toFixed(3)}`,
    xLabel: 'ρ_final − λ', marker: 0,
  });
}

export interface TokenFluctuationViewProps {
  snapshot: Snapshot;
  /** Index among the sent samples; clamped to them. */
  sample: number;
  onSample: (sample: number) => void;
}

export const TokenFluctuationView = memo(function TokenFluctuationView({ snapshot, sample, onSample }: TokenFluctuationViewProps) {
  const ref = useRef<HTMLCanvasElement>(null);
  const last = Math.max(0, snapshot.samples - 1);
  const shown = Math.max(0, Math.min(last, sample));
  useEffect(() => {
    if (!ref.current) return;
    drawFluctuation(ref.current, snapshot, shown);
    ref.current.dataset.step = String(snapshot.step);
  }, [snapshot, shown]);
  return (
    <div>
      {snapshot.fluctuation && (
        <label style={{ font: '11px system-ui, sans-serif' }}>
          sample{' '}
          <input type="number" min={0} max={last} value={shown} style={{ width: '4em' }}
            onChange={(e) => { const i = Number(e.target.value); if (Number.isInteger(i)) onSample(Math.max(0, Math.min(last, i))); }} />
        </label>
      )}
      <canvas ref={ref} data-testid="view-fluctuation" style={{ display: 'block' }} />
    </div>
  );
});
