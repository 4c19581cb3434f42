/**
 * Learned response rates. Per offer × channel (× segment where the data allows) the response rate
 * is a Beta-Binomial estimate whose prior is the analysts' precomputed affinity, so that a new offer
 * starts from what the warehouse knows and moves towards what customers actually do. This module
 * also turns such an estimate into a per-customer propensity, and draws from it for Thompson
 * sampling.
 *
 * Pure and synchronous: counts in, numbers out. The counters, the periodic refresh into the
 * snapshot and the choice of what counts as a trial live around it; nothing here reads a store, a
 * clock or Math.random.
 */
import type { Rng } from '../domain/random.js';

/** A Beta(alpha, beta) distribution of a response rate; both parameters are > 0. */
export interface BetaParams {
  readonly alpha: number;
  readonly beta: number;
}

/** What sampleBeta() draws from: a uniform in [0, 1) and a standard normal (see sim/random.ts). */
export type BetaRandom = Pick<Rng, 'next' | 'normal'>;

/**
 * Rates are kept inside (ε, 1 − ε). An affinity of exactly 0 or 1 would give a Beta parameter of 0
 * (an improper prior that no amount of data can move off its bound) and an infinite odds ratio in
 * calibrationRatio(). One in a million is far below any response rate worth modelling.
 */
export const RATE_EPSILON = 1e-6;

/**
 * A reasonable default for the prior's pseudo-count (see priorOf): the analysts' estimate weighs as
 * much as 50 impressions. Data has half the say after 50 impressions and 95% after about 1,000, so a
 * busy banner leaves its prior within hours while a rarely shown agent offer keeps it longer.
 */
export const DEFAULT_PRIOR_STRENGTH = 50;

function clampRate(rate: number): number {
  return rate < RATE_EPSILON ? RATE_EPSILON : rate > 1 - RATE_EPSILON ? 1 - RATE_EPSILON : rate;
}

/**
 * The prior of a response rate: a Beta with mean `affinity` and pseudo-count `strength`
 * (alpha = affinity·strength, beta = (1 − affinity)·strength).
 *
 * Why a pseudo-count: an affinity says what the rate probably is, not how sure the analysts are.
 * `strength` says how many observed impressions that knowledge is worth: after n impressions the
 * posterior mean is the weighted average (strength·affinity + successes) / (strength + n), so the
 * data outweighs the prior once n > strength. Expressed as a count it is easy to reason about and to
 * configure, and the prior's spread follows from it: sd = sqrt(m(1 − m) / (strength + 1)).
 *
 * @param affinity prior mean, clamped into (ε, 1 − ε) so that both parameters stay positive
 * @param strength pseudo-count (> 0), e.g. DEFAULT_PRIOR_STRENGTH
 */
export function priorOf(affinity: number, strength: number): BetaParams {
  if (!(strength > 0 && strength < Number.POSITIVE_INFINITY)) {
    throw new RangeError(`prior strength must be a positive finite number, got ${strength}`);
  }
  if (Number.isNaN(affinity)) throw new RangeError('prior affinity is NaN');
  const mean = clampRate(affinity);
  return { alpha: mean * strength, beta: (1 - mean) * strength };
}

/**
 * The prior for an offer × channel cell, centred on what the engine predicted for the customers the
 * offer was actually shown to: `expectedSuccesses` is the sum, over the counted impressions, of the
 * un-learned propensity the engine started from (the customer's affinity, or the offer's
 * basePropensity). With no impressions yet it is centred on `fallbackRate`.
 *
 * Why not simply the offer's basePropensity or its mean affinity over all customers: the engine
 * shows an offer mostly to the customers with the highest affinity for it, so the shown customers
 * respond more often than the average customer would. Comparing their response rate with a prior for
 * the average customer would read that selection effect as "the offer does better than thought"
 * and inflate every customer's propensity. Centring the prior on the same customers makes the ratio
 * in learnedPropensity() observed ÷ expected for one population.
 * Guarded by response-rate.test.ts "a prior centred on the exposed customers ignores selection".
 */
