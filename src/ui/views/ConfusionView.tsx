/** Test-split confusion matrix: rows are true classes, columns predictions; colour is the row's share, text the count. */
import { memo, useEffect, useRef } from 'react';
import { type EpochReport } from '../../train/protocol.ts';
import { MUTED, emptyMessage, label, prepareCanvas } from '../draw/canvas.ts';
import { css, shareColour, textOn } from '../draw/colour.ts';
import { accuracyOf, rowNormalise } from '../draw/confusion.ts';

const MARGIN = { left: 70, top: 22, right: 44, bottom: 64 };

function cellSize(classes: number): number {
  return Math.max(10, Math.min(36, Math.floor(360 / Math.max(1, classes))));
}

function drawColumnNames(ctx: CanvasRenderingContext2D, classes: readonly string[], cell: number, y: number): void {
  classes.forEach((name, j) => {
    ctx.save();
    ctx.translate(MARGIN.left + (j + 0.5) * cell + 3, y + 6);
    ctx.rotate(-Math.PI / 4);
    label(ctx, name, 0, 0, 'right', MUTED);
    ctx.restore();
  });
}

function drawConfusion(canvas: HTMLCanvasElement, report: EpochReport, classes: readonly string[]): void {
  const K = report.confusion.length;
  const cell = cellSize(K);
  const width = MARGIN.left + K * cell + MARGIN.right;
  const height = MARGIN.top + K * cell + MARGIN.bottom;
  const ctx = prepareCanvas(canvas, Math.max(width, 260), height);
  if (K === 0) {
    emptyMessage(ctx, 'no confusion matrix yet', Math.max(width, 260), height);
    return;
  }
  const shares = rowNormalise(report.confusion);
  const names = Array.from({ length: K }, (_, k) => classes[k] ?? String(k));
  label(ctx, `epoch ${report.result.epoch}: test accuracy ${(accuracyOf(report.confusion) * 100).toFixed(1)}% · rows true, columns predicted`, 0, 12, 'left', MUTED);
  for (let i = 0; i < K; i++) {
    const y = MARGIN.top + i * cell;
    label(ctx, names[i], MARGIN.left - 4, y + cell / 2 + 4, 'right', MUTED);
    for (let j = 0; j < K; j++) {
      const x = MARGIN.left + j * cell;
      const colour = shareColour(shares[i][j]);
      ctx.fillStyle = css(colour);
      ctx.fillRect(x, y, cell - 1, cell - 1);
      const count = String(report.confusion[i][j]);
      if (ctx.measureText(count).width <= cell - 3) label(ctx, count, x + cell / 2, y + cell / 2 + 4, 'center', textOn(colour));
    }
    label(ctx, `${Math.round(shares[i][i] * 100)}%`, MARGIN.left + K * cell + 4, y + cell / 2 + 4, 'left', MUTED);
  }
  drawColumnNames(ctx, names, cell, MARGIN.top + K * cell);
}

export interface EpochReportViewProps {
  report: EpochReport;
  classes: readonly string[];
}

export const ConfusionView = memo(function ConfusionView({ report, classes }: EpochReportViewProps) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    drawConfusion(ref.current, report, classes);
    ref.current.dataset.epoch = String(report.result.epoch);
  }, [report, classes]);
  return <canvas ref={ref} data-testid="view-confusion" />;
});
