/**
 * A synthetic 10-class image set generated in code, for tests, demos and machines without
 * CIFAR-10. Each class is a shape or a texture — disc, square, triangle, ring, cross, horizontal
 * stripes, vertical stripes, checker, two blobs, diagonal line — drawn at a random place and size
 * over a two-colour gradient with pixel noise. Shape always tells the class. In a share
 * `colourCue` of the images (default 0.8) the object and one end of the gradient also take the
 * class's hue, a cue the `test` model picks up within a few dozen steps, so the playground shows
 * learning at once on a software adapter; with colourCue 0 colour and position carry no
 * information (no fixed pixel decides the class) and the model has to look at the shape.
 * Deterministic for a seed; browser-safe.
 */
import { Rng } from '../nn/random.ts';
import type { DatasetSplits, ImageSet } from './dataset.ts';
import { shuffled } from './subset.ts';

export const SYNTHETIC_CLASSES = ['disc', 'square', 'triangle', 'ring', 'cross', 'horizontal stripes', 'vertical stripes', 'checker', 'two blobs', 'diagonal line'] as const;

export interface SyntheticOptions {
  train?: number;
  test?: number;
  seed?: number;
  size?: number;
  /** Share of images whose object and background take their class's hue (the rest random hues). */
  colourCue?: number;
}

export const DEFAULT_COLOUR_CUE = 0.8;

export function syntheticDataset(o: SyntheticOptions = {}): DatasetSplits {
  const seed = o.seed ?? 0;
  const size = o.size ?? 32;
  return {
    name: 'synthetic',
    source: `synthetic seed ${seed}`,
    train: syntheticSplit(o.train ?? 5000, size, streamSeed(seed, 1), o.colourCue ?? DEFAULT_COLOUR_CUE),
    test: syntheticSplit(o.test ?? 1000, size, streamSeed(seed, 2), o.colourCue ?? DEFAULT_COLOUR_CUE),
  };
}

/** One seed per (dataset seed, split), so the train and test streams are unrelated. */
function streamSeed(seed: number, stream: number): number {
  let z = (Math.imul(seed | 0, 0x85ebca6b) ^ Math.imul(stream, 0xc2b2ae35)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

function syntheticSplit(count: number, size: number, seed: number, colourCue: number): ImageSet {
  if (!Number.isInteger(count) || count < 0) throw new Error(`syntheticDataset: image counts must be whole numbers, got ${count}`);
  const rng = new Rng(seed);
  const k = SYNTHETIC_CLASSES.length;
  // Balanced: count/k of each class (the first count mod k classes one more), in random order.
  const labels = Uint8Array.from(shuffled(Array.from({ length: count }, (_, i) => i % k), rng));
  const plane = size * size;
  const images = new Uint8Array(count * 3 * plane);
  const mask = new Float32Array(plane);
  for (let i = 0; i < count; i++) {
    drawMask(mask, labels[i], size, rng);
    paint(images.subarray(i * 3 * plane, (i + 1) * 3 * plane), mask, size, rng, rng.next() < colourCue ? labels[i] : undefined);
  }
  return { images, labels, count, channels: 3, size, classes: SYNTHETIC_CLASSES };
}

/** Coverage of the object (0 background, 1 object) for one image of class `label`. */
function drawMask(mask: Float32Array, label: number, size: number, rng: Rng): void {
  const s = size / 32; // shapes are specified for 32×32 and scaled
  const r = rng.uniform(6, 11) * s;
  const cx = rng.uniform(r + 1, size - r - 1);
  const cy = rng.uniform(r + 1, size - r - 1);
  const angle = rng.uniform(0, 2 * Math.PI);
  const period = Math.max(1, Math.round((2 + rng.int(2)) * s)) * 2; // stripes / checker: 4 or 6 px at 32×32
  const phase = rng.int(period);
  const thick = rng.uniform(1.2, 2.2) * s;
  // two blobs: a second centre at least the two radii (plus a gap) from the first
  const rb = rng.uniform(3, 5) * s;
  let bx = 0, by = 0, ax = 0, ay = 0;
  if (label === 8) {
    for (let tries = 0; tries < 50; tries++) {
      ax = rng.uniform(rb + 1, size - rb - 1);
      ay = rng.uniform(rb + 1, size - rb - 1);
      bx = rng.uniform(rb + 1, size - rb - 1);
      by = rng.uniform(rb + 1, size - rb - 1);
      if (Math.hypot(ax - bx, ay - by) > 2 * rb + 3 * s) break;
    }
  }
  const diagonal = rng.next() < 0.5 ? 1 : -1;
  const corners = [0, 1, 2].map((k) => [cx + r * Math.cos(angle + (k * 2 * Math.PI) / 3), cy + r * Math.sin(angle + (k * 2 * Math.PI) / 3)]);
  const half = r * 0.8;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const px = x + 0.5, py = y + 0.5;
      const dx = px - cx, dy = py - cy;
      const d = Math.sqrt(dx * dx + dy * dy);
      const inSquare = Math.abs(dx) <= half && Math.abs(dy) <= half;
      let on: boolean;
      switch (label) {
        case 0: on = d <= r; break;
        case 1: on = inSquare; break;
        case 2: on = inTriangle(px, py, corners); break;
        case 3: on = d <= r && d >= r * 0.55; break;
        case 4: on = (Math.abs(dx) <= thick * 1.3 && Math.abs(dy) <= r) || (Math.abs(dy) <= thick * 1.3 && Math.abs(dx) <= r); break;
        case 5: on = inSquare && Math.floor((y + phase) / (period / 2)) % 2 === 0; break;
        case 6: on = inSquare && Math.floor((x + phase) / (period / 2)) % 2 === 0; break;
        case 7: on = inSquare && (Math.floor((x + phase) / (period / 2)) + Math.floor((y + phase) / (period / 2))) % 2 === 0; break;
        case 8: on = (px - ax) ** 2 + (py - ay) ** 2 <= rb * rb || (px - bx) ** 2 + (py - by) ** 2 <= rb * rb; break;
        default: on = Math.abs(dx - diagonal * dy) / Math.SQRT2 <= thick && Math.abs(dx + diagonal * dy) / Math.SQRT2 <= r * 1.2; break;
      }
      mask[y * size + x] = on ? 1 : 0;
    }
  }
}