export function exposurePrior(
  expectedSuccesses: number,
  trials: number,
  fallbackRate: number,
  strength: number,
): BetaParams {
  return priorOf(trials > 0 ? expectedSuccesses / trials : fallbackRate, strength);
}

/**
 * The posterior after `successes` responses in `trials` impressions: Beta(α + s, β + n − s).
 *
 * Counts may be fractional (decayed counters that forget old behaviour are just smaller counts).
 * successes > trials is clamped to trials: responses and impressions are counted from different
 * events by different consumers, and an accept may be counted before its impression is.
 */
export function posterior(prior: BetaParams, successes: number, trials: number): BetaParams {
  if (!(trials >= 0 && trials < Number.POSITIVE_INFINITY) || !(successes >= 0)) {
    throw new RangeError(`counts must be finite and non-negative, got ${successes}/${trials}`);
  }
  const s = successes < trials ? successes : trials;
  return { alpha: prior.alpha + s, beta: prior.beta + (trials - s) };
}

/** The mean α / (α + β); for a prior, the prior mean. */
export function posteriorMean(p: BetaParams): number {
  return p.alpha / (p.alpha + p.beta);
}

/** The variance αβ / ((α + β)²(α + β + 1)). */
export function posteriorVariance(p: BetaParams): number {
  const n = p.alpha + p.beta;
  return (p.alpha * p.beta) / (n * n * (n + 1));
}

/**
 * The equal-tailed 95% credible interval, from the exact Beta quantiles (see betaQuantile).
 *
 * Not the normal approximation mean ± 1.96·sd: it is fine once both α and β are in the tens, but
 * response rates are small and new cells have few successes, and there it is badly off (0 of 30
 * gives an interval reaching below zero and a symmetric one where the true one is skewed). For
 * reports and dashboards, not the hot path: each bound costs a few incomplete-beta evaluations.
 */
export function credibleInterval95(p: BetaParams): readonly [number, number] {
  return credibleInterval(p, 0.95);
}

/** The equal-tailed credible interval of probability `level` (in (0, 1)). */
export function credibleInterval(p: BetaParams, level: number): readonly [number, number] {
  if (!(level > 0 && level < 1)) throw new RangeError(`credible level must be in (0, 1), got ${level}`);
  const tail = (1 - level) / 2;
  return [betaQuantile(tail, p.alpha, p.beta), betaQuantile(1 - tail, p.alpha, p.beta)];
}

// ---------------------------------------------------------------------------------------------------
// Per-customer propensity

/**
 * The odds ratio that moves a rate of `priorRate` to `learnedRate`:
 * [m / (1 − m)] / [m₀ / (1 − m₀)], both rates clamped into (ε, 1 − ε) so that it is finite and
 * positive. The refresh can compute it once per offer × channel; see calibrated().
 */
export function calibrationRatio(learnedRate: number, priorRate: number): number {
  const m = clampRate(learnedRate);
  const m0 = clampRate(priorRate);
  return (m * (1 - m0)) / ((1 - m) * m0);
}

/**
 * A customer's affinity moved by an odds ratio: a·r / (1 − a + a·r), i.e. odds × r.
 * In [0, 1] for any affinity in [0, 1] and r > 0, strictly increasing in a, and a itself for r = 1.
 * One multiply-add and one division: cheap enough per candidate on the hot path.
 */
export function calibrated(affinity: number, ratio: number): number {
  const a = affinity < 0 ? 0 : affinity > 1 ? 1 : affinity;
  // Exactly a: an offer that has learned nothing scores as before learning, to the last bit.
  if (ratio === 1) return a;
  const scaled = a * ratio;
  return scaled / (1 - a + scaled);
}

