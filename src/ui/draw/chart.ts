/** Line charts on a canvas: several series, linear or log y, gridlines, tick labels and a legend. */
import { formatTick, logTicks, niceRange, scale } from './axis.ts';
import { GRID, MUTED, TEXT, label } from './canvas.ts';
import { extent } from './stats.ts';

export interface Rect { x: number; y: number; width: number; height: number }

export interface Series {
  /** Shown in the legend when given. */
  name?: string;
  colour: string;
  xs: ArrayLike<number>;
  ys: ArrayLike<number>;
  dashed?: boolean;
  alpha?: number;
  lineWidth?: number;
  /** A dot at every point (for short series such as per-layer values). */
  markers?: boolean;
}

export interface ChartOptions {
  title?: string;
  xLabel?: string;
  yLog?: boolean;
  /** Fixed y range; otherwise the data's, widened to nice ticks. */
  yRange?: [number, number];
  xRange?: [number, number];
  /** Labelled x positions (e.g. "input", "block 1", …) instead of numeric ticks. */
  xTicks?: { value: number; text: string }[];
  yFormat?: (value: number, step: number) => string;
}

const MARGIN = { left: 42, right: 8, top: 18, bottom: 30 };

interface Axis { lo: number; hi: number; ticks: { value: number; text: string }[] }

function finiteValues(series: Series[], key: 'xs' | 'ys', positiveOnly: boolean): number[] {
  const out: number[] = [];
  for (const s of series) {
    for (let i = 0; i < s[key].length; i++) {
      const v = s[key][i];
      if (Number.isFinite(v) && (!positiveOnly || v > 0)) out.push(v);
    }
  }
  return out;
}

function linearAxis(values: number[], fixed: [number, number] | undefined, format: (v: number, step: number) => string): Axis {
  const [lo, hi] = fixed ?? extent(values);
  const nice = niceRange(lo, hi, 4);
  const range = fixed ?? [nice.lo, nice.hi];
  const ticks = nice.ticks.filter((t) => t >= range[0] - 1e-9 && t <= range[1] + 1e-9);
  return { lo: range[0], hi: range[1], ticks: ticks.map((t) => ({ value: t, text: format(t, nice.step) })) };
}

function logAxis(values: number[], fixed: [number, number] | undefined): Axis {
  const [min, max] = extent(values);
  const [lo, hi] = fixed ?? [min / 1.15, max * 1.15];
  return { lo, hi, ticks: logTicks(lo, hi).map((t) => ({ value: t, text: formatTick(t, t) })) };
}

