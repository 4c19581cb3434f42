import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng } from '../domain/random.js';
import {
  type BetaParams,
  betaCdf,
  betaQuantile,
  calibrated,
  calibrationRatio,
  credibleInterval,
  credibleInterval95,
  exposurePrior,
  fitRatio,
  learnedPropensity,
  posterior,
  posteriorMean,
  posteriorVariance,
  priorOf,
  RATE_EPSILON,
  sampleBeta,
} from './response-rate.js';

const rate = fc.double({ min: 0, max: 1, noNaN: true });
const innerRate = fc.double({ min: 0.001, max: 0.999, noNaN: true });
const strength = fc.double({ min: 0.5, max: 10_000, noNaN: true });

function draws(alpha: number, beta: number, n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = sampleBeta(alpha, beta, rng);
  return out;
}

/** Kurtosis excess of Beta(a, b), to size the tolerance on a sample variance. */
function excessKurtosis(a: number, b: number): number {
  const s = a + b;
  return (6 * ((a - b) ** 2 * (s + 1) - a * b * (s + 2))) / (a * b * (s + 2) * (s + 3));
}

describe('priorOf', () => {
  it('has mean = affinity and pseudo-count = strength', () => {
    fc.assert(
      fc.property(innerRate, strength, (a, s) => {
        const p = priorOf(a, s);
        expect(posteriorMean(p)).toBeCloseTo(a, 12);
        expect(p.alpha + p.beta).toBeCloseTo(s, 9);
        expect(p.alpha).toBeGreaterThan(0);
        expect(p.beta).toBeGreaterThan(0);
      }),
    );
    expect(priorOf(0.05, 20)).toEqual({ alpha: 1, beta: 19 });
  });

  it('clamps affinities of 0 and 1 (and outside) into (ε, 1 − ε), keeping the Beta proper', () => {
    expect(posteriorMean(priorOf(0, 10))).toBeCloseTo(RATE_EPSILON, 15);
    expect(posteriorMean(priorOf(-3, 10))).toBeCloseTo(RATE_EPSILON, 15);
    expect(posteriorMean(priorOf(1, 10))).toBeCloseTo(1 - RATE_EPSILON, 15);
    expect(priorOf(1, 10).beta).toBeGreaterThan(0);
    // One success moves a prior of "never" off its bound.
    expect(posteriorMean(posterior(priorOf(0, 10), 1, 1))).toBeGreaterThan(0.09);
  });

  it('rejects a strength that is not a positive finite number, and a NaN affinity', () => {
    for (const s of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => priorOf(0.1, s)).toThrow(RangeError);
    expect(() => priorOf(Number.NaN, 10)).toThrow(RangeError);
  });
});

