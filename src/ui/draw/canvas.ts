/** Canvas plumbing shared by every view: sizing for the device pixel ratio, pixel blits, text. */

export const FONT = '11px system-ui, sans-serif';
export const TEXT = '#333';
export const MUTED = '#888';
export const GRID = '#e6e6e6';

/**
 * Sizes the canvas to width × height CSS pixels backed by width·dpr × height·dpr device pixels,
 * clears it to white and returns a context drawing in CSS pixels.
 */
export function prepareCanvas(canvas: HTMLCanvasElement, width: number, height: number): CanvasRenderingContext2D {
  const dpr = Math.min(3, Math.max(1, globalThis.devicePixelRatio || 1));
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser gave no 2D canvas context');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  ctx.font = FONT;
  ctx.fillStyle = TEXT;
  ctx.textBaseline = 'alphabetic';
  return ctx;
}

let scratch: HTMLCanvasElement | undefined;

/** Draws width × height RGBA bytes at (x, y), each pixel a scale × scale square (nearest neighbour). */
export function drawPixels(ctx: CanvasRenderingContext2D, rgba: Uint8ClampedArray, width: number, height: number, x: number, y: number, scale: number): void {
  scratch ??= document.createElement('canvas');
  if (scratch.width !== width || scratch.height !== height) [scratch.width, scratch.height] = [width, height];
  const small = scratch.getContext('2d');
  if (!small) return;
  const image = small.createImageData(width, height);
  image.data.set(rgba.subarray(0, width * height * 4));
  small.putImageData(image, 0, 0);
  ctx.save();
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(scratch, x, y, width * scale, height * scale);
  ctx.restore();
}

/** Text with a given alignment and colour, squeezed to maxWidth when given; leaves the context's fill as it was. */
export function label(ctx: CanvasRenderingContext2D, text: string, x: number, y: number, align: CanvasTextAlign = 'left', colour = TEXT, maxWidth?: number): void {
  ctx.save();
  ctx.fillStyle = colour;
  ctx.textAlign = align;
  if (maxWidth === undefined) ctx.fillText(text, x, y);
  else ctx.fillText(text, x, y, maxWidth);
  ctx.restore();
}

/** A message in the middle of an otherwise empty area (no data yet, nothing to show). */
export function emptyMessage(ctx: CanvasRenderingContext2D, text: string, width: number, height: number): void {
  ctx.save();
  ctx.fillStyle = '#f6f6f6';
  ctx.fillRect(0, 0, width, height);
  ctx.textBaseline = 'middle';
  label(ctx, text, width / 2, height / 2, 'center', MUTED);
  ctx.restore();
}

export function outline(ctx: CanvasRenderingContext2D, x: number, y: number, w: number, h: number, colour: string, lineWidth = 1): void {
  ctx.save();
  ctx.strokeStyle = colour;
  ctx.lineWidth = lineWidth;
  ctx.strokeRect(x + lineWidth / 2, y + lineWidth / 2, w - lineWidth, h - lineWidth);
  ctx.restore();
}