/**
 * The odds ratio r under which a group of impressions is expected to bring `target` accepts:
 * Σ counts[i] · calibrated(affinities[i], r) = target. Where the affinities of the customers shown an
 * offer differ, this is the ratio to apply to each of them; calibrationRatio() of the group's mean
 * rates is not (calibrated() is not linear in the affinity, so the rates it gives would not add up
 * to the accepts: with affinities 0.1 and 0.9 and a true ratio of 0.22, the mean rates give 0.52).
 *
 * The sum is strictly increasing in u = ln r, so Newton's method on u, kept inside a shrinking
 * bracket (bisection where a step leaves it), converges; at most 100 steps. `target` is clamped
 * into (ε·n, (1 − ε)·n) and every affinity into (ε, 1 − ε), so the ratio is finite and positive.
 * A group with no impressions gives 1, and so does a target the affinities already predict exactly.
 *
 * @param affinities each group's affinity (e.g. an affinity bin's), in [0, 1]
 * @param counts each group's impressions (≥ 0), as many as affinities
 * @param target the accepts to explain, e.g. posterior mean × impressions
 */
export function fitRatio(affinities: ArrayLike<number>, counts: ArrayLike<number>, target: number): number {
  const k = affinities.length;
  const logits = new Float64Array(k);
  let n = 0;
  let atOne = 0;
  for (let i = 0; i < k; i++) {
    const a = clampRate(affinities[i]!);
    logits[i] = Math.log(a / (1 - a));
    n += counts[i]!;
    atOne += counts[i]! * a;
  }
  if (!(n > 0)) return 1;
  const t = clampRate(target / n) * n;
  if (t === atOne) return 1;
  let lo = -FIT_BOUND;
  let hi = FIT_BOUND;
  // Start from the ratio of the means: exact when every affinity is the same.
  let u = Math.log(calibrationRatio(t / n, atOne / n));
  if (!(u > lo && u < hi)) u = 0;
  for (let step = 0; step < 100; step++) {
    let sum = 0;
    let slope = 0;
    for (let i = 0; i < k; i++) {
      const c = counts[i]!;
      if (c === 0) continue;
      const p = 1 / (1 + Math.exp(-(logits[i]! + u)));
      sum += c * p;
      slope += c * p * (1 - p);
    }
    const f = sum - t;
    if (f > 0) hi = u;
    else lo = u;
    let next = u - f / slope;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (Math.abs(next - u) <= 1e-12) return Math.exp(next);
    u = next;
  }
  return Math.exp(u);
}

/** |ln r| beyond which no ratio is needed: rates and affinities stay within (ε, 1 − ε), |logit| < 14. */
const FIT_BOUND = 40;

/**
 * A customer's propensity for an offer on a channel: the customer's affinity, moved by what the
 * offer × channel cell has learned, as the odds ratio of its posterior mean to its prior mean:
 *
 *   odds(propensity) = odds(affinity) × odds(learned rate) / odds(prior rate)
 *
 * Why this shape. The affinity carries what is known about this customer (their ordering among
 * customers); the cell's posterior carries what the offer actually does on this channel (its level).
 * Scaling keeps the first and takes the second: a customer whose affinity equals the prior mean gets
 * exactly the learned rate; everybody else keeps their place relative to them. Without data the
 * posterior is the prior, the ratio is 1 and the propensity is the affinity.
 *
 * Why on the odds and not the rate (affinity × learned / prior, clamped to [0, 1]): the two agree to
 * first order for the small rates of marketing responses, but the plain ratio saturates at 1 when
 * the offer does better than thought (every customer above 1/ratio ties at 1, losing their order)
 * and overshoots for high affinities. The odds ratio is the logistic-model view (a shift of the
 * intercept, as in recalibrating a scoring model "in the large"): it stays in [0, 1] without a
 * clamp and keeps every customer's order strictly. E.g. prior 10%, learned 5%: the plain ratio takes
 * an affinity of 0.9 to 0.45, the odds ratio to 0.81 — a customer who nearly always responds still
 * nearly always does.
 *
 * Caveat: with the odds the mean over customers of differing affinities is calibrated only to first
 * order (exactly for the customer at the prior mean): for those, fit the ratio with fitRatio() (the
 * learned model does, over affinity bins). And the prior must be centred on the customers the
 * cell's counts come from (see exposurePrior), or the ratio measures selection, not the offer.
 *
 * For Thompson sampling, use calibrated(affinity, calibrationRatio(sampleBeta(...), priorMean)).
 *
 * @param affinity the customer's precomputed affinity (or the offer's basePropensity), in [0, 1]
 * @param offerChannelPosterior the cell's posterior, posterior(basePrior, successes, trials)
 * @param basePrior the prior that posterior started from
 */
