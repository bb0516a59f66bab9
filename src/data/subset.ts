/**
 * Seeded, class-balanced random subsets. Archives like cifar10-jpg.tar.gz are ordered by class,
 * so "the first N" would be all airplanes: a subset is drawn at random within each class instead,
 * the same for a given seed on every machine (src/nn/random.ts).
 */
import { Rng } from '../nn/random.ts';

/**
 * Indices of `count` items, floor(count / classes) from each class and one more from each of
 * (count mod classes) classes chosen at random, each class's items drawn uniformly without
 * replacement. Returned in ascending order (archive order), so a streaming reader can pick them
 * in one pass. `labels[i]` is item i's class in [0, classes).
 */
export function balancedSubset(labels: ArrayLike<number>, count: number, seed: number, classes?: number): number[] {
  const k = classes ?? maxLabel(labels) + 1;
  if (!Number.isInteger(count) || count < 0) throw new Error(`balancedSubset: count must be a non-negative integer, got ${count}`);
  if (k <= 0) throw new Error('balancedSubset: no labels');
  const byClass: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (!Number.isInteger(c) || c < 0 || c >= k) throw new Error(`balancedSubset: label ${c} of item ${i} is outside [0, ${k})`);
    byClass[c].push(i);
  }
  const rng = new Rng(seed);
  const want = new Array<number>(k).fill(Math.floor(count / k));
  for (const c of shuffled(Array.from({ length: k }, (_, i) => i), rng).slice(0, count % k)) want[c]++;
  const out: number[] = [];
  for (let c = 0; c < k; c++) {
    if (byClass[c].length < want[c]) {
      throw new Error(`balancedSubset: class ${c} has ${byClass[c].length} items, ${want[c]} wanted for a balanced subset of ${count}`);
    }
    out.push(...shuffled(byClass[c], rng, want[c]));
  }
  return out.sort((a, b) => a - b);
}

/** The first `take` items of a seeded Fisher–Yates shuffle of a copy of xs (all when absent). */
export function shuffled<T>(xs: readonly T[], rng: Rng, take = xs.length): T[] {
  const a = xs.slice();
  const n = Math.min(take, a.length);
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(a.length - i);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, n);
}

/** Per-class counts of a labelled selection. */
export function classCounts(labels: ArrayLike<number>, classes: number): number[] {
  const out = new Array<number>(classes).fill(0);
  for (let i = 0; i < labels.length; i++) out[labels[i]]++;
  return out;
}

function maxLabel(labels: ArrayLike<number>): number {
  let m = -1;
  for (let i = 0; i < labels.length; i++) m = Math.max(m, labels[i]);
  return m;
}
