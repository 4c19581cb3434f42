import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng } from '../domain/random.js';
import { proportion, uplift, Z95 } from './uplift.js';

/**
 * An exact Binomial(n, p) draw: counts the geometric gaps between successes that fit in n trials,
 * so it costs O(np) draws instead of n (2,000 campaigns of up to 50,000 trials stay well under 1 s).
 */
function binomial(rng: Rng, n: number, p: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return n;
  if (p > 0.5) return n - binomial(rng, n, 1 - p);
  const logQ = Math.log1p(-p);
  let successes = 0;
  let position = 0;
  for (;;) {
    // 1 − next() is in (0, 1]: log never sees 0.
    position += Math.floor(Math.log(1 - rng.next()) / logQ) + 1;
    if (position > n) return successes;
    successes++;
  }
}

interface CampaignRanges {
  /** Customers in the campaign, treated and control together. */
  readonly trials: readonly [number, number];
  /** The control group's true accept rate, drawn log-uniformly. */
  readonly controlRate: readonly [number, number];
}

/**
 * Simulates campaigns with a known true uplift and returns the share whose interval contains it,
 * for Newcombe's interval and, for comparison, the Wald interval p₁ − p₂ ± z√(p₁q₁/n₁ + p₂q₂/n₂).
 * Control shares are 5-20 %; the true relative uplift is −30 % to +60 %.
 */
function simulateCoverage(rng: Rng, campaigns: number, ranges: CampaignRanges) {
  let newcombe = 0;
  let wald = 0;
  for (let i = 0; i < campaigns; i++) {
    const trials = rng.int(ranges.trials[0], ranges.trials[1]);
    const controlTrials = Math.round(trials * rng.float(0.05, 0.2));
    const treatedTrials = trials - controlTrials;
    // Log-uniform, so that low accept rates (where intervals go wrong) are well represented.
    const controlRate = Math.exp(rng.float(Math.log(ranges.controlRate[0]), Math.log(ranges.controlRate[1])));
    const treatedRate = Math.min(0.99, controlRate * (1 + rng.float(-0.3, 0.6)));
    const treated = { successes: binomial(rng, treatedTrials, treatedRate), trials: treatedTrials };
    const control = { successes: binomial(rng, controlTrials, controlRate), trials: controlTrials };
    const truth = treatedRate - controlRate;
    const [low, high] = uplift(treated, control).ci95!;
    if (low <= truth && truth <= high) newcombe++;
    const p1 = treated.successes / treated.trials;
    const p2 = control.successes / control.trials;
    const half = Z95 * Math.sqrt((p1 * (1 - p1)) / treated.trials + (p2 * (1 - p2)) / control.trials);
    if (Math.abs(p1 - p2 - truth) <= half) wald++;
  }
  return { newcombe: newcombe / campaigns, wald: wald / campaigns };
}

function round4(interval: readonly [number, number] | null): [number, number] | null {
  return interval === null ? null : [Number(interval[0].toFixed(4)), Number(interval[1].toFixed(4))];
}

describe('proportion', () => {
  it("matches Newcombe (1998a) table I's Wilson intervals to four decimals", () => {
    // Newcombe, "Two-sided confidence intervals for the single proportion", Stat Med 17:857-872,
    // method 3 (score interval without continuity correction).
    const cases: [number, number, number, number][] = [
      [81, 263, 0.2553, 0.3662],
      [15, 148, 0.0624, 0.1605],
      [0, 20, 0, 0.1611],
      [1, 29, 0.0061, 0.1718],
      [29, 29, 0.883, 1],
    ];
    for (const [x, n, low, high] of cases) {
      const p = proportion(x, n);
      expect(p.rate).toBe(x / n);
      expect(round4(p.ci95), `${x}/${n}`).toEqual([low, high]);
    }
  });

  it('pins the ends at exactly 0 and 1 with no or all successes', () => {
    expect(proportion(0, 29).ci95![0]).toBe(0);
    expect(Object.is(proportion(0, 29).ci95![0], -0)).toBe(false);
    expect(proportion(50, 50).ci95![1]).toBe(1);
    expect(proportion(1, 1).ci95).toEqual([expect.closeTo(0.2065, 4), 1]);
  });

  it('proportion: zero trials give a null rate and a null interval', () => {
    expect(proportion(0, 0)).toEqual({ successes: 0, trials: 0, rate: null, ci95: null });
  });

  it('rejects impossible counts and a non-positive z', () => {
    expect(() => proportion(-1, 10)).toThrow(RangeError);
    expect(() => proportion(11, 10)).toThrow(RangeError);
    expect(() => proportion(1, Number.NaN)).toThrow(RangeError);
    expect(() => proportion(1, 10, 0)).toThrow(RangeError);
  });

  it('a wider z gives a wider interval that still contains the rate, inside [0, 1]', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, f) => {
        const x = Math.floor(f * n);
        const p95 = proportion(x, n).ci95!;
        const p99 = proportion(x, n, 2.575829).ci95!;
        expect(p95[0]).toBeGreaterThanOrEqual(0);
        expect(p95[1]).toBeLessThanOrEqual(1);
        expect(p95[0]).toBeLessThanOrEqual(x / n);
        expect(p95[1]).toBeGreaterThanOrEqual(x / n);
        expect(p99[0]).toBeLessThanOrEqual(p95[0]);
        expect(p99[1]).toBeGreaterThanOrEqual(p95[1]);
      }),
    );
  });
});

