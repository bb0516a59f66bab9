/**
 * Colour maps for the live views. Own image = blue, partner image = orange everywhere; a token
 * that is half of each is a pale neutral, so "how mixed" stands out rather than blending to brown.
 */
export type Rgb = readonly [number, number, number];

export const OWN: Rgb = [31, 119, 180];
export const PARTNER: Rgb = [255, 127, 14];
export const NEUTRAL: Rgb = [226, 226, 226];

/** Colours for runs and series, in order (matplotlib's tab10). */
export const SERIES_COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const clamp01 = (t: number) => (Number.isNaN(t) ? 0 : Math.min(1, Math.max(0, t)));

export function mixRgb(a: Rgb, b: Rgb, t: number): Rgb {
  const u = clamp01(t);
  return [Math.round(a[0] + (b[0] - a[0]) * u), Math.round(a[1] + (b[1] - a[1]) * u), Math.round(a[2] + (b[2] - a[2]) * u)];
}

/** Piecewise-linear map through evenly spaced stops, t in [0, 1] (clamped). */
export function rampColour(stops: readonly Rgb[], t: number): Rgb {
  const x = clamp01(t) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2);
  return mixRgb(stops[i], stops[i + 1], x - i);
}

/** partnerShare 0 → own blue, 0.5 → neutral, 1 → partner orange. */
export function ownPartnerColour(partnerShare: number): Rgb {
  return rampColour([OWN, NEUTRAL, PARTNER], partnerShare);
}

/** Attention heat (magma-like): dark purple → red → pale yellow. */
export function heatColour(t: number): Rgb {
  return rampColour([[0, 0, 4], [120, 28, 109], [237, 105, 37], [252, 255, 164]], t);
}

/** Confusion cells: white → deep blue. */
export function shareColour(t: number): Rgb {
  return rampColour([[255, 255, 255], [107, 174, 214], [8, 48, 107]], t);
}

export function css([r, g, b]: Rgb, alpha = 1): string {
  return alpha === 1 ? `rgb(${r},${g},${b})` : `rgba(${r},${g},${b},${alpha})`;
}

/** Whether black or white text reads better on this background (relative luminance). */
export function textOn([r, g, b]: Rgb): string {
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 140 ? '#222' : '#fff';
}

/** HSL (h in degrees, s and l in [0, 1]) → RGB bytes. */
export function hslRgb(h: number, s: number, l: number): Rgb {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

/**
 * Colour of part i of a token mask: hues a golden angle apart (green, purple, yellow, cyan, pink, …),
 * the first ones away from the own blue and the partner orange they are drawn over, so that
 * neighbouring numbers never look alike and any number of parts has one.
 */
export function partColour(i: number): Rgb {
  return hslRgb((140 + i * 137.508) % 360, 0.75, i % 2 ? 0.42 : 0.5);
}

/** tab10 as RGB: the colour of class k (K ≤ 10), then part colours beyond. */
const TAB10: readonly Rgb[] = SERIES_COLOURS.map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as unknown as Rgb);

export function classColour(k: number): Rgb {
  return k < TAB10.length ? TAB10[k] : partColour(k);
}