function drawSeries(ctx: CanvasRenderingContext2D, s: Series, x: (v: number) => number, y: (v: number) => number, yLog: boolean): void {
  ctx.save();
  ctx.strokeStyle = ctx.fillStyle = s.colour;
  ctx.globalAlpha = s.alpha ?? 1;
  ctx.lineWidth = s.lineWidth ?? 1.5;
  ctx.lineJoin = 'round';
  if (s.dashed) ctx.setLineDash([4, 3]);
  ctx.beginPath();
  let penDown = false;
  const n = Math.min(s.xs.length, s.ys.length);
  for (let i = 0; i < n; i++) {
    const ok = Number.isFinite(s.xs[i]) && Number.isFinite(s.ys[i]) && (!yLog || s.ys[i] > 0);
    if (!ok) { penDown = false; continue; }
    const px = x(s.xs[i]);
    const py = y(s.ys[i]);
    if (penDown) ctx.lineTo(px, py); else ctx.moveTo(px, py);
    penDown = true;
  }
  ctx.stroke();
  ctx.setLineDash([]);
  if (s.markers || n === 1) {
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(s.ys[i]) || (yLog && s.ys[i] <= 0)) continue;
      ctx.beginPath();
      ctx.arc(x(s.xs[i]), y(s.ys[i]), 2.5, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  ctx.restore();
}

const LEGEND_SWATCH = 18;
const LEGEND_GAP = 10;

function legendWidth(ctx: CanvasRenderingContext2D, named: Series[]): number {
  return named.reduce((w, s) => w + LEGEND_SWATCH + 4 + ctx.measureText(s.name!).width + LEGEND_GAP, 0) - LEGEND_GAP;
}

/** The named series in one row ending at `right`: a line swatch and the name of each. */
function drawLegend(ctx: CanvasRenderingContext2D, named: Series[], right: number, y: number): void {
  let x = right - legendWidth(ctx, named);
  ctx.save();
  ctx.lineWidth = 2;
  for (const s of named) {
    ctx.strokeStyle = s.colour;
    ctx.setLineDash(s.dashed ? [4, 3] : []);
    ctx.beginPath();
    ctx.moveTo(x, y - 4);
    ctx.lineTo(x + LEGEND_SWATCH, y - 4);
    ctx.stroke();
    label(ctx, s.name!, x + LEGEND_SWATCH + 4, y, 'left', TEXT);
    x += LEGEND_SWATCH + 4 + ctx.measureText(s.name!).width + LEGEND_GAP;
  }
  ctx.restore();
}

/** A tick label centred at x but kept inside [left, right]. */
function tickLabel(ctx: CanvasRenderingContext2D, text: string, x: number, y: number, left: number, right: number): void {
  const half = ctx.measureText(text).width / 2;
  label(ctx, text, Math.min(right - half, Math.max(left + half, x)), y, 'center', MUTED);
}

/** Title and legend on top, then axes, gridlines and the series, all inside `rect`. */
export function drawLineChart(ctx: CanvasRenderingContext2D, rect: Rect, series: Series[], options: ChartOptions = {}): void {
  const named = series.filter((s) => s.name);
  const titleWidth = options.title ? ctx.measureText(options.title).width + 16 : 0;
  const legendOnOwnRow = named.length > 0 && titleWidth + legendWidth(ctx, named) > rect.width - 8;
  const top = MARGIN.top + (legendOnOwnRow ? 14 : 0);
  const plot: Rect = {
    x: rect.x + MARGIN.left, y: rect.y + top,
    width: rect.width - MARGIN.left - MARGIN.right, height: rect.height - top - MARGIN.bottom,
  };
  if (options.title) label(ctx, options.title, rect.x + 4, rect.y + 12, 'left', TEXT);
  if (named.length) drawLegend(ctx, named, rect.x + rect.width - MARGIN.right, rect.y + (legendOnOwnRow ? 26 : 12));
  const yLog = options.yLog ?? false;
  const xs = finiteValues(series, 'xs', false);
  const ys = finiteValues(series, 'ys', yLog);
  if (!xs.length || !ys.length) {
    ctx.strokeStyle = GRID;
    ctx.strokeRect(plot.x, plot.y, plot.width, plot.height);
    label(ctx, 'no data yet', plot.x + plot.width / 2, plot.y + plot.height / 2, 'center', MUTED);
    return;
  }
  const format = options.yFormat ?? formatTick;
  const yAxis = yLog ? logAxis(ys, options.yRange) : linearAxis(ys, options.yRange, format);
  const xAxis = options.xTicks
    ? { lo: options.xRange?.[0] ?? options.xTicks[0].value, hi: options.xRange?.[1] ?? options.xTicks[options.xTicks.length - 1].value, ticks: options.xTicks }
    : linearAxis(xs, options.xRange, formatTick);
  const x = scale(xAxis.lo, xAxis.hi, plot.x, plot.x + plot.width);
  const y = scale(yAxis.lo, yAxis.hi, plot.y + plot.height, plot.y, yLog);

  ctx.save();
  ctx.strokeStyle = GRID;
  ctx.lineWidth = 1;
  for (const t of yAxis.ticks) {
    const py = Math.round(y(t.value)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(plot.x, py);
    ctx.lineTo(plot.x + plot.width, py);
    ctx.stroke();
    label(ctx, t.text, plot.x - 4, py + 3.5, 'right', MUTED);
  }
  for (const t of xAxis.ticks) tickLabel(ctx, t.text, x(t.value), plot.y + plot.height + 12, rect.x, rect.x + rect.width);
  if (options.xLabel) label(ctx, options.xLabel, plot.x + plot.width / 2, plot.y + plot.height + 25, 'center', MUTED);
  ctx.strokeStyle = '#bbb';
  ctx.strokeRect(plot.x + 0.5, plot.y + 0.5, plot.width, plot.height);
  ctx.beginPath();
  ctx.rect(plot.x, plot.y, plot.width, plot.height);
  ctx.clip();
  for (const s of series) drawSeries(ctx, s, x, y, yLog);
  ctx.restore();
}