describe('uplift', () => {
  it("matches Newcombe (1998b) table II's method 10 intervals to four decimals", () => {
    // Newcombe, "Interval estimation for the difference between independent proportions: comparison
    // of eleven methods", Stat Med 17:873-890, examples (a) to (h). Example (a), 56/70 − 48/80, is a
    // difference of 0.2000 with the interval 0.0524 to 0.3339.
    const cases: [number, number, number, number, number, number][] = [
      [56, 70, 48, 80, 0.0524, 0.3339],
      [9, 10, 3, 10, 0.1705, 0.809],
      [6, 7, 2, 7, 0.0582, 0.8062],
      [5, 56, 0, 29, -0.0381, 0.1926],
      [0, 10, 0, 20, -0.1611, 0.2775],
      [0, 10, 0, 10, -0.2775, 0.2775],
      [10, 10, 0, 20, 0.6791, 1],
      [10, 10, 0, 10, 0.6075, 1],
    ];
    for (const [x1, n1, x2, n2, low, high] of cases) {
      const u = uplift({ successes: x1, trials: n1 }, { successes: x2, trials: n2 });
      expect(u.uplift).toBeCloseTo(x1 / n1 - x2 / n2, 12);
      expect(round4(u.ci95), `${x1}/${n1} − ${x2}/${n2}`).toEqual([low, high]);
    }
  });

  it('reports the rates and the relative uplift', () => {
    const u = uplift({ successes: 56, trials: 70 }, { successes: 48, trials: 80 });
    expect(u.treatedRate).toBe(0.8);
    expect(u.controlRate).toBe(0.6);
    expect(u.uplift).toBeCloseTo(0.2, 12);
    expect(u.relative).toBeCloseTo(1 / 3, 12);
  });

  it('has no finite relative uplift over a control rate of 0', () => {
    const u = uplift({ successes: 5, trials: 56 }, { successes: 0, trials: 29 });
    expect(u.controlRate).toBe(0);
    expect(u.relative).toBeNull();
    expect(u.ci95).not.toBeNull();
  });

  it('gives a null uplift and interval when either group had no trials, and keeps the other rate', () => {
    expect(uplift({ successes: 3, trials: 10 }, { successes: 0, trials: 0 })).toEqual({
      treatedRate: 0.3,
      controlRate: null,
      uplift: null,
      ci95: null,
      relative: null,
    });
    expect(uplift({ successes: 0, trials: 0 }, { successes: 1, trials: 4 })).toMatchObject({
      treatedRate: null,
      controlRate: 0.25,
      uplift: null,
      ci95: null,
    });
  });

  it('is antisymmetric: swapping the groups mirrors the interval', () => {
    const a = uplift({ successes: 120, trials: 9000 }, { successes: 9, trials: 1000 });
    const b = uplift({ successes: 9, trials: 1000 }, { successes: 120, trials: 9000 });
    expect(b.uplift).toBeCloseTo(-a.uplift!, 12);
    expect(b.ci95![0]).toBeCloseTo(-a.ci95![1], 12);
    expect(b.ci95![1]).toBeCloseTo(-a.ci95![0], 12);
  });

  it('rejects impossible counts', () => {
    expect(() => uplift({ successes: 5, trials: 4 }, { successes: 1, trials: 4 })).toThrow(/treated/);
    expect(() => uplift({ successes: 1, trials: 4 }, { successes: -1, trials: 4 })).toThrow(/control/);
  });

  it('coverage: the interval contains the true uplift in about 95% of simulated campaigns', () => {
    const coverage = simulateCoverage(new Rng('uplift-coverage'), 2_000, {
      trials: [2_000, 50_000],
      controlRate: [0.005, 0.3],
    });
    expect(coverage.newcombe).toBeGreaterThanOrEqual(0.93);
    expect(coverage.newcombe).toBeLessThanOrEqual(0.975);
  });

  it('coverage holds for small campaigns at low rates, where the Wald interval undercovers', () => {
    // Control groups of 25-600 customers with accept rates of 0.5-5 %: a handful of accepts.
    const coverage = simulateCoverage(new Rng('uplift-coverage-small'), 2_000, {
      trials: [500, 3_000],
      controlRate: [0.005, 0.05],
    });
    expect(coverage.newcombe).toBeGreaterThanOrEqual(0.93);
    expect(coverage.newcombe).toBeLessThanOrEqual(0.975);
    expect(coverage.wald).toBeLessThan(0.9);
  });
});
