/** Training curves of one or more runs overlaid, for comparing them: loss, test and train accuracy, throughput, learning rate. */
import { memo, useEffect, useRef } from 'react';
import { type CurvePoint } from '../../train/protocol.ts';
import { type EpochResult } from '../../train/trainer.ts';
import { prepareCanvas } from '../draw/canvas.ts';
import { type ChartOptions, type Series, drawLineChart } from '../draw/chart.ts';
import { SERIES_COLOURS } from '../draw/colour.ts';

export interface CurveRun {
  name: string;
  colour?: string;
  points: CurvePoint[];
  epochs: EpochResult[];
}

const CHART = { width: 340, height: 180 };

const percent = (value: number) => `${Math.round(value * 100)}%`;

interface Panel {
  options: ChartOptions;
  series: (run: CurveRun, colour: string) => Series[];
}

const PANELS: Panel[] = [
  {
    options: { title: 'training loss', xLabel: 'epoch' },
    series: (r, colour) => [{ name: r.name, colour, xs: r.points.map((p) => p.epoch), ys: r.points.map((p) => p.loss) }],
  },
  {
    // Train accuracy is measured on clean training images after each epoch; its gap over test accuracy is overfitting.
    options: { title: 'accuracy: test (solid), train (dashed)', xLabel: 'epoch', yFormat: percent },
    series: (r, colour) => {
      const measured = r.epochs.filter((e) => e.train_acc !== undefined);
      return [
        { name: r.name, colour, xs: r.epochs.map((e) => e.epoch), ys: r.epochs.map((e) => e.test_acc), markers: true },
        ...(measured.length ? [{ colour, dashed: true, xs: measured.map((e) => e.epoch), ys: measured.map((e) => e.train_acc!) }] : []),
      ];
    },
  },
  {
    options: { title: 'images / s', xLabel: 'epoch' },
    series: (r, colour) => [{ name: r.name, colour, xs: r.points.map((p) => p.epoch), ys: r.points.map((p) => p.imgPerS) }],
  },
  {
    options: { title: 'learning rate', xLabel: 'epoch' },
    series: (r, colour) => [{ name: r.name, colour, xs: r.points.map((p) => p.epoch), ys: r.points.map((p) => p.lr) }],
  },
];

function lastStep(runs: CurveRun[]): number {
  return Math.max(0, ...runs.map((r) => r.points[r.points.length - 1]?.step ?? 0));
}

function drawCurves(canvas: HTMLCanvasElement, runs: CurveRun[]): void {
  const ctx = prepareCanvas(canvas, 2 * CHART.width, 2 * CHART.height);
  PANELS.forEach((panel, i) => {
    const rect = { x: (i % 2) * CHART.width, y: Math.floor(i / 2) * CHART.height, ...CHART };
    const series = runs.flatMap((run, r) => panel.series(run, run.colour ?? SERIES_COLOURS[r % SERIES_COLOURS.length]));
    drawLineChart(ctx, rect, series, panel.options);
  });
}

export const CurvesView = memo(function CurvesView({ runs }: { runs: CurveRun[] }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    drawCurves(ref.current, runs);
    ref.current.dataset.step = String(lastStep(runs));
  }, [runs]);
  return <canvas ref={ref} data-testid="view-curves" />;
});
