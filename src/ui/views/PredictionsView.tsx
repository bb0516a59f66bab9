/** Test images with the model's top-3 classes; the true label is green when it is the top prediction, red when not. */
import { memo, useEffect, useRef } from 'react';
import { drawProbabilityBar } from '../draw/bars.ts';
import { MUTED, drawPixels, emptyMessage, label, outline, prepareCanvas } from '../draw/canvas.ts';
import { type EpochReportViewProps } from './ConfusionView.tsx';

const SCALE = 3;
const BARS_WIDTH = 170;
const GAP = 10;
const ROW = 15;
const MAX_COLUMNS = 3;
const RIGHT = '#2e7d32';
const WRONG = '#c62828';

/** Class indices by descending probability, the first `count`. */
export function topClasses(probs: Float32Array, count: number): number[] {
  return Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]).slice(0, count);
}

type Example = EpochReportViewProps['report']['examples'][number];

function drawExample(ctx: CanvasRenderingContext2D, e: Example, names: (k: number) => string, size: number, x: number, y: number): void {
  const imageSize = Math.round(Math.sqrt(e.rgba.length / 4));
  drawPixels(ctx, e.rgba, imageSize, imageSize, x, y, size / imageSize);
  const top = topClasses(e.probs, 3);
  const correct = top[0] === e.label;
  const verdict = correct ? RIGHT : WRONG;
  outline(ctx, x - 2, y - 2, size + 4, size + 4, verdict, 2);
  const barsX = x + size + 8;
  top.forEach((k, r) => {
    const colour = k === e.label ? verdict : '#9e9e9e';
    drawProbabilityBar(ctx, { x: barsX, y: y + r * ROW, width: BARS_WIDTH, height: ROW - 2 }, names(k), e.probs[k], colour);
  });
  label(ctx, `true: ${names(e.label)}`, barsX, y + 3 * ROW + 12, 'left', verdict);
  if (!top.includes(e.label)) label(ctx, `p = ${Math.round(e.probs[e.label] * 100)}%`, barsX + BARS_WIDTH, y + 3 * ROW + 12, 'right', MUTED);
}

function drawPredictions(canvas: HTMLCanvasElement, examples: Example[], classes: readonly string[]): void {
  if (!examples.length) {
    const ctx = prepareCanvas(canvas, 480, 60);
    emptyMessage(ctx, 'no test examples yet', 480, 60);
    return;
  }
  const size = Math.round(Math.sqrt(examples[0].rgba.length / 4)) * SCALE;
  const cellWidth = size + 8 + BARS_WIDTH + GAP + 4;
  const cellHeight = size + GAP + 4;
  const columns = Math.min(MAX_COLUMNS, examples.length);
  const rows = Math.ceil(examples.length / columns);
  const ctx = prepareCanvas(canvas, columns * cellWidth, rows * cellHeight);
  const names = (k: number) => classes[k] ?? String(k);
  examples.forEach((e, i) => drawExample(ctx, e, names, size, 2 + (i % columns) * cellWidth, 2 + Math.floor(i / columns) * cellHeight));
}

export const PredictionsView = memo(function PredictionsView({ report, classes }: EpochReportViewProps) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    drawPredictions(ref.current, report.examples, classes);
    ref.current.dataset.epoch = String(report.result.epoch);
  }, [report, classes]);
  return <canvas ref={ref} data-testid="view-predictions" />;
});