function inTriangle(x: number, y: number, c: number[][]): boolean {
  const side = (a: number[], b: number[]) => (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0]);
  const s0 = side(c[0], c[1]), s1 = side(c[1], c[2]), s2 = side(c[2], c[0]);
  return (s0 >= 0 && s1 >= 0 && s2 >= 0) || (s0 <= 0 && s1 <= 0 && s2 <= 0);
}

/** Background gradient between two colours, the object in a third, then noise; writes CHW. */
function paint(out: Uint8Array, mask: Float32Array, size: number, rng: Rng, hueOfClass?: number): void {
  // Object and background on opposite sides of mid-brightness, so the object is always visible.
  const darkObject = rng.next() < 0.5;
  const hue = hueOfClass === undefined ? rng.next() : (hueOfClass / 10 + rng.uniform(-0.03, 0.03) + 1) % 1;
  const object = hsv(hue, hueOfClass === undefined ? rng.uniform(0.4, 1) : rng.uniform(0.7, 1), darkObject ? rng.uniform(0.1, 0.4) : rng.uniform(0.65, 1));
  const bgValue = () => (darkObject ? rng.uniform(0.6, 0.95) : rng.uniform(0.05, 0.4));
  const from = hueOfClass === undefined ? hsv(rng.next(), rng.uniform(0, 0.7), bgValue()) : hsv(hue, rng.uniform(0.5, 0.8), bgValue());
  const to = hsv(rng.next(), rng.uniform(0, 0.7), bgValue());
  const direction = rng.uniform(0, 2 * Math.PI);
  const gx = Math.cos(direction), gy = Math.sin(direction);
  const noise = rng.uniform(8, 24);
  const plane = size * size;
  for (let p = 0; p < plane; p++) {
    const t = 0.5 + 0.7 * (((p % size) / size - 0.5) * gx + (Math.floor(p / size) / size - 0.5) * gy); // within [0, 1]
    const m = mask[p];
    for (let c = 0; c < 3; c++) {
      const bg = from[c] + (to[c] - from[c]) * t;
      const v = 255 * (bg + (object[c] - bg) * m) + noise * (rng.next() - 0.5) * 2;
      out[c * plane + p] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
}

/** HSV in [0, 1] → RGB in [0, 1]. */
function hsv(h: number, s: number, v: number): [number, number, number] {
  const f = (n: number) => {
    const k = (n + h * 6) % 6;
    return v - v * s * Math.max(0, Math.min(k, 4 - k, 1));
  };
  return [f(5), f(3), f(1)];
}