describe('posterior', () => {
  it('adds successes to alpha and failures to beta', () => {
    expect(posterior({ alpha: 1, beta: 19 }, 3, 100)).toEqual({ alpha: 4, beta: 116 });
    expect(posterior({ alpha: 2, beta: 3 }, 0, 0)).toEqual({ alpha: 2, beta: 3 });
    // Decayed counters are fractional.
    expect(posterior({ alpha: 1, beta: 1 }, 0.5, 2.25)).toEqual({ alpha: 1.5, beta: 2.75 });
  });

  it('is the weighted average of prior mean and observed rate, with the counts added to the pseudo-count', () => {
    fc.assert(
      fc.property(innerRate, strength, innerRate, fc.integer({ min: 1, max: 1_000_000 }), (a, s, r, n) => {
        const prior = priorOf(a, s);
        const post = posterior(prior, r * n, n);
        expect(posteriorMean(post)).toBeCloseTo((s * a + r * n) / (s + n), 9);
        expect(post.alpha + post.beta).toBeCloseTo(s + n, 6);
        // Not "the variance always shrinks": data that moves the mean towards ½ can widen it a little.
        expect(posteriorVariance(post)).toBeLessThanOrEqual(0.25 / (s + n + 1));
      }),
    );
  });

  it('clamps successes to trials (responses may be counted before their impressions) and rejects bad counts', () => {
    expect(posterior({ alpha: 1, beta: 1 }, 7, 5)).toEqual({ alpha: 6, beta: 1 });
    expect(() => posterior({ alpha: 1, beta: 1 }, -1, 5)).toThrow(RangeError);
    expect(() => posterior({ alpha: 1, beta: 1 }, 1, Number.NaN)).toThrow(RangeError);
    expect(() => posterior({ alpha: 1, beta: 1 }, 1, Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });

  it('has the Beta mean and variance', () => {
    expect(posteriorMean({ alpha: 2, beta: 3 })).toBeCloseTo(0.4, 15);
    expect(posteriorVariance({ alpha: 2, beta: 3 })).toBeCloseTo(0.04, 15);
    expect(posteriorVariance({ alpha: 1, beta: 1 })).toBeCloseTo(1 / 12, 15);
  });
});

describe('credible intervals and the exact Beta functions', () => {
  it('match closed forms', () => {
    const [lo, hi] = credibleInterval95({ alpha: 1, beta: 1 });
    expect(lo).toBeCloseTo(0.025, 12);
    expect(hi).toBeCloseTo(0.975, 12);
    // Beta(a, 1): F(x) = x^a. Beta(1, b): F(x) = 1 − (1 − x)^b. Beta(½, ½): F(x) = (2/π) asin √x.
    expect(betaQuantile(0.3, 3, 1)).toBeCloseTo(0.3 ** (1 / 3), 12);
    expect(betaQuantile(0.3, 1, 4)).toBeCloseTo(1 - 0.7 ** (1 / 4), 12);
    expect(betaCdf(0.25, 0.5, 0.5)).toBeCloseTo(1 / 3, 12);
    // 0 responses in 30 from a uniform prior: Beta(1, 31), upper bound 1 − 0.025^(1/31) ≈ 0.112.
    const [zeroLo, zeroHi] = credibleInterval95(posterior({ alpha: 1, beta: 1 }, 0, 30));
    expect(zeroLo).toBeGreaterThan(0);
    expect(zeroLo).toBeCloseTo(1 - 0.975 ** (1 / 31), 12);
    expect(zeroHi).toBeCloseTo(1 - 0.025 ** (1 / 31), 12);
  });

  it('agree with the normal approximation when the counts are large', () => {
    const p = { alpha: 2000, beta: 50_000 };
    const sd = Math.sqrt(posteriorVariance(p));
    const [lo, hi] = credibleInterval95(p);
    // The Beta is slightly right-skewed: both exact bounds sit a little above the normal ones.
    expect(Math.abs(lo - (posteriorMean(p) - 1.96 * sd))).toBeLessThan(0.05 * sd);
    expect(Math.abs(hi - (posteriorMean(p) + 1.96 * sd))).toBeLessThan(0.05 * sd);
    expect(credibleInterval(p, 0.5)[1] - credibleInterval(p, 0.5)[0]).toBeLessThan(hi - lo);
  });

  it('invert each other: cdf(quantile(q)) = q, for every shape', () => {
    const shape = fc.oneof(
      fc.double({ min: 0.05, max: 1, noNaN: true }),
      fc.double({ min: 1, max: 100, noNaN: true }),
      fc.double({ min: 100, max: 100_000, noNaN: true }),
    );
    fc.assert(
      fc.property(fc.double({ min: 0.001, max: 0.999, noNaN: true }), shape, shape, (q, a, b) => {
        const x = betaQuantile(q, a, b);
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThanOrEqual(1);
        // q lies between the CDF just below and just above x (1e-11 relative): the quantile is that
        // exact. Not |cdf(x) − q| small: where the quantile is within 1e-12 of 1 (β < 1), the CDF
        // changes by more than 1e-8 from one double to the next.
        const dx = x * 1e-11;
        expect(betaCdf(x - dx, a, b)).toBeLessThanOrEqual(q + 1e-12);
        expect(betaCdf(Math.min(1, x + dx), a, b)).toBeGreaterThanOrEqual(q - 1e-12);
      }),
      { numRuns: 500 },
    );
  });

  it('cover 95% of draws from their Beta', () => {
    for (const p of [
      { alpha: 3, beta: 40 },
      { alpha: 0.5, beta: 0.5 },
    ]) {
      const [lo, hi] = credibleInterval95(p);
      const xs = draws(p.alpha, p.beta, 20_000, 11);
      let inside = 0;
      for (const x of xs) if (x >= lo && x <= hi) inside++;
      expect(inside / xs.length).toBeGreaterThan(0.944);
      expect(inside / xs.length).toBeLessThan(0.956);
    }
  });

  it('reject levels and probabilities outside their range', () => {
    expect(() => credibleInterval({ alpha: 1, beta: 1 }, 1)).toThrow(RangeError);
    expect(() => betaQuantile(1.5, 1, 1)).toThrow(RangeError);
    expect(betaQuantile(0, 2, 2)).toBe(0);
    expect(betaQuantile(1, 2, 2)).toBe(1);
  });
});

describe('sampleBeta', () => {
  const cases: [number, number][] = [
    [1, 1],
    [2, 5],
    [0.5, 0.5],
    [0.2, 3],
    [3, 0.2],
    [0.05, 0.05],
    [0.3, 2000],
    [1, 50_000],
    [2000, 50_000],
    [50_000, 2000],
  ];

  it.each(cases)('sampleBeta matches the moments of Beta(%d, %d)', (a, b) => {
    const n = 20_000;
    const xs = draws(a, b, n, 2024);
    let sum = 0;
    for (const x of xs) sum += x;
    const mean = sum / n;
    let ss = 0;
    for (const x of xs) ss += (x - mean) ** 2;
    const variance = ss / (n - 1);
    const mu = a / (a + b);
    const sigma2 = posteriorVariance({ alpha: a, beta: b });
    // Four standard errors of each estimate (sampling only; the sampler itself is exact).
    expect(Math.abs(mean - mu)).toBeLessThan(4 * Math.sqrt(sigma2 / n));
    const varianceSe = sigma2 * Math.sqrt((excessKurtosis(a, b) + 2) / n);
    expect(Math.abs(variance - sigma2)).toBeLessThan(4 * varianceSe);
  });

  it.each(cases)('draws Beta(%d, %d) by a Kolmogorov–Smirnov test against the exact CDF', (a, b) => {
    const n = 20_000;
    const xs = draws(a, b, n, 77).sort();
    let d = 0;
    for (let i = 0; i < n; i++) {
      // A double cannot hold a value within 1.1e-16 of 1: such draws round to 1 (8% of them for
      // Beta(0.05, 0.05)). The empirical CDF still counts them; the supremum skips the point x = 1.
      if (xs[i] === 1) break;
      const f = betaCdf(xs[i]!, a, b);
      d = Math.max(d, (i + 1) / n - f, f - i / n);
    }
    // Critical value at a significance level of 0.1%.
    expect(d).toBeLessThan(1.95 / Math.sqrt(n));
  });

  it('stays in [0, 1], never NaN, for tiny and huge shapes alike', () => {
    const rng = new Rng(5);
    fc.assert(
      fc.property(
        fc.double({ min: 1e-4, max: 1e6, noNaN: true }),
        fc.double({ min: 1e-4, max: 1e6, noNaN: true }),
        (a, b) => {
          for (let i = 0; i < 20; i++) {
            const x = sampleBeta(a, b, rng);
            expect(x).toBeGreaterThanOrEqual(0);
            expect(x).toBeLessThanOrEqual(1);
          }
        },
      ),
    );
  });

  it('is reproducible by seed and rejects improper parameters', () => {
    expect(Array.from(draws(2, 30, 5, 9))).toEqual(Array.from(draws(2, 30, 5, 9)));
    expect(Array.from(draws(2, 30, 5, 9))).not.toEqual(Array.from(draws(2, 30, 5, 10)));
    const rng = new Rng(1);
    for (const [a, b] of [
      [0, 1],
      [1, -1],
      [Number.NaN, 1],
      [1, Number.POSITIVE_INFINITY],
    ] as const) {
      expect(() => sampleBeta(a, b, rng)).toThrow(RangeError);
    }
  });
});

describe('Thompson sampling', () => {
  /** Share of the last 5,000 of 20,000 rounds that pull the better arm (true rates 5% vs 8%). */
  function betterArmShare(seed: number, priors: readonly [BetaParams, BetaParams]): number {
    const rng = new Rng(seed);
    const truth = [0.05, 0.08];
    const successes = [0, 0];
    const trials = [0, 0];
    let better = 0;
    for (let round = 0; round < 20_000; round++) {
      const p0 = posterior(priors[0], successes[0]!, trials[0]!);
      const p1 = posterior(priors[1], successes[1]!, trials[1]!);
      const arm = sampleBeta(p1.alpha, p1.beta, rng) > sampleBeta(p0.alpha, p0.beta, rng) ? 1 : 0;
      trials[arm]!++;
      if (rng.next() < truth[arm]!) successes[arm]!++;
      if (round >= 15_000 && arm === 1) better++;
    }
    return better / 5000;
  }

  it('settles on the better arm of a two-armed bandit', () => {
    expect(betterArmShare(1, [priorOf(0.5, 2), priorOf(0.5, 2)])).toBeGreaterThan(0.85);
  });

  it('overcomes a prior that has the arms the wrong way round', () => {
    // The analysts say 8% for the worse arm and 5% for the better one, each worth 50 impressions.
    expect(betterArmShare(2, [priorOf(0.08, 50), priorOf(0.05, 50)])).toBeGreaterThan(0.85);
  });
});

describe('learnedPropensity', () => {
  const cell = fc.record({
    a: innerRate,
    s: strength,
    r: innerRate,
    n: fc.integer({ min: 0, max: 100_000 }),
  });

  it('is the affinity while the cell has no data', () => {
    fc.assert(
      fc.property(rate, innerRate, strength, (affinity, m0, s) => {
        const prior = priorOf(m0, s);
        expect(learnedPropensity(affinity, posterior(prior, 0, 0), prior)).toBeCloseTo(affinity, 12);
      }),
    );
  });

  it('is in [0, 1] and monotone in the affinity: customers keep their order', () => {
    fc.assert(
      fc.property(rate, rate, cell, (x, y, { a, s, r, n }) => {
        const prior = priorOf(a, s);
        const post = posterior(prior, r * n, n);
        const [lo, hi] = x <= y ? [x, y] : [y, x];
        const pLo = learnedPropensity(lo, post, prior);
        const pHi = learnedPropensity(hi, post, prior);
        expect(pLo).toBeGreaterThanOrEqual(0);
        expect(pHi).toBeLessThanOrEqual(1);
        expect(pLo).toBeLessThanOrEqual(pHi);
        // Strictly, where doubles resolve the difference (subnormal affinities lose their digits).
        if (hi - lo > 1e-9 && lo > 1e-9 && hi < 1 - 1e-9) expect(pLo).toBeLessThan(pHi);
      }),
    );
  });

  it('moves toward the observed rate as data accumulates', () => {
    fc.assert(
      fc.property(innerRate, cell, fc.integer({ min: 1, max: 100_000 }), (affinity, { a, s, r, n }, more) => {
        const prior = priorOf(a, s);
        const before = learnedPropensity(affinity, posterior(prior, r * n, n), prior);
        const after = learnedPropensity(affinity, posterior(prior, r * (n + more), n + more), prior);
        const tol = 1e-12;
        if (r >= a) {
          expect(before).toBeGreaterThanOrEqual(affinity - tol);
          expect(after).toBeGreaterThanOrEqual(before - tol);
        } else {
          expect(before).toBeLessThanOrEqual(affinity + tol);
          expect(after).toBeLessThanOrEqual(before + tol);
        }
        // The customer at the prior mean gets the cell's posterior mean itself.
        const post = posterior(prior, r * (n + more), n + more);
        expect(learnedPropensity(posteriorMean(prior), post, prior)).toBeCloseTo(posteriorMean(post), 9);
      }),
    );
    // And with plenty of data, that customer's propensity is the observed rate.
    const prior = priorOf(0.05, 50);
    expect(learnedPropensity(0.05, posterior(prior, 8000, 100_000), prior)).toBeCloseTo(0.08, 3);
  });

  it('keeps a near-certain customer near certain when the offer does worse than thought (odds, not rate)', () => {
    // Prior 10%, learned 5%: a plain rate ratio would halve 0.9 to 0.45.
    const r = calibrationRatio(0.05, 0.1);
    expect(calibrated(0.9, r)).toBeCloseTo(0.81, 2);
    expect(calibrated(0.1, r)).toBeCloseTo(0.05, 12);
    expect(calibrated(0, r)).toBe(0);
    expect(calibrated(1, r)).toBe(1);
    // For small rates the odds ratio is the rate ratio to first order.
    expect(calibrated(0.01, calibrationRatio(0.04, 0.02))).toBeCloseTo(0.02, 3);
  });

  it('a prior centred on the exposed customers ignores selection', () => {
    // The analysts are exactly right (true rate = affinity), but the engine shows the offer only to
    // the customers with the highest affinity for it. The cell must learn "as predicted" (ratio 1),
    // not "better than the average customer".
    const rng = new Rng(3);
    const affinities = Array.from({ length: 50_000 }, () => rng.next() * 0.2);
    let trials = 0;
    let successes = 0;
    let expected = 0;
    let sumAll = 0;
    for (const affinity of affinities) {
      sumAll += affinity;
      if (affinity < 0.15) continue;
      trials++;
      expected += affinity;
      if (rng.chance(affinity)) successes++;
    }
    const prior = exposurePrior(expected, trials, 0.1, 50);
    expect(learnedPropensity(0.16, posterior(prior, successes, trials), prior)).toBeCloseTo(0.16, 2);
    // Centred on all customers instead, the same counts inflate the propensity by ~75%.
    const naive = priorOf(sumAll / affinities.length, 50);
    expect(learnedPropensity(0.16, posterior(naive, successes, trials), naive)).toBeGreaterThan(0.25);
    // Without impressions, the fallback.
    expect(posteriorMean(exposurePrior(0, 0, 0.03, 50))).toBeCloseTo(0.03, 12);
  });
});

describe('fitRatio', () => {
  const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

  it('recovers the ratio that moved each customer, where the ratio of the mean rates does not', () => {
    const rng = new Rng('fit-ratio', 'recover');
    for (let trial = 0; trial < 20; trial++) {
      // Affinities spread widely (logit sd 2 around 3% to 27%), true ratios well away from 1.
      const centre = -3.5 + 2.5 * rng.next();
      const rTrue = rng.next() < 0.5 ? 0.15 + 0.2 * rng.next() : 3 + 3 * rng.next();
      const n = 20_000;
      const affinities = new Float64Array(n);
      let accepts = 0;
      for (let i = 0; i < n; i++) {
        affinities[i] = sigmoid(centre + 2 * rng.normal());
        if (rng.next() < calibrated(affinities[i]!, rTrue)) accepts++;
      }
      const fitted = fitRatio(affinities, new Float64Array(n).fill(1), accepts);
      const meanAffinity = affinities.reduce((sum, a) => sum + a, 0) / n;
      const old = calibrationRatio(accepts / n, meanAffinity);
      // Thousands of accepts: the fit is within sampling noise (sd of ln r about 0.03).
      expect(Math.abs(Math.log(fitted / rTrue)), `trial ${trial}`).toBeLessThan(0.1);
      expect(Math.abs(Math.log(old / rTrue)), `trial ${trial}`).toBeGreaterThan(0.2);
    }
  });

  it('makes the calibrated rates add up to the target', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.double({ min: 0.001, max: 0.99, noNaN: true }), fc.integer({ min: 0, max: 1000 })),
          {
            minLength: 1,
            maxLength: 15,
          },
        ),
        fc.double({ min: 0.01, max: 0.99, noNaN: true }),
        (groups, rate) => {
          const affinities = groups.map(([a]) => a);
          const counts = groups.map(([, c]) => c);
          const n = counts.reduce((sum, c) => sum + c, 0);
          const r = fitRatio(affinities, counts, rate * n);
          expect(r).toBeGreaterThan(0);
          expect(Number.isFinite(r)).toBe(true);
          // Not `return expect(…)`: fast-check fails a property that returns anything but true or undefined.
          if (n === 0) {
            expect(r).toBe(1);
            return;
          }
          const sum = affinities.reduce((s, a, i) => s + counts[i]! * calibrated(a, r), 0);
          expect(Math.abs(sum - rate * n)).toBeLessThan(1e-6 * n);
        },
      ),
    );
  });

  it('is the ratio of the mean rates where every affinity is the same', () => {
    expect(fitRatio([0.2, 0.2], [300, 700], 100)).toBeCloseTo(calibrationRatio(0.1, 0.2), 10);
  });

  it('is exactly 1 without impressions, or where the affinities predict the target exactly', () => {
    expect(fitRatio([], [], 0)).toBe(1);
    expect(fitRatio([0.3], [0], 5)).toBe(1);
    expect(fitRatio([0.25, 0.5], [4, 2], 2)).toBe(1);
  });

  it('stays finite for targets of none or all impressions', () => {
    for (const target of [0, 100]) {
      const r = fitRatio([0.1, 0.6], [50, 50], target);
      expect(r).toBeGreaterThan(0);
      expect(Number.isFinite(r)).toBe(true);
    }
    expect(fitRatio([0.1, 0.6], [50, 50], 0)).toBeLessThan(1e-3);
    expect(fitRatio([0.1, 0.6], [50, 50], 100)).toBeGreaterThan(1e3);
  });
});