export function learnedPropensity(
  affinity: number,
  offerChannelPosterior: BetaParams,
  basePrior: BetaParams,
): number {
  return calibrated(
    affinity,
    calibrationRatio(posteriorMean(offerChannelPosterior), posteriorMean(basePrior)),
  );
}

// ---------------------------------------------------------------------------------------------------
// Sampling (Thompson)

/**
 * One draw from Beta(alpha, beta), as X / (X + Y) with X ~ Gamma(alpha), Y ~ Gamma(beta).
 *
 * Runs per candidate per exploring decision, so it creates no objects and, when both shapes are ≥ 1,
 * takes the plain path: two Marsaglia–Tsang gammas and a division (~70 ns). A shape < 1 (a cell
 * with no success yet whose prior has affinity × strength < 1, e.g. 1% × 50) takes the log path
 * (~2× slower), because the boost U^(1/shape) underflows to 0 for small shapes and X / (X + Y)
 * would become 0/0.
 * Guarded by response-rate.test.ts "sampleBeta matches the moments".
 *
 * The result is in [0, 1]; it may be exactly 0 or 1 when a shape is tiny (a rounding of a value
 * closer to the bound than a double resolves).
 */
export function sampleBeta(alpha: number, beta: number, rng: BetaRandom): number {
  if (!(alpha > 0 && beta > 0 && alpha < Number.POSITIVE_INFINITY && beta < Number.POSITIVE_INFINITY)) {
    throw new RangeError(`Beta parameters must be positive and finite, got (${alpha}, ${beta})`);
  }
  if (alpha >= 1 && beta >= 1) {
    const x = gammaAtLeastOne(alpha, rng);
    return x / (x + gammaAtLeastOne(beta, rng));
  }
  // x / (x + y) = 1 / (1 + e^(ln y − ln x)); the exponent may overflow to ∞, giving 0 as it should.
  return 1 / (1 + Math.exp(logGamma(beta, rng) - logGamma(alpha, rng)));
}

/** ln of a Gamma(shape) draw; shape < 1 by the boost Gamma(shape) = Gamma(shape + 1) · U^(1/shape). */
function logGamma(shape: number, rng: BetaRandom): number {
  if (shape >= 1) return Math.log(gammaAtLeastOne(shape, rng));
  // 1 − next() is in (0, 1]: its log is finite.
  return Math.log(gammaAtLeastOne(shape + 1, rng)) + Math.log(1 - rng.next()) / shape;
}

/**
 * A Gamma(shape, 1) draw for shape ≥ 1 (Marsaglia & Tsang 2000, "A simple method for generating
 * gamma variables"): d·v with v = (1 + c·x)³, x standard normal, accepted by a squeeze that avoids
 * the logarithms ~98% of the time. Exact (a rejection method, not an approximation); it accepts at
 * least 95% of the proposals, more as the shape grows.
 */
function gammaAtLeastOne(shape: number, rng: BetaRandom): number {
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    const x2 = x * x;
    if (u < 1 - 0.0331 * x2 * x2) return d * v;
    if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return d * v;
  }
}

// ---------------------------------------------------------------------------------------------------
// Exact distribution functions (reports, intervals, tests; not the hot path)

