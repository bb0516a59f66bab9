/**
 * Seeded randomness for initialisation and tests: the same seed gives the same numbers on every
 * machine (SplitMix32 stream; normals by Box–Muller).
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    // Hash the seed: with a plain multiple, Rng(s + 1) would replay Rng(s)'s stream one draw later.
    let z = Math.imul((seed >>> 0) ^ 0x5bd1e995, 0x9e3779b9) >>> 0;
    z = Math.imul(z ^ (z >>> 15), 0x2c1b3c6d) >>> 0;
    z = Math.imul(z ^ (z >>> 12), 0x297a2d39) >>> 0;
    this.state = (z ^ (z >>> 15)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Normal(0, std) redrawn until inside [lo, hi] (timm's trunc_normal_ bounds are absolute). */
  truncatedNormal(std: number, lo = -2, hi = 2): number {
    for (;;) {
      const x = std * this.normal();
      if (x >= lo && x <= hi) return x;
    }
  }

  fill(n: number, draw: () => number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = draw();
    return out;
  }
}
