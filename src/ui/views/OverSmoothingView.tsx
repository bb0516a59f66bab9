/**
 * Over-smoothing (DiversePatch): mean pairwise cosine similarity of the patch tokens after the
 * embedding and after each block. Earlier snapshots are drawn faded, oldest faintest.
 */
import { memo, useEffect, useRef } from 'react';
import { type Snapshot } from '../../train/protocol.ts';
import { emptyMessage, prepareCanvas } from '../draw/canvas.ts';
import { type Series, drawLineChart } from '../draw/chart.ts';
import { OWN, css } from '../draw/colour.ts';
import { layerNames } from '../draw/tokens.ts';

const WIDTH = 420;
const HEIGHT = 220;

const NO_HISTORY: Float32Array[] = [];

const indices = (n: number) => Array.from({ length: n }, (_, i) => i);

function historySeries(history: Float32Array[]): Series[] {
  return history.map((ys, i) => ({
    name: i === history.length - 1 ? 'earlier' : undefined,
    colour: '#777', xs: indices(ys.length), ys, lineWidth: 1,
    alpha: 0.12 + (0.4 * (i + 1)) / history.length,
  }));
}

function drawSmoothing(canvas: HTMLCanvasElement, s: Snapshot, history: Float32Array[]): void {
  const ctx = prepareCanvas(canvas, WIDTH, HEIGHT);
  if (!s.smoothing) {
    emptyMessage(ctx, 'no over-smoothing read-back yet', WIDTH, HEIGHT);
    return;
  }
  const depth = s.smoothing.length - 1;
  const names = layerNames(depth, depth > 6);
  drawLineChart(ctx, { x: 0, y: 0, width: WIDTH, height: HEIGHT }, [
    ...historySeries(history),
    { name: `step ${s.step}`, colour: css(OWN), xs: indices(s.smoothing.length), ys: s.smoothing, markers: true, lineWidth: 2 },
  ], {
    title: 'patch-token cosine similarity per layer (1 = all tokens alike)',
    yRange: [-0.1, 1], xRange: [-0.25, depth + 0.25], xTicks: names.map((text, l) => ({ value: l, text })), xLabel: depth > 6 ? 'after block' : undefined,
  });
}

export interface OverSmoothingViewProps {
  snapshot: Snapshot;
  /** Earlier smoothing arrays, oldest first. */
  history?: Float32Array[];
}

export const OverSmoothingView = memo(function OverSmoothingView({ snapshot, history = NO_HISTORY }: OverSmoothingViewProps) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    drawSmoothing(ref.current, snapshot, history);
    ref.current.dataset.step = String(snapshot.step);
  }, [snapshot, history]);
  return <canvas ref={ref} data-testid="view-smoothing" />;
});