// Lanczos approximation, g = 7, n = 9: relative error below 1e-15 for positive arguments.
const LANCZOS = [
  0.9999999999998099, 676.5203681218851, -1259.1392167224028, 771.3234287776531, -176.6150291621406,
  12.507343278686905, -0.13857109526572012, 9.984369578019572e-6, 1.5056327351493116e-7,
];
const HALF_LN_2PI = 0.5 * Math.log(2 * Math.PI);

/** ln Γ(x) for x > 0. */
export function lnGammaFn(x: number): number {
  // Reflection keeps the Lanczos sum in its accurate range: Γ(x)Γ(1 − x) = π / sin(πx).
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGammaFn(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0]!;
  for (let i = 1; i < 9; i++) sum += LANCZOS[i]! / (z + i);
  const t = z + 7.5;
  return HALF_LN_2PI + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

function lnBeta(a: number, b: number): number {
  return lnGammaFn(a) + lnGammaFn(b) - lnGammaFn(a + b);
}

/**
 * The continued fraction of the regularized incomplete beta function (modified Lentz, as in
 * Numerical Recipes' betacf). Converges fast for x < (a + 1) / (a + b + 2), in O(√max(a, b)) terms.
 */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 100_000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

function betaCdfWith(x: number, a: number, b: number, lnB: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = a * Math.log(x) + b * Math.log1p(-x) - lnB;
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaContinuedFraction(a, b, x)) / a;
  return 1 - (Math.exp(lnFront) * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(X ≤ x) for X ~ Beta(alpha, beta): the regularized incomplete beta function I_x(α, β). */
export function betaCdf(x: number, alpha: number, beta: number): number {
  return betaCdfWith(x, alpha, beta, lnBeta(alpha, beta));
}

/**
 * The q-quantile of Beta(alpha, beta). Solves ln I_x(α, β) = ln q for ln x by Newton's method,
 * safeguarded by bisection (a step that leaves the bracket known to hold the root halves the
 * bracket instead), so it converges for every shape, U- and J-shaped ones (α or β < 1) included.
 *
 * Solves for whichever of x and 1 − x is below ½ (1 − x is the (1 − q)-quantile of Beta(β, α)), on
 * logarithms: a quantile of 1e-100 comes out exact in relative terms, one near 1 to the last bit of
 * a double. Probabilities are resolved to ~1e-16, so a quantile above ½ of a q below that is not.
 */
export function betaQuantile(q: number, alpha: number, beta: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be in [0, 1], got ${q}`);
  if (q === 0) return 0;
  if (q === 1) return 1;
  return q <= betaCdf(0.5, alpha, beta)
    ? lowerQuantile(q, alpha, beta)
    : 1 - lowerQuantile(1 - q, beta, alpha);
}

function lowerQuantile(q: number, a: number, b: number): number {
  const lnB = lnBeta(a, b);
  const lnQ = Math.log(q);
  // A bracket of u = ln x: e^-745 is below the smallest double; the caller knows x ≤ ½.
  let lo = -745;
  let hi = 0;
  let u = Math.log(Math.min(a / (a + b), 0.5));
  for (let i = 0; i < 200; i++) {
    const x = Math.exp(u);
    const cdf = betaCdfWith(x, a, b, lnB);
    const g = Math.log(cdf) - lnQ;
    if (g === 0) return x;
    if (g < 0) lo = u;
    else hi = u;
    // d ln F / d ln x = x·f(x) / F(x), with ln(x·f(x)) = a ln x + (b − 1) ln(1 − x) − ln B(a, b).
    const slope = Math.exp(a * u + (b - 1) * Math.log1p(-x) - lnB) / cdf;
    let next = u - g / slope;
    // Also catches NaN and ±∞ from a CDF or density that under- or overflowed.
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (Math.abs(next - u) <= 1e-12) return Math.exp(next);
    u = next;
  }
  return Math.exp(u);
}
