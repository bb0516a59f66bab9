/** Token regions on a grid: the outline of a set of tokens (each edge between a token in it and one out of it), and a fill. */
import { css, partColour } from './colour.ts';

/** One boundary edge in token units, with the unit direction (dx, dy) pointing into its token. */
export interface Edge { x0: number; y0: number; x1: number; y1: number; dx: number; dy: number }

/** The boundary of the tokens t (row-major, G×G) where inside(t): every side of such a token whose neighbour is outside (or off the grid). */
export function regionEdges(grid: number, inside: (t: number) => boolean): Edge[] {
  const edges: Edge[] = [];
  const at = (y: number, x: number) => y >= 0 && y < grid && x >= 0 && x < grid && inside(y * grid + x);
  for (let y = 0; y < grid; y++) {
    for (let x = 0; x < grid; x++) {
      if (!inside(y * grid + x)) continue;
      if (!at(y - 1, x)) edges.push({ x0: x, y0: y, x1: x + 1, y1: y, dx: 0, dy: 1 });
      if (!at(y + 1, x)) edges.push({ x0: x, y0: y + 1, x1: x + 1, y1: y + 1, dx: 0, dy: -1 });
      if (!at(y, x - 1)) edges.push({ x0: x, y0: y, x1: x, y1: y + 1, dx: 1, dy: 0 });
      if (!at(y, x + 1)) edges.push({ x0: x + 1, y0: y, x1: x + 1, y1: y + 1, dx: -1, dy: 0 });
    }
  }
  return edges;
}

/**
 * Strokes a region's outline on a grid drawn at (x, y) with `cell` pixels per token, moved half
 * the line width into the region, so that the outlines of touching regions do not overlap.
 */
export function strokeRegion(ctx: CanvasRenderingContext2D, grid: number, inside: (t: number) => boolean, x: number, y: number, cell: number, colour: string, lineWidth = 2, dash: number[] = []): void {
  const inset = lineWidth / 2;
  ctx.save();
  ctx.strokeStyle = colour;
  ctx.lineWidth = lineWidth;
  ctx.lineCap = 'square';
  ctx.setLineDash(dash);
  ctx.beginPath();
  for (const e of regionEdges(grid, inside)) {
    ctx.moveTo(x + e.x0 * cell + e.dx * inset, y + e.y0 * cell + e.dy * inset);
    ctx.lineTo(x + e.x1 * cell + e.dx * inset, y + e.y1 * cell + e.dy * inset);
  }
  ctx.stroke();
  ctx.restore();
}

/** Fills the tokens where inside(t) with `colour` (any CSS colour; with alpha, a tint). */
export function fillRegion(ctx: CanvasRenderingContext2D, grid: number, inside: (t: number) => boolean, x: number, y: number, cell: number, colour: string): void {
  ctx.save();
  ctx.fillStyle = colour;
  for (let t = 0; t < grid * grid; t++) {
    if (inside(t)) ctx.fillRect(x + (t % grid) * cell, y + Math.floor(t / grid) * cell, cell, cell);
  }
  ctx.restore();
}

/** Every connected part of a TokenMix mask (parts [G²], −1 outside) outlined in its part colour on a grid of side `size` drawn at (x, y). */
export function outlineParts(ctx: CanvasRenderingContext2D, mix: { parts: Int32Array; count: number } | undefined, grid: number, x: number, y: number, size: number, lineWidth = 2): void {
  if (!mix) return;
  for (let p = 0; p < mix.count; p++) strokeRegion(ctx, grid, (t) => mix.parts[t] === p, x, y, size / grid, css(partColour(p)), lineWidth);
}
