/**
 * A small, fast, seeded pseudo-random generator for the synthetic world, learning's samplers and
 * tests (sfc32, seeded by an xmur3 string hash). Everything is 32-bit integer arithmetic, so a seed gives the same sequence on every
 * run and platform; `normal()` also uses Math.log/Math.sqrt, which V8 computes with its own
 * (fdlibm-derived) code rather than the platform's libm.
 *
 * Not for anything security-related.
 */

export type Seed = number | string;

/** xmur3: hashes a string into a 32-bit seed generator. */
function xmur3(text: string): () => number {
  let h = 1779033703 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  return () => {
    h = Math.imul(h ^ (h >>> 16), 2246822507);
    h = Math.imul(h ^ (h >>> 13), 3266489909);
    h ^= h >>> 16;
    return h >>> 0;
  };
}

/** murmur3's 32-bit finaliser: a cheap, well-mixing bijection on 32-bit integers. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The 32-bit hash of a seed. Numbers hash through their decimal text, so `42` and `'42'` are the
 * same seed (a `--seed 42` flag parsed either way gives the same world).
 */
export function hashSeed(seed: Seed): number {
  return xmur3(String(seed))();
}

/** Splits a stream key (a non-negative integer or a string) into two 32-bit words. */
function streamWords(stream: Seed): [number, number] {
  if (typeof stream === 'number' && Number.isSafeInteger(stream) && stream >= 0) {
    return [stream >>> 0, Math.floor(stream / 4294967296) >>> 0];
  }
  const h = xmur3(String(stream));
  return [h(), h()];
}

export class Rng {
  private readonly base: readonly [number, number, number, number];
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;
  private spare = 0;
  private hasSpare = false;

  /**
   * @param seed the world's seed
   * @param stream an independent sub-sequence of that seed (e.g. a customer number), see restart()
   */
  constructor(seed: Seed, stream: Seed = 0) {
    const h = xmur3(String(seed));
    this.base = [h(), h(), h(), h()];
    this.restart(stream);
  }

  /**
   * Re-initialises the generator in place to the start of sub-sequence `stream` of its seed. Lets
   * `cust-n` be a function of (seed, n) alone, whatever was generated before it and whichever
   * `start` a population begins at, without allocating a generator per customer.
   * Guarded by population.test.ts "a profile depends only on the seed and its number".
   */
  restart(stream: Seed = 0): this {
    const [lo, hi] = streamWords(stream);
    const [b0, b1, b2, b3] = this.base;
    this.a = fmix32(b0 ^ lo);
    this.b = fmix32(b1 ^ hi);
    this.c = fmix32(b2 ^ Math.imul(lo, 0x9e3779b9));
    this.d = b3 | 1;
    this.hasSpare = false;
    for (let i = 0; i < 12; i++) this.uint32();
    return this;
  }

  /** The next 32-bit unsigned integer (sfc32). */
  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    const c = (this.c << 21) | (this.c >>> 11);
    this.c = (c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  /** An integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** A float in [lo, hi). */
  float(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }

  /** true with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A uniformly chosen element; throws on an empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick() from an empty array');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** An index chosen with probability proportional to its (non-negative) weight. */
  weightedIndex(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    if (!(total > 0)) throw new RangeError('weightedIndex() needs a positive total weight');
    let r = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i]!;
      if (r < 0) return i;
    }
    // Floating-point rounding can leave r at a hair above 0: the last positive weight wins.
    for (let i = weights.length - 1; i >= 0; i--) if (weights[i]! > 0) return i;
    return weights.length - 1;
  }

  /** A standard normal deviate (Marsaglia's polar method), scaled to mean and sd. */
  normal(mean = 0, sd = 1): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return mean + sd * this.spare;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = this.next() * 2 - 1;
      v = this.next() * 2 - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * Math.log(s)) / s);
    this.spare = v * m;
    this.hasSpare = true;
    return mean + sd * u * m;
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }
}

export function createRng(seed: Seed, stream: Seed = 0): Rng {
  return new Rng(seed, stream);
}

/** `x` rounded to `decimals` decimal places (0 by default). */
export function round(x: number, decimals = 0): number {
  const f = 10 ** decimals;
  return Math.round(x * f) / f;
}
