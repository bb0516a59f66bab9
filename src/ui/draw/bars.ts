/** Bar drawings: a histogram with a marker line, a tiny per-class target chart, one probability bar. */
import { formatTick, niceRange, scale } from './axis.ts';
import { GRID, MUTED, TEXT, label } from './canvas.ts';
import { type Rect } from './chart.ts';
import { type Histogram } from './histogram.ts';

export interface HistogramOptions {
  title?: string;
  xLabel?: string;
  /** An x position marked with a vertical line (e.g. 0). */
  marker?: number;
  colour?: string;
}

export function drawHistogram(ctx: CanvasRenderingContext2D, rect: Rect, hist: Histogram, options: HistogramOptions = {}): void {
  const plot: Rect = { x: rect.x + 30, y: rect.y + 18, width: rect.width - 38, height: rect.height - 48 };
  if (options.title) label(ctx, options.title, rect.x + 4, rect.y + 12);
  const most = Math.max(1, ...hist.counts);
  const x = scale(hist.lo, hist.hi, plot.x, plot.x + plot.width);
  const y = scale(0, most, plot.y + plot.height, plot.y);
  const binWidth = plot.width / hist.counts.length;
  ctx.save();
  ctx.fillStyle = options.colour ?? '#6a8caf';
  hist.counts.forEach((count, i) => {
    if (count > 0) ctx.fillRect(plot.x + i * binWidth + 0.5, y(count), binWidth - 1, plot.y + plot.height - y(count));
  });
  ctx.strokeStyle = '#bbb';
  ctx.strokeRect(plot.x + 0.5, plot.y + 0.5, plot.width, plot.height);
  label(ctx, String(most), plot.x - 4, plot.y + 8, 'right', MUTED);
  label(ctx, '0', plot.x - 4, plot.y + plot.height, 'right', MUTED);
  const ticks = niceRange(hist.lo, hist.hi, 4);
  for (const t of ticks.ticks) {
    if (t < hist.lo - 1e-9 || t > hist.hi + 1e-9) continue;
    label(ctx, formatTick(t, ticks.step), x(t), plot.y + plot.height + 12, 'center', MUTED);
  }
  if (options.marker !== undefined) {
    ctx.strokeStyle = '#c62828';
    ctx.setLineDash([3, 2]);
    ctx.beginPath();
    ctx.moveTo(x(options.marker), plot.y);
    ctx.lineTo(x(options.marker), plot.y + plot.height);
    ctx.stroke();
  }
  ctx.restore();
  if (options.xLabel) label(ctx, options.xLabel, plot.x + plot.width / 2, plot.y + plot.height + 25, 'center', MUTED);
}

/** K bars of heights in [0, 1]; the classes in `highlight` get their colour, the rest grey. */
export function drawClassBars(ctx: CanvasRenderingContext2D, rect: Rect, values: ArrayLike<number>, highlight: Map<number, string>): void {
  const width = rect.width / values.length;
  ctx.save();
  ctx.fillStyle = '#f4f4f4';
  ctx.fillRect(rect.x, rect.y, rect.width, rect.height);
  for (let k = 0; k < values.length; k++) {
    const h = Math.max(0, Math.min(1, values[k])) * rect.height;
    ctx.fillStyle = highlight.get(k) ?? '#aaa';
    ctx.fillRect(rect.x + k * width + 0.5, rect.y + rect.height - h, Math.max(1, width - 1), h);
  }
  ctx.strokeStyle = GRID;
  ctx.strokeRect(rect.x + 0.5, rect.y + 0.5, rect.width - 1, rect.height - 1);
  ctx.restore();
}

/** "name ▇▇▇▇   63%": one horizontal probability bar with its class name and value. */
export function drawProbabilityBar(ctx: CanvasRenderingContext2D, rect: Rect, name: string, probability: number, colour: string): void {
  const nameWidth = 66;
  const valueWidth = 30;
  const barWidth = rect.width - nameWidth - valueWidth;
  ctx.save();
  ctx.beginPath();
  ctx.rect(rect.x, rect.y, nameWidth - 2, rect.height);
  ctx.clip();
  label(ctx, name, rect.x, rect.y + rect.height - 2, 'left', TEXT);
  ctx.restore();
  ctx.save();
  ctx.fillStyle = '#eee';
  ctx.fillRect(rect.x + nameWidth, rect.y + 1, barWidth, rect.height - 2);
  ctx.fillStyle = colour;
  ctx.fillRect(rect.x + nameWidth, rect.y + 1, barWidth * Math.max(0, Math.min(1, probability)), rect.height - 2);
  ctx.restore();
  label(ctx, `${Math.round(probability * 100)}%`, rect.x + rect.width, rect.y + rect.height - 2, 'right', MUTED);
}
